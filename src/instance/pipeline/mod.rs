//! Schema of a pipeline (in-network model splitting) instance file and its validation.
//!
//! ```toml
//! problem = "pipeline"
//! name = "llama2-7b-campus"
//! model = "llama-2-7b"          # a config in models_dir, a .toml config path, or a .csv table
//! dtype = "q4"
//! source = "phone"              # where the prompt arrives and the tokens return
//! routing = "shortest"          # shortest (least latency, default) | fastest (per transfer)
//!
//! [workload]                    # as in split: inference or finetune
//! mode = "inference"
//! prompt_tokens = 512
//! generate_tokens = 128
//!
//! [[nodes]]
//! name = "phone"
//! device = "pixel-8-pro"        # a row of devices.csv
//! memory_bytes = 4e9            # optional: usable memory (default the device's)
//! background_load = 0.2         # optional: share of the node's compute taken by other work
//! available = true              # optional: false = relays only
//!
//! [[links]]
//! a = "phone"
//! b = "bs-1"
//! bandwidth_bps = 100e6         # both directions, or a_to_b_bps and b_to_a_bps
//! latency_s = 0.005             # one way
//!
//! [radio]                       # optional: the source's radio powers (default the device's)
//! tx_power_w = 1.0
//! rx_power_w = 0.5
//!
//! [objective]
//! kind = "latency"              # latency | throughput | energy | weighted
//! energy_scope = "source"       # source (default) | all
//!
//! [constraints]
//! deadline_s = 30.0
//! energy_budget_j = 50.0
//! min_requests_per_s = 0.1
//! embed_on_source = true
//! max_stages = 4
//! kv_requests = 1               # requests whose KV cache each node holds
//! pin = [{ layer = 0, node = "phone" }]
//! forbid = [{ layer = 33, node = "phone" }]
//! ```

mod formulation;
pub mod generate;

pub use formulation::Pipeline;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::costs::arch::Dtype;
use crate::error::{Error, Result};
pub use crate::instance::common::RadioSpec;
use crate::instance::common::{
    at_field, bounded_int, instance_file, instance_name, layer_index, parse_dtype, with_sources,
    InstanceModel, NodeSpecParts, Sources, TierContext, WorkloadSpec,
};
use crate::instance::{read_structured, resolve};
use crate::limits;
use crate::problems::pipeline::{
    EnergyScope, NetLink, Node, Objective, PipelineProblem, Routing, Rules,
};

instance_file! {
    /// The pipeline instance file as written.
    pub struct PipelineInstanceFile ["pipeline"] {
        /// Model: a config name, a `.toml` config path or a `.csv` cost-table path.
        pub model: String,
        /// Weight dtype (for model configs; default fp16).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dtype: Option<String>,
        /// The source node's name.
        pub source: String,
        /// `shortest` (default) or `fastest`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub routing: Option<String>,
        /// The workload.
        pub workload: WorkloadSpec,
        /// `[[nodes]]`.
        #[serde(default)]
        pub nodes: Vec<NodeSpec>,
        /// `[[links]]`.
        #[serde(default)]
        pub links: Vec<LinkSpec>,
        /// The source's radio powers (default: its device's `tx_power_w`; its idle power while
        /// receiving).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub radio: Option<RadioSpec>,
        /// Objective.
        #[serde(default)]
        pub objective: ObjectiveSpec,
        /// Constraints and placement rules.
        #[serde(default)]
        pub constraints: ConstraintsSpec,
    }
}

/// `[[nodes]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name.
    pub name: String,
    /// Row of devices.csv.
    pub device: String,
    /// Runtime that runs the node (`runtimes.csv`; default none: the device's own efficiencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Processor it runs on: gpu, cpu or npu (default: the runtime's, else the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Usable memory, bytes (default: the device's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
    /// Share of the node's compute taken by other work, `[0, 0.99]` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_load: Option<f64>,
    /// Whether the node may run layers (default true; an unavailable node still relays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
    /// Use a profiled table when one exists (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_profile: Option<bool>,
}

