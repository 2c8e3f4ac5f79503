//! Schema of a cache-placement instance file and its validation.
//!
//! ```toml
//! problem = "cache"
//! name = "cache-small"
//! backhaul_bps = 1e9             # optional: servers relay models to each other at this rate
//!
//! [requests]                     # default popularity of the library (optional)
//! zipf_skew = 0.8                # p(rank r) ~ r^-skew
//! order = "shared"               # shared: rank = library order; per-user: a seeded permutation
//! seed = 1                       # of the per-user permutations
//!
//! [[bases]]
//! model = "llama-3.2-1b"         # a config in models_dir
//! dtype = "q4"                   # default fp16; the base is named "llama-3.2-1b@q4"
//!
//! [[models]]
//! name = "llama-1b-chat"
//! base = "llama-3.2-1b@q4"
//! variant = "lora"               # base | lora | top-layers | full
//! rank = 16                      # lora: rank (default 8) and targets (default ["q", "v"])
//! targets = ["q", "v"]
//! # layers = 4                   # top-layers: fine-tuned top blocks
//!
//! [[servers]]
//! name = "es-0"
//! storage_bytes = 4e9
//!
//! [[users]]
//! name = "u0"
//! device = "phone-sd8gen3"       # a row of devices.csv
//! prompt_tokens = 128
//! generate_tokens = 32
//! latency_limit_s = 60           # download plus on-device inference
//! rate_bps = { es-0 = 80e6 }     # downlink rate from each covering server
//! # requests = { llama-1b-chat = 0.7, llama-1b-base = 0.3 }   # overrides [requests]
//! ```
//!
//! Optional fields: `description`, `models_dir` (default `../models`), `devices` (default
//! `../devices.csv`), `profiles_dir` (default `../profiles`); `position_m = [x, y]` on servers and
//! users (informational, written by the generator); `memory_bytes` on users (default the
//! device's). Explicit per-user `requests` are normalised to sum to 1. The on-device inference
//! time of a request is the prefill of `prompt_tokens` plus `generate_tokens` decode steps of its
//! base on the user's device (a profiled table `<model>@<device>.csv` where one exists, else the
//! roofline); LoRA adapters are merged into the weights after download and add no time. A model
//! whose weights and KV cache exceed the device's memory cannot be served to that user.

mod formulation;
pub mod generate;

pub use formulation::Cache;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::instance::common::{
    at_field, instance_file, instance_name, parse_dtype, unique, with_sources, InstanceModel,
    Sources, TierContext, TierSpec,
};
use crate::instance::read_structured;
use crate::limits;
use crate::problems::cache::library::{self, BaseModel, ModelSpec};
use crate::problems::cache::{zipf, CacheProblem, CacheServer, CacheUser, Variant};

instance_file! {
    /// The cache instance file as written.
    pub struct CacheInstanceFile ["cache"] {
        /// Backhaul rate between servers, bit/s (absent: no relaying).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub backhaul_bps: Option<f64>,
        /// `[requests]`: the default popularity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub requests: Option<RequestsSpec>,
        /// `[[bases]]`.
        #[serde(default)]
        pub bases: Vec<BaseSpec>,
        /// `[[models]]`: the library.
        #[serde(default)]
        pub models: Vec<ModelEntry>,
        /// `[[servers]]`.
        #[serde(default)]
        pub servers: Vec<CacheServerSpec>,
        /// `[[users]]`.
        #[serde(default)]
        pub users: Vec<CacheUserSpec>,
    }
}

/// `[requests]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsSpec {
    /// Zipf skew (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zipf_skew: Option<f64>,
    /// `shared` (default) or `per-user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Seed of the per-user orders (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// `[[bases]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    /// A model config in `models_dir` (or a `.toml` path).
    pub model: String,
    /// Weight dtype (default fp16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
}

