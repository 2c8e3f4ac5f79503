//! Schema of an MoE instance (expert placement or on-device expert cache) and its validation.
//!
//! ```toml
//! problem = "moe"
//! name = "mixtral-campus"
//! model = "mixtral-8x7b"        # an MoE config in models_dir or a .toml config path
//! dtype = "q4"
//! task = "placement"            # placement | cache
//! home = "bs-1"                 # placement: runs the dense part; cache: the device
//!
//! [workload]
//! prompt_tokens = 512           # the KV cache held by the home, the prefill metric
//! generate_tokens = 128         # decode costs are averaged over these steps
//!
//! [routing]                     # a generated trace ...
//! generator = "zipf"
//! skew = 1.0                    # 0 = uniform routing
//! tokens = 512
//! seed = 7
//! # trace = "../traces/mixtral-routing.csv"   # ... or a measured one (token,layer,experts)
//!
//! [[nodes]]
//! name = "bs-1"
//! device = "rtx-4090"           # a row of devices.csv
//! memory_bytes = 20e9           # optional (default the device's)
//! background_load = 0.1         # optional
//!
//! [[nodes]]
//! name = "ue-1"
//! device = "jetson-agx-orin-64gb"
//! bandwidth_bps = 200e6         # the link to the home: both ways, or to_node_bps and from_node_bps
//! latency_s = 0.004             # one way
//!
//! [cache]                       # task = "cache" (exactly two nodes: the home device and the edge)
//! expert_slots = 64
//! allow_fetch = true
//! allow_offload = true
//!
//! [radio]                       # the home's radio (default: the device's tx power, idle power)
//! tx_power_w = 1.0
//! rx_power_w = 0.6
//!
//! [objective]
//! kind = "latency"              # latency | throughput (placement) | energy (cache)
//!
//! [monte_carlo]
//! tokens = 20000                # sampled tokens of the evaluator's simulation
//! seed = 1
//! ```

mod formulation;
pub mod generate;

pub use formulation::Moe;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::Workload;
use crate::costs::arch::{Dtype, ModelConfig};
use crate::error::{Error, Result};
pub use crate::instance::common::RadioSpec;
use crate::instance::common::{
    at_field, bounded_int, instance_file, instance_name, parse_dtype, with_sources, InstanceModel,
    NodeSpecParts, Sources, TierContext, WorkloadSpec,
};
use crate::instance::{read_structured, resolve};
use crate::limits;
use crate::problems::moe::routing::{read_trace, zipf_trace, Routing};
use crate::problems::moe::{MoeNode, MoeProblem, Objective, StarLink, Task};

instance_file! {
    /// The MoE instance file as written.
    pub struct MoeInstanceFile ["moe", no_profiles] {
        /// Model: an MoE config name or a `.toml` config path.
        pub model: String,
        /// Weight dtype (default fp16).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub dtype: Option<String>,
        /// `placement` or `cache`.
        pub task: String,
        /// The home node's name.
        pub home: String,
        /// Prompt and generated tokens.
        pub workload: MoeWorkloadSpec,
        /// Where the routing statistics come from.
        pub routing: RoutingSpec,
        /// `[[nodes]]`.
        #[serde(default)]
        pub nodes: Vec<MoeNodeSpec>,
        /// Cache task settings.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cache: Option<CacheSpec>,
        /// The home's radio powers (default: its device's `tx_power_w`, else 1 W; its idle power
        /// while receiving).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub radio: Option<RadioSpec>,
        /// Objective.
        #[serde(default)]
        pub objective: ObjectiveSpec,
        /// The evaluator's simulation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub monte_carlo: Option<MonteCarloSpec>,
    }
}

/// `[workload]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeWorkloadSpec {
    /// Prompt length P.
    pub prompt_tokens: i64,
    /// Generated tokens G.
    pub generate_tokens: i64,
}

/// `[routing]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// `zipf` (the generated model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Zipf exponent (0 = uniform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<f64>,
    /// Tokens of the generated trace (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<i64>,
    /// Seed of the generated trace (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// A measured trace (CSV), instead of a generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// `[[nodes]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeNodeSpec {
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
    /// Link to the home, both ways, bit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_bps: Option<f64>,
    /// Link rate from the home to this node, bit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_node_bps: Option<f64>,
    /// Link rate from this node to the home, bit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_node_bps: Option<f64>,
    /// One-way latency of the link to the home, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
}

