//! Small random MoE instances for tests and oracles (not part of the stable API): a synthetic
//! Mixtral-like model, catalog devices, random links and a generated routing trace.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chain::TierResource;
use crate::costs::arch::{ArchConfig, Dtype, MlpKind, NormKind};
use crate::costs::device::DeviceCatalog;

use super::routing::{zipf_trace, Routing};
use super::{MoeNode, MoeProblem, Objective, StarLink, Task};

/// The shape of a random instance.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Transformer blocks (all MoE).
    pub layers: usize,
    /// Experts per block.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
    /// Nodes (cache: always 2).
    pub nodes: usize,
    /// Routing skew.
    pub skew: f64,
    /// Trace tokens.
    pub tokens: usize,
}

/// A synthetic MoE architecture (hidden 1024, experts of 2 x 1024 x 3584 weights).
pub fn arch(layers: usize, experts: usize, top_k: usize) -> ArchConfig {
    ArchConfig {
        layers,
        hidden: 1024,
        intermediate: 3584,
        heads: 8,
        kv_heads: 2,
        head_dim: None,
        vocab: 32000,
        mlp: MlpKind::Swiglu,
        norm: NormKind::Rmsnorm,
        tied_embeddings: false,
        position_embeddings: 0,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        experts,
        experts_per_token: top_k,
        shared_experts: 0,
        shared_expert_intermediate: None,
        shared_expert_gate: false,
        dense_layers: 0,
        dense_intermediate: None,
        qk_norm: false,
        max_context: Some(4096),
    }
}

/// A random instance of `task` with `shape`, devices from `catalog`. Memory is drawn so that
/// some instances are tight: the home holds its dense part and a random number of experts.
pub fn random_problem(
    catalog: &DeviceCatalog,
    task: Task,
    objective: Objective,
    shape: Shape,
    seed: u64,
) -> MoeProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arch = arch(shape.layers, shape.experts, shape.top_k);
    let model = arch.moe_table("synthetic-moe", Dtype::Q4);
    let names: Vec<&String> = catalog.devices.keys().collect();
    let n_nodes = if task == Task::Cache { 2 } else { shape.nodes };
    let expert_bytes = model.blocks[0].expert.param_bytes;
    let total_experts = (shape.layers * shape.experts) as f64;
    let mut nodes = Vec::with_capacity(n_nodes);
    for i in 0..n_nodes {
        let device = catalog.devices[names[rng.gen_range(0..names.len())]].clone();
        let link = (i > 0).then(|| StarLink {
            to_node_bps: 10f64.powf(rng.gen_range(7.0..9.5)),
            from_node_bps: 10f64.powf(rng.gen_range(7.0..9.5)),
            latency_s: rng.gen_range(0.0005..0.01),
        });
        let slots = rng.gen_range(0.2..1.0) * total_experts;
        nodes.push(MoeNode {
            name: format!("n{i}"),
            resource: TierResource {
                device,
                memory_bytes: 0.0,
                profile: None,
                profile_path: None,
            },
            background_load: if rng.gen_bool(0.3) {
                rng.gen_range(0.0..0.6)
            } else {
                0.0
            },
            link,
        });
        nodes[i].resource.memory_bytes = slots * expert_bytes;
    }
    let shape_of: Vec<(usize, usize)> = vec![(shape.experts, shape.top_k); shape.layers];
    let trace = zipf_trace(&shape_of, shape.skew, shape.tokens, seed ^ 0x9e37);
    let routing = Routing::from_trace(&shape_of, trace, format!("zipf skew={}", shape.skew));
    let mut problem = MoeProblem {
        name: format!("random-{}-{seed}", task.name()),
        description: None,
        source_file: None,
        model,
        prompt_tokens: 128,
        generate_tokens: 32,
        routing,
        nodes,
        home: 0,
        task,
        objective,
        expert_slots: rng.gen_range(0..=shape.layers * shape.experts),
        allow_fetch: true,
        allow_offload: true,
        tx_power_w: 1.0,
        rx_power_w: 0.6,
        mc_tokens: 2000,
        mc_seed: seed,
    };
    // The home must at least hold its dense part; then a random number of experts fit.
    let fixed = super::price::home_fixed_bytes(&problem);
    let home_slots = rng.gen_range(0.0..1.0) * total_experts;
    problem.nodes[0].resource.memory_bytes = fixed + home_slots * expert_bytes;
    if task == Task::Cache {
        problem.nodes[1].resource.memory_bytes = 1e12;
        problem.expert_slots = problem.expert_slots.min(home_slots as usize);
    }
    problem
}