/// `[[models]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Name.
    pub name: String,
    /// Base name (`model@dtype`).
    pub base: String,
    /// `base`, `lora`, `top-layers` or `full`.
    pub variant: String,
    /// LoRA rank (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<i64>,
    /// LoRA targets (default `["q", "v"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Fine-tuned top blocks of a `top-layers` model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<i64>,
}

/// `[[servers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheServerSpec {
    /// Name (default `es-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Storage for model blocks, bytes.
    pub storage_bytes: f64,
    /// Position, m (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_m: Option<[f64; 2]>,
}

/// `[[users]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheUserSpec {
    /// Name (default `u<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Row of devices.csv.
    pub device: String,
    /// Runtime on the device (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Processor it runs on: gpu, cpu or npu (default: the runtime's, else the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Usable device memory, bytes (default: the device's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// Prompt tokens of a request.
    pub prompt_tokens: i64,
    /// Generated tokens of a request.
    pub generate_tokens: i64,
    /// Limit on download plus inference, s.
    pub latency_limit_s: f64,
    /// Downlink rate from each covering server, bit/s, by server name.
    #[serde(default)]
    pub rate_bps: BTreeMap<String, f64>,
    /// Request probabilities by model name (default: from `[requests]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<BTreeMap<String, f64>>,
    /// Position, m (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_m: Option<[f64; 2]>,
}

