//! Schema of a green-scheduling instance file and its validation.
//!
//! ```toml
//! problem = "green"
//! objective = "carbon"           # carbon (default) | energy | cost
//! slot_s = 3600
//! slots = 24                     # default: the length of the carbon trace
//! migration = false
//!
//! [grid]
//! carbon = "../traces/carbon-solar-heavy.csv"   # or carbon_g_per_kwh = [...]
//! price = "../traces/price-tou.csv"             # or price_per_kwh = 0.2 or [...]
//!
//! [[servers]]
//! name = "es-0"
//! device = "l4"                  # a row of devices.csv
//! levels = [0.6, 0.8, 1.0]       # DVFS clock fractions (default)
//! renewable = "../traces/solar-1kw.csv"        # W per slot (or renewable_w = [...])
//! renewable_scale = 0.5          # multiplies the trace (default 1)
//! can_sleep = true               # default true
//!
//! [[jobs]]
//! name = "chat-batch"
//! model = "llama-3.2-1b"
//! dtype = "q4"
//! kind = "inference"             # requests x (prompt + generate) tokens, batch_size at a time
//! requests = 2000
//! prompt_tokens = 256
//! generate_tokens = 128
//! release_slot = 0
//! deadline_slot = 12             # exclusive
//! # kind = "finetune": tokens (per epoch), epochs, method = "lora" | "full", lora_rank
//! ```
//!
//! **Servers.** Level `f` runs at `f x peak_flops x compute_efficiency` FLOP/s and draws
//! `idle + (busy - idle) f^3` W (dynamic power grows with frequency times voltage squared, and
//! voltage scales with frequency under DVFS), from the device's catalog row.
//!
//! **Work from the cost tables.** Inference: per request the forward FLOP of every layer on
//! `prompt + generate` tokens plus the attention FLOP over the growing context; jobs are large
//! batches, so the compute term of the roofline applies. Fine-tuning: per epoch `tokens` forward
//! passes and their backward pass, `3x` the forward FLOP for full fine-tuning (weights and
//! activations) and `2x` for LoRA (the frozen weights need no gradient). **Memory**: the weights
//! plus, for inference, the KV cache of `batch_size` (default 8) sequences; for fine-tuning the
//! trainable parameters' gradient and Adam state (16 bytes per trainable parameter: fp32 master
//! copy, gradient, two moments). Activations are not counted.

mod formulation;
pub mod generate;

pub use formulation::Green;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::costs::arch::LoraTarget;
use crate::costs::device::{Device, DeviceCatalog};
use crate::costs::table::request_flop;
use crate::error::{Error, Result};
use crate::instance::common::{
    at_field, instance_file, instance_name, parse_dtype, unique, InstanceModel,
};
use crate::instance::{read_structured, resolve, trace};
use crate::limits::{self, Range};
use crate::problems::green::{GreenObjective, GreenProblem, GreenServer, Job, Level};

/// Bytes of training state per trainable parameter (fp32 master, gradient, Adam m and v).
pub const TRAIN_STATE_BYTES_PER_PARAM: f64 = 16.0;
/// Default DVFS clock fractions.
pub const DEFAULT_LEVELS: [f64; 3] = [0.6, 0.8, 1.0];
/// Exponent of the dynamic-power law `P_dyn ~ f^3`.
pub const DVFS_EXPONENT: f64 = 3.0;

instance_file! {
    /// The green instance file as written.
    pub struct GreenInstanceFile ["green", no_profiles] {
        /// `carbon` (default), `energy` or `cost`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub objective: Option<String>,
        /// Slot length, s.
        pub slot_s: f64,
        /// Number of slots (default: the carbon trace's length).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub slots: Option<i64>,
        /// Whether jobs may change server between slots.
        #[serde(default)]
        pub migration: bool,
        /// `[grid]`.
        pub grid: GridSpec,
        /// `[[servers]]`.
        #[serde(default)]
        pub servers: Vec<GreenServerSpec>,
        /// `[[jobs]]`.
        #[serde(default)]
        pub jobs: Vec<JobSpec>,
    }
}

/// A series: a CSV trace path, one number for every slot, or a list with one per slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a path to a timestamp,value CSV, a number, or a list of numbers"
)]
pub enum Series {
    /// A `timestamp,value` CSV, relative to the instance file.
    Trace(String),
    /// The same value in every slot.
    Constant(f64),
    /// One value per slot.
    List(Vec<f64>),
}

/// `[grid]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Carbon intensity, gCO2/kWh.
    pub carbon: Series,
    /// Electricity price per kWh (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Series>,
}

