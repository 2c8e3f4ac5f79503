//! Small/large model collaboration at the edge: per user, a mode and model variants (device
//! only, edge only, a device-first cascade, device-edge speculative decoding, or a split
//! model), with many users sharing one edge server's radio resource blocks, compute and memory
//! (docs/collab.md).
//!
//! **Variants.** A variant is a model at a precision (`llama-3.2-1b` at q4) with a quality
//! score on a named benchmark (published accuracy; quantisation deltas from published studies,
//! `instances/collab/quality.csv`). Speculative pairs share a tokenizer family and carry an
//! acceptance rate `a` (published where measured, else the documented size-ratio default of
//! [`default_acceptance`], an assumption).
//!
//! **Modes** of one request with `P` prompt and `T` output tokens ([`price`] has the formulas):
//! - *device* `v`: prefill and `T` decode steps of `v` on the device;
//! - *edge* `t`: the prompt goes up (token ids), the edge prefills and decodes, tokens stream
//!   down;
//! - *cascade* `(d, t, p)`: the device answers with `d`; a router escalates a fraction `p` of the
//!   requests to `t` at the edge, which pays both. Quality `q_t - (q_t - q_d) (1 - p)^gamma` with
//!   the router's sharpness `gamma >= 1` (1: random routing; larger: the hard requests go first;
//!   an assumption of the instance);
//! - *speculative* `(d, t, k)`: both prefill the prompt (in parallel); each round the device
//!   drafts `k` tokens, sends them up, the edge verifies them in one pass of `k + 1` tokens and
//!   returns the accepted prefix and one token of its own. A round yields `1 + j` tokens with
//!   `P(j) = a^j (1 - a)` for `j < k` and `P(k) = a^k` (i.i.d. acceptances, Leviathan et al.
//!   2023), `(1 - a^(k+1)) / (1 - a)` on average; the expected number of rounds for `T` tokens is
//!   computed exactly by recursion ([`price::expected_rounds`]). Quality is the target's
//!   (speculative decoding is lossless);
//! - *split* `(v, c)`: layers `0..c` of `v` on the device, the rest at the edge; one activation
//!   up and one token down per generated token.
//!
//! **Sharing.** The edge is a processor-sharing server (a time-shared GPU): a request needing
//! `s` seconds of the whole server sees `s / (1 - rho)` on average at utilisation `rho`
//! (M/G/1-PS, insensitive to the service distribution). The plan keeps
//! `rho = sum_u rate_u s_u <= rho_max`, and prices every edge time at the bound
//! `s / (1 - rho_max)`. Batching gains are not modelled (as in alloc), which makes the edge
//! pessimistic. A user with radio traffic gets an integer number `n_u >= 1` of the server's
//! resource blocks (rate `n_u B log2(1 + SNR)`), `sum_u n_u <= N`. Each variant held at the
//! edge costs its weights once (parameter sharing), plus each user's KV cache.
//!
//! **Objective.** Maximise the weighted mean quality, or the weighted share of users whose
//! quality reaches their target, subject to each user's expected latency and device-energy
//! limits; among the optimal plans, the one with the lowest weighted mean latency (every user
//! at its fewest blocks); the blocks left over are then handed out where they cut the weighted
//! latency most ([`price::hand_out_blocks`], optimal for the chosen modes).

pub mod baselines;
pub mod enumerate;
pub mod evaluate;
pub mod explain;
pub mod greedy;
pub mod milp;
pub mod part;
pub mod price;
pub mod render;
pub mod simulate;
pub mod solve;
pub mod testing;

use serde::{Deserialize, Serialize};

use crate::costs::arch::Dtype;
use crate::costs::device::Device;
use crate::costs::table::CostTable;

/// A model at a precision, with its quality.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Name, `<model>-<dtype>` unless the instance names it.
    pub name: String,
    /// Model config name.
    pub model: String,
    /// Weight precision.
    pub dtype: Dtype,
    /// Tokenizer family: speculative pairs must share it.
    pub family: String,
    /// Per-layer costs at `dtype`.
    pub table: CostTable,
    /// Parameters (the size ratio of the default acceptance rate).
    pub params: f64,
    /// Quality score, percent (accuracy on the instance's benchmark, e.g. 5-shot MMLU).
    pub quality: f64,
    /// Where the score comes from.
    pub quality_source: String,
}

impl Variant {
    /// Weight bytes.
    pub fn weight_bytes(&self) -> f64 {
        self.table.total_param_bytes()
    }

    /// KV-cache bytes of `tokens` cached tokens.
    pub fn kv_bytes(&self, tokens: usize) -> f64 {
        let per: f64 = self.table.layers.iter().map(|l| l.kv_bytes_per_token).sum();
        per * tokens as f64
    }
}

