//! Schema of an allocation (many users, shared edge servers) instance file and its validation.
//!
//! ```toml
//! problem = "alloc"
//! name = "alloc-10-users"
//! objective = "min-max"          # min-max (default) | sum | weighted-sum
//!
//! [[servers]]
//! name = "bs-0"                  # default bs-<index>
//! device = "l4"                  # a row of devices.csv
//! resource_blocks = 100          # N >= 1
//! rb_bandwidth_hz = 180e3        # one block: 12 subcarriers x 15 kHz
//! rtt_s = 0.010
//!
//! [[users]]
//! name = "u0"                    # default u<index>
//! device = "phone-sd8gen3"
//! model = "llama-3.2-1b"         # a config in models_dir, a .toml config or a .csv table
//! dtype = "q4"                   # default fp16
//! mode = "inference"             # the fields of a split instance's [workload]
//! prompt_tokens = 256
//! generate_tokens = 32
//! snr_db = 12.0                  # uplink SNR per resource block, dB: one value, or one per server
//! downlink_snr_db = 15.0         # default snr_db
//! deadline_s = 5.0
//! ```
//!
//! Optional fields: `description`, `models_dir` (default `../models`), `devices` (default
//! `../devices.csv`), `profiles_dir` (default `../profiles`) at the top; `memory_bytes` (default
//! the device's memory) on servers and users; on users `weight` (default 1), `embed_on_device`,
//! `min_device_layers`, `max_device_layers`, `tx_power_w` (default the device's, else 0.2 W) and
//! `rx_power_w` (default the device's idle power). A fine-tuning user has `mode = "finetune"`,
//! `batch_size`, `seq_len`, `steps`, `method = "lora" | "full"`, `lora_rank` (default 8) and
//! `lora_targets` (default `["q", "v"]`).
//!
//! Every model config and cost table is loaded once per distinct model and dtype, however many
//! users run it. Errors name the field with the index of its table, e.g. `users[3].snr_db`.

mod formulation;
pub mod generate;

pub use formulation::Alloc;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::Rules;
use crate::costs::arch::Dtype;
use crate::error::{Error, Result};
use crate::instance::common::{
    at_field, instance_file, instance_name, layer_count, parse_dtype, runtime_devices, unique,
    with_sources, InstanceModel, Sources, TierContext, TierSpec, WorkloadSpec,
};
use crate::instance::read_structured;
use crate::limits;
use crate::problems::alloc::{AllocObjective, AllocProblem, Server, User};

instance_file! {
    /// The alloc instance file as written.
    pub struct AllocInstanceFile ["alloc"] {
        /// `min-max`, `sum` or `weighted-sum` (default `min-max`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub objective: Option<String>,
        /// `[[servers]]`: the edge servers.
        #[serde(default)]
        pub servers: Vec<ServerSpec>,
        /// `[[users]]`: the users.
        #[serde(default)]
        pub users: Vec<UserSpec>,
    }
}

/// `[[servers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Name (default `bs-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Row of devices.csv.
    pub device: String,
    /// Runtime serving the users (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Processor it runs on: gpu, cpu or npu (default: the runtime's, else the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Memory for models, KV caches and training state, bytes (default: the device's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// Resource blocks shared by the server's users (at least 1).
    pub resource_blocks: i64,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Round-trip time between a user and the server, s.
    pub rtt_s: f64,
}

/// An SNR in dB: one value for every server, or one value per server in server order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "an SNR in dB: a number, or a list with one number per server"
)]
pub enum SnrSpec {
    /// The same SNR to every server.
    All(f64),
    /// One SNR per server.
    PerServer(Vec<f64>),
}

/// `[[users]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
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
    /// Model: a config name in `models_dir`, a `.toml` config path or a `.csv` cost table (which
    /// needs `adapter_params_per_block` for LoRA).
    pub model: String,
    /// Weight dtype: fp32, fp16 (default), int8 or q4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// The workload, with the fields of a split instance's `[workload]` written in the user.
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    /// Uplink SNR per resource block, dB.
    pub snr_db: SnrSpec,
    /// Downlink SNR per resource block, dB (default `snr_db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink_snr_db: Option<SnrSpec>,
    /// Latency limit, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_s: Option<f64>,
    /// Weight in the weighted-sum objective (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Keep the embedding on the device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embed_on_device: bool,
    /// At least this many layers (embedding included) on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_device_layers: Option<i64>,
    /// At most this many layers on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_device_layers: Option<i64>,
    /// Radio transmit power, W (default the device's `tx_power_w`, else 0.2 W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_power_w: Option<f64>,
    /// Radio receive power, W (default the device's idle power).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_power_w: Option<f64>,
}