/// `[[servers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreenServerSpec {
    /// Name (default `es-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Row of devices.csv.
    pub device: String,
    /// DVFS clock fractions in (0, 1] (default 0.6, 0.8, 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<f64>>,
    /// Memory for a job, bytes (default: the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// On-site renewable power, W (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable: Option<Series>,
    /// Factor on the renewable series (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable_scale: Option<f64>,
    /// Whether the server may sleep in slots without a job (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_sleep: Option<bool>,
}

/// `[[jobs]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Name (default `job-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model config name.
    pub model: String,
    /// Weight dtype (default fp16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// `inference` or `finetune`.
    pub kind: String,
    /// Inference: requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
    /// Inference: prompt tokens per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<i64>,
    /// Inference: generated tokens per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_tokens: Option<i64>,
    /// Inference: sequences in flight (KV-cache memory; default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Fine-tuning: tokens per epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<f64>,
    /// Fine-tuning: epochs (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<i64>,
    /// Fine-tuning: `lora` (default) or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Fine-tuning: LoRA rank (default 8; targets q and v).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_rank: Option<i64>,
    /// First slot (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_slot: Option<i64>,
    /// Slot by which the job is done (exclusive).
    pub deadline_slot: i64,
}

/// Loads and validates a green instance.
pub fn load(path: &Path) -> Result<GreenProblem> {
    let file: GreenInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

impl Series {
    /// The first `slots` values (all of them when `slots` is `None`), each in `range`; `field`
    /// names it in errors.
    fn values(
        &self,
        path: &Path,
        field: &str,
        slots: Option<usize>,
        range: Range,
    ) -> Result<Vec<f64>> {
        let values = match self {
            Series::Trace(file) => trace::load_in(&resolve(path, file), Some(range))?.values,
            Series::Constant(v) => {
                range.check(path, field, *v)?;
                vec![*v; slots.unwrap_or(1)]
            }
            Series::List(list) => {
                for (i, v) in list.iter().enumerate() {
                    range.check(path, &format!("{field}[{i}]"), *v)?;
                }
                list.clone()
            }
        };
        match slots {
            Some(n) if values.len() < n => Err(Error::field(
                path,
                field,
                format!("{} values for {n} slots", values.len()),
            )),
            Some(n) => Ok(values[..n].to_vec()),
            None => Ok(values),
        }
    }
}

impl GreenInstanceFile {
    /// Validates the file and resolves what it references (paths relative to `path`).
    pub fn into_problem(&self, path: &Path) -> Result<GreenProblem> {
        let devices_path = resolve(path, self.devices.as_deref().unwrap_or("../devices.csv"));
        let catalog = DeviceCatalog::load(&devices_path)?;
        let models_dir = resolve(path, self.models_dir.as_deref().unwrap_or("../models"));
        self.build(path, &catalog, &devices_path, &models_dir)
    }

    /// Validates the file against an already loaded device catalog (from `devices_path`, named
    /// in errors) and the model configs in `models_dir`; `path` names the file in errors and
    /// anchors trace paths.
    pub fn build(
        &self,
        path: &Path,
        catalog: &DeviceCatalog,
        devices_path: &Path,
        models_dir: &Path,
    ) -> Result<GreenProblem> {
        let name = instance_name(path, &self.problem, "green", self.name.as_deref())?;
        let objective = self.parse_objective(path)?;
        limits::DURATION_S.check(path, "slot_s", self.slot_s)?;
        let slots = self.slot_count(path)?;
        let carbon_range = limits::CARBON_G_PER_KWH;
        let carbon = self
            .grid
            .carbon
            .values(path, "grid.carbon", slots, carbon_range)?;
        let slots = match slots {
            Some(n) => n,
            None => limits::count(
                path,
                "grid.carbon",
                carbon.len() as i64,
                1,
                limits::MAX_SLOTS,
            )?,
        };
        let carbon = self
            .grid
            .carbon
            .values(path, "grid.carbon", Some(slots), carbon_range)?;
        let price = match &self.grid.price {
            Some(series) => {
                series.values(path, "grid.price", Some(slots), limits::PRICE_PER_KWH)?
            }
            None => vec![0.0; slots],
        };
        for (field, empty) in [
            ("servers", self.servers.is_empty()),
            ("jobs", self.jobs.is_empty()),
        ] {
            if empty {
                return Err(Error::field(
                    path,
                    field,
                    format!("missing: expected at least one [[{field}]] table"),
                ));
            }
        }
        limits::entries(path, "servers", self.servers.len(), limits::MAX_SERVERS)?;
        limits::entries(path, "jobs", self.jobs.len(), limits::MAX_JOBS)?;
        let levels = self
            .servers
            .iter()
            .map(|s| s.levels.as_ref().map_or(DEFAULT_LEVELS.len(), Vec::len))
            .max()
            .unwrap_or(1);
        limits::cells(
            path,
            "jobs x servers x slots x levels",
            &[self.jobs.len(), self.servers.len(), slots, levels],
        )?;
        let mut names = std::collections::HashMap::new();
        let mut servers = Vec::with_capacity(self.servers.len());
        for (m, spec) in self.servers.iter().enumerate() {
            let server = spec.server(path, m, catalog, devices_path, slots)?;
            unique(
                path,
                &format!("servers[{m}].name"),
                &server.name,
                &mut names,
            )?;
            servers.push(server);
        }
        let mut names = std::collections::HashMap::new();
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for (j, spec) in self.jobs.iter().enumerate() {
            let job = spec.job(path, j, models_dir, slots)?;
            unique(path, &format!("jobs[{j}].name"), &job.name, &mut names)?;
            jobs.push(job);
        }
        Ok(GreenProblem {
            name,
            slot_s: self.slot_s,
            carbon_g_per_kwh: carbon,
            price_per_kwh: price,
            servers,
            jobs,
            migration: self.migration,
            objective,
        })
    }

    /// The objective named in the file; carbon when none is.
    fn parse_objective(&self, path: &Path) -> Result<GreenObjective> {
        match self.objective.as_deref().unwrap_or("carbon") {
            "carbon" => Ok(GreenObjective::Carbon),
            "energy" => Ok(GreenObjective::Energy),
            "cost" => Ok(GreenObjective::Cost),
            other => Err(Error::field(
                path,
                "objective",
                format!("expected carbon, energy or cost, got \"{other}\""),
            )),
        }
    }

    /// The number of slots the file sets, checked in `1..=MAX_SLOTS`; `None` when it sets none.
    fn slot_count(&self, path: &Path) -> Result<Option<usize>> {
        self.slots
            .map(|n| limits::count(path, "slots", n, 1, limits::MAX_SLOTS))
            .transpose()
    }

    /// The file as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a green instance file serialises to TOML")
    }
}

