//! Seeded allocation instances on a 3GPP-style macro-cell layout.
//!
//! The generator writes an instance *file* ([`AllocInstanceFile`]): [`generate_spec`] draws it,
//! [`write_instance`] renders it as TOML with a comment line of the parameters, and
//! [`generate`] turns it into an [`AllocProblem`] through the ordinary loader, so a saved instance
//! loads back to the same problem. Every draw comes from a ChaCha8 generator seeded with
//! [`GenParams::seed`], in a fixed order, so an instance is reproducible from its parameters.
//!
//! **Layout.** Servers stand on a line, [`GenParams::server_spacing_m`] apart (1 km by default).
//! Each user picks a home server uniformly and stands uniformly in the disc of radius
//! [`GenParams::cell_radius_m`] (500 m) around it (radius `R sqrt(u)`, angle `2 pi v`). It draws
//! its model, weight dtype and device uniformly from the lists, fine-tunes with probability
//! [`GenParams::finetune_fraction`] (LoRA, default rank and targets, one step) and otherwise runs
//! inference, with token counts uniform in the given ranges.
//!
//! **Channel**, per user and server, at distance `d` (clamped to at least 10 m), per resource
//! block of bandwidth `B_rb`:
//!
//! ```text
//! PL(d)     = 128.1 + 37.6 log10(d / 1 km) + X,     X ~ N(0, 8 dB)
//! N(NF)     = -174 dBm/Hz + 10 log10(B_rb) + NF
//! SNR_up    = min(23 dBm - 10 log10(n_ref) - PL - N(5 dB), SNR_max)
//! SNR_down  = min(46 dBm - 10 log10(N_m)   - PL - N(9 dB), SNR_max)
//! SNR_max   = 10 log10(2^7.4063 - 1) = 22.27 dB
//! ```
//!
//! The allocation model prices a link at `n B_rb log2(1 + SNR)` with a per-block SNR that does
//! not depend on `n`, so the generator fixes the power per block: the base station spreads its
//! 46 dBm over all `N_m` blocks of its carrier, and a user spreads its 23 dBm over
//! `n_ref = max(1, N_m / K_m)` blocks, its equal share of server `m` among the `K_m` users that
//! call `m` home. A user granted more than `n_ref` blocks is thus slightly optimistic (a real UE
//! would run out of power), one granted fewer slightly pessimistic. The SNR is capped where the
//! Shannon rate reaches the highest spectral efficiency of 5G NR, 7.4063 bit/s/Hz (256-QAM,
//! code rate 948/1024), so that users next to the base station do not get unphysical rates.
//!
//! | constant | value | source |
//! |---|---|---|
//! | path loss | `128.1 + 37.6 log10(d[km])` | 3GPP TR 36.814 V9.0.0, Table A.2.1.1-2 (macro cell, 2 GHz) |
//! | shadowing | log-normal, 8 dB standard deviation | TR 36.814, Table A.2.1.1-2 |
//! | minimum distance | 10 m | lower end of the UMa validity range, 3GPP TR 38.901, Table 7.4.1-1 |
//! | uplink transmit power | 23 dBm (0.2 W) | UE power class 3; TR 36.814, Table A.2.1.1-2 |
//! | downlink transmit power | 46 dBm (40 W) | macro BS total power, 10 MHz carrier; TR 36.814, Table A.2.1.1-2 |
//! | thermal noise | -174 dBm/Hz | `kT` at 290 K |
//! | noise figure | 5 dB at the BS (uplink), 9 dB at the UE (downlink) | TR 36.814, Table A.2.1.1-2 |
//! | highest spectral efficiency | 7.4063 bit/s/Hz | 3GPP TS 38.214, Table 5.1.3.1-2 (MCS 27) |
//! | bandwidth | one resource block, [`GenParams::rb_bandwidth_hz`] | 12 subcarriers x 15 kHz = 180 kHz by default |
//!
//! The shadowing of a user-server link is drawn once and holds for both directions (large-scale
//! fading is reciprocal). SNRs are rounded to 0.01 dB and raised to -50 dB, the lowest valid SNR
//! ([`limits::SNR_DB`]; only users tens of kilometres away reach less). No interference and no fast fading are
//! modelled: the SNR is a long-term average.
//!
//! **Deadlines** (optional): a user's deadline is [`GenParams::deadline_factor`] times its best
//! latency when its home server's resource blocks and compute are split equally among the users
//! that call it home, rounded up to four significant digits; a user whose deadline would exceed
//! 10^7 s (the longest valid duration) gets none.

