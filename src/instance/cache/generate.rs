//! Seeded cache-placement instances: a model library of variants of a few small LLMs, edge
//! servers on a square grid and users with 3GPP-style downlink rates.
//!
//! The generator writes an instance *file* ([`CacheInstanceFile`]) and turns it into a
//! [`CacheProblem`] through the ordinary loader, so a saved instance loads back to the same
//! problem. Every draw comes from a ChaCha8 generator seeded with [`GenParams::seed`], in a fixed
//! order.
//!
//! **Library.** Model `i` derives from base `i mod B` (bases in the order given). The first model
//! of each base is the base itself; the others are LoRA adapters with probability
//! [`GenParams::lora_fraction`] (rank 8, 16, 32 or 64; targets `q,v`, `q,k,v,o` or all seven
//! matrices, six for a GELU MLP without a gate), top-layer fine-tunes with probability [`GenParams::top_layers_fraction`] (the top
//! 1 to L/4 blocks) and fully fine-tuned copies otherwise.
//!
//! **Layout and channel.** `M` servers stand on a square grid of `ceil(sqrt(M))` columns,
//! [`GenParams::spacing_m`] apart; users stand uniformly in the grid's bounding box widened by
//! half a spacing. A server covers the users within [`GenParams::coverage_m`]. Its downlink rate
//! to a covered user is `B log2(1 + SNR)` with `B` = [`GenParams::user_bandwidth_hz`] and the SNR
//! of the alloc generator's channel model ([`crate::costs::channel::snr_db`]):
//! 3GPP TR 36.814 macro path loss `128.1 + 37.6 log10(d[km])`, 8 dB log-normal shadowing,
//! 46 dBm over a [`GenParams::carrier_hz`] carrier (the user's share of the band gets the same
//! power density), -174 dBm/Hz noise, 9 dB UE noise figure, capped at the highest 5G NR spectral
//! efficiency. Rates are long-term averages (no fast fading, no interference) and rounded to
//! 1 kbit/s.
//!
//! **Users** draw a device from [`GenParams::user_devices`], prompt and generated tokens and a
//! latency limit uniformly from their ranges. Requests follow a Zipf law over the library
//! ([`GenParams::zipf_skew`]), in library order or a per-user permutation.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::Normal;

use super::{
    BaseSpec, CacheInstanceFile, CacheServerSpec, CacheUserSpec, ModelEntry, RequestsSpec,
};
use crate::costs::arch::{MlpKind, ModelConfig};
use crate::costs::channel::{snr_db, SHADOWING_STD_DB};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::Sources;
use crate::limits;
use crate::problems::cache::CacheProblem;

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Edge servers M.
    pub servers: usize,
    /// Models in the library I.
    pub models: usize,
    /// Users K.
    pub users: usize,
    /// Seed of every draw.
    pub seed: u64,
    /// Base models as `config@dtype`.
    pub bases: Vec<String>,
    /// Probability that a non-base model is a LoRA adapter.
    pub lora_fraction: f64,
    /// Probability that a non-base model fine-tunes its top layers.
    pub top_layers_fraction: f64,
    /// Storage of each server, bytes.
    pub storage_bytes: f64,
    /// Grid spacing of the servers, m.
    pub spacing_m: f64,
    /// A server covers users up to this distance, m.
    pub coverage_m: f64,
    /// Downlink bandwidth of one user, Hz.
    pub user_bandwidth_hz: f64,
    /// Carrier bandwidth over which the 46 dBm are spread, Hz.
    pub carrier_hz: f64,
    /// Backhaul rate for relaying between servers, bit/s (`None`: no relaying).
    pub backhaul_bps: Option<f64>,
    /// Devices users draw from.
    pub user_devices: Vec<String>,
    /// Prompt tokens, inclusive range.
    pub prompt_tokens: (usize, usize),
    /// Generated tokens, inclusive range.
    pub generate_tokens: (usize, usize),
    /// Latency limit, s, range.
    pub latency_limit_s: (f64, f64),
    /// Zipf skew of the requests.
    pub zipf_skew: f64,
    /// A per-user permutation of the popularity ranks instead of the library order.
    pub per_user_order: bool,
    /// Instance name (default `cache-<M>s-<I>m-<K>u`).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        GenParams {
            servers: 4,
            models: 20,
            users: 50,
            seed: 0,
            bases: names(&[
                "qwen2.5-0.5b@q4",
                "llama-3.2-1b@q4",
                "tinyllama-1.1b@q4",
                "qwen2.5-1.5b@q4",
                "llama-3.2-3b@q4",
                "gpt2-medium@fp16",
            ]),
            lora_fraction: 0.6,
            top_layers_fraction: 0.25,
            storage_bytes: 4e9,
            spacing_m: 400.0,
            coverage_m: 500.0,
            user_bandwidth_hz: 20e6,
            carrier_hz: 20e6,
            backhaul_bps: None,
            user_devices: names(&[
                "phone-sd8gen3",
                "rpi5",
                "jetson-orin-nano-8gb",
                "laptop-m2-pro",
            ]),
            prompt_tokens: (64, 512),
            generate_tokens: (16, 128),
            latency_limit_s: (20.0, 120.0),
            zipf_skew: 0.8,
            per_user_order: false,
            name: None,
        }
    }
}