impl GreenServerSpec {
    /// Server `m` over `slots` slots: its device's DVFS levels, memory (bytes) and renewable
    /// supply (W per slot, scaled); its name is not yet checked unique.
    fn server(
        &self,
        path: &Path,
        m: usize,
        catalog: &DeviceCatalog,
        devices_path: &Path,
        slots: usize,
    ) -> Result<GreenServer> {
        let field = |f: &str| format!("servers[{m}].{f}");
        let device = catalog
            .get(&self.device, devices_path)
            .map_err(|e| at_field(path, &field("device"), e))?;
        let levels = self.levels(path, m, device)?;
        let memory_bytes = match self.memory_bytes {
            Some(b) => limits::MEMORY_BYTES.check(path, &field("memory_bytes"), b)?,
            None => device.memory_bytes,
        };
        let scale = self.renewable_scale.unwrap_or(1.0);
        if !(scale == 0.0 || limits::FACTOR.contains(scale)) {
            return Err(Error::field(
                path,
                field("renewable_scale"),
                format!(
                    "expected 0 or a number in {}, got {scale}",
                    limits::FACTOR.describe()
                ),
            ));
        }
        let renewable_w = match &self.renewable {
            Some(series) => {
                let series_field = field("renewable");
                let values = series.values(path, &series_field, Some(slots), limits::POWER_W)?;
                values
                    .into_iter()
                    .enumerate()
                    .map(|(t, w)| {
                        limits::POWER_W.check(
                            path,
                            &format!("{series_field}[{t}] x renewable_scale"),
                            w * scale,
                        )
                    })
                    .collect::<Result<Vec<f64>>>()?
            }
            None => vec![0.0; slots],
        };
        Ok(GreenServer {
            name: self.name.clone().unwrap_or_else(|| format!("es-{m}")),
            levels,
            idle_w: device.power_idle_w,
            can_sleep: self.can_sleep.unwrap_or(true),
            memory_bytes,
            renewable_w,
        })
    }