/// `[cache]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Expert slots on the device.
    pub expert_slots: i64,
    /// Misses may download the expert (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_fetch: Option<bool>,
    /// Misses may be computed at the edge (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_offload: Option<bool>,
}

/// `[objective]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// `latency` (default), `throughput` (placement) or `energy` (cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `[monte_carlo]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonteCarloSpec {
    /// Sampled tokens (default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<i64>,
    /// Seed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

/// Loads and validates an MoE instance.
pub fn load(path: &Path) -> Result<MoeProblem> {
    let file: MoeInstanceFile = read_structured(path)?;
    file.into_problem(path)
}

impl MoeInstanceFile {
    /// Validates the file and resolves the tables it references.
    pub fn into_problem(&self, path: &Path) -> Result<MoeProblem> {
        with_sources(path, [&self.devices, &self.models_dir, &None], |sources| {
            self.build(path, sources)
        })
    }

    /// Validates the file against already loaded sources.
    pub fn build(&self, path: &Path, sources: Sources<'_>) -> Result<MoeProblem> {
        let name = instance_name(path, &self.problem, "moe", self.name.as_deref())?;
        let dtype: Dtype = parse_dtype(path, "dtype", self.dtype.as_deref())?;
        let models_dir = match &self.models_dir {
            Some(dir) => resolve(path, dir),
            None => sources.models_dir.to_path_buf(),
        };
        if self.model.ends_with(".csv") {
            return Err(Error::field(
                path,
                "model",
                "an MoE instance needs an architecture config (a name or a .toml), not a CSV \
                 cost table",
            ));
        }
        let config_path = if self.model.ends_with(".toml") {
            resolve(path, &self.model)
        } else {
            ModelConfig::resolve(&models_dir, &self.model)
                .map_err(|e| at_field(path, "model", e))?
        };
        let config = ModelConfig::load(&config_path)?;
        let moe = config.architecture.moe_table(&config.name, dtype);
        let moe_blocks = moe.moe_blocks();
        if moe_blocks.is_empty() {
            return Err(Error::field(
                path,
                "model",
                format!(
                    "{} is a dense model (experts = 1): the moe problem needs a \
                     mixture-of-experts model",
                    config.name
                ),
            ));
        }
        let task = match self.task.as_str() {
            "placement" => Task::Placement,
            "cache" => Task::Cache,
            other => {
                return Err(Error::field(
                    path,
                    "task",
                    format!("expected placement or cache, got \"{other}\""),
                ))
            }
        };
        let (prompt_tokens, generate_tokens) = self.workload(path, &config, dtype, sources)?;
        let routing = self.routing(path, &moe_blocks, &moe)?;
        let (nodes, home) = self.nodes(path, sources, &config, dtype)?;
        let objective = self.objective(path, task)?;
        let (expert_slots, allow_fetch, allow_offload) = self.cache_settings(path, task, &nodes)?;
        let radio = self.radio.clone().unwrap_or_default();
        let device = &nodes[home].resource.device;
        let tx_power_w = limits::POWER_W.check(
            path,
            "radio.tx_power_w",
            radio.tx_power_w.or(device.tx_power_w).unwrap_or(1.0),
        )?;
        let rx_power_w = limits::POWER_W.check(
            path,
            "radio.rx_power_w",
            radio.rx_power_w.unwrap_or(device.power_idle_w),
        )?;
        let mc = self.monte_carlo.clone().unwrap_or_default();
        let mc_tokens = bounded_int(
            path,
            "monte_carlo.tokens",
            mc.tokens,
            Some(20_000),
            2,
            limits::MAX_SMALL_COUNT,
        )?;
        let mc_seed = bounded_int(
            path,
            "monte_carlo.seed",
            mc.seed,
            Some(1),
            0,
            limits::MAX_SEEDS,
        )? as u64;
        // The MILP's terms: one per (distinct pattern, node, expert of the pattern).
        let k_max = moe.blocks.iter().map(|b| b.top_k).max().unwrap_or(1);
        limits::cells(
            path,
            "routing patterns x nodes x experts per token",
            &[routing.pattern_count(), nodes.len(), k_max],
        )?;
        Ok(MoeProblem {
            name,
            description: self.description.clone(),
            source_file: Some(path.to_path_buf()),
            model: moe,
            prompt_tokens,
            generate_tokens,
            routing,
            nodes,
            home,
            task,
            objective,
            expert_slots,
            allow_fetch,
            allow_offload,
            tx_power_w,
            rx_power_w,
            mc_tokens,
            mc_seed,
        })
    }