/// Rank choices of generated LoRA adapters.
const LORA_RANKS: [usize; 4] = [8, 16, 32, 64];
/// Target choices of generated LoRA adapters.
const LORA_TARGETS: [&[&str]; 3] = [
    &["q", "v"],
    &["q", "k", "v", "o"],
    &["q", "k", "v", "o", "gate", "up", "down"],
];

impl GenParams {
    /// Checks every parameter against its range (counts before anything is allocated); the
    /// error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        limits::count_option("servers", self.servers as u64, 1, limits::MAX_SERVERS)?;
        limits::count_option("models", self.models as u64, 1, limits::MAX_MODELS)?;
        limits::count_option("users", self.users as u64, 1, limits::MAX_USERS)?;
        limits::cells_option(
            "users",
            "users x models x servers",
            &[self.users, self.models, self.servers],
        )?;
        limits::seed_option(self.seed)?;
        limits::DISTANCE_M.check_option("spacing_m", self.spacing_m)?;
        // Servers stand on a grid of ceil(sqrt(M)) columns; users up to half a spacing beyond.
        let columns = (self.servers as f64).sqrt().ceil();
        let extent = columns * self.spacing_m;
        if extent > limits::POSITION_M.max {
            return bad(
                "spacing_m",
                format!(
                    "a grid of {columns} columns {} m apart spans {extent} m; expected at most {} m",
                    self.spacing_m,
                    limits::POSITION_M.max
                ),
            );
        }
        limits::DISTANCE_M.check_option("coverage_m", self.coverage_m)?;
        limits::BANDWIDTH_HZ.check_option("user_bandwidth_hz", self.user_bandwidth_hz)?;
        limits::BANDWIDTH_HZ.check_option("carrier_hz", self.carrier_hz)?;
        limits::BYTES.check_option("storage_bytes", self.storage_bytes)?;
        if let Some(b) = self.backhaul_bps {
            limits::RATE_BPS.check_option("backhaul_bps", b)?;
        }
        for (field, f) in [
            ("lora_fraction", self.lora_fraction),
            ("top_layers_fraction", self.top_layers_fraction),
        ] {
            limits::UNIT_INTERVAL.check_option(field, f)?;
        }
        if self.lora_fraction + self.top_layers_fraction > 1.0 {
            return bad(
                "lora_fraction",
                "lora_fraction + top_layers_fraction must be at most 1".into(),
            );
        }
        limits::EXPONENT.check_option("zipf_skew", self.zipf_skew)?;
        for (field, list) in [("bases", &self.bases), ("user_devices", &self.user_devices)] {
            if list.is_empty() {
                return bad(field, "expected at least one name".into());
            }
        }
        for (field, (lo, hi), least) in [
            ("prompt_tokens", self.prompt_tokens, 1),
            ("generate_tokens", self.generate_tokens, 0),
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
        let (lo, hi) = self.latency_limit_s;
        limits::DURATION_S.check_option("latency_limit_s", lo)?;
        limits::DURATION_S.check_option("latency_limit_s", hi)?;
        if lo > hi {
            return bad(
                "latency_limit_s",
                format!("expected low <= high, got {lo}..{hi}"),
            );
        }
        Ok(())
    }

    /// The instance name.
    pub fn instance_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("cache-{}s-{}m-{}u", self.servers, self.models, self.users))
    }

    /// The parameters as one line, for the header of a generated file.
    pub fn summary(&self) -> String {
        format!(
            "servers={} models={} users={} seed={} bases={} storage_bytes={} spacing_m={} \
             coverage_m={} user_bandwidth_hz={} backhaul_bps={} zipf_skew={} order={}",
            self.servers,
            self.models,
            self.users,
            self.seed,
            self.bases.join(","),
            self.storage_bytes,
            self.spacing_m,
            self.coverage_m,
            self.user_bandwidth_hz,
            self.backhaul_bps
                .map_or("none".to_string(), |b| b.to_string()),
            self.zipf_skew,
            if self.per_user_order {
                "per-user"
            } else {
                "shared"
            },
        )
    }
}

