//! Seeded random split instances, for the MILP-vs-enumeration tests, benchmarks and sweeps.
//!
//! Everything is drawn from a ChaCha generator seeded with `seed`, so an instance is reproducible
//! from its seed and parameters alone. Architectures, devices and links are synthetic but span
//! realistic ranges (hidden 256-4096, devices from 0.1 to 1000 TFLOP/s, radio links from 1 Mbit/s
//! to 1 Gbit/s); deadlines and energy budgets are set around the cost of a random plan so that a
//! fair share of instances has binding constraints or is infeasible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::evaluate::evaluate;
use super::{
    Link, Objective, Rules, SplitPlan, SplitProblem, Tier, TierResource, Training, Workload,
};
use crate::costs::arch::{ArchConfig, Dtype, LoraTarget, MlpKind, NormKind};
use crate::costs::device::Device;

/// Parameters of [`random_problem`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left
/// out take their [`Default`] value.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Seed of every random draw (a sweep sets it; [`random_problem`] takes its seed as an
    /// argument).
    pub seed: u64,
    /// Transformer blocks (the table has two more rows: embed and head). `None`: 1 to 12.
    pub blocks: Option<usize>,
    /// Probability that the workload is fine-tuning rather than inference.
    pub finetune_prob: f64,
    /// Probability of each optional constraint or rule.
    pub constraint_prob: f64,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            seed: 0,
            blocks: None,
            finetune_prob: 0.3,
            constraint_prob: 0.3,
        }
    }
}

impl GenParams {
    /// Checks every parameter; the error names the bad one.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |field: &str, message: String| Err(crate::error::Error::option(field, message));
        let max_blocks = crate::limits::MAX_LAYERS - 2;
        if let Some(b) = self.blocks.filter(|b| !(1..=max_blocks).contains(b)) {
            return bad(
                "blocks",
                format!("expected an integer in 1..={max_blocks}, got {b}"),
            );
        }
        for (field, v) in [
            ("finetune_prob", self.finetune_prob),
            ("constraint_prob", self.constraint_prob),
        ] {
            crate::limits::UNIT_INTERVAL.check_option(field, v)?;
        }
        Ok(())
    }
}

/// A draw between `lo` and `hi` whose logarithm is uniform.
fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (rng.gen_range(lo.ln()..hi.ln())).exp()
}

/// A synthetic device with peak compute between `peak_lo` and `peak_hi` FLOP/s.
fn random_device(rng: &mut ChaCha8Rng, name: &str, peak_lo: f64, peak_hi: f64) -> Device {
    let idle = log_uniform(rng, 0.3, 60.0);
    Device {
        name: name.into(),
        class: "synthetic".into(),
        peak_flops: log_uniform(rng, peak_lo, peak_hi),
        mem_bw_bytes_per_s: log_uniform(rng, 1e10, 3e12),
        memory_bytes: 1e12,
        power_idle_w: idle,
        power_busy_w: idle + log_uniform(rng, 1.0, 600.0),
        compute_efficiency: rng.gen_range(0.2..0.9),
        memory_efficiency: rng.gen_range(0.3..0.9),
        tx_power_w: None,
        source: "synthetic".into(),
        unit: "gpu".into(),
        units: Vec::new(),
        runtime: None,
    }
}