/// Transmit power of a device without `tx_power_w` in devices.csv, W (23 dBm, the 3GPP UE power
/// class 3 maximum).
pub const DEFAULT_TX_POWER_W: f64 = 0.2;

/// Loads and validates an alloc instance.
pub fn load(path: &Path) -> Result<AllocProblem> {
    let file: AllocInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

/// Linear SNR of a value in dB.
pub fn snr_linear(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

/// Linear SNRs to each of `servers` servers.
fn snr_per_server(path: &Path, field: &str, spec: &SnrSpec, servers: usize) -> Result<Vec<f64>> {
    let linear = |field: &str, db: f64| -> Result<f64> {
        Ok(snr_linear(limits::SNR_DB.check(path, field, db)?))
    };
    match spec {
        SnrSpec::All(db) => Ok(vec![linear(field, *db)?; servers]),
        SnrSpec::PerServer(list) if list.len() != servers => Err(Error::field(
            path,
            field,
            format!(
                "expected one value per server ({servers}), got a list of {}",
                list.len()
            ),
        )),
        SnrSpec::PerServer(list) => list
            .iter()
            .enumerate()
            .map(|(m, db)| linear(&format!("{field}[{m}]"), *db))
            .collect(),
    }
}

impl AllocInstanceFile {
    /// Validates the file and resolves the tables it references (paths relative to `path`).
    pub fn into_problem(&self, path: &Path) -> Result<AllocProblem> {
        with_sources(
            path,
            [&self.devices, &self.models_dir, &self.profiles_dir],
            |sources| self.build(path, sources),
        )
    }

    /// Validates the file against already loaded sources; `path` names the file in errors and
    /// anchors a user's `.toml` model path.
    pub fn build(&self, path: &Path, sources: Sources<'_>) -> Result<AllocProblem> {
        let name = instance_name(path, &self.problem, "alloc", self.name.as_deref())?;
        let objective = match &self.objective {
            None => AllocObjective::MinMax,
            Some(text) => AllocObjective::parse(text).ok_or_else(|| {
                Error::field(
                    path,
                    "objective",
                    format!("expected min-max, sum or weighted-sum, got \"{text}\""),
                )
            })?,
        };
        if self.servers.is_empty() {
            return Err(Error::field(
                path,
                "servers",
                "missing: expected at least one [[servers]] table",
            ));
        }
        if self.users.is_empty() {
            return Err(Error::field(
                path,
                "users",
                "missing: expected at least one [[users]] table",
            ));
        }
        limits::entries(path, "servers", self.servers.len(), limits::MAX_SERVERS)?;
        limits::entries(path, "users", self.users.len(), limits::MAX_USERS)?;
        limits::cells(
            path,
            "users x servers",
            &[self.users.len(), self.servers.len()],
        )?;
        let mut names = HashMap::new();
        let mut servers = self
            .servers
            .iter()
            .enumerate()
            .map(|(m, spec)| {
                let server = spec.server(path, m, sources)?;
                unique(
                    path,
                    &format!("servers[{m}].name"),
                    &server.name,
                    &mut names,
                )?;
                Ok(server)
            })
            .collect::<Result<Vec<_>>>()?;

        // Model tables by `(model, dtype)`, loaded at their first user.
        let mut models: HashMap<(String, Dtype), InstanceModel> = HashMap::new();
        let mut names = HashMap::new();
        let mut users = Vec::with_capacity(self.users.len());
        let mut user_models = Vec::with_capacity(self.users.len());
        for (k, spec) in self.users.iter().enumerate() {
            let field = format!("users[{k}]");
            let dtype = parse_dtype(path, &format!("{field}.dtype"), spec.dtype.as_deref())?;
            let key = (spec.model.clone(), dtype);
            if !models.contains_key(&key) {
                let model = InstanceModel::load(path, sources.models_dir, &spec.model, dtype)
                    .map_err(|e| at_field(path, &format!("{field}.model"), e))?;
                models.insert(key.clone(), model);
            }
            let user = spec.user(path, k, &models[&key], dtype, &servers, sources)?;
            unique(path, &format!("{field}.name"), &user.name, &mut names)?;
            user_models.push((dtype, models[&key].table.len()));
            users.push(user);
        }
        // A server that names a runtime runs each user's model with it.
        for (m, spec) in self.servers.iter().enumerate() {
            servers[m].runtime_devices = runtime_devices(
                path,
                &format!("servers[{m}]"),
                sources.catalog,
                &spec.device,
                [spec.runtime.as_deref(), spec.unit.as_deref()],
                &user_models,
            )?;
        }
        // The options the solvers price: one per user, server and cut.
        let layers = users.iter().map(|u| u.table.len() + 1).max().unwrap_or(1);
        limits::cells(
            path,
            "users x servers x layers",
            &[users.len(), servers.len(), layers],
        )?;
        Ok(AllocProblem {
            name,
            description: self.description.clone(),
            servers,
            users,
            objective,
        })
    }

    /// The file as TOML.
    pub fn to_toml(&self) -> String {
        // Strings, numbers, booleans, lists and tables with string keys always serialise.
        toml::to_string(self).expect("an alloc instance file serialises to TOML")
    }
}

impl ServerSpec {
    fn server(&self, path: &Path, m: usize, sources: Sources<'_>) -> Result<Server> {
        let field = |name: &str| format!("servers[{m}].{name}");
        let device = sources
            .catalog
            .get(&self.device, sources.devices_path)
            .map_err(|e| at_field(path, &field("device"), e))?
            .clone();
        let memory_bytes = match self.memory_bytes {
            Some(bytes) => limits::MEMORY_BYTES.check(path, &field("memory_bytes"), bytes)?,
            None => device.memory_bytes,
        };
        let resource_blocks = limits::count(
            path,
            &field("resource_blocks"),
            self.resource_blocks,
            1,
            limits::MAX_SMALL_COUNT,
        )?;
        limits::BANDWIDTH_HZ.check(path, &field("rb_bandwidth_hz"), self.rb_bandwidth_hz)?;
        limits::LATENCY_S.check(path, &field("rtt_s"), self.rtt_s)?;
        Ok(Server {
            name: self.name.clone().unwrap_or_else(|| format!("bs-{m}")),
            device,
            runtime_devices: Vec::new(),
            memory_bytes,
            resource_blocks,
            rb_bandwidth_hz: self.rb_bandwidth_hz,
            rtt_s: self.rtt_s,
        })
    }
}

impl UserSpec {
    /// The validated user `k` running `model` in `dtype`.
    fn user(
        &self,
        path: &Path,
        k: usize,
        model: &InstanceModel,
        dtype: Dtype,
        servers: &[Server],
        sources: Sources<'_>,
    ) -> Result<User> {
        let field = &format!("users[{k}]");
        let sub = |name: &str| format!("{field}.{name}");
        let n = model.table.len();
        let workload =
            self.workload
                .workload(path, field, model.arch.as_ref(), &model.table, dtype)?;
        let tiers = TierContext {
            path,
            catalog: sources.catalog,
            devices_path: sources.devices_path,
            profiles_dir: sources.profiles_dir,
            model,
        };
        limits::MEMORY_BYTES.check_opt(path, &sub("memory_bytes"), self.memory_bytes)?;
        let tier = TierSpec {
            device: self.device.clone(),
            memory_bytes: self.memory_bytes,
            use_profile: true,
            runtime: self.runtime.clone(),
            unit: self.unit.clone(),
        };
        let device = tiers
            .resource(&tier, field)
            .map_err(|e| at_field(path, &sub("device"), e))?;

        let snr_up = snr_per_server(path, &sub("snr_db"), &self.snr_db, servers.len())?;
        let snr_down = match &self.downlink_snr_db {
            Some(spec) => snr_per_server(path, &sub("downlink_snr_db"), spec, servers.len())?,
            None => snr_up.clone(),
        };
        limits::DURATION_S.check_opt(path, &sub("deadline_s"), self.deadline_s)?;
        let weight = limits::WEIGHT.check(path, &sub("weight"), self.weight.unwrap_or(1.0))?;
        let tx_power_w = self
            .tx_power_w
            .or(device.device.tx_power_w)
            .unwrap_or(DEFAULT_TX_POWER_W);
        limits::POWER_W.check(path, &sub("tx_power_w"), tx_power_w)?;
        let rx_power_w = self.rx_power_w.unwrap_or(device.device.power_idle_w);
        limits::POWER_W.check(path, &sub("rx_power_w"), rx_power_w)?;
        let rules = Rules {
            embed_on_device: self.embed_on_device,
            min_device_layers: layer_count(
                path,
                &sub("min_device_layers"),
                self.min_device_layers,
                n,
            )?,
            max_device_layers: layer_count(
                path,
                &sub("max_device_layers"),
                self.max_device_layers,
                n,
            )?,
            pinned: Vec::new(),
            forbidden: Vec::new(),
        };
        Ok(User {
            name: self.name.clone().unwrap_or_else(|| format!("u{k}")),
            table: model.table.clone(),
            model_key: format!("{}@{}", model.name, dtype),
            workload,
            device,
            snr_up,
            snr_down,
            deadline_s: self.deadline_s,
            weight,
            rules,
            tx_power_w,
            rx_power_w,
        })
    }
}
