//! Schema of a split (cut-layer selection) instance file and its validation.
//!
//! ```toml
//! problem = "split"
//! name = "llama2-7b-jetson"
//! model = "llama-2-7b"          # a config in models_dir, a .toml config path, or a .csv table
//! dtype = "q4"                  # fp32 | fp16 | int8 | q4 (configs only)
//!
//! [workload]
//! mode = "inference"            # or "finetune"
//! prompt_tokens = 512
//! generate_tokens = 128
//!
//! [device]
//! device = "jetson-orin-nano-8gb"   # a row of devices.csv
//! memory_bytes = 6.0e9              # optional: usable memory, default the device's
//!
//! [edge]
//! device = "rtx-4090"
//!
//! [links.wireless]              # device <-> edge
//! uplink_bps = 50e6
//! downlink_bps = 200e6
//! rtt_s = 0.01
//!
//! [objective]
//! kind = "latency"              # latency | energy | weighted
//!
//! [constraints]
//! deadline_s = 30.0
//! embed_on_device = true
//! ```

mod formulation;

pub use formulation::Split;

use std::path::Path;

use serde::Deserialize;

use crate::chain::{Link, Objective, Rules, SplitProblem, Tier, TierResource};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::{
    instance_name, layer_count, layer_index, parse_dtype, InstanceModel, TierContext, TierSpec,
    WorkloadSpec,
};
use crate::instance::{read_structured, resolve};
use crate::limits;

/// The split instance file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitInstanceFile {
    /// Must be `"split"`.
    pub problem: String,
    /// Instance name (default: the file stem).
    #[serde(default)]
    pub name: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Model: a config name, a `.toml` config path or a `.csv` cost-table path.
    pub model: String,
    /// Weight dtype (for model configs).
    #[serde(default)]
    pub dtype: Option<String>,
    /// Directory of model configs (default `../models`).
    #[serde(default)]
    pub models_dir: Option<String>,
    /// Devices CSV (default `../devices.csv`).
    #[serde(default)]
    pub devices: Option<String>,
    /// Directory of profiled tables (default `../profiles`).
    #[serde(default)]
    pub profiles_dir: Option<String>,
    /// The workload.
    pub workload: WorkloadSpec,
    /// The user's device.
    pub device: TierSpec,
    /// The edge server, if any.
    #[serde(default)]
    pub edge: Option<TierSpec>,
    /// The cloud, if any.
    #[serde(default)]
    pub cloud: Option<TierSpec>,
    /// Links.
    #[serde(default)]
    pub links: LinksSpec,
    /// Objective.
    #[serde(default)]
    pub objective: ObjectiveSpec,
    /// Constraints and placement rules.
    #[serde(default)]
    pub constraints: ConstraintsSpec,
}

/// `[links]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksSpec {
    /// Device <-> edge (the radio link).
    #[serde(default)]
    pub wireless: Option<LinkSpec>,
    /// Edge <-> cloud.
    #[serde(default)]
    pub backhaul: Option<LinkSpec>,
}

/// One link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Rate towards the cloud, bit/s.
    pub uplink_bps: f64,
    /// Rate towards the device, bit/s.
    pub downlink_bps: f64,
    /// Round-trip time, s (each crossing pays half).
    pub rtt_s: f64,
    /// Device radio power while transmitting, W (wireless only; default the device's).
    #[serde(default)]
    pub tx_power_w: Option<f64>,
    /// Device radio power while receiving, W (wireless only; default the device's idle power).
    #[serde(default)]
    pub rx_power_w: Option<f64>,
}

/// `[objective]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// `latency`, `energy` or `weighted`.
    #[serde(default = "latency")]
    pub kind: String,
    /// Weight of latency (s) in `weighted`.
    #[serde(default)]
    pub latency_weight: Option<f64>,
    /// Weight of device energy (J) in `weighted`.
    #[serde(default)]
    pub energy_weight: Option<f64>,
}

fn latency() -> String {
    "latency".into()
}

impl Default for ObjectiveSpec {
    fn default() -> Self {
        ObjectiveSpec {
            kind: latency(),
            latency_weight: None,
            energy_weight: None,
        }
    }
}

