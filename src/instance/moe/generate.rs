//! Seeded MoE instances.
//!
//! The generator writes an instance *file* ([`MoeInstanceFile`]): [`generate_spec`] draws it,
//! [`write_instance`] renders it as TOML with a comment line of the parameters, and
//! [`generate`] turns it into an [`MoeProblem`] through the ordinary loader. Every draw comes
//! from a ChaCha8 generator seeded with [`GenParams::seed`], node by node.
//!
//! - **placement**: node 0, `home`, a [`GenParams::home_device`] (an edge server by default) runs
//!   the dense part; nodes `n1 .. n{N-1}` draw a device from [`GenParams::devices`] and a link to
//!   the home whose rate each way is log-uniform in [`GenParams::min_rate_bps`] ..
//!   [`GenParams::max_rate_bps`] (rounded to 1 kbit/s) and whose one-way latency is uniform in
//!   [`GenParams::min_latency_s`] .. [`GenParams::max_latency_s`] (rounded to 1 us). Usable
//!   memory is the catalog's times [`GenParams::memory_share`], rounded down to 1 MB.
//! - **cache**: two nodes, `device` (a [`GenParams::device`]) and `edge` (the home device kind
//!   of placement, [`GenParams::home_device`]), over a radio link of
//!   [`GenParams::uplink_bps`] / [`GenParams::downlink_bps`] with one-way latency
//!   [`GenParams::min_latency_s`]; the device has `round(slot_share x experts)` slots.
//! - routing: the Zipf model of [`crate::problems::moe::routing`] with [`GenParams::skew`],
//!   [`GenParams::trace_tokens`] tokens and the instance's seed.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    CacheSpec, MoeInstanceFile, MoeNodeSpec, MoeWorkloadSpec, MonteCarloSpec, ObjectiveSpec,
    RoutingSpec,
};
use crate::costs::arch::{Dtype, ModelConfig};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::Sources;
use crate::limits;
use crate::problems::moe::MoeProblem;

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// `placement` or `cache`.
    pub task: String,
    /// Nodes N of a placement instance, the home included (a sweep grid's `network_nodes`).
    #[serde(alias = "network_nodes")]
    pub nodes: usize,
    /// Seed of every draw (and of the routing trace).
    pub seed: u64,
    /// Model config name (an MoE model).
    pub model: String,
    /// Weight dtype.
    pub dtype: String,
    /// `latency`, `throughput` (placement) or `energy` (cache).
    pub objective: String,
    /// Routing skew (Zipf exponent; 0 = uniform).
    pub skew: f64,
    /// Tokens of the generated routing trace.
    pub trace_tokens: usize,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub generate_tokens: usize,
    /// Placement: the home's device; cache: the edge server's.
    pub home_device: String,
    /// Placement: devices the other nodes draw from.
    pub devices: Vec<String>,
    /// Cache: the device.
    pub device: String,
    /// Usable share of each node's memory.
    pub memory_share: f64,
    /// Placement: least link rate, bit/s.
    pub min_rate_bps: f64,
    /// Placement: greatest link rate, bit/s.
    pub max_rate_bps: f64,
    /// Least one-way latency, s (the cache's radio latency).
    pub min_latency_s: f64,
    /// Placement: greatest one-way latency, s.
    pub max_latency_s: f64,
    /// Cache: device to edge, bit/s.
    pub uplink_bps: f64,
    /// Cache: edge to device, bit/s.
    pub downlink_bps: f64,
    /// Cache: expert slots as a share of all experts.
    pub slot_share: f64,
    /// Instance name (default `moe-<task>-<model>-s<seed>`).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            task: "placement".into(),
            nodes: 8,
            seed: 0,
            model: "mixtral-8x7b".into(),
            dtype: "q4".into(),
            objective: "latency".into(),
            skew: 1.0,
            trace_tokens: 512,
            prompt_tokens: 512,
            generate_tokens: 128,
            home_device: "rtx-4090".into(),
            devices: [
                "jetson-agx-orin-64gb",
                "jetson-orin-nano-8gb",
                "laptop-m2-pro",
                "l4",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            device: "jetson-orin-nano-8gb".into(),
            memory_share: 0.75,
            min_rate_bps: 100e6,
            max_rate_bps: 1e9,
            min_latency_s: 0.001,
            max_latency_s: 0.005,
            uplink_bps: 50e6,
            downlink_bps: 200e6,
            slot_share: 0.25,
            name: None,
        }
    }
}