/// `[[links]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One end (a node name).
    pub a: String,
    /// The other end.
    pub b: String,
    /// Rate both ways, bit/s (or give both `a_to_b_bps` and `b_to_a_bps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_bps: Option<f64>,
    /// Rate from `a` to `b`, bit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_to_b_bps: Option<f64>,
    /// Rate from `b` to `a`, bit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_to_a_bps: Option<f64>,
    /// One-way latency, s.
    pub latency_s: f64,
}

/// `[objective]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// `latency` (default), `throughput`, `energy` or `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Weight of latency (per s) in `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_weight: Option<f64>,
    /// Weight of energy (per J) in `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_weight: Option<f64>,
    /// `source` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_scope: Option<String>,
}

/// `[constraints]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsSpec {
    /// One request's latency limit, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_s: Option<f64>,
    /// Energy limit per request, J (in the objective's energy scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_budget_j: Option<f64>,
    /// Least throughput, requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests_per_s: Option<f64>,
    /// Keep the embedding on the source node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embed_on_source: bool,
    /// At most this many stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stages: Option<i64>,
    /// Requests whose KV cache each node holds (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_requests: Option<i64>,
    /// Layers that must run on a node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin: Vec<LayerNodeSpec>,
    /// Layers that must not run on a node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbid: Vec<LayerNodeSpec>,
}

/// `{ layer = 3, node = "bs-1" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNodeSpec {
    /// Layer index (0 = embedding).
    pub layer: i64,
    /// Node name.
    pub node: String,
}

