//! Pieces every instance schema shares: the sources names resolve against (device catalog,
//! model configs, profiled tables), the model an instance names, tier contexts, the workload
//! section, and the field checks with errors that name the file and field.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::{TierResource, Training, Workload};
use crate::costs::{
    arch::{ArchConfig, Dtype, LoraTarget, ModelConfig},
    device::{DeviceCatalog, RuntimeChoice},
    latency::Profile,
    table::CostTable,
};
use crate::error::{Error, Result};
use crate::instance::resolve;
use crate::limits;

/// Declares an instance-file struct that begins with the header every instance file has:
/// `problem` (must name the problem), and the optional `name`, `description`, `models_dir`,
/// `devices` and, unless marked `no_profiles`, `profiles_dir`; then the fields given. The struct
/// is serde (de)serializable with `deny_unknown_fields` (which is why the header is not a
/// `#[serde(flatten)]`ed struct: serde cannot combine the two).
macro_rules! instance_file {
    (
        $(#[$meta:meta])*
        pub struct $name:ident [$problem:literal] { $($body:tt)* }
    ) => {
        $crate::instance::common::instance_file!(@emit $(#[$meta])* $name $problem {
            /// Directory of profiled tables (default `../profiles`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub profiles_dir: Option<String>,
            $($body)*
        });
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident [$problem:literal, no_profiles] { $($body:tt)* }
    ) => {
        $crate::instance::common::instance_file!(@emit $(#[$meta])* $name $problem { $($body)* });
    };
    (@emit $(#[$meta:meta])* $name:ident $problem:literal { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[doc = concat!("Must be `\"", $problem, "\"`.")]
            pub problem: String,
            /// Instance name (default: the file stem).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// Free-text description.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Directory of model configs (default `../models`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub models_dir: Option<String>,
            /// Devices CSV (default `../devices.csv`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub devices: Option<String>,
            $($body)*
        }

        impl $crate::instance::common::InstanceHeader for $name {
            fn set_catalog(&mut self, models_dir: String, devices: String) {
                self.models_dir = Some(models_dir);
                self.devices = Some(devices);
            }
        }
    };
}
pub(crate) use instance_file;

/// The header every instance file declared with `instance_file!` has.
pub trait InstanceHeader {
    /// Points the file at a directory of model configs and a device catalog (paths as the file
    /// should name them).
    fn set_catalog(&mut self, models_dir: String, devices: String);
}

/// `[workload]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `inference` or `finetune`.
    pub mode: String,
    /// Inference: prompt length P.
    #[serde(default)]
    pub prompt_tokens: Option<i64>,
    /// Inference: generated tokens G (decode steps).
    #[serde(default)]
    pub generate_tokens: Option<i64>,
    /// Fine-tuning: sequences per step.
    #[serde(default)]
    pub batch_size: Option<i64>,
    /// Fine-tuning: tokens per sequence.
    #[serde(default)]
    pub seq_len: Option<i64>,
    /// Fine-tuning: training steps (default 1).
    #[serde(default)]
    pub steps: Option<i64>,
    /// Fine-tuning: `lora` (default) or `full`.
    #[serde(default)]
    pub method: Option<String>,
    /// LoRA rank (default 8).
    #[serde(default)]
    pub lora_rank: Option<i64>,
    /// LoRA target matrices (default `["q", "v"]`).
    #[serde(default)]
    pub lora_targets: Option<Vec<String>>,
    /// Adapter parameters per block, for cost tables given as CSV (no architecture).
    #[serde(default)]
    pub adapter_params_per_block: Option<f64>,
}

/// `[radio]`: the radio powers of an instance's source or home node (each problem documents its
/// defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadioSpec {
    /// Power while transmitting, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_power_w: Option<f64>,
    /// Power while receiving, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_power_w: Option<f64>,
}

/// `[device]`, `[edge]`, `[cloud]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Row of devices.csv.
    pub device: String,
    /// Usable memory in bytes (default: the device's memory).
    #[serde(default)]
    pub memory_bytes: Option<f64>,
    /// Use a profiled table when one exists (default true).
    #[serde(default = "yes")]
    pub use_profile: bool,
    /// Runtime that runs the tier (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Processor of the device it runs on: gpu, cpu or npu (default: the runtime's, else the
    /// device's).
    #[serde(default)]
    pub unit: Option<String>,
}