    /// The DVFS levels of server `m`, slowest first: speed (FLOP/s) and power (W) at each clock
    /// fraction, power growing with the fraction to the [`DVFS_EXPONENT`].
    fn levels(&self, path: &Path, m: usize, device: &Device) -> Result<Vec<Level>> {
        let fractions = self.levels.clone().unwrap_or(DEFAULT_LEVELS.to_vec());
        if fractions.is_empty() {
            return Err(Error::field(
                path,
                format!("servers[{m}].levels"),
                "expected at least one level",
            ));
        }
        let mut levels = Vec::with_capacity(fractions.len());
        for (l, &f) in fractions.iter().enumerate() {
            limits::FRACTION.check(path, &format!("servers[{m}].levels[{l}]"), f)?;
            levels.push(Level {
                speed_flops: f * device.peak_flops * device.compute_efficiency,
                power_w: device.power_idle_w
                    + (device.power_busy_w - device.power_idle_w) * f.powf(DVFS_EXPONENT),
            });
        }
        levels.sort_by(|a, b| a.speed_flops.total_cmp(&b.speed_flops));
        Ok(levels)
    }
}

impl JobSpec {
    fn job(&self, path: &Path, j: usize, models_dir: &Path, slots: usize) -> Result<Job> {
        let field = |f: &str| format!("jobs[{j}].{f}");
        let count = |f: &str, v: Option<i64>, default: Option<i64>, min: usize, max: usize| match v
            .or(default)
        {
            None => Err(Error::field(path, field(f), "missing: expected an integer")),
            Some(v) => limits::count(path, &field(f), v, min, max),
        };
        let small = limits::MAX_SMALL_COUNT;
        let tokens_max = limits::MAX_TOKENS;
        let dtype = parse_dtype(path, &field("dtype"), self.dtype.as_deref())?;
        let model = InstanceModel::load(path, models_dir, &self.model, dtype)
            .map_err(|e| at_field(path, &field("model"), e))?;
        let table = &model.table;
        let weights: f64 = table.layers.iter().map(|l| l.param_bytes).sum();
        let (work_flop, memory_bytes) = match self.kind.as_str() {
            "inference" => {
                let requests =
                    count("requests", self.requests, None, 1, limits::MAX_REQUESTS)? as f64;
                let prompt = count("prompt_tokens", self.prompt_tokens, None, 1, tokens_max)?;
                let generate = count("generate_tokens", self.generate_tokens, None, 0, tokens_max)?;
                let batch = count("batch_size", self.batch_size, Some(8), 1, small)? as f64;
                let kv: f64 = table.layers.iter().map(|l| l.kv_bytes_per_token).sum();
                (
                    requests * request_flop(table, prompt, generate),
                    weights + batch * (prompt + generate) as f64 * kv,
                )
            }
            "finetune" => {
                let tokens = self.tokens.ok_or_else(|| {
                    Error::field(path, field("tokens"), "missing: tokens per epoch")
                })?;
                limits::JOB_TOKENS.check(path, &field("tokens"), tokens)?;
                let epochs = count("epochs", self.epochs, Some(1), 1, small)? as f64;
                let forward: f64 = table.layers.iter().map(|l| l.fwd_flop_per_token).sum();
                let (factor, trainable) = match self.method.as_deref().unwrap_or("lora") {
                    "full" => (3.0, table.total_params() as f64),
                    "lora" => {
                        let rank = count("lora_rank", self.lora_rank, Some(8), 1, small)?;
                        let per_block = model
                            .arch
                            .as_ref()
                            .map(|a| a.lora_params_per_block(rank, &[LoraTarget::Q, LoraTarget::V]))
                            .transpose()
                            .map_err(|m| Error::field(path, field("lora_rank"), m))?
                            .unwrap_or(0);
                        let blocks = table.layers.len().saturating_sub(2) as f64;
                        (2.0, per_block as f64 * blocks)
                    }
                    other => {
                        return Err(Error::field(
                            path,
                            field("method"),
                            format!("expected lora or full, got \"{other}\""),
                        ))
                    }
                };
                (
                    epochs * tokens * factor * forward,
                    weights + TRAIN_STATE_BYTES_PER_PARAM * trainable,
                )
            }
            other => {
                return Err(Error::field(
                    path,
                    field("kind"),
                    format!("expected inference or finetune, got \"{other}\""),
                ))
            }
        };
        let release = count(
            "release_slot",
            self.release_slot,
            Some(0),
            0,
            limits::MAX_SLOTS,
        )?;
        let deadline = count(
            "deadline_slot",
            Some(self.deadline_slot),
            None,
            1,
            limits::MAX_SLOTS,
        )?;
        if deadline > slots || deadline <= release {
            return Err(Error::field(
                path,
                field("deadline_slot"),
                format!(
                    "expected release_slot ({release}) < deadline_slot <= slots ({slots}), got \
                     {deadline}"
                ),
            ));
        }
        Ok(Job {
            name: self.name.clone().unwrap_or_else(|| format!("job-{j}")),
            work_flop,
            memory_bytes,
            release,
            deadline,
        })
    }
}