/// Loads and validates a pipeline instance.
pub fn load(path: &Path) -> Result<PipelineProblem> {
    let file: PipelineInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

impl PipelineInstanceFile {
    /// Validates the file and resolves the tables it references.
    pub fn into_problem(&self, path: &Path) -> Result<PipelineProblem> {
        with_sources(
            path,
            [&self.devices, &self.models_dir, &self.profiles_dir],
            |sources| self.build(path, sources),
        )
    }

    /// Validates the file against already loaded sources.
    pub fn build(&self, path: &Path, sources: Sources<'_>) -> Result<PipelineProblem> {
        let name = instance_name(path, &self.problem, "pipeline", self.name.as_deref())?;
        let dtype: Dtype = parse_dtype(path, "dtype", self.dtype.as_deref())?;
        let models_dir = match &self.models_dir {
            Some(dir) => resolve(path, dir),
            None => sources.models_dir.to_path_buf(),
        };
        let model = InstanceModel::load(path, &models_dir, &self.model, dtype)
            .map_err(|e| at_field(path, "model", e))?;
        let n = model.table.len();
        let workload =
            self.workload
                .workload(path, "workload", model.arch.as_ref(), &model.table, dtype)?;

        if self.nodes.is_empty() {
            return Err(Error::field(
                path,
                "nodes",
                "missing: expected at least one [[nodes]] table",
            ));
        }
        limits::entries(path, "nodes", self.nodes.len(), limits::MAX_NODES)?;
        let context = TierContext {
            path,
            catalog: sources.catalog,
            devices_path: sources.devices_path,
            profiles_dir: sources.profiles_dir,
            model: &model,
        };
        let mut seen = HashMap::new();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for (i, spec) in self.nodes.iter().enumerate() {
            let (resource, background_load) = context.node(
                i,
                NodeSpecParts {
                    name: &spec.name,
                    device: &spec.device,
                    memory_bytes: spec.memory_bytes,
                    use_profile: spec.use_profile.unwrap_or(true),
                    background_load: spec.background_load,
                    runtime: spec.runtime.as_deref(),
                    unit: spec.unit.as_deref(),
                },
                &mut seen,
            )?;
            nodes.push(Node {
                name: spec.name.clone(),
                resource,
                background_load,
                available: spec.available.unwrap_or(true),
            });
        }
        let index = |field: &str, name: &str| -> Result<usize> {
            seen.get(name).copied().ok_or_else(|| {
                Error::field(
                    path,
                    field,
                    format!(
                        "no node is called \"{name}\" (nodes: {})",
                        node_names(&nodes)
                    ),
                )
            })
        };
        let source = index("source", &self.source)?;
        let links = self.links(path, &index, nodes.len())?;
        let routing = match self.routing.as_deref() {
            None | Some("shortest") => Routing::Shortest,
            Some("fastest") => Routing::Fastest,
            Some(other) => {
                return Err(Error::field(
                    path,
                    "routing",
                    format!("expected shortest or fastest, got \"{other}\""),
                ))
            }
        };
        let (objective, energy_scope) = self.objective(path)?;
        let radio = self.radio.clone().unwrap_or_default();
        let device = &nodes[source].resource.device;
        let tx_power_w = match radio.tx_power_w.or(device.tx_power_w) {
            Some(p) => limits::POWER_W.check(path, "radio.tx_power_w", p)?,
            None => {
                return Err(Error::field(
                    path,
                    "radio.tx_power_w",
                    format!(
                        "missing, and the source's device `{}` has no tx_power_w in devices.csv",
                        device.name
                    ),
                ))
            }
        };
        let rx_power_w = limits::POWER_W.check(
            path,
            "radio.rx_power_w",
            radio.rx_power_w.unwrap_or(device.power_idle_w),
        )?;
        let c = &self.constraints;
        limits::DURATION_S.check_opt(path, "constraints.deadline_s", c.deadline_s)?;
        limits::ENERGY_J.check_opt(path, "constraints.energy_budget_j", c.energy_budget_j)?;
        limits::REQUEST_RATE.check_opt(
            path,
            "constraints.min_requests_per_s",
            c.min_requests_per_s,
        )?;
        let max_stages = c
            .max_stages
            .map(|v| limits::count(path, "constraints.max_stages", v, 1, limits::MAX_NODES))
            .transpose()?;
        let kv_requests = bounded_int(
            path,
            "constraints.kv_requests",
            c.kv_requests,
            Some(1),
            1,
            limits::MAX_SMALL_COUNT,
        )?;
        let pairs = |list: &[LayerNodeSpec], field: &str| -> Result<Vec<(usize, usize)>> {
            list.iter()
                .enumerate()
                .map(|(k, spec)| {
                    let f = format!("constraints.{field}[{k}]");
                    Ok((
                        layer_index(path, &format!("{f}.layer"), spec.layer, n)?,
                        index(&format!("{f}.node"), &spec.node)?,
                    ))
                })
                .collect()
        };
        let pinned = pairs(&c.pin, "pin")?;
        let forbidden = pairs(&c.forbid, "forbid")?;
        // The cut transfers: one per (cut, node pair).
        limits::cells(
            path,
            "layers x nodes x nodes",
            &[n, nodes.len(), nodes.len()],
        )?;
        Ok(PipelineProblem {
            name,
            description: self.description.clone(),
            source_file: Some(path.to_path_buf()),
            table: model.table,
            workload,
            nodes,
            links,
            source,
            tx_power_w,
            rx_power_w,
            routing,
            objective,
            energy_scope,
            kv_requests,
            deadline_s: c.deadline_s,
            energy_budget_j: c.energy_budget_j,
            min_requests_per_s: c.min_requests_per_s,
            rules: Rules {
                embed_on_source: c.embed_on_source,
                max_stages,
                pinned,
                forbidden,
            },
        })
    }

    /// The links, each between two distinct named nodes, at most one per pair.
    fn links(
        &self,
        path: &Path,
        index: &dyn Fn(&str, &str) -> Result<usize>,
        nodes: usize,
    ) -> Result<Vec<NetLink>> {
        let mut pairs = HashMap::new();
        let mut out = Vec::with_capacity(self.links.len());
        for (k, spec) in self.links.iter().enumerate() {
            let f = |name: &str| format!("links[{k}].{name}");
            let a = index(&f("a"), &spec.a)?;
            let b = index(&f("b"), &spec.b)?;
            if a == b {
                return Err(Error::field(
                    path,
                    f("b"),
                    format!(
                        "a link joins two different nodes; both ends are \"{}\"",
                        spec.a
                    ),
                ));
            }
            if let Some(first) = pairs.insert((a.min(b), a.max(b)), k) {
                return Err(Error::field(
                    path,
                    f("b"),
                    format!(
                        "links[{first}] already joins \"{}\" and \"{}\"",
                        spec.a, spec.b
                    ),
                ));
            }
            let rate = |field: &str, v: Option<f64>| -> Result<f64> {
                match v.or(spec.bandwidth_bps) {
                    Some(v) => limits::RATE_BPS.check(path, &f(field), v),
                    None => Err(Error::field(
                        path,
                        f("bandwidth_bps"),
                        "missing: give bandwidth_bps, or both a_to_b_bps and b_to_a_bps",
                    )),
                }
            };
            if spec.bandwidth_bps.is_some() {
                limits::RATE_BPS.check_opt(path, &f("bandwidth_bps"), spec.bandwidth_bps)?;
            }
            out.push(NetLink {
                a,
                b,
                a_to_b_bps: rate("a_to_b_bps", spec.a_to_b_bps)?,
                b_to_a_bps: rate("b_to_a_bps", spec.b_to_a_bps)?,
                latency_s: limits::LATENCY_S.check(path, &f("latency_s"), spec.latency_s)?,
            });
        }
        debug_assert!(out.iter().all(|l| l.a < nodes && l.b < nodes));
        Ok(out)
    }

    /// The objective and energy scope.
    fn objective(&self, path: &Path) -> Result<(Objective, EnergyScope)> {
        let o = &self.objective;
        let scope = match o.energy_scope.as_deref() {
            None | Some("source") => EnergyScope::Source,
            Some("all") => EnergyScope::All,
            Some(other) => {
                return Err(Error::field(
                    path,
                    "objective.energy_scope",
                    format!("expected source or all, got \"{other}\""),
                ))
            }
        };
        let kind = o.kind.as_deref().unwrap_or("latency");
        let weights_only_for = |kind: &str| -> Result<()> {
            if o.latency_weight.is_some() || o.energy_weight.is_some() {
                return Err(Error::field(
                    path,
                    "objective.latency_weight",
                    format!("weights belong to kind = \"weighted\", not \"{kind}\""),
                ));
            }
            Ok(())
        };
        let objective = match kind {
            "latency" => Objective::Latency,
            "throughput" => Objective::Throughput,
            "energy" => Objective::Energy,
            "weighted" => {
                let w = |field: &str, v: Option<f64>| -> Result<f64> {
                    let field = format!("objective.{field}");
                    match v {
                        Some(v) => limits::OBJECTIVE_WEIGHT.check(path, &field, v),
                        None => Err(Error::field(path, field, "missing for kind = \"weighted\"")),
                    }
                };
                let latency_weight = w("latency_weight", o.latency_weight)?;
                let energy_weight = w("energy_weight", o.energy_weight)?;
                if latency_weight == 0.0 && energy_weight == 0.0 {
                    return Err(Error::field(
                        path,
                        "objective.energy_weight",
                        "at least one weight must be positive",
                    ));
                }
                Objective::Weighted {
                    latency_weight,
                    energy_weight,
                }
            }
            other => {
                return Err(Error::field(
                    path,
                    "objective.kind",
                    format!("expected latency, throughput, energy or weighted, got \"{other}\""),
                ))
            }
        };
        if !matches!(objective, Objective::Weighted { .. }) {
            weights_only_for(kind)?;
        }
        Ok((objective, scope))
    }
}

/// The node names, comma-separated (at most 10, then a count).
fn node_names(nodes: &[Node]) -> String {
    let mut names: Vec<&str> = nodes.iter().take(10).map(|n| n.name.as_str()).collect();
    if nodes.len() > 10 {
        names.push("...");
    }
    names.join(", ")
}