/// Loads and validates a cache instance.
pub fn load(path: &Path) -> Result<CacheProblem> {
    let file: CacheInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

impl CacheInstanceFile {
    /// Validates the file and resolves the tables it references (paths relative to `path`).
    pub fn into_problem(&self, path: &Path) -> Result<CacheProblem> {
        with_sources(
            path,
            [&self.devices, &self.models_dir, &self.profiles_dir],
            |sources| self.build(path, sources),
        )
    }

    /// The file as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a cache instance file serialises to TOML")
    }

    /// Validates the file against already loaded sources; `path` names the file in errors.
    pub fn build(&self, path: &Path, sources: Sources<'_>) -> Result<CacheProblem> {
        let name = instance_name(path, &self.problem, "cache", self.name.as_deref())?;
        self.check_lists(path)?;
        let (bases, instance_models, base_index) = self.load_bases(path, sources)?;
        let (specs, model_names) = self.library_specs(path, &bases, &base_index)?;
        let (blocks, models) =
            library::build(&bases, &specs).map_err(|m| Error::field(path, "models", m))?;
        let (servers, server_names) = self.load_servers(path)?;
        let (popularity, per_user, rng) = self.default_popularity(path, models.len())?;
        let mut builder = UserBuilder {
            path,
            sources,
            bases: &bases,
            instance_models: &instance_models,
            servers: servers.len(),
            server_names: &server_names,
            model_names: &model_names,
            popularity,
            per_user,
            rng,
            inference: HashMap::new(),
            user_names: HashMap::new(),
        };
        let mut users = Vec::with_capacity(self.users.len());
        for (k, spec) in self.users.iter().enumerate() {
            users.push(builder.user(k, spec)?);
        }
        Ok(CacheProblem {
            name,
            description: self.description.clone(),
            bases: bases.iter().map(|b| b.name.clone()).collect(),
            blocks,
            models,
            servers,
            users,
            backhaul_bps: self.backhaul_bps,
        })
    }

    /// The error when a required list (bases, models, servers, users) is empty or too long, the
    /// backhaul rate (bit/s) or a position (m) is out of range.
    fn check_lists(&self, path: &Path) -> Result<()> {
        for (field, list_empty) in [
            ("bases", self.bases.is_empty()),
            ("models", self.models.is_empty()),
            ("servers", self.servers.is_empty()),
            ("users", self.users.is_empty()),
        ] {
            if list_empty {
                return Err(Error::field(
                    path,
                    field,
                    format!("missing: expected at least one [[{field}]] table"),
                ));
            }
        }
        limits::RATE_BPS.check_opt(path, "backhaul_bps", self.backhaul_bps)?;
        limits::entries(path, "bases", self.bases.len(), limits::MAX_MODELS)?;
        limits::entries(path, "models", self.models.len(), limits::MAX_MODELS)?;
        limits::entries(path, "servers", self.servers.len(), limits::MAX_SERVERS)?;
        limits::entries(path, "users", self.users.len(), limits::MAX_USERS)?;
        // Each user's request list and rates, and the placement of every model on every server.
        limits::cells(
            path,
            "users x models x servers",
            &[self.users.len(), self.models.len(), self.servers.len()],
        )?;
        for (m, spec) in self.servers.iter().enumerate() {
            if let Some([x, y]) = spec.position_m {
                limits::POSITION_M.check(path, &format!("servers[{m}].position_m[0]"), x)?;
                limits::POSITION_M.check(path, &format!("servers[{m}].position_m[1]"), y)?;
            }
        }
        for (k, spec) in self.users.iter().enumerate() {
            if let Some([x, y]) = spec.position_m {
                limits::POSITION_M.check(path, &format!("users[{k}].position_m[0]"), x)?;
                limits::POSITION_M.check(path, &format!("users[{k}].position_m[1]"), y)?;
            }
        }
        Ok(())
    }

    /// The range checks that need neither the device catalog nor the model configs: list
    /// lengths, backhaul, positions, storage, and each user's tokens, latency limit and rates.
    pub(crate) fn check_numbers(&self, path: &Path) -> Result<()> {
        self.check_lists(path)?;
        for (m, spec) in self.servers.iter().enumerate() {
            let field = format!("servers[{m}].storage_bytes");
            limits::BYTES.check(path, &field, spec.storage_bytes)?;
        }
        for (k, spec) in self.users.iter().enumerate() {
            let field = |f: &str| format!("users[{k}].{f}");
            let tokens = limits::MAX_TOKENS;
            limits::count(path, &field("prompt_tokens"), spec.prompt_tokens, 1, tokens)?;
            limits::count(
                path,
                &field("generate_tokens"),
                spec.generate_tokens,
                0,
                tokens,
            )?;
            limits::DURATION_S.check(path, &field("latency_limit_s"), spec.latency_limit_s)?;
            for (server, &rate) in &spec.rate_bps {
                check_rate(path, &field(&format!("rate_bps.{server}")), rate)?;
            }
        }
        Ok(())
    }

    /// The `[[bases]]`: the base models (with their architecture), their loaded tables, and
    /// the index of each by name.
    fn load_bases(
        &self,
        path: &Path,
        sources: Sources<'_>,
    ) -> Result<(Vec<BaseModel>, Vec<InstanceModel>, Names)> {
        let mut bases = Vec::with_capacity(self.bases.len());
        let mut instance_models = Vec::with_capacity(self.bases.len());
        let mut base_index = HashMap::new();
        for (b, spec) in self.bases.iter().enumerate() {
            let field = format!("bases[{b}]");
            let dtype = parse_dtype(path, &format!("{field}.dtype"), spec.dtype.as_deref())?;
            let model = InstanceModel::load(path, sources.models_dir, &spec.model, dtype)
                .map_err(|e| at_field(path, &format!("{field}.model"), e))?;
            let Some(arch) = model.arch.clone() else {
                return Err(Error::field(
                    path,
                    format!("{field}.model"),
                    "expected a model config (name or .toml), not a CSV table: variants need \
                     the architecture",
                ));
            };
            let base = BaseModel::new(&model.name, arch, dtype);
            unique(path, &format!("{field}.model"), &base.name, &mut base_index)?;
            bases.push(base);
            instance_models.push(model);
        }
        Ok((bases, instance_models, base_index))
    }

    /// The `[[models]]` of the library as specs on their bases, and the index of each by name.
    fn library_specs(
        &self,
        path: &Path,
        bases: &[BaseModel],
        base_index: &Names,
    ) -> Result<(Vec<ModelSpec>, Names)> {
        let mut model_names = HashMap::new();
        let mut specs = Vec::with_capacity(self.models.len());
        for (i, entry) in self.models.iter().enumerate() {
            let field = |f: &str| format!("models[{i}].{f}");
            unique(path, &field("name"), &entry.name, &mut model_names)?;
            let base = *base_index.get(&entry.base).ok_or_else(|| {
                let known: Vec<&str> = bases.iter().map(|b| b.name.as_str()).collect();
                Error::field(
                    path,
                    field("base"),
                    format!(
                        "unknown base \"{}\"; the [[bases]] are {}",
                        entry.base,
                        known.join(", ")
                    ),
                )
            })?;
            specs.push(ModelSpec {
                name: entry.name.clone(),
                base,
                variant: entry.variant(path, i)?,
            });
        }
        Ok((specs, model_names))
    }

    /// The `[[servers]]` (storage in bytes), and the index of each by name.
    fn load_servers(&self, path: &Path) -> Result<(Vec<CacheServer>, Names)> {
        let mut server_names = HashMap::new();
        let mut servers = Vec::with_capacity(self.servers.len());
        for (m, spec) in self.servers.iter().enumerate() {
            let field = |f: &str| format!("servers[{m}].{f}");
            limits::BYTES.check(path, &field("storage_bytes"), spec.storage_bytes)?;
            let name = spec.name.clone().unwrap_or_else(|| format!("es-{m}"));
            unique(path, &field("name"), &name, &mut server_names)?;
            servers.push(CacheServer {
                name,
                storage_bytes: spec.storage_bytes,
            });
        }
        Ok((servers, server_names))
    }

    /// The default popularity from `[requests]`: Zipf probabilities by rank over `models`
    /// models, whether each user draws its own order, and the seeded generator of the orders.
    fn default_popularity(
        &self,
        path: &Path,
        models: usize,
    ) -> Result<(Vec<f64>, bool, ChaCha8Rng)> {
        let requests = self.requests.clone().unwrap_or(RequestsSpec {
            zipf_skew: None,
            order: None,
            seed: None,
        });
        let skew = requests.zipf_skew.unwrap_or(0.8);
        limits::EXPONENT.check(path, "requests.zipf_skew", skew)?;
        let per_user = match requests.order.as_deref().unwrap_or("shared") {
            "shared" => false,
            "per-user" => true,
            other => {
                return Err(Error::field(
                    path,
                    "requests.order",
                    format!("expected shared or per-user, got \"{other}\""),
                ))
            }
        };
        let popularity = zipf(models, skew);
        let rng = ChaCha8Rng::seed_from_u64(requests.seed.unwrap_or(0));
        Ok((popularity, per_user, rng))
    }
}