/// Draws the instance file; `models_dir` is read for the bases' block counts.
pub fn generate_spec(params: &GenParams, models_dir: &Path) -> Result<CacheInstanceFile> {
    params.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let (bases, facts) = load_bases(params, models_dir)?;
    let models = library(params, &bases, &facts, &mut rng);
    let columns = (params.servers as f64).sqrt().ceil() as usize;
    let servers: Vec<CacheServerSpec> = (0..params.servers)
        .map(|m| CacheServerSpec {
            name: Some(format!("es-{m}")),
            storage_bytes: params.storage_bytes,
            position_m: Some(grid_position(params, columns, m)),
        })
        .collect();
    let users = place_users(params, &servers, columns, &mut rng);
    let file = CacheInstanceFile {
        problem: "cache".into(),
        name: Some(params.instance_name()),
        description: Some(format!(
            "Generated: {} servers, {} models over {} bases, {} users",
            params.servers,
            params.models,
            bases.len(),
            params.users
        )),
        models_dir: None,
        devices: None,
        profiles_dir: None,
        backhaul_bps: params.backhaul_bps,
        requests: Some(RequestsSpec {
            zipf_skew: Some(params.zipf_skew),
            order: Some(if params.per_user_order {
                "per-user".into()
            } else {
                "shared".into()
            }),
            seed: Some(params.seed),
        }),
        bases,
        models,
        servers,
        users,
    };
    // The checks that need no device catalog (counts, positions, rates); `generate` and the
    // command line load the whole file through the ordinary loader.
    file.check_numbers(Path::new("generated cache instance"))?;
    Ok(file)
}

/// What the library draws need of a base model: its short name, depth and MLP kind.
struct BaseFacts {
    /// The model name without the dtype.
    short: String,
    /// Transformer blocks.
    depth: usize,
    /// Whether the MLP is a GELU one (no gate matrix).
    gelu: bool,
}

/// The bases' specs (dtype fp16 unless given as `config@dtype`) and their configs' facts.
fn load_bases(params: &GenParams, models_dir: &Path) -> Result<(Vec<BaseSpec>, Vec<BaseFacts>)> {
    let mut bases = Vec::with_capacity(params.bases.len());
    let mut facts = Vec::with_capacity(params.bases.len());
    for name in &params.bases {
        let (model, dtype) = name.split_once('@').unwrap_or((name.as_str(), "fp16"));
        let config = ModelConfig::load(&ModelConfig::resolve(models_dir, model)?)?;
        facts.push(BaseFacts {
            short: model.to_string(),
            depth: config.architecture.layers,
            gelu: config.architecture.mlp == MlpKind::Gelu,
        });
        bases.push(BaseSpec {
            model: model.to_string(),
            dtype: Some(dtype.to_string()),
        });
    }
    Ok((bases, facts))
}

/// The model library: model `i` derives from base `i mod B`; past the bases themselves each is
/// drawn as a LoRA adapter, a top-layer fine-tune or a full fine-tune.
fn library(
    params: &GenParams,
    bases: &[BaseSpec],
    facts: &[BaseFacts],
    rng: &mut ChaCha8Rng,
) -> Vec<ModelEntry> {
    let base_names: Vec<String> = bases
        .iter()
        .map(|b| format!("{}@{}", b.model, b.dtype.as_deref().unwrap_or("fp16")))
        .collect();
    let base_count = bases.len();
    (0..params.models)
        .map(|i| {
            let b = i % base_count;
            let mut entry = ModelEntry {
                name: String::new(),
                base: base_names[b].clone(),
                variant: "base".into(),
                rank: None,
                targets: None,
                layers: None,
            };
            if i >= base_count {
                draw_variant(params, &facts[b], &mut entry, rng);
            }
            entry.name = format!("{}-{}-{i}", facts[b].short, entry.variant);
            entry
        })
        .collect()
}