/// `[constraints]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsSpec {
    /// End-to-end latency limit, s.
    #[serde(default)]
    pub deadline_s: Option<f64>,
    /// Device energy limit, J.
    #[serde(default)]
    pub device_energy_budget_j: Option<f64>,
    /// Keep the embedding on the device (privacy: raw tokens never leave it).
    #[serde(default)]
    pub embed_on_device: bool,
    /// At least this many layers (rows of the cost table, embedding included) on the device.
    #[serde(default)]
    pub min_device_layers: Option<i64>,
    /// At most this many layers on the device.
    #[serde(default)]
    pub max_device_layers: Option<i64>,
    /// Layers that must run on a tier.
    #[serde(default)]
    pub pin: Vec<LayerTierSpec>,
    /// Layers that must not run on a tier.
    #[serde(default)]
    pub forbid: Vec<LayerTierSpec>,
}

/// `{ layer = 3, tier = "device" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerTierSpec {
    /// Layer index (0 = embedding).
    pub layer: i64,
    /// `device`, `edge` or `cloud`.
    pub tier: String,
}

/// Loads and validates a split instance.
pub fn load(path: &Path) -> Result<SplitProblem> {
    let file: SplitInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

impl SplitInstanceFile {
    /// Validates the file and resolves the tables it references.
    pub fn into_problem(self, path: &Path) -> Result<SplitProblem> {
        let name = instance_name(path, &self.problem, "split", self.name.as_deref())?;
        let dtype = parse_dtype(path, "dtype", self.dtype.as_deref())?;
        let models_dir = resolve(path, self.models_dir.as_deref().unwrap_or("../models"));
        let model = InstanceModel::load(path, &models_dir, &self.model, dtype)?;
        let (table, arch) = (&model.table, model.arch.as_ref());
        let n = table.len();

        let workload = self
            .workload
            .workload(path, "workload", arch, table, dtype)?;

        let devices_path = resolve(path, self.devices.as_deref().unwrap_or("../devices.csv"));
        let catalog = DeviceCatalog::load(&devices_path)?;
        let profiles_dir = resolve(path, self.profiles_dir.as_deref().unwrap_or("../profiles"));
        let tiers = TierContext {
            path,
            catalog: &catalog,
            devices_path: &devices_path,
            profiles_dir: Some(&profiles_dir),
            model: &model,
        };
        let tier = |spec: &TierSpec, field: &str| tiers.resource(spec, field);
        let device = tier(&self.device, "device")?;
        let edge = self.edge.as_ref().map(|s| tier(s, "edge")).transpose()?;
        let cloud = self.cloud.as_ref().map(|s| tier(s, "cloud")).transpose()?;

        let (wireless, backhaul) = self.links(path, edge.is_some(), cloud.is_some())?;
        let (tx_power_w, rx_power_w) = self.radio_powers(path, wireless.is_some(), &device)?;
        let objective = self.objective.objective(path)?;
        let rules = self.constraints.rules(path, n)?;
        let c = &self.constraints;

        Ok(SplitProblem {
            name,
            description: self.description.clone(),
            source: Some(path.to_path_buf()),
            table: model.table,
            workload,
            tiers: [Some(device), edge, cloud],
            wireless,
            backhaul,
            tx_power_w,
            rx_power_w,
            objective,
            deadline_s: c.deadline_s,
            device_energy_budget_j: c.device_energy_budget_j,
            rules,
        })
    }

    /// The radio link and the backhaul, validated, and the error when a tier that needs one
    /// (`has_edge`, `has_cloud`) lacks it.
    fn links(
        &self,
        path: &Path,
        has_edge: bool,
        has_cloud: bool,
    ) -> Result<(Option<Link>, Option<Link>)> {
        let wireless = link(path, &self.links.wireless, "wireless")?;
        let backhaul = link(path, &self.links.backhaul, "backhaul")?;
        if (has_edge || has_cloud) && wireless.is_none() {
            return Err(Error::field(
                path,
                "links.wireless",
                "missing: an edge or cloud tier needs the device <-> edge radio link",
            ));
        }
        if has_cloud && backhaul.is_none() {
            return Err(Error::field(
                path,
                "links.backhaul",
                "missing: a cloud tier needs the edge <-> cloud backhaul link",
            ));
        }
        Ok((wireless, backhaul))
    }

    /// The device's radio transmit and receive powers, W: the link's, else the catalog's
    /// (transmit: required when there is a radio link; receive: the device's idle power).
    fn radio_powers(
        &self,
        path: &Path,
        has_wireless: bool,
        device: &TierResource,
    ) -> Result<(f64, f64)> {
        let wireless_spec = self.links.wireless.as_ref();
        let tx_power_w = match wireless_spec.and_then(|w| w.tx_power_w) {
            Some(p) => p,
            None => match (has_wireless, device.device.tx_power_w) {
                (false, _) => 0.0,
                (true, Some(p)) => p,
                (true, None) => {
                    return Err(Error::field(
                        path,
                        "links.wireless.tx_power_w",
                        format!(
                            "missing, and device `{}` has no tx_power_w in devices.csv",
                            device.device.name
                        ),
                    ))
                }
            },
        };
        let rx_power_w = wireless_spec
            .and_then(|w| w.rx_power_w)
            .unwrap_or(device.device.power_idle_w);
        Ok((tx_power_w, rx_power_w))
    }
}

/// The link `links.{field}` (rates in bit/s, round trip in s), validated; `None` when absent.
fn link(path: &Path, spec: &Option<LinkSpec>, field: &str) -> Result<Option<Link>> {
    let Some(s) = spec else { return Ok(None) };
    let f = |name: &str| format!("links.{field}.{name}");
    limits::RATE_BPS.check(path, &f("uplink_bps"), s.uplink_bps)?;
    limits::RATE_BPS.check(path, &f("downlink_bps"), s.downlink_bps)?;
    limits::LATENCY_S.check(path, &f("rtt_s"), s.rtt_s)?;
    limits::POWER_W.check_opt(path, &f("tx_power_w"), s.tx_power_w)?;
    limits::POWER_W.check_opt(path, &f("rx_power_w"), s.rx_power_w)?;
    Ok(Some(Link {
        uplink_bps: s.uplink_bps,
        downlink_bps: s.downlink_bps,
        rtt_s: s.rtt_s,
    }))
}

impl ObjectiveSpec {
    /// The objective: latency (s), energy (J), or their weighted sum (weights per second and
    /// per joule).
    fn objective(&self, path: &Path) -> Result<Objective> {
        Ok(match self.kind.as_str() {
            "latency" => Objective::Latency,
            "energy" => Objective::Energy,
            "weighted" => {
                let lw = self.latency_weight.unwrap_or(1.0);
                let ew = self.energy_weight.ok_or_else(|| {
                    Error::field(
                        path,
                        "objective.energy_weight",
                        "missing: weighted needs energy_weight (per joule)",
                    )
                })?;
                limits::OBJECTIVE_WEIGHT.check(path, "objective.latency_weight", lw)?;
                limits::OBJECTIVE_WEIGHT.check(path, "objective.energy_weight", ew)?;
                Objective::Weighted {
                    latency_weight: lw,
                    energy_weight: ew,
                }
            }
            other => {
                return Err(Error::field(
                    path,
                    "objective.kind",
                    format!("expected latency, energy or weighted, got \"{other}\""),
                ))
            }
        })
    }
}

impl ConstraintsSpec {
    /// The placement rules for a model of `n` layers, after checking the deadline (s) and the
    /// device energy budget (J).
    fn rules(&self, path: &Path, n: usize) -> Result<Rules> {
        limits::DURATION_S.check_opt(path, "constraints.deadline_s", self.deadline_s)?;
        limits::ENERGY_J.check_opt(
            path,
            "constraints.device_energy_budget_j",
            self.device_energy_budget_j,
        )?;
        let count = |field: &str, v: Option<i64>| layer_count(path, field, v, n);
        let min_device_layers = count("constraints.min_device_layers", self.min_device_layers)?;
        let max_device_layers = count("constraints.max_device_layers", self.max_device_layers)?;
        Ok(Rules {
            embed_on_device: self.embed_on_device,
            min_device_layers,
            max_device_layers,
            pinned: layer_tiers(path, &self.pin, "pin", n)?,
            forbidden: layer_tiers(path, &self.forbid, "forbid", n)?,
        })
    }
}

/// The `(layer, tier)` pairs of `constraints.{field}` for a model of `n` layers.
fn layer_tiers(
    path: &Path,
    list: &[LayerTierSpec],
    field: &str,
    n: usize,
) -> Result<Vec<(usize, Tier)>> {
    list.iter()
        .enumerate()
        .map(|(i, spec)| {
            let f = format!("constraints.{field}[{i}]");
            let layer = layer_index(path, &format!("{f}.layer"), spec.layer, n)?;
            let tier = Tier::parse(&spec.tier).ok_or_else(|| {
                Error::field(
                    path,
                    format!("{f}.tier"),
                    format!("expected device, edge or cloud, got \"{}\"", spec.tier),
                )
            })?;
            Ok((layer, tier))
        })
        .collect()
}