/// The index of each entry of a list by name.
type Names = HashMap<String, usize>;

/// What the `[[users]]` of a cache instance resolve against, in file order (the per-user
/// request orders are drawn from one generator, user after user).
struct UserBuilder<'a> {
    path: &'a Path,
    sources: Sources<'a>,
    bases: &'a [BaseModel],
    /// The bases' loaded tables.
    instance_models: &'a [InstanceModel],
    /// Number of servers.
    servers: usize,
    server_names: &'a Names,
    model_names: &'a Names,
    /// Default request probability by popularity rank.
    popularity: Vec<f64>,
    /// Whether each user without explicit requests draws its own order.
    per_user: bool,
    rng: ChaCha8Rng,
    /// On-device inference seconds (`None`: does not fit) memoised by (device, memory, base,
    /// prompt, generate).
    inference: HashMap<(String, u64, usize, usize, usize), Option<f64>>,
    user_names: Names,
}

impl UserBuilder<'_> {
    /// User `k` of the file, validated.
    fn user(&mut self, k: usize, spec: &CacheUserSpec) -> Result<CacheUser> {
        let path = self.path;
        let field = |f: &str| format!("users[{k}].{f}");
        let name = spec.name.clone().unwrap_or_else(|| format!("u{k}"));
        unique(path, &field("name"), &name, &mut self.user_names)?;
        let tokens = limits::MAX_TOKENS;
        let prompt = limits::count(path, &field("prompt_tokens"), spec.prompt_tokens, 1, tokens)?;
        let generate = limits::count(
            path,
            &field("generate_tokens"),
            spec.generate_tokens,
            0,
            tokens,
        )?;
        limits::DURATION_S.check(path, &field("latency_limit_s"), spec.latency_limit_s)?;
        limits::MEMORY_BYTES.check_opt(path, &field("memory_bytes"), spec.memory_bytes)?;
        let rate_bps = self.rates(k, spec)?;
        let times = self.inference_times(k, spec, prompt, generate)?;
        let requests = self.requests(k, spec)?;
        Ok(CacheUser {
            name,
            rate_bps,
            latency_limit_s: spec.latency_limit_s,
            inference_s: times,
            requests,
        })
    }

    /// User `k`'s downlink rate from each server, bit/s (0 where the server does not cover it).
    fn rates(&self, k: usize, spec: &CacheUserSpec) -> Result<Vec<f64>> {
        let path = self.path;
        let mut rate_bps = vec![0.0; self.servers];
        for (server, &rate) in &spec.rate_bps {
            let sub = format!("users[{k}].rate_bps.{server}");
            let m = self.server_names.get(server).copied().ok_or_else(|| {
                Error::field(
                    path,
                    &sub,
                    format!("unknown server \"{server}\"; expected one of the [[servers]] names"),
                )
            })?;
            rate_bps[m] = check_rate(path, &sub, rate)?;
        }
        Ok(rate_bps)
    }

    /// User `k`'s on-device inference time of each base, seconds (`None`: does not fit).
    fn inference_times(
        &mut self,
        k: usize,
        spec: &CacheUserSpec,
        prompt: usize,
        generate: usize,
    ) -> Result<Vec<Option<f64>>> {
        let path = self.path;
        let device_field = format!("users[{k}].device");
        let mut times = Vec::with_capacity(self.bases.len());
        for (b, base) in self.bases.iter().enumerate() {
            let key = (
                spec.device.clone(),
                spec.memory_bytes.unwrap_or(-1.0).to_bits(),
                b,
                prompt,
                generate,
            );
            let time = match self.inference.get(&key) {
                Some(t) => *t,
                None => {
                    let context = TierContext {
                        path,
                        catalog: self.sources.catalog,
                        devices_path: self.sources.devices_path,
                        profiles_dir: self.sources.profiles_dir,
                        model: &self.instance_models[b],
                    };
                    let tier = TierSpec {
                        device: spec.device.clone(),
                        memory_bytes: spec.memory_bytes,
                        use_profile: true,
                        runtime: spec.runtime.clone(),
                        unit: spec.unit.clone(),
                    };
                    let resource = context
                        .resource(&tier, &device_field)
                        .map_err(|e| at_field(path, &device_field, e))?;
                    let t = on_device_inference_s(&base.table, &resource, prompt, generate);
                    self.inference.insert(key, t);
                    t
                }
            };
            times.push(time);
        }
        Ok(times)
    }

    /// User `k`'s request probabilities `(model, p)`: its explicit ones normalised to sum 1,
    /// or the default popularity (in a drawn order for per-user orders).
    fn requests(&mut self, k: usize, spec: &CacheUserSpec) -> Result<Vec<(usize, f64)>> {
        let path = self.path;
        Ok(match &spec.requests {
            Some(explicit) => {
                let mut list = Vec::with_capacity(explicit.len());
                for (model, &p) in explicit {
                    let sub = format!("users[{k}].requests.{model}");
                    let i = self.model_names.get(model).copied().ok_or_else(|| {
                        Error::field(path, &sub, format!("unknown model \"{model}\""))
                    })?;
                    limits::OBJECTIVE_WEIGHT.check(path, &sub, p)?;
                    list.push((i, p));
                }
                let total: f64 = list.iter().map(|r| r.1).sum();
                if total <= 0.0 {
                    return Err(Error::field(
                        path,
                        format!("users[{k}].requests"),
                        "expected at least one positive probability",
                    ));
                }
                list.iter().map(|&(i, p)| (i, p / total)).collect()
            }
            None => {
                let mut order: Vec<usize> = (0..self.popularity.len()).collect();
                if self.per_user {
                    order.shuffle(&mut self.rng);
                }
                order
                    .into_iter()
                    .zip(&self.popularity)
                    .map(|(i, &p)| (i, p))
                    .collect()
            }
        })
    }
}