fn yes() -> bool {
    true
}

/// An integer field in `min..=max`, or `default` when absent (an error naming the range when
/// there is no default).
pub(crate) fn bounded_int(
    path: &Path,
    field: &str,
    value: Option<i64>,
    default: Option<i64>,
    min: usize,
    max: usize,
) -> Result<usize> {
    match value.or(default) {
        None => Err(Error::field(
            path,
            field,
            format!("missing: expected an integer in {min}..={max}"),
        )),
        Some(v) => limits::count(path, field, v, min, max),
    }
}

/// Checks the `problem` field against `expected`; returns the instance name (default: the file
/// stem).
pub(crate) fn instance_name(
    path: &Path,
    problem: &str,
    expected: &str,
    name: Option<&str>,
) -> Result<String> {
    if problem != expected {
        return Err(Error::field(
            path,
            "problem",
            format!("expected \"{expected}\", got \"{problem}\""),
        ));
    }
    Ok(name.map(String::from).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }))
}

/// A `dtype` field (default fp16).
pub(crate) fn parse_dtype(path: &Path, field: &str, text: Option<&str>) -> Result<Dtype> {
    match text {
        None => Ok(Dtype::Fp16),
        Some(text) => Dtype::parse(text).ok_or_else(|| {
            Error::field(
                path,
                field,
                format!("expected fp32, fp16, int8 or q4, got \"{text}\""),
            )
        }),
    }
}

/// A count of device layers: `0..=n` for a model with `n` layers.
pub(crate) fn layer_count(
    path: &Path,
    field: &str,
    value: Option<i64>,
    n: usize,
) -> Result<Option<usize>> {
    match value {
        None => Ok(None),
        Some(v) if v < 0 || v as usize > n => Err(Error::field(
            path,
            field,
            format!("expected 0..={n} (the model has {n} layers), got {v}"),
        )),
        Some(v) => Ok(Some(v as usize)),
    }
}

/// The model an instance names: its cost table, its architecture (`None` for a CSV table) and
/// its name (the key of profiled tables).
pub(crate) struct InstanceModel {
    pub(crate) table: CostTable,
    pub(crate) arch: Option<ArchConfig>,
    pub(crate) name: String,
    /// Weight type the table was built for.
    pub(crate) dtype: Dtype,
}

impl InstanceModel {
    /// Loads `model`: a config name in `models_dir`, a `.toml` config or a `.csv` cost table
    /// (paths relative to the instance file `path`).
    pub(crate) fn load(
        path: &Path,
        models_dir: &Path,
        model: &str,
        dtype: Dtype,
    ) -> Result<InstanceModel> {
        if model.ends_with(".csv") {
            let csv_path = resolve(path, model);
            let stem = csv_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(InstanceModel {
                table: CostTable::read_csv(&csv_path, &stem)?,
                arch: None,
                name: stem,
                dtype,
            });
        }
        let config_path = if model.ends_with(".toml") {
            resolve(path, model)
        } else {
            ModelConfig::resolve(models_dir, model)?
        };
        let config = ModelConfig::load(&config_path)?;
        Ok(InstanceModel {
            table: config.architecture.cost_table(&config.name, dtype),
            arch: Some(config.architecture),
            name: config.name,
            dtype,
        })
    }
}

/// What a device tier of an instance is resolved against.
pub(crate) struct TierContext<'a> {
    /// The instance file (for errors).
    pub(crate) path: &'a Path,
    pub(crate) catalog: &'a DeviceCatalog,
    pub(crate) devices_path: &'a Path,
    /// Where profiled tables `<model>@<device>.csv` are looked for (`None`: roofline only).
    pub(crate) profiles_dir: Option<&'a Path>,
    pub(crate) model: &'a InstanceModel,
}