/// Draws a derived model's variant into `entry`: LoRA (rank and targets), top layers (how many)
/// or full.
fn draw_variant(
    params: &GenParams,
    base: &BaseFacts,
    entry: &mut ModelEntry,
    rng: &mut ChaCha8Rng,
) {
    let u: f64 = rng.gen();
    if u < params.lora_fraction {
        entry.variant = "lora".into();
        entry.rank = Some(LORA_RANKS[rng.gen_range(0..LORA_RANKS.len())] as i64);
        let targets = LORA_TARGETS[rng.gen_range(0..LORA_TARGETS.len())];
        // A GELU MLP has no gate matrix.
        entry.targets = Some(
            targets
                .iter()
                .filter(|t| !(base.gelu && **t == "gate"))
                .map(|t| t.to_string())
                .collect(),
        );
    } else if u < params.lora_fraction + params.top_layers_fraction {
        entry.variant = "top-layers".into();
        let most = (base.depth / 4).max(1);
        entry.layers = Some(rng.gen_range(1..=most) as i64);
    } else {
        entry.variant = "full".into();
    }
}

/// Position (m) of server `m` on the grid of `columns` columns.
fn grid_position(params: &GenParams, columns: usize, m: usize) -> [f64; 2] {
    [
        (m % columns) as f64 * params.spacing_m,
        (m / columns) as f64 * params.spacing_m,
    ]
}

/// The users: each stands uniformly in the grid's box widened by half a spacing and draws a
/// device, token counts, a latency limit (s) and its downlink rates.
fn place_users(
    params: &GenParams,
    servers: &[CacheServerSpec],
    columns: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<CacheUserSpec> {
    let rows = params.servers.div_ceil(columns);
    let half = params.spacing_m / 2.0;
    let width = (columns - 1) as f64 * params.spacing_m + 2.0 * half;
    let height = (rows - 1) as f64 * params.spacing_m + 2.0 * half;
    (0..params.users)
        .map(|k| {
            let x = -half + width * rng.gen::<f64>();
            let y = -half + height * rng.gen::<f64>();
            let device = params.user_devices[rng.gen_range(0..params.user_devices.len())].clone();
            let prompt = rng.gen_range(params.prompt_tokens.0..=params.prompt_tokens.1);
            let generate = rng.gen_range(params.generate_tokens.0..=params.generate_tokens.1);
            let (lo, hi) = params.latency_limit_s;
            let limit = (lo + (hi - lo) * rng.gen::<f64>()).round().max(lo.ceil());
            let rate_bps = downlink_rates(params, servers, columns, [x, y], rng);
            CacheUserSpec {
                name: Some(format!("u{k}")),
                device,
                runtime: None,
                unit: None,
                memory_bytes: None,
                prompt_tokens: prompt as i64,
                generate_tokens: generate as i64,
                latency_limit_s: limit,
                rate_bps,
                requests: None,
                position_m: Some([(x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0]),
            }
        })
        .collect()
}

/// Downlink rate (bit/s, rounded to 1 kbit/s) from each server covering a user at `[x, y]` m;
/// a shadowing draw per server, covering or not.
fn downlink_rates(
    params: &GenParams,
    servers: &[CacheServerSpec],
    columns: usize,
    [x, y]: [f64; 2],
    rng: &mut ChaCha8Rng,
) -> BTreeMap<String, f64> {
    let shadowing = Normal::new(0.0, SHADOWING_STD_DB).expect("a positive standard deviation");
    let mut rate_bps = BTreeMap::new();
    for (m, server) in servers.iter().enumerate() {
        let [sx, sy] = grid_position(params, columns, m);
        let distance = (x - sx).hypot(y - sy);
        let shadow: f64 = rng.sample(shadowing);
        if distance > params.coverage_m {
            continue;
        }
        let (_, snr) = snr_db(distance, shadow, params.carrier_hz, 1.0, 1.0);
        let rate = params.user_bandwidth_hz * (1.0 + 10f64.powf(snr / 10.0)).log2();
        let name = server.name.clone().expect("generated servers are named");
        rate_bps.insert(name, (rate / 1e3).round() * 1e3);
    }
    rate_bps
}

/// Draws an instance and loads it as a problem (profiles not used: the roofline only).
pub fn generate(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<CacheProblem> {
    let file = generate_spec(params, models_dir)?;
    file.build(
        Path::new("generated cache instance"),
        Sources {
            catalog,
            devices_path: Path::new("the device catalog"),
            models_dir,
            profiles_dir: None,
        },
    )
}

/// The instance file as TOML with a header line of the parameters.
pub fn write_instance(params: &GenParams, file: &CacheInstanceFile) -> String {
    format!(
        "# generated by edgeplan generate cache: {}\n{}",
        params.summary(),
        file.to_toml()
    )
}