use std::f64::consts::PI;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::Normal;

use super::{AllocInstanceFile, ServerSpec, SnrSpec, UserSpec};
use crate::costs::channel::{snr_db, SHADOWING_STD_DB};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::{Sources, WorkloadSpec};
use crate::limits;
use crate::problems::alloc::{AllocObjective, AllocProblem};

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Users K.
    pub users: usize,
    /// Servers M.
    pub servers: usize,
    /// Seed of the random generator.
    pub seed: u64,
    /// Resource blocks N of each server.
    pub resource_blocks: usize,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Radius of the disc of users around each server, m.
    pub cell_radius_m: f64,
    /// Distance between neighbouring servers on their line, m.
    pub server_spacing_m: f64,
    /// Round-trip time between a user and a server, s.
    pub rtt_s: f64,
    /// Model config names users draw from.
    pub models: Vec<String>,
    /// Weight dtypes users draw from.
    pub dtypes: Vec<String>,
    /// Devices (rows of devices.csv) users draw from.
    pub user_devices: Vec<String>,
    /// The servers' device.
    pub server_device: String,
    /// Probability that a user fine-tunes (LoRA) rather than runs inference.
    pub finetune_fraction: f64,
    /// Inference prompt tokens, inclusive range.
    pub prompt_tokens: (usize, usize),
    /// Inference generated tokens, inclusive range.
    pub generate_tokens: (usize, usize),
    /// Fine-tuning sequences per step, inclusive range.
    pub batch_size: (usize, usize),
    /// Fine-tuning tokens per sequence, inclusive range.
    pub seq_len: (usize, usize),
    /// Deadline as a multiple of the user's best latency under an equal split (`None`: no
    /// deadlines).
    pub deadline_factor: Option<f64>,
    /// Objective.
    pub objective: AllocObjective,
    /// Instance name (default `alloc-<K>-users`, with `-<M>-servers` when M > 1).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        GenParams {
            users: 10,
            servers: 1,
            seed: 0,
            resource_blocks: 100,
            rb_bandwidth_hz: 180e3,
            cell_radius_m: 500.0,
            server_spacing_m: 1000.0,
            rtt_s: 0.010,
            models: names(&[
                "llama-3.2-1b",
                "qwen2.5-0.5b",
                "tinyllama-1.1b",
                "gpt2-medium",
            ]),
            dtypes: names(&["q4", "fp16"]),
            user_devices: names(&[
                "phone-sd8gen3",
                "rpi5",
                "jetson-orin-nano-8gb",
                "laptop-m2-pro",
            ]),
            server_device: "l4".into(),
            finetune_fraction: 0.0,
            prompt_tokens: (64, 512),
            generate_tokens: (16, 128),
            batch_size: (1, 8),
            seq_len: (128, 512),
            deadline_factor: None,
            objective: AllocObjective::MinMax,
            name: None,
        }
    }
}

fn objective_name(objective: AllocObjective) -> &'static str {
    match objective {
        AllocObjective::MinMax => "min-max",
        AllocObjective::Sum => "sum",
        AllocObjective::WeightedSum => "weighted-sum",
    }
}