impl TierContext<'_> {
    /// The device, its usable memory (`{field}.memory_bytes`) and its profiled table if any.
    pub(crate) fn resource(&self, spec: &TierSpec, field: &str) -> Result<TierResource> {
        self.catalog.get(&spec.device, self.devices_path)?;
        let choice = RuntimeChoice {
            runtime: spec.runtime.as_deref(),
            unit: spec.unit.as_deref(),
        };
        let device = self
            .catalog
            .resolve(
                &spec.device,
                choice,
                self.model.dtype,
                self.model.table.len(),
            )
            .map_err(|message| {
                let which = if spec.runtime.is_some() {
                    "runtime"
                } else {
                    "unit"
                };
                Error::field(self.path, format!("{field}.{which}"), message)
            })?;
        let memory_bytes = match spec.memory_bytes {
            Some(m) => {
                limits::MEMORY_BYTES.check(self.path, &format!("{field}.memory_bytes"), m)?
            }
            None => device.memory_bytes,
        };
        let profile_path = self
            .profiles_dir
            .map(|dir| dir.join(format!("{}@{}.csv", self.model.name, device.name)))
            .filter(|p| spec.use_profile && p.exists());
        let profile = match &profile_path {
            Some(p) => Some(Profile::load(p, self.model.table.len())?),
            None => None,
        };
        Ok(TierResource {
            device,
            memory_bytes,
            profile,
            profile_path,
        })
    }
}

/// Device `name` as it runs `runtime` / `unit` for each of `models` (`(dtype, cost-table rows)`),
/// one device per model; empty when neither is named (the v1 model: the device's own row).
/// Errors name `{field}.runtime` or `{field}.unit`.
pub(crate) fn runtime_devices(
    path: &Path,
    field: &str,
    catalog: &DeviceCatalog,
    name: &str,
    [runtime, unit]: [Option<&str>; 2],
    models: &[(Dtype, usize)],
) -> Result<Vec<crate::costs::Device>> {
    if runtime.is_none() && unit.is_none() {
        return Ok(Vec::new());
    }
    let which = if runtime.is_some() { "runtime" } else { "unit" };
    models
        .iter()
        .map(|&(dtype, rows)| {
            catalog
                .resolve(name, RuntimeChoice { runtime, unit }, dtype, rows)
                .map_err(|message| Error::field(path, format!("{field}.{which}"), message))
        })
        .collect()
}

/// The parts every network node of an instance file has: a unique name, a device with its
/// usable memory (and profile), and a background load.
pub(crate) struct NodeSpecParts<'a> {
    /// Unique name.
    pub(crate) name: &'a str,
    /// Row of devices.csv.
    pub(crate) device: &'a str,
    /// Usable memory, bytes (default: the device's memory).
    pub(crate) memory_bytes: Option<f64>,
    /// Use a profiled table when one exists.
    pub(crate) use_profile: bool,
    /// Share of the node's compute taken by other work (default 0).
    pub(crate) background_load: Option<f64>,
    /// Runtime and unit (default none: the device's own efficiencies).
    pub(crate) runtime: Option<&'a str>,
    /// Unit kind.
    pub(crate) unit: Option<&'a str>,
}

impl TierContext<'_> {
    /// Checks node `nodes[i]`'s name is unique (recording it in `seen`), resolves its device and
    /// checks its background load: `(resource, background_load)`; errors name `nodes[i].<field>`.
    pub(crate) fn node(
        &self,
        i: usize,
        spec: NodeSpecParts<'_>,
        seen: &mut HashMap<String, usize>,
    ) -> Result<(TierResource, f64)> {
        let path = self.path;
        let field = format!("nodes[{i}]");
        unique(path, &format!("{field}.name"), spec.name, seen)?;
        let tier = TierSpec {
            device: spec.device.to_string(),
            memory_bytes: spec.memory_bytes,
            use_profile: spec.use_profile,
            runtime: spec.runtime.map(String::from),
            unit: spec.unit.map(String::from),
        };
        let resource = self
            .resource(&tier, &field)
            .map_err(|e| at_field(path, &format!("{field}.device"), e))?;
        let background_load = limits::BACKGROUND_LOAD.check(
            path,
            &format!("{field}.background_load"),
            spec.background_load.unwrap_or(0.0),
        )?;
        Ok((resource, background_load))
    }
}