/// The shared edge server.
#[derive(Debug, Clone)]
pub struct EdgeServer {
    /// Name.
    pub name: String,
    /// Its accelerator.
    pub device: Device,
    /// The device as its runtime runs each variant (`runtime` named), else empty.
    pub runtime_devices: Vec<Device>,
    /// Memory for variants and KV caches, bytes.
    pub memory_bytes: f64,
    /// Resource blocks `N` shared by the users.
    pub resource_blocks: usize,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Round trip between a user and the server, s.
    pub rtt_s: f64,
    /// Utilisation cap `rho_max` in `(0, 1)`: edge times are priced at `s / (1 - rho_max)`.
    pub max_utilisation: f64,
}

impl EdgeServer {
    /// The device that runs variant `v`.
    pub fn on(&self, v: usize) -> &Device {
        self.runtime_devices.get(v).unwrap_or(&self.device)
    }

    /// The factor `1 / (1 - rho_max)` on edge service times.
    pub fn inflation(&self) -> f64 {
        1.0 / (1.0 - self.max_utilisation)
    }
}

/// A user (or a class of requests).
#[derive(Debug, Clone)]
pub struct CollabUser {
    /// Name.
    pub name: String,
    /// Its device.
    pub device: Device,
    /// The device as its runtime runs each variant (`runtime` named), else empty.
    pub runtime_devices: Vec<Device>,
    /// Device memory usable for a model and its KV cache, bytes.
    pub memory_bytes: f64,
    /// Prompt tokens `P`.
    pub prompt_tokens: usize,
    /// Output tokens `T`.
    pub output_tokens: usize,
    /// Requests per second (the edge load).
    pub rate_per_s: f64,
    /// Limit on the expected request latency, s.
    pub deadline_s: f64,
    /// Limit on the expected device energy per request, J.
    pub energy_limit_j: Option<f64>,
    /// Quality target (the `served` objective), percent.
    pub quality_target: Option<f64>,
    /// Weight in the objective.
    pub weight: f64,
    /// Uplink SNR per resource block, linear.
    pub snr_up: f64,
    /// Downlink SNR per resource block, linear.
    pub snr_down: f64,
    /// Radio transmit power, W.
    pub tx_power_w: f64,
    /// Radio receive power, W.
    pub rx_power_w: f64,
}

impl CollabUser {
    /// The device that runs variant `v`.
    pub fn on(&self, v: usize) -> &Device {
        self.runtime_devices.get(v).unwrap_or(&self.device)
    }
}

/// The modes a user may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeKind {
    /// Everything on the device.
    Device,
    /// Everything at the edge.
    Edge,
    /// Device first, escalation to the edge.
    Cascade,
    /// Device drafts, edge verifies.
    Speculative,
    /// Layers split between device and edge.
    Split,
}

impl ModeKind {
    /// Every mode.
    pub const ALL: [ModeKind; 5] = [
        ModeKind::Device,
        ModeKind::Edge,
        ModeKind::Cascade,
        ModeKind::Speculative,
        ModeKind::Split,
    ];

    /// The name in files.
    pub fn name(self) -> &'static str {
        match self {
            ModeKind::Device => "device",
            ModeKind::Edge => "edge",
            ModeKind::Cascade => "cascade",
            ModeKind::Speculative => "speculative",
            ModeKind::Split => "split",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<ModeKind> {
        Self::ALL.iter().copied().find(|m| m.name() == text)
    }
}

/// One user's mode with its variants (indices into [`CollabProblem::variants`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Mode {
    /// Variant `variant` on the device.
    Device {
        /// Variant.
        variant: usize,
    },
    /// Variant `variant` at the edge.
    Edge {
        /// Variant.
        variant: usize,
    },
    /// `draft` on the device, a fraction `escalation` escalated to `target` at the edge.
    Cascade {
        /// Device variant.
        draft: usize,
        /// Edge variant.
        target: usize,
        /// Fraction of requests escalated, in `[0, 1]`.
        escalation: f64,
    },
    /// `draft` drafts `draft_length` tokens per round on the device, `target` verifies at the
    /// edge.
    Speculative {
        /// Device variant.
        draft: usize,
        /// Edge variant.
        target: usize,
        /// Draft tokens per round `k`.
        draft_length: usize,
    },
    /// Layers `0..cut` of `variant` on the device, the rest at the edge.
    Split {
        /// Variant.
        variant: usize,
        /// Device layers (cost-table rows) `0..cut`, `1 <= cut < rows`.
        cut: usize,
    },
}

impl Mode {
    /// Its kind.
    pub fn kind(&self) -> ModeKind {
        match self {
            Mode::Device { .. } => ModeKind::Device,
            Mode::Edge { .. } => ModeKind::Edge,
            Mode::Cascade { .. } => ModeKind::Cascade,
            Mode::Speculative { .. } => ModeKind::Speculative,
            Mode::Split { .. } => ModeKind::Split,
        }
    }

    /// The variant run on the device, if any.
    pub fn device_variant(&self) -> Option<usize> {
        match *self {
            Mode::Device { variant } | Mode::Split { variant, .. } => Some(variant),
            Mode::Cascade { draft, .. } | Mode::Speculative { draft, .. } => Some(draft),
            Mode::Edge { .. } => None,
        }
    }