impl ModelEntry {
    fn variant(&self, path: &Path, i: usize) -> Result<Variant> {
        let field = |f: &str| format!("models[{i}].{f}");
        let unused = |name: &str, present: bool| -> Result<()> {
            if present {
                Err(Error::field(
                    path,
                    field(name),
                    format!("not used by variant \"{}\"", self.variant),
                ))
            } else {
                Ok(())
            }
        };
        match self.variant.as_str() {
            "base" | "full" => {
                unused("rank", self.rank.is_some())?;
                unused("targets", self.targets.is_some())?;
                unused("layers", self.layers.is_some())?;
                Ok(if self.variant == "base" {
                    Variant::Base
                } else {
                    Variant::Full
                })
            }
            "lora" => {
                unused("layers", self.layers.is_some())?;
                let rank = limits::count(
                    path,
                    &field("rank"),
                    self.rank.unwrap_or(8),
                    1,
                    limits::MAX_SMALL_COUNT,
                )?;
                let targets = self
                    .targets
                    .clone()
                    .unwrap_or_else(|| vec!["q".into(), "v".into()]);
                Ok(Variant::Lora { rank, targets })
            }
            "top-layers" => {
                unused("rank", self.rank.is_some())?;
                unused("targets", self.targets.is_some())?;
                let Some(layers) = self.layers else {
                    return Err(Error::field(
                        path,
                        field("layers"),
                        "missing: a top-layers model needs the number of fine-tuned top blocks",
                    ));
                };
                Ok(Variant::TopLayers {
                    layers: limits::count(path, &field("layers"), layers, 1, limits::MAX_LAYERS)?,
                })
            }
            other => Err(Error::field(
                path,
                field("variant"),
                format!("expected base, lora, top-layers or full, got \"{other}\""),
            )),
        }
    }
}