impl GenParams {
    /// Checks every parameter against its range; the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        let one_of = |field: &str, value: &str, list: &[&str]| -> Result<()> {
            if list.contains(&value) {
                Ok(())
            } else {
                bad(
                    field,
                    format!("expected one of {}, got \"{value}\"", list.join(", ")),
                )
            }
        };
        one_of("task", &self.task, &["placement", "cache"])?;
        let least = if self.task == "cache" { 2 } else { 1 };
        limits::count_option("nodes", self.nodes as u64, least, limits::MAX_NODES)?;
        limits::seed_option(self.seed)?;
        if Dtype::parse(&self.dtype).is_none() {
            return bad(
                "dtype",
                format!("expected fp32, fp16, int8 or q4, got \"{}\"", self.dtype),
            );
        }
        match self.task.as_str() {
            "cache" => one_of("objective", &self.objective, &["latency", "energy"])?,
            _ => one_of("objective", &self.objective, &["latency", "throughput"])?,
        }
        limits::EXPONENT.check_option("skew", self.skew)?;
        limits::count_option(
            "trace_tokens",
            self.trace_tokens as u64,
            1,
            limits::MAX_TRACE_TOKENS,
        )?;
        limits::count_option(
            "prompt_tokens",
            self.prompt_tokens as u64,
            1,
            limits::MAX_TOKENS,
        )?;
        limits::count_option(
            "generate_tokens",
            self.generate_tokens as u64,
            1,
            limits::MAX_TOKENS,
        )?;
        limits::FRACTION.check_option("memory_share", self.memory_share)?;
        limits::UNIT_INTERVAL.check_option("slot_share", self.slot_share)?;
        for (field, v) in [
            ("min_rate_bps", self.min_rate_bps),
            ("max_rate_bps", self.max_rate_bps),
            ("uplink_bps", self.uplink_bps),
            ("downlink_bps", self.downlink_bps),
        ] {
            limits::RATE_BPS.check_option(field, v)?;
        }
        limits::LATENCY_S.check_option("min_latency_s", self.min_latency_s)?;
        limits::LATENCY_S.check_option("max_latency_s", self.max_latency_s)?;
        if self.min_rate_bps > self.max_rate_bps {
            return bad("max_rate_bps", "must be at least min_rate_bps".into());
        }
        if self.min_latency_s > self.max_latency_s {
            return bad("max_latency_s", "must be at least min_latency_s".into());
        }
        if self.devices.is_empty() && self.task == "placement" && self.nodes > 1 {
            return bad("devices", "expected at least one device name".into());
        }
        Ok(())
    }

    /// One line of the parameters (those of the task).
    pub fn summary(&self) -> String {
        let common = format!(
            "task={} seed={} model={} dtype={} objective={} skew={} trace_tokens={} \
             prompt_tokens={} generate_tokens={} memory_share={}",
            self.task,
            self.seed,
            self.model,
            self.dtype,
            self.objective,
            self.skew,
            self.trace_tokens,
            self.prompt_tokens,
            self.generate_tokens,
            self.memory_share,
        );
        if self.task == "cache" {
            format!(
                "{common} device={} edge={} uplink_bps={} downlink_bps={} latency_s={} \
                 slot_share={}",
                self.device,
                self.home_device,
                self.uplink_bps,
                self.downlink_bps,
                self.min_latency_s,
                self.slot_share
            )
        } else {
            format!(
                "{common} nodes={} home_device={} devices={} rates={}..{} latency={}..{}",
                self.nodes,
                self.home_device,
                self.devices.join(","),
                self.min_rate_bps,
                self.max_rate_bps,
                self.min_latency_s,
                self.max_latency_s
            )
        }
    }
}

/// Usable memory: the catalog's times the share, rounded down to 1 MB.
fn usable(memory: f64, share: f64) -> f64 {
    ((memory * share) / 1e6).floor() * 1e6
}