    /// `(P, G)`, checked against the model's context as split checks them.
    fn workload(
        &self,
        path: &Path,
        config: &ModelConfig,
        dtype: Dtype,
        _sources: Sources<'_>,
    ) -> Result<(usize, usize)> {
        let spec = WorkloadSpec {
            mode: "inference".into(),
            prompt_tokens: Some(self.workload.prompt_tokens),
            generate_tokens: Some(self.workload.generate_tokens),
            ..WorkloadSpec::default()
        };
        let table = config.architecture.cost_table(&config.name, dtype);
        match spec.workload(path, "workload", Some(&config.architecture), &table, dtype)? {
            Workload::Inference {
                prompt_tokens,
                generate_tokens,
            } => Ok((prompt_tokens, generate_tokens)),
            Workload::Finetune { .. } => unreachable!("the mode is inference"),
        }
    }

    /// The routing statistics: a generated or a measured trace.
    fn routing(
        &self,
        path: &Path,
        moe_blocks: &[usize],
        moe: &crate::costs::moe::MoeTable,
    ) -> Result<Routing> {
        let r = &self.routing;
        let shape: Vec<(usize, usize)> = moe_blocks
            .iter()
            .map(|&b| (moe.blocks[b].experts, moe.blocks[b].top_k))
            .collect();
        if let Some(trace) = &r.trace {
            if r.generator.is_some() || r.skew.is_some() || r.tokens.is_some() || r.seed.is_some() {
                return Err(Error::field(
                    path,
                    "routing.trace",
                    "give either a trace or a generator (generator, skew, tokens, seed), not both",
                ));
            }
            let trace_path = resolve(path, trace);
            // Hugging Face numbers blocks from 0; the cost table's block rows start at 1.
            let layers: Vec<usize> = moe_blocks
                .iter()
                .map(|&b| moe.blocks[b].layer - 1)
                .collect();
            let tokens = read_trace(&trace_path, &layers, &shape)?;
            limits::entries(
                &trace_path,
                "tokens",
                tokens.tokens.len(),
                limits::MAX_TRACE_TOKENS,
            )?;
            let mut routing =
                Routing::from_trace(&shape, tokens, format!("trace {}", trace_path.display()));
            routing.measured = true;
            return Ok(routing);
        }
        match r.generator.as_deref() {
            None | Some("zipf") => {}
            Some(other) => {
                return Err(Error::field(
                    path,
                    "routing.generator",
                    format!("expected zipf (or give a trace), got \"{other}\""),
                ))
            }
        }
        let skew = limits::EXPONENT.check(path, "routing.skew", r.skew.unwrap_or(1.0))?;
        let tokens = bounded_int(
            path,
            "routing.tokens",
            r.tokens,
            Some(512),
            1,
            limits::MAX_TRACE_TOKENS,
        )?;
        let seed = bounded_int(path, "routing.seed", r.seed, Some(1), 0, limits::MAX_SEEDS)? as u64;
        Ok(Routing::from_trace(
            &shape,
            zipf_trace(&shape, skew, tokens, seed),
            format!("zipf skew={skew} tokens={tokens} seed={seed}"),
        ))
    }