impl GenParams {
    /// Checks every parameter against its range (counts before anything is allocated); the
    /// error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        limits::count_option("users", self.users as u64, 1, limits::MAX_USERS)?;
        limits::count_option("servers", self.servers as u64, 1, limits::MAX_SERVERS)?;
        // Every user-server pair gets two drawn SNRs before the instance is loaded (and its
        // users x servers x layers table checked): bounded here so nothing large is drawn.
        if self.users.saturating_mul(self.servers) > limits::MAX_USER_SERVER_PAIRS {
            return bad(
                "users",
                format!(
                    "users x servers = {} x {} exceeds the limit of {}",
                    self.users,
                    self.servers,
                    limits::MAX_USER_SERVER_PAIRS
                ),
            );
        }
        limits::seed_option(self.seed)?;
        limits::count_option(
            "resource_blocks",
            self.resource_blocks as u64,
            1,
            limits::MAX_SMALL_COUNT,
        )?;
        limits::BANDWIDTH_HZ.check_option("rb_bandwidth_hz", self.rb_bandwidth_hz)?;
        limits::DISTANCE_M.check_option("cell_radius_m", self.cell_radius_m)?;
        limits::DISTANCE_M.check_option("server_spacing_m", self.server_spacing_m)?;
        // Server m stands at m x spacing; users within the radius of it.
        let extent = (self.servers - 1) as f64 * self.server_spacing_m + self.cell_radius_m;
        if extent > limits::POSITION_M.max {
            return bad(
                "server_spacing_m",
                format!(
                    "{} servers {} m apart with cells of {} m span {extent} m; expected at most \
                     {} m",
                    self.servers,
                    self.server_spacing_m,
                    self.cell_radius_m,
                    limits::POSITION_M.max
                ),
            );
        }
        limits::LATENCY_S.check_option("rtt_s", self.rtt_s)?;
        limits::UNIT_INTERVAL.check_option("finetune_fraction", self.finetune_fraction)?;
        if let Some(f) = self.deadline_factor {
            limits::FACTOR.check_option("deadline_factor", f)?;
        }
        for (field, list) in [
            ("models", &self.models),
            ("dtypes", &self.dtypes),
            ("user_devices", &self.user_devices),
        ] {
            if list.is_empty() {
                return bad(field, "expected at least one name".into());
            }
        }
        let ranges = [
            ("prompt_tokens", self.prompt_tokens, 1, limits::MAX_TOKENS),
            (
                "generate_tokens",
                self.generate_tokens,
                0,
                limits::MAX_TOKENS,
            ),
            ("batch_size", self.batch_size, 1, limits::MAX_SMALL_COUNT),
            ("seq_len", self.seq_len, 1, limits::MAX_TOKENS),
        ];
        for (field, (lo, hi), least, most) in ranges {
            if lo < least || lo > hi || hi > most {
                return bad(
                    field,
                    format!("expected {least} <= low <= high <= {most}, got {lo}..={hi}"),
                );
            }
        }
        Ok(())
    }

    /// The instance name.
    pub fn instance_name(&self) -> String {
        match (&self.name, self.servers) {
            (Some(name), _) => name.clone(),
            (None, 1) => format!("alloc-{}-users", self.users),
            (None, m) => format!("alloc-{}-users-{m}-servers", self.users),
        }
    }

    /// The parameters on one line (the comment heading a written instance).
    pub fn summary(&self) -> String {
        let deadline = self
            .deadline_factor
            .map_or("none".into(), |f| f.to_string());
        format!(
            "users={} servers={} seed={} resource_blocks={} rb_bandwidth_hz={} cell_radius_m={} \
             server_spacing_m={} rtt_s={} server_device={} models={} dtypes={} user_devices={} \
             finetune_fraction={} prompt_tokens={}..={} generate_tokens={}..={} batch_size={}..={} \
             seq_len={}..={} deadline_factor={deadline} objective={}",
            self.users,
            self.servers,
            self.seed,
            self.resource_blocks,
            self.rb_bandwidth_hz,
            self.cell_radius_m,
            self.server_spacing_m,
            self.rtt_s,
            self.server_device,
            self.models.join(","),
            self.dtypes.join(","),
            self.user_devices.join(","),
            self.finetune_fraction,
            self.prompt_tokens.0,
            self.prompt_tokens.1,
            self.generate_tokens.0,
            self.generate_tokens.1,
            self.batch_size.0,
            self.batch_size.1,
            self.seq_len.0,
            self.seq_len.1,
            objective_name(self.objective),
        )
    }
}

/// Where a generated instance lives: its files name `../models` and `../devices.csv`, as the
/// shipped instances in `instances/alloc/` do.
const GENERATED: &str = "generated alloc instance";

fn sources<'a>(catalog: &'a DeviceCatalog, models_dir: &'a Path) -> Sources<'a> {
    Sources {
        catalog,
        devices_path: Path::new("the device catalog"),
        models_dir,
        profiles_dir: None,
    }
}

