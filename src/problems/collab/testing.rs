//! Small random collaboration instances for tests and oracles (not part of the stable API):
//! synthetic dense models of a few sizes in two tokenizer families, catalog devices and random
//! channels, limits drawn so that some instances are tight and some infeasible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::costs::arch::{ArchConfig, Dtype, MlpKind, NormKind};
use crate::costs::device::DeviceCatalog;

use super::Variant;
use super::{default_acceptance, CollabProblem, CollabUser, EdgeServer, ModeKind, Objective};

/// The shape of a random instance.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Users.
    pub users: usize,
    /// Variants (cycling through sizes, precisions and two families).
    pub variants: usize,
    /// Modes allowed.
    pub modes: Vec<ModeKind>,
    /// Draft lengths offered.
    pub draft_lengths: Vec<usize>,
    /// Escalations offered.
    pub escalations: Vec<f64>,
    /// Resource blocks of the edge.
    pub resource_blocks: usize,
    /// What is maximised.
    pub objective: Objective,
}

impl Shape {
    /// A small shape for brute force: `users` users, 3 variants, all modes but split, draft
    /// lengths 1-3, two escalations.
    pub fn small(users: usize) -> Shape {
        Shape {
            users,
            variants: 3,
            modes: vec![
                ModeKind::Device,
                ModeKind::Edge,
                ModeKind::Cascade,
                ModeKind::Speculative,
            ],
            draft_lengths: vec![1, 2, 3],
            escalations: vec![0.2, 0.5],
            resource_blocks: 12,
            objective: Objective::Quality,
        }
    }
}

/// A synthetic dense architecture of `layers` blocks and width `hidden`.
pub fn arch(layers: usize, hidden: usize) -> ArchConfig {
    ArchConfig {
        layers,
        hidden,
        intermediate: hidden * 4,
        heads: hidden / 64,
        kv_heads: (hidden / 256).max(1),
        head_dim: None,
        vocab: 32000,
        mlp: MlpKind::Swiglu,
        norm: NormKind::Rmsnorm,
        tied_embeddings: false,
        position_embeddings: 0,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        experts: 1,
        experts_per_token: 1,
        shared_experts: 0,
        shared_expert_intermediate: None,
        shared_expert_gate: false,
        dense_layers: 0,
        dense_intermediate: None,
        qk_norm: false,
        max_context: Some(8192),
    }
}

/// Sizes of the synthetic models: (blocks, width, quality at fp16, percent).
const SIZES: [(usize, usize, f64); 4] = [
    (8, 1024, 42.0),
    (12, 2048, 55.0),
    (16, 3072, 63.0),
    (24, 4096, 70.0),
];

/// The `i`-th synthetic variant: sizes cycle fastest, then precisions, then families.
pub fn variant(i: usize) -> Variant {
    let (layers, hidden, q) = SIZES[i % SIZES.len()];
    let dtypes = [Dtype::Fp16, Dtype::Q4, Dtype::Int8];
    let dtype = dtypes[(i / SIZES.len()) % dtypes.len()];
    let family = if (i / (SIZES.len() * dtypes.len())).is_multiple_of(2) {
        "a"
    } else {
        "b"
    };
    let model = format!("{family}-{layers}x{hidden}");
    let table = arch(layers, hidden).cost_table(&model, dtype);
    let delta = match dtype {
        Dtype::Q4 => 2.0,
        Dtype::Int8 => 0.3,
        _ => 0.0,
    };
    Variant {
        name: format!("{model}-{}", dtype.name()),
        model,
        dtype,
        family: family.to_string(),
        params: table.total_params() as f64,
        table,
        quality: q - delta,
        quality_source: "synthetic".into(),
    }
}

/// Acceptance rates of a variant list: same family and a smaller draft (by parameters) get
/// the default rule.
pub fn acceptance(variants: &[Variant]) -> Vec<Vec<Option<f64>>> {
    variants
        .iter()
        .map(|d| {
            variants
                .iter()
                .map(|t| {
                    (d.family == t.family && d.params < t.params)
                        .then(|| default_acceptance(d.params, t.params))
                })
                .collect()
        })
        .collect()
}

/// A random instance of `shape` with devices from `catalog`.
pub fn random_problem(catalog: &DeviceCatalog, shape: &Shape, seed: u64) -> CollabProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let variants: Vec<Variant> = (0..shape.variants).map(variant).collect();
    let acceptance = acceptance(&variants);
    let sources = acceptance
        .iter()
        .map(|row| row.iter().map(|_| "default".to_string()).collect())
        .collect();
    let pick = |rng: &mut ChaCha8Rng, names: &[&str]| -> crate::costs::device::Device {
        let name = names[rng.gen_range(0..names.len())];
        catalog.devices[name].clone()
    };
    let edge_device = pick(&mut rng, &["l4", "rtx-4090", "a100-80gb-sxm"]);
    let weights: f64 = variants.iter().map(|v| v.weight_bytes()).sum();
    let edge = EdgeServer {
        runtime_devices: Vec::new(),
        name: "edge".into(),
        device: edge_device,
        memory_bytes: weights * rng.gen_range(0.3..1.2),
        resource_blocks: shape.resource_blocks,
        rb_bandwidth_hz: 180e3,
        rtt_s: rng.gen_range(0.005..0.03),
        max_utilisation: rng.gen_range(0.5..0.9),
    };
    let mut users = Vec::with_capacity(shape.users);
    for k in 0..shape.users {
        let device = pick(
            &mut rng,
            &[
                "phone-sd8gen3",
                "rpi5",
                "jetson-orin-nano-8gb",
                "laptop-m2-pro",
            ],
        );
        let prompt_tokens = rng.gen_range(32..=512);
        let output_tokens = rng.gen_range(16..=128);
        // Deadlines between a fast edge answer and a slow device one.
        let deadline_s = 10f64.powf(rng.gen_range(-0.5..1.3));
        users.push(CollabUser {
            runtime_devices: Vec::new(),
            name: format!("u{k}"),
            memory_bytes: device.memory_bytes * rng.gen_range(0.05..0.5),
            device,
            prompt_tokens,
            output_tokens,
            rate_per_s: 10f64.powf(rng.gen_range(-2.0..-0.5)),
            deadline_s,
            energy_limit_j: rng
                .gen_bool(0.3)
                .then(|| 10f64.powf(rng.gen_range(0.0..2.0))),
            quality_target: Some(rng.gen_range(40.0..70.0)),
            weight: if rng.gen_bool(0.5) {
                1.0
            } else {
                rng.gen_range(0.5..3.0)
            },
            snr_up: 10f64.powf(rng.gen_range(0.0..2.0)),
            snr_down: 10f64.powf(rng.gen_range(0.5..2.2)),
            tx_power_w: 0.2,
            rx_power_w: 0.1,
        });
    }
    CollabProblem {
        name: format!("random-collab-{seed}"),
        description: None,
        benchmark: "synthetic".into(),
        variants,
        acceptance,
        acceptance_source: sources,
        edge,
        users,
        modes: shape.modes.clone(),
        draft_lengths: shape.draft_lengths.clone(),
        escalations: shape.escalations.clone(),
        router_sharpness: rng.gen_range(1.0..3.0),
        baseline_escalation: 0.3,
        token_bytes: 4.0,
        draft_token_bytes: 4.0,
        objective: shape.objective,
        mc_requests: 2000,
        mc_seed: seed,
    }
}