/// What an instance's names resolve against: the device catalog, model configs and profiles.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The devices.
    pub catalog: &'a DeviceCatalog,
    /// Where the catalog came from (named in errors).
    pub devices_path: &'a Path,
    /// Directory of model configs.
    pub models_dir: &'a Path,
    /// Directory of profiled tables (`None`: the roofline model only).
    pub profiles_dir: Option<&'a Path>,
}

/// Resolves an instance's `devices`, `models_dir` and `profiles_dir` (defaults
/// `../devices.csv`, `../models`, `../profiles`, relative to the instance file `path`), loads the
/// device catalog, and hands the sources to `build`.
pub(crate) fn with_sources<T>(
    path: &Path,
    [devices, models_dir, profiles_dir]: [&Option<String>; 3],
    build: impl FnOnce(Sources<'_>) -> Result<T>,
) -> Result<T> {
    let devices_path = resolve(path, devices.as_deref().unwrap_or("../devices.csv"));
    let catalog = DeviceCatalog::load(&devices_path)?;
    let models_dir = resolve(path, models_dir.as_deref().unwrap_or("../models"));
    let profiles_dir = resolve(path, profiles_dir.as_deref().unwrap_or("../profiles"));
    build(Sources {
        catalog: &catalog,
        devices_path: &devices_path,
        models_dir: &models_dir,
        profiles_dir: Some(&profiles_dir),
    })
}

/// An [`Error::Unknown`] (a device or model name that does not exist) as an error of `field`.
pub(crate) fn at_field(path: &Path, field: &str, error: Error) -> Error {
    match error {
        Error::Unknown { .. } => Error::field(path, field, error.to_string()),
        other => other,
    }
}

/// Checks that `name` is not taken yet.
pub(crate) fn unique(
    path: &Path,
    field: &str,
    name: &str,
    seen: &mut HashMap<String, usize>,
) -> Result<()> {
    let index = seen.len();
    if let Some(first) = seen.insert(name.to_string(), index) {
        return Err(Error::field(
            path,
            field,
            format!("name \"{name}\" is already used by entry {first}"),
        ));
    }
    Ok(())
}

impl WorkloadSpec {
    /// Validates the workload of a model with `table` (and `arch` when known) in `dtype`; errors
    /// name the fields `{field}.prompt_tokens` etc.
    pub(crate) fn workload(
        &self,
        path: &Path,
        field: &str,
        arch: Option<&ArchConfig>,
        table: &CostTable,
        dtype: Dtype,
    ) -> Result<Workload> {
        match self.mode.as_str() {
            "inference" => self.inference(path, field, arch, table),
            "finetune" => self.finetune(path, field, arch, table, dtype),
            other => Err(Error::field(
                path,
                format!("{field}.mode"),
                format!("expected inference or finetune, got \"{other}\""),
            )),
        }
    }

    /// An inference workload: a positive prompt and a non-negative generation, both in tokens,
    /// within the model's context.
    fn inference(
        &self,
        path: &Path,
        field: &str,
        arch: Option<&ArchConfig>,
        table: &CostTable,
    ) -> Result<Workload> {
        let f = |name: &str| format!("{field}.{name}");
        let tokens = |name: &str, v: Option<i64>, min: usize| {
            bounded_int(path, &f(name), v, None, min, limits::MAX_TOKENS)
        };
        let prompt_tokens = tokens("prompt_tokens", self.prompt_tokens, 1)?;
        let generate_tokens = tokens("generate_tokens", self.generate_tokens, 0)?;
        check_context(
            path,
            arch,
            prompt_tokens + generate_tokens,
            &f("generate_tokens"),
        )?;
        // Every decode step is priced layer by layer: bound the work before it is done.
        limits::cells(
            path,
            &format!("{field}.generate_tokens x layers"),
            &[generate_tokens, table.len()],
        )?;
        Ok(Workload::Inference {
            prompt_tokens,
            generate_tokens,
        })
    }

    /// A fine-tuning workload: batch size, sequence length (tokens, within the model's context),
    /// steps and the training method.
    fn finetune(
        &self,
        path: &Path,
        field: &str,
        arch: Option<&ArchConfig>,
        table: &CostTable,
        dtype: Dtype,
    ) -> Result<Workload> {
        let f = |name: &str| format!("{field}.{name}");
        let small = limits::MAX_SMALL_COUNT;
        let batch_size = bounded_int(path, &f("batch_size"), self.batch_size, None, 1, small)?;
        let seq_len = bounded_int(
            path,
            &f("seq_len"),
            self.seq_len,
            None,
            1,
            limits::MAX_TOKENS,
        )?;
        let steps = bounded_int(path, &f("steps"), self.steps, Some(1), 1, small)?;
        check_context(path, arch, seq_len, &f("seq_len"))?;
        let training = match self.method.as_deref().unwrap_or("lora") {
            "full" => {
                if matches!(dtype, Dtype::Int8 | Dtype::Q4) && arch.is_some() {
                    return Err(Error::field(
                        path,
                        f("method"),
                        "full fine-tuning needs fp16 or fp32 weights; use method = \"lora\" \
                         (QLoRA) with quantized weights",
                    ));
                }
                Training::Full
            }
            "lora" => Training::Lora {
                adapter_params_per_block: self.adapter_params(path, field, arch, table)?,
            },
            other => {
                return Err(Error::field(
                    path,
                    f("method"),
                    format!("expected lora or full, got \"{other}\""),
                ))
            }
        };
        Ok(Workload::Finetune {
            batch_size,
            seq_len,
            steps,
            training,
        })
    }

    /// LoRA adapter parameters per block: as given, or derived from the rank and target matrices
    /// when the architecture is known.
    fn adapter_params(
        &self,
        path: &Path,
        field: &str,
        arch: Option<&ArchConfig>,
        table: &CostTable,
    ) -> Result<f64> {
        let f = |name: &str| format!("{field}.{name}");
        match (self.adapter_params_per_block, arch) {
            (Some(a), _) => limits::PARAMS.check(path, &f("adapter_params_per_block"), a),
            (None, Some(arch)) => {
                let rank = bounded_int(
                    path,
                    &f("lora_rank"),
                    self.lora_rank,
                    Some(8),
                    1,
                    limits::MAX_SMALL_COUNT,
                )?;
                let names = self
                    .lora_targets
                    .clone()
                    .unwrap_or_else(|| vec!["q".into(), "v".into()]);
                let mut targets = Vec::new();
                for (i, t) in names.iter().enumerate() {
                    targets.push(LoraTarget::parse(t).ok_or_else(|| {
                        Error::field(
                            path,
                            f(&format!("lora_targets[{i}]")),
                            format!("expected q, k, v, o, gate, up or down, got \"{t}\""),
                        )
                    })?);
                }
                let params = arch
                    .lora_params_per_block(rank, &targets)
                    .map_err(|m| Error::field(path, f("lora_targets"), m))?;
                let params = params as f64;
                limits::PARAMS
                    .check(path, &f("lora_rank"), params)
                    .map_err(|_| {
                        Error::field(
                            path,
                            f("lora_rank"),
                            format!(
                                "rank {rank} gives {params:e} adapter parameters per block, \
                                 more than {}",
                                limits::PARAMS.describe()
                            ),
                        )
                    })
            }
            (None, None) => Err(Error::field(
                path,
                f("adapter_params_per_block"),
                format!(
                    "missing: the model is a CSV table ({} rows) without an architecture, so \
                     LoRA adapter sizes cannot be derived from lora_rank",
                    table.len()
                ),
            )),
        }
    }
}

/// Checks that `tokens` fit the model's maximum context, when the architecture gives one.
fn check_context(path: &Path, arch: Option<&ArchConfig>, tokens: usize, field: &str) -> Result<()> {
    match arch.and_then(|a| a.max_context) {
        Some(m) if tokens > m => Err(Error::field(
            path,
            field,
            format!("{tokens} tokens exceed the model's maximum context of {m}"),
        )),
        _ => Ok(()),
    }
}

/// A layer index `value` of `field` for a model of `n` layers (0 = the embedding).
pub(crate) fn layer_index(path: &Path, field: &str, value: i64, n: usize) -> Result<usize> {
    if value < 0 || value as usize >= n {
        return Err(Error::field(
            path,
            field,
            format!(
                "layer {value} does not exist: the model has layers 0..={}",
                n - 1
            ),
        ));
    }
    Ok(value as usize)
}