/// A synthetic link with uplink between `lo` and `hi` bit/s.
fn random_link(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> Link {
    let up = log_uniform(rng, lo, hi);
    Link {
        uplink_bps: up,
        downlink_bps: up * rng.gen_range(1.0..8.0),
        rtt_s: log_uniform(rng, 5e-4, 6e-2),
    }
}

/// A random split instance.
pub fn random_problem(seed: u64, params: &GenParams) -> SplitProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arch = random_arch(&mut rng, params.blocks);
    let dtype = [Dtype::Fp32, Dtype::Fp16, Dtype::Int8, Dtype::Q4][rng.gen_range(0..4)];
    let table = arch.cost_table(&format!("synthetic-{seed}"), dtype);
    let workload = random_workload(&mut rng, &arch, params.finetune_prob);

    let device = random_device(&mut rng, "synthetic-device", 1e11, 2e13);
    let edge = random_device(&mut rng, "synthetic-edge", 1e13, 3e14);
    let cloud = random_device(&mut rng, "synthetic-cloud", 1e14, 1e15);
    let has_edge = rng.gen_bool(0.85);
    let has_cloud = rng.gen_bool(0.7);
    let mut problem = SplitProblem {
        name: format!("random-{seed}"),
        description: Some(format!("seeded random instance, seed {seed}")),
        source: None,
        table,
        workload,
        tiers: [
            Some(unlimited(device)),
            has_edge.then_some(unlimited(edge)),
            has_cloud.then_some(unlimited(cloud)),
        ],
        wireless: Some(random_link(&mut rng, 1e6, 1e9)),
        backhaul: has_cloud.then(|| random_link(&mut rng, 1e8, 1e10)),
        tx_power_w: log_uniform(&mut rng, 0.1, 3.0),
        rx_power_w: log_uniform(&mut rng, 0.05, 1.5),
        objective: match rng.gen_range(0..3) {
            0 => Objective::Latency,
            1 => Objective::Energy,
            _ => Objective::Weighted {
                latency_weight: log_uniform(&mut rng, 0.01, 10.0),
                energy_weight: log_uniform(&mut rng, 0.01, 10.0),
            },
        },
        deadline_s: None,
        device_energy_budget_j: None,
        rules: Rules::default(),
    };
    set_memory_limits(&mut rng, &mut problem);
    set_deadline_and_budget(&mut rng, &mut problem, params.constraint_prob);
    set_rules(&mut rng, &mut problem, params.constraint_prob);
    problem
}

/// A random transformer of `blocks` blocks (`None`: 1 to 12): 4 to 32 heads of 32 to 128
/// dimensions, SwiGLU/RMSNorm (Llama-like) or GELU/LayerNorm (GPT-2-like).
fn random_arch(rng: &mut ChaCha8Rng, blocks: Option<usize>) -> ArchConfig {
    let blocks = blocks.unwrap_or_else(|| rng.gen_range(1..=12));
    let heads = rng.gen_range(4..=32usize);
    let head_dim = [32usize, 64, 128][rng.gen_range(0..3)];
    let kv_heads = *[heads, (heads / 2).max(1), (heads / 4).max(1), 1]
        .iter()
        .filter(|&&k| heads % k == 0)
        .nth(rng.gen_range(0..2))
        .unwrap_or(&heads);
    let hidden = heads * head_dim;
    let swiglu = rng.gen_bool(0.6);
    ArchConfig {
        layers: blocks,
        hidden,
        intermediate: (hidden as f64 * rng.gen_range(2.5..4.0)) as usize,
        heads,
        kv_heads,
        head_dim: Some(head_dim),
        vocab: rng.gen_range(1000..160_000),
        mlp: if swiglu {
            MlpKind::Swiglu
        } else {
            MlpKind::Gelu
        },
        norm: if swiglu {
            NormKind::Rmsnorm
        } else {
            NormKind::Layernorm
        },
        tied_embeddings: rng.gen_bool(0.4),
        position_embeddings: if swiglu { 0 } else { 1024 },
        qkv_bias: rng.gen_bool(0.3),
        o_bias: !swiglu,
        mlp_bias: !swiglu,
        experts: 1,
        experts_per_token: 1,
        shared_experts: 0,
        shared_expert_intermediate: None,
        shared_expert_gate: false,
        dense_layers: 0,
        dense_intermediate: None,
        qk_norm: false,
        max_context: None,
    }
}

