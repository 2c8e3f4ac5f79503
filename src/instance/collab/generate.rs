//! Seeded collaboration instances.
//!
//! The generator writes an instance *file* ([`CollabInstanceFile`]): [`generate_spec`] draws it,
//! [`write_instance`] renders it as TOML with a comment line of the parameters, and
//! [`generate`] turns it into a [`CollabProblem`] through the ordinary loader. Every draw comes
//! from a ChaCha8 generator seeded with [`GenParams::seed`], user by user in a fixed order, so an
//! instance is reproducible from its parameters.
//!
//! - **Variants**: [`GenParams::variants`] as given (`model:dtype`), their quality from the
//!   shipped quality file (`collab/quality.csv` beside the device catalog).
//! - **Edge**: one [`GenParams::edge_device`] with [`GenParams::resource_blocks`] blocks of
//!   [`GenParams::rb_bandwidth_hz`], round trip [`GenParams::rtt_s`] and utilisation cap
//!   [`GenParams::max_utilisation`].
//! - **Users**, each in turn: a device drawn uniformly from [`GenParams::user_devices`]; a
//!   distance to the server (of a position uniform in the disc of radius [`GenParams::cell_radius_m`] around it) and a
//!   shadowing draw, which give the uplink and downlink SNR per block through the 3GPP macro-cell
//!   channel of [`crate::costs::channel::snr_db`] (the user's 23 dBm spread over its equal share
//!   of the blocks, the base station's 46 dBm over all of them, as alloc's generator does;
//!   rounded to 0.01 dB, at least -50 dB); prompt and output tokens uniform in their ranges; a
//!   request rate and a deadline log-uniform in theirs (four significant digits); an energy limit
//!   log-uniform in [`GenParams::energy_limit_j`] when given; a quality target uniform in
//!   [`GenParams::quality_target`] (0.1 percent).

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::Normal;

use super::{CollabInstanceFile, EdgeSpec, MonteCarloSpec, UserSpec, VariantSpec};
use crate::costs::arch::Dtype;
use crate::costs::channel::{snr_db, SHADOWING_STD_DB};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::Sources;
use crate::limits;
use crate::problems::collab::{CollabProblem, ModeKind, Objective};

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Users.
    pub users: usize,
    /// Seed of every draw (and of the Monte Carlo simulation).
    pub seed: u64,
    /// Variants as `model:dtype` (or `model`, fp16).
    pub variants: Vec<String>,
    /// The edge server's device.
    pub edge_device: String,
    /// The edge server's memory, bytes (default the device's).
    pub edge_memory_bytes: Option<f64>,
    /// Resource blocks of the edge.
    pub resource_blocks: usize,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Radius of the disc of users around the server, m.
    pub cell_radius_m: f64,
    /// Round trip between a user and the server, s.
    pub rtt_s: f64,
    /// Utilisation cap of the edge, `(0, 0.99]`.
    pub max_utilisation: f64,
    /// Devices the users draw from.
    pub user_devices: Vec<String>,
    /// Prompt tokens, inclusive range.
    pub prompt_tokens: (usize, usize),
    /// Output tokens, inclusive range.
    pub output_tokens: (usize, usize),
    /// Requests per second, range (log-uniform).
    pub rate_per_s: (f64, f64),
    /// Deadline, s, range (log-uniform).
    pub deadline_s: (f64, f64),
    /// Energy limit per request, J, range (log-uniform; `None`: no limits).
    pub energy_limit_j: Option<(f64, f64)>,
    /// Quality target, percent, range (uniform).
    pub quality_target: (f64, f64),
    /// `quality` or `served`.
    pub objective: String,
    /// Modes allowed.
    pub modes: Vec<String>,
    /// Draft lengths offered: `1..=max_draft_length`.
    pub max_draft_length: usize,
    /// Escalation fractions offered.
    pub escalations: Vec<f64>,
    /// The cascade router's sharpness.
    pub router_sharpness: f64,
    /// Instance name (default `collab-<users>-users-s<seed>`).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        GenParams {
            users: 20,
            seed: 0,
            variants: names(&[
                "qwen2.5-0.5b:q4",
                "qwen2.5-7b:q4",
                "llama-3.2-1b:q4",
                "llama-3.2-3b:q4",
                "llama-3-8b:fp16",
            ]),
            edge_device: "a100-80gb-sxm".into(),
            edge_memory_bytes: None,
            resource_blocks: 100,
            rb_bandwidth_hz: 180e3,
            cell_radius_m: 500.0,
            rtt_s: 0.01,
            max_utilisation: 0.8,
            user_devices: names(&[
                "phone-sd8gen3",
                "jetson-orin-nano-8gb",
                "laptop-m2-pro",
                "rpi5",
            ]),
            prompt_tokens: (64, 512),
            output_tokens: (32, 128),
            rate_per_s: (0.01, 0.1),
            deadline_s: (2.0, 20.0),
            energy_limit_j: None,
            quality_target: (40.0, 65.0),
            objective: "quality".into(),
            modes: names(&["device", "edge", "cascade", "speculative"]),
            max_draft_length: 8,
            escalations: vec![0.1, 0.2, 0.3, 0.4, 0.5],
            router_sharpness: 2.0,
            name: None,
        }
    }
}