/// A downlink rate (bit/s) of a user's `rate_bps`: 0 (not covered) or in [`limits::RATE_BPS`].
fn check_rate(path: &Path, field: &str, rate: f64) -> Result<f64> {
    if rate == 0.0 || limits::RATE_BPS.contains(rate) {
        return Ok(rate);
    }
    Err(Error::field(
        path,
        field,
        format!(
            "expected 0 (no coverage) or a rate in {}, got {rate}",
            limits::RATE_BPS.describe()
        ),
    ))
}

/// On-device inference time of `prompt` prefill tokens and `generate` decode steps, s; `None`
/// when the weights and the KV cache of `prompt + generate` tokens exceed the device memory.
pub fn on_device_inference_s(
    table: &crate::costs::table::CostTable,
    device: &crate::problems::split::TierResource,
    prompt: usize,
    generate: usize,
) -> Option<f64> {
    let tokens = (prompt + generate) as f64;
    let memory: f64 = table
        .layers
        .iter()
        .map(|l| l.param_bytes + l.kv_bytes_per_token * tokens)
        .sum();
    if memory > device.memory_bytes {
        return None;
    }
    let timer = device.timer();
    Some(
        table
            .layers
            .iter()
            .map(|l| {
                timer.prefill(l, prompt).latency_s
                    + timer.decode_steps(l, prompt, generate).latency_s
            })
            .sum(),
    )
}