/// A random workload: with probability `finetune_prob` fine-tuning (LoRA on Q and V, or full;
/// 1 to 16 sequences of 16 to 512 tokens, 1 to 20 steps), else inference (1 to 2048 prompt
/// tokens, 0 to 48 generated).
fn random_workload(rng: &mut ChaCha8Rng, arch: &ArchConfig, finetune_prob: f64) -> Workload {
    if rng.gen_bool(finetune_prob) {
        let training = if rng.gen_bool(0.6) {
            let rank = [4usize, 8, 16, 64][rng.gen_range(0..4)];
            let targets = [LoraTarget::Q, LoraTarget::V];
            Training::Lora {
                adapter_params_per_block: arch.lora_params_per_block(rank, &targets).unwrap_or(0)
                    as f64,
            }
        } else {
            Training::Full
        };
        Workload::Finetune {
            batch_size: rng.gen_range(1..=16),
            seq_len: rng.gen_range(16..=512),
            steps: rng.gen_range(1..=20),
            training,
        }
    } else {
        Workload::Inference {
            prompt_tokens: rng.gen_range(1..=2048),
            generate_tokens: rng.gen_range(0..=48),
        }
    }
}

/// `device` as a tier with unlimited memory (set later by [`set_memory_limits`]).
fn unlimited(device: Device) -> TierResource {
    TierResource {
        device,
        memory_bytes: f64::INFINITY,
        profile: None,
        profile_path: None,
    }
}

/// Memory limits around the model's footprint (bytes): 2% to 1.5 times of it on the device,
/// 0.3 to 2 times on the edge, 0.8 to 4 times in the cloud.
fn set_memory_limits(rng: &mut ChaCha8Rng, problem: &mut SplitProblem) {
    let total: f64 = problem
        .table
        .layers
        .iter()
        .map(|l| problem.layer_memory_bytes(l))
        .sum::<f64>()
        + problem.tied_extra_bytes();
    let fractions = [(0.02, 1.5), (0.3, 2.0), (0.8, 4.0)];
    for (t, (lo, hi)) in Tier::ALL.into_iter().zip(fractions) {
        let limit = total * rng.gen_range(lo..hi);
        if let Some(res) = problem.tiers[t.index()].as_mut() {
            res.memory_bytes = limit;
            res.device.memory_bytes = limit;
        }
    }
}

/// Deadline (s) and device energy budget (J), each with probability `p`, at 0.6 to 1.5 times
/// the latency and energy of a random contiguous plan.
fn set_deadline_and_budget(rng: &mut ChaCha8Rng, problem: &mut SplitProblem, p: f64) {
    let has_edge = problem.has_tier(Tier::Edge);
    let has_cloud = problem.has_tier(Tier::Cloud);
    let n = problem.layers();
    let c1 = rng.gen_range(0..=n);
    let c2 = if has_edge { rng.gen_range(c1..=n) } else { c1 };
    let c2 = if has_cloud { c2 } else { n };
    let c1 = if has_edge || has_cloud { c1 } else { n };
    let reference = SplitPlan::from_cuts(n, c1.min(c2), c2);
    if let Ok(ev) = evaluate(problem, &reference) {
        if rng.gen_bool(p) {
            problem.deadline_s = Some(ev.latency_s * rng.gen_range(0.6..1.5));
        }
        if rng.gen_bool(p) {
            problem.device_energy_budget_j = Some(ev.energy_j * rng.gen_range(0.6..1.5));
        }
    }
}

/// Placement rules, each with probability `p` (embedding on the device) or `p / 2` (device
/// layer bounds, one pinned and one forbidden layer).
fn set_rules(rng: &mut ChaCha8Rng, problem: &mut SplitProblem, p: f64) {
    let n = problem.layers();
    problem.rules.embed_on_device = rng.gen_bool(p);
    if rng.gen_bool(p / 2.0) {
        problem.rules.min_device_layers = Some(rng.gen_range(0..=n.min(4)));
    }
    if rng.gen_bool(p / 2.0) {
        problem.rules.max_device_layers = Some(rng.gen_range(0..=n));
    }
    let random_pair = |rng: &mut ChaCha8Rng| (rng.gen_range(0..n), Tier::ALL[rng.gen_range(0..3)]);
    if rng.gen_bool(p / 2.0) {
        let pair = random_pair(rng);
        problem.rules.pinned.push(pair);
    }
    if rng.gen_bool(p / 2.0) {
        let pair = random_pair(rng);
        problem.rules.forbidden.push(pair);
    }
}