/// `model:dtype` (or `model`, fp16) split, the dtype checked.
fn split_variant(text: &str) -> std::result::Result<(&str, Dtype), String> {
    let (model, dtype) = match text.split_once(':') {
        Some((model, dtype)) => (model, dtype),
        None => (text, "fp16"),
    };
    if model.trim().is_empty() {
        return Err(format!("expected model:dtype, got \"{text}\""));
    }
    let dtype = Dtype::parse(dtype).ok_or_else(|| {
        format!("expected fp32, fp16, int8 or q4 after the colon, got \"{text}\"")
    })?;
    Ok((model, dtype))
}

impl GenParams {
    /// Checks every parameter against its range (counts before anything is allocated); the
    /// error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        limits::count_option("users", self.users as u64, 1, limits::MAX_USERS)?;
        limits::seed_option(self.seed)?;
        if self.variants.is_empty() {
            return bad("variants", "expected at least one model:dtype".into());
        }
        limits::count_option(
            "variants",
            self.variants.len() as u64,
            1,
            limits::MAX_VARIANTS,
        )?;
        let mut seen = Vec::new();
        for v in &self.variants {
            let (model, dtype) = split_variant(v).map_err(|m| Error::option("variants", m))?;
            if seen.contains(&(model, dtype)) {
                return bad("variants", format!("\"{v}\" is listed twice"));
            }
            seen.push((model, dtype));
        }
        if self.edge_device.trim().is_empty() {
            return bad("edge_device", "expected a device name".into());
        }
        if let Some(m) = self.edge_memory_bytes {
            limits::MEMORY_BYTES.check_option("edge_memory_bytes", m)?;
        }
        limits::count_option(
            "resource_blocks",
            self.resource_blocks as u64,
            1,
            limits::MAX_SMALL_COUNT,
        )?;
        limits::BANDWIDTH_HZ.check_option("rb_bandwidth_hz", self.rb_bandwidth_hz)?;
        limits::DISTANCE_M.check_option("cell_radius_m", self.cell_radius_m)?;
        limits::LATENCY_S.check_option("rtt_s", self.rtt_s)?;
        limits::UTILISATION_CAP.check_option("max_utilisation", self.max_utilisation)?;
        if self.user_devices.is_empty() {
            return bad("user_devices", "expected at least one device name".into());
        }
        for (field, (lo, hi), least) in [
            ("prompt_tokens", self.prompt_tokens, 1),
            ("output_tokens", self.output_tokens, 1),
        ] {
            if lo < least || lo > hi || hi > limits::MAX_TOKENS {
                return bad(
                    field,
                    format!(
                        "expected {least} <= low <= high <= {}, got {lo}..={hi}",
                        limits::MAX_TOKENS
                    ),
                );
            }
        }
        let range = |field: &str, (lo, hi): (f64, f64), r: limits::Range| -> Result<()> {
            r.check_option(field, lo)?;
            r.check_option(field, hi)?;
            if lo > hi {
                return Err(Error::option(
                    field,
                    format!("expected low <= high, got {lo},{hi}"),
                ));
            }
            Ok(())
        };
        // Rates are drawn log-uniformly: above zero.
        range("rate_per_s", self.rate_per_s, limits::REQUEST_RATE)?;
        range("deadline_s", self.deadline_s, limits::DURATION_S)?;
        if let Some(e) = self.energy_limit_j {
            range("energy_limit_j", e, limits::ENERGY_J)?;
        }
        range("quality_target", self.quality_target, limits::QUALITY_PCT)?;
        if Objective::parse(&self.objective).is_none() {
            return bad(
                "objective",
                format!("expected quality or served, got \"{}\"", self.objective),
            );
        }
        if self.modes.is_empty() {
            return bad(
                "modes",
                "expected at least one of device, edge, cascade, speculative, split".into(),
            );
        }
        let mut kinds = Vec::new();
        for m in &self.modes {
            match ModeKind::parse(m) {
                None => {
                    return bad(
                        "modes",
                        format!(
                            "expected device, edge, cascade, speculative or split, got \"{m}\""
                        ),
                    )
                }
                Some(k) if kinds.contains(&k) => {
                    return bad("modes", format!("\"{m}\" is listed twice"))
                }
                Some(k) => kinds.push(k),
            }
        }
        limits::count_option(
            "max_draft_length",
            self.max_draft_length as u64,
            1,
            limits::MAX_DRAFT_LENGTH,
        )?;
        if self.escalations.is_empty() {
            return bad("escalations", "expected at least one fraction".into());
        }
        limits::count_option(
            "escalations",
            self.escalations.len() as u64,
            1,
            limits::MAX_ESCALATIONS,
        )?;
        let mut seen: Vec<f64> = Vec::new();
        for &p in &self.escalations {
            limits::UNIT_INTERVAL.check_option("escalations", p)?;
            if seen.contains(&p) {
                return bad("escalations", format!("{p} is listed twice"));
            }
            seen.push(p);
        }
        limits::ROUTER_SHARPNESS.check_option("router_sharpness", self.router_sharpness)?;
        Ok(())
    }

    /// The instance name.
    pub fn instance_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("collab-{}-users-s{}", self.users, self.seed))
    }

    /// The parameters on one line (the comment heading a written instance).
    pub fn summary(&self) -> String {
        let energy = self
            .energy_limit_j
            .map_or("none".into(), |(lo, hi)| format!("{lo}..{hi}"));
        let memory = self
            .edge_memory_bytes
            .map_or("device".into(), |m| m.to_string());
        let escalations: Vec<String> = self.escalations.iter().map(|p| p.to_string()).collect();
        format!(
            "users={} seed={} variants={} edge_device={} edge_memory_bytes={memory} \
             resource_blocks={} rb_bandwidth_hz={} cell_radius_m={} rtt_s={} max_utilisation={} \
             user_devices={} prompt_tokens={}..={} output_tokens={}..={} rate_per_s={}..{} \
             deadline_s={}..{} energy_limit_j={energy} quality_target={}..{} objective={} \
             modes={} max_draft_length={} escalations={} router_sharpness={}",
            self.users,
            self.seed,
            self.variants.join(","),
            self.edge_device,
            self.resource_blocks,
            self.rb_bandwidth_hz,
            self.cell_radius_m,
            self.rtt_s,
            self.max_utilisation,
            self.user_devices.join(","),
            self.prompt_tokens.0,
            self.prompt_tokens.1,
            self.output_tokens.0,
            self.output_tokens.1,
            self.rate_per_s.0,
            self.rate_per_s.1,
            self.deadline_s.0,
            self.deadline_s.1,
            self.quality_target.0,
            self.quality_target.1,
            self.objective,
            self.modes.join(","),
            self.max_draft_length,
            escalations.join(","),
            self.router_sharpness,
        )
    }
}