    /// The variant the edge must hold, if any.
    pub fn edge_variant(&self) -> Option<usize> {
        match *self {
            Mode::Edge { variant } | Mode::Split { variant, .. } => Some(variant),
            Mode::Cascade { target, .. } | Mode::Speculative { target, .. } => Some(target),
            Mode::Device { .. } => None,
        }
    }

    /// A short label with variant names (`spec llama-3.2-1b-q4 -> llama-3-8b-fp16 k=4`).
    pub fn label(&self, variants: &[Variant]) -> String {
        let n = |i: usize| variants.get(i).map_or("?", |v| v.name.as_str());
        match *self {
            Mode::Device { variant } => format!("device {}", n(variant)),
            Mode::Edge { variant } => format!("edge {}", n(variant)),
            Mode::Cascade {
                draft,
                target,
                escalation,
            } => format!("cascade {} -> {} p={escalation}", n(draft), n(target)),
            Mode::Speculative {
                draft,
                target,
                draft_length,
            } => format!("speculative {} -> {} k={draft_length}", n(draft), n(target)),
            Mode::Split { variant, cut } => format!("split {} cut={cut}", n(variant)),
        }
    }
}

/// What is maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The weighted mean quality.
    Quality,
    /// The weighted share of users whose quality reaches their target.
    Served,
}

impl Objective {
    /// The name in files.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Quality => "quality",
            Objective::Served => "served",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Objective> {
        match text {
            "quality" => Some(Objective::Quality),
            "served" => Some(Objective::Served),
            _ => None,
        }
    }
}

/// A validated collaboration instance: plain data.
#[derive(Debug, Clone)]
pub struct CollabProblem {
    /// Instance name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The benchmark of the quality scores (e.g. `mmlu-5shot`).
    pub benchmark: String,
    /// The variants.
    pub variants: Vec<Variant>,
    /// `acceptance[d][t]`: the acceptance rate of draft `d` for target `t`, `None` where the
    /// pair cannot speculate (another tokenizer family, or `d` not smaller than `t`).
    pub acceptance: Vec<Vec<Option<f64>>>,
    /// Where each acceptance rate comes from (`"default"` for the size-ratio rule).
    pub acceptance_source: Vec<Vec<String>>,
    /// The edge server.
    pub edge: EdgeServer,
    /// The users.
    pub users: Vec<CollabUser>,
    /// Modes allowed.
    pub modes: Vec<ModeKind>,
    /// Draft lengths `k` offered to speculative users.
    pub draft_lengths: Vec<usize>,
    /// Escalation fractions `p` offered to cascades.
    pub escalations: Vec<f64>,
    /// The cascade router's sharpness `gamma >= 1`.
    pub router_sharpness: f64,
    /// The fixed escalation of the `cascade-fixed` baseline.
    pub baseline_escalation: f64,
    /// Bytes of one token id on the radio.
    pub token_bytes: f64,
    /// Bytes sent up per draft token (a token id for greedy verification; the draft's
    /// probabilities too for sampled verification).
    pub draft_token_bytes: f64,
    /// What is maximised.
    pub objective: Objective,
    /// Requests simulated per user by the evaluator's Monte Carlo.
    pub mc_requests: usize,
    /// Seed of the simulation.
    pub mc_seed: u64,
}

impl CollabProblem {
    /// The index of the variant called `name`.
    pub fn variant_index(&self, name: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.name == name)
    }

    /// Whether `mode` is allowed.
    pub fn allows(&self, mode: ModeKind) -> bool {
        self.modes.contains(&mode)
    }

    /// Total weight of the users.
    pub fn total_weight(&self) -> f64 {
        self.users.iter().map(|u| u.weight).sum()
    }
}

/// One user's decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UserChoice {
    /// The mode and its variants.
    #[serde(flatten)]
    pub mode: Mode,
    /// Resource blocks (0 when the mode uses no radio).
    pub resource_blocks: usize,
}

/// A plan: one choice per user, in instance order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollabPlan {
    /// Per user.
    pub users: Vec<UserChoice>,
}

/// The default acceptance rate of a draft with `draft_params` for a target with
/// `target_params` of the same tokenizer family, used where no published figure exists (an
/// assumption, docs/collab.md): `0.95 - 0.25 log10(ratio)`, clamped to `[0.3, 0.95]`. It gives
/// 0.72 at a ratio of 8 (1B drafting 8B) and 0.66 at 14 (0.5B drafting 7B), inside the 0.6-0.8
/// band of the published same-family pairs.
pub fn default_acceptance(draft_params: f64, target_params: f64) -> f64 {
    let ratio = (target_params / draft_params).max(1.0);
    (0.95 - 0.25 * ratio.log10()).clamp(0.3, 0.95)
}

/// The quality of a cascade escalating a fraction `p` from `q_draft` to `q_target` with
/// router sharpness `gamma`: `q_t - (q_t - q_d) (1 - p)^gamma`.
pub fn cascade_quality(q_draft: f64, q_target: f64, p: f64, gamma: f64) -> f64 {
    q_target - (q_target - q_draft) * (1.0 - p).powf(gamma)
}