/// Rounds to `digits` decimals (dividing by a power of ten keeps the short decimal form).
fn round_decimals(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Rounds up to four significant digits.
fn ceil_4_digits(value: f64) -> f64 {
    let digits = 3 - value.log10().floor() as i32;
    if digits >= 0 {
        let scale = 10f64.powi(digits);
        (value * scale).ceil() / scale
    } else {
        let scale = 10f64.powi(-digits);
        (value / scale).ceil() * scale
    }
}

/// The deadline written for a target of `seconds`: rounded up to four significant digits; `None`
/// (no deadline) when the target is not a valid duration ([`limits::DURATION_S`]), e.g. longer
/// than 10^7 s.
fn deadline(seconds: f64) -> Option<f64> {
    if !limits::DURATION_S.contains(seconds) {
        return None;
    }
    let rounded = ceil_4_digits(seconds);
    Some(if limits::DURATION_S.contains(rounded) {
        rounded
    } else {
        seconds
    })
}

/// Draws the instance file described by `params` (without deadlines).
fn draw(params: &GenParams) -> (AllocInstanceFile, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut homes = Vec::with_capacity(params.users);
    let mut channels = Vec::with_capacity(params.users);
    let mut users: Vec<UserSpec> = (0..params.users)
        .map(|k| {
            let (user, home, channel) = draw_user(params, k, &mut rng);
            homes.push(home);
            channels.push(channel);
            user
        })
        .collect();
    set_snrs(params, &mut users, &homes, &channels);
    let servers = (0..params.servers)
        .map(|m| ServerSpec {
            name: Some(format!("bs-{m}")),
            device: params.server_device.clone(),
            runtime: None,
            unit: None,
            memory_bytes: None,
            resource_blocks: params.resource_blocks as i64,
            rb_bandwidth_hz: params.rb_bandwidth_hz,
            rtt_s: params.rtt_s,
        })
        .collect();
    let file = AllocInstanceFile {
        problem: "alloc".into(),
        name: Some(params.instance_name()),
        description: Some(format!(
            "{} users uniform in discs of {} m around {} {} server(s) {} m apart ({} resource \
             blocks of {} Hz each), 3GPP TR 36.814 macro-cell channel; seed {}",
            params.users,
            params.cell_radius_m,
            params.servers,
            params.server_device,
            params.server_spacing_m,
            params.resource_blocks,
            params.rb_bandwidth_hz,
            params.seed
        )),
        models_dir: Some("../models".into()),
        devices: Some("../devices.csv".into()),
        profiles_dir: None,
        objective: Some(objective_name(params.objective).into()),
        servers,
        users,
    };
    (file, homes)
}

/// A uniformly drawn entry of `list`.
fn pick(rng: &mut ChaCha8Rng, list: &[String]) -> String {
    list[rng.gen_range(0..list.len())].clone()
}

/// A count drawn uniformly from the inclusive range `(lo, hi)`.
fn draw_count(rng: &mut ChaCha8Rng, (lo, hi): (usize, usize)) -> Option<i64> {
    Some(rng.gen_range(lo..=hi) as i64)
}

/// Position (m) of server `m` on the line.
fn server_x(params: &GenParams, m: usize) -> f64 {
    m as f64 * params.server_spacing_m
}

/// Draws user `k`: its home server, position in the home's disc, model, dtype, device,
/// workload, (distance m, shadowing dB) to each server and weight; SNRs are set later.
fn draw_user(
    params: &GenParams,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> (UserSpec, usize, Vec<(f64, f64)>) {
    let shadowing = Normal::new(0.0, SHADOWING_STD_DB).expect("a positive standard deviation");
    let home = rng.gen_range(0..params.servers);
    let radius = params.cell_radius_m * rng.gen::<f64>().sqrt();
    let angle = 2.0 * PI * rng.gen::<f64>();
    let (x, y) = (
        server_x(params, home) + radius * angle.cos(),
        radius * angle.sin(),
    );
    let model = pick(rng, &params.models);
    let dtype = pick(rng, &params.dtypes);
    let device = pick(rng, &params.user_devices);
    let workload = draw_workload(params, rng);
    let channel: Vec<(f64, f64)> = (0..params.servers)
        .map(|m| ((x - server_x(params, m)).hypot(y), rng.sample(shadowing)))
        .collect();
    let weight =
        (params.objective == AllocObjective::WeightedSum).then(|| rng.gen_range(1..=3) as f64);
    let user = UserSpec {
        name: Some(format!("u{k}")),
        device,
        runtime: None,
        unit: None,
        memory_bytes: None,
        model,
        dtype: Some(dtype),
        workload,
        snr_db: SnrSpec::All(0.0),
        downlink_snr_db: None,
        deadline_s: None,
        weight,
        embed_on_device: false,
        min_device_layers: None,
        max_device_layers: None,
        tx_power_w: None,
        rx_power_w: None,
    };
    (user, home, channel)
}

/// A user's workload: a one-step LoRA fine-tune with probability `finetune_fraction`, otherwise
/// inference, with token counts drawn from their ranges.
fn draw_workload(params: &GenParams, rng: &mut ChaCha8Rng) -> WorkloadSpec {
    if rng.gen::<f64>() < params.finetune_fraction {
        WorkloadSpec {
            mode: "finetune".into(),
            batch_size: draw_count(rng, params.batch_size),
            seq_len: draw_count(rng, params.seq_len),
            steps: Some(1),
            method: Some("lora".into()),
            ..WorkloadSpec::default()
        }
    } else {
        WorkloadSpec {
            mode: "inference".into(),
            prompt_tokens: draw_count(rng, params.prompt_tokens),
            generate_tokens: draw_count(rng, params.generate_tokens),
            ..WorkloadSpec::default()
        }
    }
}

/// An SNR as written (dB): rounded to 0.01 dB and raised to the lowest valid SNR,
/// [`limits::SNR_DB`]'s -50 dB (a link no radio would use; far users of huge cells reach less).
fn written_snr(db: f64) -> f64 {
    round_decimals(db, 2).max(limits::SNR_DB.min)
}

/// Sets each user's uplink and downlink SNRs (dB, to 0.01) from its channel; they need every
/// user's home, as the uplink power is spread over the equal share of the home's blocks.
fn set_snrs(
    params: &GenParams,
    users: &mut [UserSpec],
    homes: &[usize],
    channels: &[Vec<(f64, f64)>],
) {
    let mut at_home = vec![0usize; params.servers];
    for &m in homes {
        at_home[m] += 1;
    }
    let blocks = params.resource_blocks as f64;
    for (user, channel) in users.iter_mut().zip(channels) {
        let (up, down): (Vec<f64>, Vec<f64>) = channel
            .iter()
            .enumerate()
            .map(|(m, &(distance, shadow))| {
                let share = blocks / at_home[m].max(1) as f64;
                let (up, down) = snr_db(distance, shadow, params.rb_bandwidth_hz, share, blocks);
                (written_snr(up), written_snr(down))
            })
            .unzip();
        let snr = |list: Vec<f64>| match list.as_slice() {
            [one] => SnrSpec::All(*one),
            _ => SnrSpec::PerServer(list),
        };
        user.snr_db = snr(up);
        user.downlink_snr_db = Some(snr(down));
    }
}

/// The instance file described by `params`, checked against `catalog` and the model configs in
/// `models_dir`.
pub fn generate_spec(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<AllocInstanceFile> {
    params.validate()?;
    let (mut file, homes) = draw(params);
    // Loading checks every name; the deadlines need the priced options.
    let problem = file.build(Path::new(GENERATED), sources(catalog, models_dir))?;
    if let Some(factor) = params.deadline_factor {
        let mut at_home = vec![0usize; params.servers];
        for &m in &homes {
            at_home[m] += 1;
        }
        let options = problem.options();
        for (k, user) in file.users.iter_mut().enumerate() {
            let best = options.options[k]
                .iter()
                .map(|o| match o.server {
                    None => o.latency(1.0, 1.0),
                    Some(m) => {
                        let users = at_home[m].max(1) as f64;
                        o.latency(
                            problem.servers[m].resource_blocks as f64 / users,
                            1.0 / users,
                        )
                    }
                })
                .fold(f64::INFINITY, f64::min);
            user.deadline_s = deadline(factor * best);
        }
        // Load the file once more with its deadlines, so that what is written is valid.
        file.build(Path::new(GENERATED), sources(catalog, models_dir))?;
    }
    Ok(file)
}

/// The instance described by `params`: [`generate_spec`] loaded with the roofline model (profiled
/// tables are applied only when a written instance is loaded from disk).
pub fn generate(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<AllocProblem> {
    generate_spec(params, catalog, models_dir)?
        .build(Path::new(GENERATED), sources(catalog, models_dir))
}

/// `file` as TOML, headed by a comment line with `params`.
pub fn write_instance(params: &GenParams, file: &AllocInstanceFile) -> String {
    format!(
        "# generated by edgeplan::problems::alloc::generate: {}\n{}",
        params.summary(),
        file.to_toml()
    )
}