/// Rounds to four significant digits.
fn four_digits(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let digits = 3 - value.abs().log10().floor() as i32;
    if digits >= 0 {
        let scale = 10f64.powi(digits);
        (value * scale).round() / scale
    } else {
        let scale = 10f64.powi(-digits);
        (value / scale).round() * scale
    }
}

/// A log-uniform draw in `[lo, hi]` (both positive), rounded to four significant digits and
/// kept inside the range.
fn log_uniform(rng: &mut ChaCha8Rng, (lo, hi): (f64, f64)) -> f64 {
    let x = if hi > lo {
        rng.gen_range(lo.ln()..=hi.ln()).exp()
    } else {
        lo
    };
    four_digits(x).clamp(lo, hi)
}

/// A uniform draw in `[lo, hi]`.
fn uniform(rng: &mut ChaCha8Rng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.gen_range(lo..=hi)
    } else {
        lo
    }
}

/// An SNR as written (dB): rounded to 0.01 dB, at least the lowest valid SNR.
fn written_snr(db: f64) -> f64 {
    ((db * 100.0).round() / 100.0).max(limits::SNR_DB.min)
}

/// Draws the instance file described by `params` and checks it against `catalog` and the
/// configs in `models_dir`.
pub fn generate_spec(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<CollabInstanceFile> {
    params.validate()?;
    let catalog_path = Path::new("the device catalog");
    let device = |field: &str, name: &str| {
        catalog
            .get(name, catalog_path)
            .map(|_| ())
            .map_err(|e| Error::option(field, e.to_string()))
    };
    device("edge_device", &params.edge_device)?;
    for name in &params.user_devices {
        device("user_devices", name)?;
    }
    let variants = params
        .variants
        .iter()
        .map(|v| {
            let (model, dtype) = split_variant(v).map_err(|m| Error::option("variants", m))?;
            crate::costs::arch::ModelConfig::resolve(models_dir, model)
                .map_err(|e| Error::option("variants", e.to_string()))?;
            Ok(VariantSpec {
                name: None,
                model: model.to_string(),
                dtype: Some(dtype.name().to_string()),
                quality: None,
                quality_source: None,
                tokenizer: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let shadowing = Normal::new(0.0, SHADOWING_STD_DB).expect("a positive standard deviation");
    let blocks = params.resource_blocks as f64;
    let share = (blocks / params.users as f64).max(1.0);
    let users = (0..params.users)
        .map(|k| {
            let device = params.user_devices[rng.gen_range(0..params.user_devices.len())].clone();
            let distance = params.cell_radius_m * rng.gen::<f64>().sqrt();
            let shadow: f64 = rng.sample(shadowing);
            let (up, down) = snr_db(distance, shadow, params.rb_bandwidth_hz, share, blocks);
            let prompt_tokens = rng.gen_range(params.prompt_tokens.0..=params.prompt_tokens.1);
            let output_tokens = rng.gen_range(params.output_tokens.0..=params.output_tokens.1);
            let rate_per_s = log_uniform(&mut rng, params.rate_per_s);
            let deadline_s = log_uniform(&mut rng, params.deadline_s);
            let energy_limit_j = params.energy_limit_j.map(|r| log_uniform(&mut rng, r));
            let target = uniform(&mut rng, params.quality_target);
            let target = ((target * 10.0).round() / 10.0)
                .clamp(params.quality_target.0, params.quality_target.1);
            UserSpec {
                name: Some(format!("u{k}")),
                device,
                runtime: None,
                unit: None,
                memory_bytes: None,
                prompt_tokens: prompt_tokens as i64,
                output_tokens: output_tokens as i64,
                rate_per_s,
                deadline_s,
                energy_limit_j,
                quality_target: Some(target),
                weight: None,
                snr_db: written_snr(up),
                downlink_snr_db: Some(written_snr(down)),
                tx_power_w: None,
                rx_power_w: None,
            }
        })
        .collect();
    Ok(CollabInstanceFile {
        problem: "collab".into(),
        name: Some(params.instance_name()),
        description: Some(format!(
            "generated: {} users in a {} m cell around one {} ({} resource blocks of {} Hz), \
             {} variants; seed {}",
            params.users,
            params.cell_radius_m,
            params.edge_device,
            params.resource_blocks,
            params.rb_bandwidth_hz,
            params.variants.len(),
            params.seed
        )),
        models_dir: None,
        devices: None,
        quality: None,
        acceptance: None,
        benchmark: None,
        objective: Some(params.objective.clone()),
        modes: Some(params.modes.clone()),
        draft_lengths: Some((1..=params.max_draft_length as i64).collect()),
        escalations: Some(params.escalations.clone()),
        router_sharpness: Some(params.router_sharpness),
        baseline_escalation: None,
        token_bytes: None,
        draft_token_bytes: None,
        monte_carlo: Some(MonteCarloSpec {
            requests: Some(2000),
            seed: Some(params.seed as i64),
        }),
        edge: EdgeSpec {
            name: Some("edge".into()),
            device: params.edge_device.clone(),
            runtime: None,
            unit: None,
            memory_bytes: params.edge_memory_bytes,
            resource_blocks: params.resource_blocks as i64,
            rb_bandwidth_hz: params.rb_bandwidth_hz,
            rtt_s: params.rtt_s,
            max_utilisation: Some(params.max_utilisation),
        },
        variants,
        acceptance_rates: Vec::new(),
        users,
    })
}

/// What a generated instance is loaded as (in errors).
const GENERATED: &str = "generated collab instance";

/// Generates an instance from the catalog in the data folder `dir` (`devices.csv`, `models/`,
/// `collab/quality.csv`) and loads it through the ordinary loader.
pub fn generate(params: &GenParams, catalog: &DeviceCatalog, dir: &Path) -> Result<CollabProblem> {
    let models_dir = dir.join("models");
    let file = generate_spec(params, catalog, &models_dir)?;
    file.build(
        Path::new(GENERATED),
        Sources {
            catalog,
            devices_path: &dir.join("devices.csv"),
            models_dir: &models_dir,
            profiles_dir: None,
        },
    )
}

/// The instance file as TOML with a header line of the parameters.
pub fn write_instance(params: &GenParams, file: &CollabInstanceFile) -> String {
    format!(
        "# generated by edgeplan generate collab: {}\n{}",
        params.summary(),
        toml::to_string(file).expect("a collab instance file serialises to TOML")
    )
}