    /// The nodes and the home's index; every node but the home has a link.
    fn nodes(
        &self,
        path: &Path,
        sources: Sources<'_>,
        config: &ModelConfig,
        dtype: Dtype,
    ) -> Result<(Vec<MoeNode>, usize)> {
        if self.nodes.is_empty() {
            return Err(Error::field(
                path,
                "nodes",
                "missing: expected at least one [[nodes]] table",
            ));
        }
        limits::entries(path, "nodes", self.nodes.len(), limits::MAX_NODES)?;
        let model = InstanceModel {
            table: config.architecture.cost_table(&config.name, dtype),
            arch: Some(config.architecture.clone()),
            name: config.name.clone(),
            dtype,
        };
        let context = TierContext {
            path,
            catalog: sources.catalog,
            devices_path: sources.devices_path,
            profiles_dir: None,
            model: &model,
        };
        let home = self
            .nodes
            .iter()
            .position(|n| n.name == self.home)
            .ok_or_else(|| {
                let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                Error::field(
                    path,
                    "home",
                    format!(
                        "no node is called \"{}\" (nodes: {})",
                        self.home,
                        names.join(", ")
                    ),
                )
            })?;
        let mut seen = HashMap::new();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for (i, spec) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}]");
            let f = |name: &str| format!("{field}.{name}");
            let (resource, background_load) = context.node(
                i,
                NodeSpecParts {
                    name: &spec.name,
                    device: &spec.device,
                    memory_bytes: spec.memory_bytes,
                    use_profile: false,
                    background_load: spec.background_load,
                    runtime: spec.runtime.as_deref(),
                    unit: spec.unit.as_deref(),
                },
                &mut seen,
            )?;
            let link_fields = [
                spec.bandwidth_bps,
                spec.to_node_bps,
                spec.from_node_bps,
                spec.latency_s,
            ];
            let link = if i == home {
                if link_fields.iter().any(Option::is_some) {
                    return Err(Error::field(
                        path,
                        f("latency_s"),
                        "the home has no link to itself: remove bandwidth_bps, to_node_bps, \
                         from_node_bps and latency_s",
                    ));
                }
                None
            } else {
                let rate = |name: &str, v: Option<f64>| -> Result<f64> {
                    match v.or(spec.bandwidth_bps) {
                        Some(v) => limits::RATE_BPS.check(path, &f(name), v),
                        None => Err(Error::field(
                            path,
                            f("bandwidth_bps"),
                            "missing: the link to the home needs bandwidth_bps, or both \
                             to_node_bps and from_node_bps",
                        )),
                    }
                };
                limits::RATE_BPS.check_opt(path, &f("bandwidth_bps"), spec.bandwidth_bps)?;
                let latency_s = match spec.latency_s {
                    Some(v) => limits::LATENCY_S.check(path, &f("latency_s"), v)?,
                    None => {
                        return Err(Error::field(
                            path,
                            f("latency_s"),
                            "missing: the one-way latency of the link to the home",
                        ))
                    }
                };
                Some(StarLink {
                    to_node_bps: rate("to_node_bps", spec.to_node_bps)?,
                    from_node_bps: rate("from_node_bps", spec.from_node_bps)?,
                    latency_s,
                })
            };
            nodes.push(MoeNode {
                name: spec.name.clone(),
                resource,
                background_load,
                link,
            });
        }
        Ok((nodes, home))
    }

    /// The objective, checked against the task.
    fn objective(&self, path: &Path, task: Task) -> Result<Objective> {
        let kind = self.objective.kind.as_deref().unwrap_or("latency");
        match (kind, task) {
            ("latency", _) => Ok(Objective::Latency),
            ("throughput", Task::Placement) => Ok(Objective::Throughput),
            ("energy", Task::Cache) => Ok(Objective::Energy),
            (other, Task::Placement) => Err(Error::field(
                path,
                "objective.kind",
                format!("the placement task minimises latency or throughput, got \"{other}\""),
            )),
            (other, Task::Cache) => Err(Error::field(
                path,
                "objective.kind",
                format!("the cache task minimises latency or energy, got \"{other}\""),
            )),
        }
    }

    /// `(expert_slots, allow_fetch, allow_offload)`: the `[cache]` table, required by the cache
    /// task (with exactly two nodes) and refused by placement.
    fn cache_settings(
        &self,
        path: &Path,
        task: Task,
        nodes: &[MoeNode],
    ) -> Result<(usize, bool, bool)> {
        match (task, &self.cache) {
            (Task::Placement, None) => Ok((0, false, false)),
            (Task::Placement, Some(_)) => Err(Error::field(
                path,
                "cache",
                "a [cache] table belongs to task = \"cache\"",
            )),
            (Task::Cache, None) => Err(Error::field(
                path,
                "cache",
                "missing: task = \"cache\" needs a [cache] table with expert_slots",
            )),
            (Task::Cache, Some(c)) => {
                if nodes.len() != 2 {
                    return Err(Error::field(
                        path,
                        "nodes",
                        format!(
                            "the cache task has exactly two nodes (the home device and the edge \
                             server), got {}",
                            nodes.len()
                        ),
                    ));
                }
                let slots = limits::count(
                    path,
                    "cache.expert_slots",
                    c.expert_slots,
                    0,
                    limits::MAX_SMALL_COUNT,
                )?;
                let (fetch, offload) = (
                    c.allow_fetch.unwrap_or(true),
                    c.allow_offload.unwrap_or(true),
                );
                Ok((slots, fetch, offload))
            }
        }
    }
}