/// Draws the instance file. `models_dir` is read for the cache task's slot count.
pub fn generate_spec(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<MoeInstanceFile> {
    params.validate()?;
    let catalog_path = Path::new("the device catalog");
    let device = |field: &str, name: &str| {
        catalog
            .get(name, catalog_path)
            .map_err(|e| Error::option(field, e.to_string()))
    };
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let round_rate = |r: f64| (r / 1e3).round().max(1.0) * 1e3;
    let round_latency = |l: f64| (l * 1e6).round() / 1e6;
    let node = |name: String, dev: &str, memory: f64| MoeNodeSpec {
        name,
        device: dev.to_string(),
        runtime: None,
        unit: None,
        memory_bytes: Some(usable(memory, params.memory_share)),
        background_load: None,
        bandwidth_bps: None,
        to_node_bps: None,
        from_node_bps: None,
        latency_s: None,
    };
    let (nodes, home, cache) = if params.task == "cache" {
        let dev = device("device", &params.device)?;
        let edge = device("home_device", &params.home_device)?;
        let mut edge_node = node("edge".into(), &edge.name, edge.memory_bytes);
        edge_node.to_node_bps = Some(round_rate(params.uplink_bps));
        edge_node.from_node_bps = Some(round_rate(params.downlink_bps));
        edge_node.latency_s = Some(round_latency(params.min_latency_s));
        let config = ModelConfig::load(&ModelConfig::resolve(models_dir, &params.model)?)
            .map_err(|e| Error::option("model", e.to_string()))?;
        let moe = config.architecture.moe_table(&config.name, Dtype::Q4);
        let experts: usize = moe.blocks.iter().map(|b| b.experts).sum();
        let slots = (params.slot_share * experts as f64).round() as i64;
        (
            vec![
                node("device".into(), &dev.name, dev.memory_bytes),
                edge_node,
            ],
            "device".to_string(),
            Some(CacheSpec {
                expert_slots: slots,
                allow_fetch: None,
                allow_offload: None,
            }),
        )
    } else {
        let home = device("home_device", &params.home_device)?;
        for name in &params.devices {
            device("devices", name)?;
        }
        let mut nodes = vec![node("home".into(), &home.name, home.memory_bytes)];
        for i in 1..params.nodes {
            let name = &params.devices[rng.gen_range(0..params.devices.len())];
            let dev = device("devices", name)?;
            let (lo, hi) = (params.min_rate_bps.ln(), params.max_rate_bps.ln());
            let mut rate = || round_rate(if hi > lo { rng.gen_range(lo..hi) } else { lo }.exp());
            let (to, from) = (rate(), rate());
            let latency = if params.max_latency_s > params.min_latency_s {
                rng.gen_range(params.min_latency_s..params.max_latency_s)
            } else {
                params.min_latency_s
            };
            let mut n = node(format!("n{i}"), &dev.name, dev.memory_bytes);
            n.to_node_bps = Some(to);
            n.from_node_bps = Some(from);
            n.latency_s = Some(round_latency(latency));
            nodes.push(n);
        }
        (nodes, "home".to_string(), None)
    };
    Ok(MoeInstanceFile {
        problem: "moe".into(),
        name: Some(
            params.name.clone().unwrap_or_else(|| {
                format!("moe-{}-{}-s{}", params.task, params.model, params.seed)
            }),
        ),
        description: Some(format!(
            "generated {} instance: {}, {} nodes, skew {}",
            params.task,
            params.model,
            nodes.len(),
            params.skew
        )),
        models_dir: None,
        devices: None,
        model: params.model.clone(),
        dtype: Some(params.dtype.clone()),
        task: params.task.clone(),
        home,
        workload: MoeWorkloadSpec {
            prompt_tokens: params.prompt_tokens as i64,
            generate_tokens: params.generate_tokens as i64,
        },
        routing: RoutingSpec {
            generator: Some("zipf".into()),
            skew: Some(params.skew),
            tokens: Some(params.trace_tokens as i64),
            seed: Some(params.seed as i64),
            trace: None,
        },
        nodes,
        cache,
        radio: None,
        objective: ObjectiveSpec {
            kind: Some(params.objective.clone()),
        },
        monte_carlo: Some(MonteCarloSpec {
            tokens: Some(20_000),
            seed: Some(params.seed as i64),
        }),
    })
}

/// Generates an instance and loads it through the ordinary loader.
pub fn generate(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<MoeProblem> {
    let file = generate_spec(params, catalog, models_dir)?;
    file.build(
        Path::new("generated moe instance"),
        Sources {
            catalog,
            devices_path: Path::new("the device catalog"),
            models_dir,
            profiles_dir: None,
        },
    )
}

/// The instance file as TOML with a header line of the parameters.
pub fn write_instance(params: &GenParams, file: &MoeInstanceFile) -> String {
    format!(
        "# generated by edgeplan generate moe: {}\n{}",
        params.summary(),
        toml::to_string(file).expect("an moe instance file serialises to TOML")
    )
}
