//! A model's layer chain placed on the tiers device | edge | cloud: the shared cost engine of the
//! split and alloc formulations (and of replay).
//!
//! The layers of the cost table (embed, blocks, head) form a chain that is cut into contiguous
//! tiers device | edge | cloud; any tier may be empty. A plan is the tier of every layer; a
//! contiguous plan is the pair of cuts `(c1, c2)` with the device running layers `0..c1`, the edge
//! `c1..c2` and the cloud `c2..n`. This module holds the tier contexts ([`TierResource`]), links,
//! workload and rules of one user ([`SplitProblem`]), the per-layer pricing that the MILPs and the
//! enumeration use ([`Coefficients`]), and the pass-by-pass independent simulator ([`evaluate`]).
//!
//! **Latency model (inference).** Prefill of `P` prompt tokens, then `G` decode steps at contexts
//! `P, P+1, ..., P+G-1`. In every pass the input (token ids, 4 bytes each) starts on the device,
//! flows up through the layers, and the sampled token id returns to the device. A crossing of the
//! device-edge radio link or the edge-cloud backhaul carries what the next layer consumes (the
//! previous layer's output for every token it processes; the head only needs the last prompt
//! token in prefill) and pays half the link's round-trip time; device-to-cloud traffic crosses both
//! links. Memory on a tier: the parameters of its layers, their KV cache for `P+G` tokens, and the
//! tied embedding matrix again when a tied head runs on another tier than the embedding.
//!
//! **Fine-tuning.** Each of `steps` steps runs the forward pass over `batch_size * seq_len` tokens
//! (the labels travel with the activations to the head's tier), the backward pass in reverse with
//! the activation gradients crossing each cut downwards (under LoRA the frozen embedding needs no
//! gradient), and keeps activations for the backward pass. Trainable state costs 16 bytes per
//! trainable parameter (fp16 weight and gradient, fp32 master weight and two Adam moments:
//! Rajbhandari et al. 2020, ZeRO, section 3.1); LoRA keeps the frozen weights in the table's dtype.
//!
//! **Device energy.** Busy power (or profiled energy) for the device's layers, the radio's transmit
//! and receive power for its airtime, and idle power for the rest of the end-to-end latency.

pub mod evaluate;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::costs::device::Device;
use crate::costs::latency::{Cost, LayerTimer, Profile, Training as LayerTraining};
use crate::costs::table::{CostTable, LayerCost, LayerKind};

/// A tier of the end-edge-cloud hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The user's device.
    Device = 0,
    /// The edge server.
    Edge = 1,
    /// The cloud.
    Cloud = 2,
}

impl Tier {
    /// All tiers, bottom up.
    pub const ALL: [Tier; 3] = [Tier::Device, Tier::Edge, Tier::Cloud];

    /// Parses `device|edge|cloud`.
    pub fn parse(text: &str) -> Option<Tier> {
        match text {
            "device" => Some(Tier::Device),
            "edge" => Some(Tier::Edge),
            "cloud" => Some(Tier::Cloud),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Device => "device",
            Tier::Edge => "edge",
            Tier::Cloud => "cloud",
        }
    }

    /// Index 0, 1, 2.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A network link. Rates in bit/s, round-trip time in s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Rate towards the cloud.
    pub uplink_bps: f64,
    /// Rate towards the device.
    pub downlink_bps: f64,
    /// Round-trip time; a one-way crossing pays half.
    pub rtt_s: f64,
}

/// The objective of a split instance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Objective {
    /// End-to-end latency, s.
    Latency,
    /// Device energy, J.
    Energy,
    /// `latency_weight * latency_s + energy_weight * energy_j`.
    Weighted {
        /// Per second.
        latency_weight: f64,
        /// Per joule.
        energy_weight: f64,
    },
}

impl Objective {
    /// Objective value of a plan with this latency and device energy.
    pub fn value(&self, latency_s: f64, energy_j: f64) -> f64 {
        match *self {
            Objective::Latency => latency_s,
            Objective::Energy => energy_j,
            Objective::Weighted {
                latency_weight,
                energy_weight,
            } => latency_weight * latency_s + energy_weight * energy_j,
        }
    }

    /// Weights `(on latency, on energy)`.
    pub fn weights(&self) -> (f64, f64) {
        match *self {
            Objective::Latency => (1.0, 0.0),
            Objective::Energy => (0.0, 1.0),
            Objective::Weighted {
                latency_weight,
                energy_weight,
            } => (latency_weight, energy_weight),
        }
    }
}

/// Placement rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// The embedding runs on the device (raw tokens never leave it).
    pub embed_on_device: bool,
    /// At least this many layers on the device.
    pub min_device_layers: Option<usize>,
    /// At most this many layers on the device.
    pub max_device_layers: Option<usize>,
    /// `(layer, tier)` pairs that must hold.
    pub pinned: Vec<(usize, Tier)>,
    /// `(layer, tier)` pairs that must not hold.
    pub forbidden: Vec<(usize, Tier)>,
}

/// Fine-tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "method")]
pub enum Training {
    /// All weights trained.
    Full,
    /// LoRA adapters on frozen weights.
    Lora {
        /// Trainable adapter parameters per transformer block.
        adapter_params_per_block: f64,
    },
}

/// What the model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Workload {
    /// Prefill plus decode.
    Inference {
        /// Prompt length P.
        prompt_tokens: usize,
        /// Decode steps G.
        generate_tokens: usize,
    },
    /// Split fine-tuning.
    Finetune {
        /// Sequences per step.
        batch_size: usize,
        /// Tokens per sequence.
        seq_len: usize,
        /// Training steps.
        steps: usize,
        /// Method.
        training: Training,
    },
}

/// A tier's compute resource.
#[derive(Debug, Clone)]
pub struct TierResource {
    /// The device running the tier.
    pub device: Device,
    /// Usable memory, bytes.
    pub memory_bytes: f64,
    /// Profiled per-layer table of this model on this device.
    pub profile: Option<Profile>,
    /// Where the profile came from.
    pub profile_path: Option<PathBuf>,
}

impl TierResource {
    /// The latency model of this tier.
    pub fn timer(&self) -> LayerTimer<'_> {
        LayerTimer {
            device: &self.device,
            profile: self.profile.as_ref(),
        }
    }
}

/// A validated split instance: plain data, no I/O.
#[derive(Debug, Clone)]
pub struct SplitProblem {
    /// Instance name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// File the instance came from.
    pub source: Option<PathBuf>,
    /// Cost table of the model.
    pub table: CostTable,
    /// Workload.
    pub workload: Workload,
    /// Device, edge and cloud resources (`None` = tier unavailable; the device is always there).
    pub tiers: [Option<TierResource>; 3],
    /// Device <-> edge radio link.
    pub wireless: Option<Link>,
    /// Edge <-> cloud link.
    pub backhaul: Option<Link>,
    /// Device radio transmit power, W.
    pub tx_power_w: f64,
    /// Device radio receive power, W.
    pub rx_power_w: f64,
    /// Objective.
    pub objective: Objective,
    /// End-to-end latency limit, s.
    pub deadline_s: Option<f64>,
    /// Device energy limit, J.
    pub device_energy_budget_j: Option<f64>,
    /// Placement rules.
    pub rules: Rules,
}

/// The tier of layer `l` in the contiguous plan with cuts `(c1, c2)`.
pub fn tier_at(c1: usize, c2: usize, l: usize) -> Tier {
    if l < c1 {
        Tier::Device
    } else if l < c2 {
        Tier::Edge
    } else {
        Tier::Cloud
    }
}

/// A plan: the tier of every layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPlan {
    /// Tier of each layer, in execution order.
    pub assignment: Vec<Tier>,
}

impl SplitPlan {
    /// The plan with layers `0..c1` on the device, `c1..c2` on the edge and the rest on the cloud.
    pub fn from_cuts(layers: usize, c1: usize, c2: usize) -> SplitPlan {
        debug_assert!(c1 <= c2 && c2 <= layers);
        let assignment = (0..layers).map(|l| tier_at(c1, c2, l)).collect();
        SplitPlan { assignment }
    }

    /// The cuts `(c1, c2)` when the plan is contiguous (tiers non-decreasing along the chain).
    pub fn cuts(&self) -> Option<(usize, usize)> {
        if self.assignment.windows(2).any(|w| w[0] > w[1]) {
            return None;
        }
        let c1 = self
            .assignment
            .iter()
            .filter(|&&t| t == Tier::Device)
            .count();
        let c2 = c1 + self.assignment.iter().filter(|&&t| t == Tier::Edge).count();
        Some((c1, c2))
    }

    /// Layers on `tier`.
    pub fn count(&self, tier: Tier) -> usize {
        self.assignment.iter().filter(|&&t| t == tier).count()
    }
}

/// The workload on a model's layer chain, independent of where the layers run: what each layer
/// costs in memory, which bytes cross a cut in each pass, and what a layer costs on a given
/// processor. Shared by every formulation that places a chain of layers (split and alloc on
/// three tiers, pipeline on a network of nodes) and by the simulators that check their plans.
#[derive(Debug, Clone, Copy)]
pub struct Work<'a> {
    /// The model's cost table.
    pub table: &'a CostTable,
    /// The workload.
    pub workload: Workload,
}

impl Work<'_> {
    /// Number of layers (rows of the cost table).
    pub fn layers(&self) -> usize {
        self.table.len()
    }

    /// The layer-level training mode of `layer`.
    pub fn layer_training(&self, layer: &LayerCost) -> Option<LayerTraining> {
        match self.workload {
            Workload::Inference { .. } => None,
            Workload::Finetune { training, .. } => Some(match training {
                Training::Full => LayerTraining::Full,
                Training::Lora {
                    adapter_params_per_block,
                } => LayerTraining::Lora {
                    adapter_params: if layer.kind == LayerKind::Block {
                        adapter_params_per_block
                    } else {
                        0.0
                    },
                },
            }),
        }
    }

    /// Bytes `layer` needs on the tier that runs it (weights, KV cache or training state and
    /// activations), excluding the tied-embedding copy.
    pub fn layer_memory_bytes(&self, layer: &LayerCost) -> f64 {
        match self.workload {
            Workload::Inference {
                prompt_tokens,
                generate_tokens,
            } => {
                layer.param_bytes
                    + layer.kv_bytes_per_token * (prompt_tokens + generate_tokens) as f64
            }
            Workload::Finetune {
                batch_size,
                seq_len,
                training,
                ..
            } => {
                let (b, s) = (batch_size as f64, seq_len as f64);
                let activations = b * s * layer.train_act_bytes_per_token
                    + b * s * s * layer.train_act_bytes_per_token_per_ctx;
                let state = match training {
                    Training::Full => 16.0 * layer.params as f64,
                    Training::Lora {
                        adapter_params_per_block,
                    } => {
                        let adapters = if layer.kind == LayerKind::Block {
                            adapter_params_per_block
                        } else {
                            0.0
                        };
                        layer.param_bytes + 16.0 * adapters
                    }
                };
                state + activations
            }
        }
    }

    /// Extra bytes on the head's tier when the head is tied to the embedding and they run on
    /// different tiers.
    pub fn tied_extra_bytes(&self) -> f64 {
        let head = &self.table.layers[self.layers() - 1];
        match self.workload {
            Workload::Finetune {
                training: Training::Full,
                ..
            } if head.params > 0 => {
                // Trainable copy: 16 bytes per parameter.
                // At least 1 bit per parameter: a cost table's byte columns may be zero (or
                // tiny) where its parameter count is not, which must not divide by zero.
                let bytes_per_param = (head.param_bytes / head.params as f64).max(0.125);
                16.0 * head.tied_param_bytes / bytes_per_param
            }
            _ => head.tied_param_bytes,
        }
    }

    /// Tokens layer `layer` processes in one pass of the given kind.
    pub fn consumed_tokens(&self, layer: usize, pass: Pass) -> f64 {
        match pass {
            Pass::Prefill if layer + 1 == self.layers() => 1.0,
            Pass::Prefill => match self.workload {
                Workload::Inference { prompt_tokens, .. } => prompt_tokens as f64,
                Workload::Finetune { .. } => 0.0,
            },
            Pass::Decode(_) => 1.0,
            Pass::Train => match self.workload {
                Workload::Finetune {
                    batch_size,
                    seq_len,
                    ..
                } => (batch_size * seq_len) as f64,
                Workload::Inference { .. } => 0.0,
            },
        }
    }

    /// Bytes entering layer `layer` from below in one pass: the previous layer's output (token ids
    /// for the embedding) for every token the layer consumes.
    pub fn input_bytes(&self, layer: usize, pass: Pass) -> f64 {
        let per_token = if layer == 0 {
            4.0
        } else {
            self.table.layers[layer - 1].out_bytes_per_token
        };
        per_token * self.consumed_tokens(layer, pass)
    }

    /// Whether the activation gradient crosses a cut placed before `layer` in the backward pass.
    pub fn gradient_crosses(&self, layer: usize) -> bool {
        match self.workload {
            Workload::Inference { .. } => false,
            Workload::Finetune { training, .. } => match training {
                Training::Full => layer >= 1,
                // The frozen embedding needs no gradient, so nothing crosses below block 1.
                Training::Lora { .. } => layer >= 2,
            },
        }
    }

    /// The passes of the workload with how often each repeats.
    pub fn passes(&self) -> Vec<(Pass, f64)> {
        match self.workload {
            Workload::Inference {
                generate_tokens, ..
            } => {
                let mut passes = vec![(Pass::Prefill, 1.0)];
                passes.extend((0..generate_tokens).map(|i| (Pass::Decode(i), 1.0)));
                passes
            }
            Workload::Finetune { steps, .. } => vec![(Pass::Train, steps as f64)],
        }
    }

    /// Compute cost of `layer` for the whole workload on the processor `timer` prices.
    pub fn layer_compute(&self, layer: &LayerCost, timer: LayerTimer<'_>) -> Cost {
        match self.workload {
            Workload::Inference {
                prompt_tokens,
                generate_tokens,
            } => {
                let mut c = timer.prefill(layer, prompt_tokens);
                c += timer.decode_steps(layer, prompt_tokens, generate_tokens);
                c
            }
            Workload::Finetune {
                batch_size,
                seq_len,
                steps,
                ..
            } => {
                let training = self.layer_training(layer).unwrap_or(LayerTraining::Full);
                let mut c = timer.train_forward(layer, batch_size, seq_len, training);
                c += timer.train_backward(layer, batch_size, seq_len, training);
                Cost {
                    latency_s: c.latency_s * steps as f64,
                    energy_j: c.energy_j * steps as f64,
                }
            }
        }
    }

    /// Cost (s, J) of `layer` in the forward part of `pass` on the processor `timer` prices:
    /// prefill of the prompt, one decode step, or a training step's forward pass.
    pub fn forward_cost(&self, layer: &LayerCost, pass: Pass, timer: LayerTimer<'_>) -> Cost {
        match (pass, self.workload) {
            (
                Pass::Prefill,
                Workload::Inference {
                    prompt_tokens: p, ..
                },
            ) => timer.prefill(layer, p),
            (
                Pass::Decode(i),
                Workload::Inference {
                    prompt_tokens: p, ..
                },
            ) => timer.decode(layer, p + i),
            (
                Pass::Train,
                Workload::Finetune {
                    batch_size,
                    seq_len,
                    ..
                },
            ) => {
                let training = self.layer_training(layer).expect("fine-tuning workload");
                timer.train_forward(layer, batch_size, seq_len, training)
            }
            _ => Cost::default(),
        }
    }

    /// Cost (s, J) of `layer` in a training step's backward pass on the processor `timer`
    /// prices (zero for inference).
    pub fn backward_cost(&self, layer: &LayerCost, timer: LayerTimer<'_>) -> Cost {
        match self.workload {
            Workload::Finetune {
                batch_size,
                seq_len,
                ..
            } => {
                let training = self.layer_training(layer).expect("fine-tuning workload");
                timer.train_backward(layer, batch_size, seq_len, training)
            }
            Workload::Inference { .. } => Cost::default(),
        }
    }

    /// Bytes of the labels sent to the head's tier per training step (int32 token ids).
    pub fn label_bytes(&self) -> f64 {
        match self.workload {
            Workload::Finetune {
                batch_size,
                seq_len,
                ..
            } => 4.0 * (batch_size * seq_len) as f64,
            Workload::Inference { .. } => 0.0,
        }
    }
}

/// Memory and traffic quantities shared by the MILP, the enumeration and the evaluator: the
/// instance's [`Work`] and its tiers.
impl SplitProblem {
    /// Number of layers (rows of the cost table).
    pub fn layers(&self) -> usize {
        self.table.len()
    }

    /// Whether a tier is available.
    pub fn has_tier(&self, tier: Tier) -> bool {
        self.tiers[tier.index()].is_some()
    }

    /// The workload on the model's chain, independent of the tiers.
    pub fn work(&self) -> Work<'_> {
        Work {
            table: &self.table,
            workload: self.workload,
        }
    }

    /// Bytes `layer` needs on the tier that runs it ([`Work::layer_memory_bytes`]).
    pub fn layer_memory_bytes(&self, layer: &LayerCost) -> f64 {
        self.work().layer_memory_bytes(layer)
    }

    /// Extra bytes on the head's tier for a tied head ([`Work::tied_extra_bytes`]).
    pub fn tied_extra_bytes(&self) -> f64 {
        self.work().tied_extra_bytes()
    }

    /// Compute cost of `layer` on a tier for the whole workload.
    pub fn layer_compute(&self, layer: &LayerCost, tier: &TierResource) -> Cost {
        self.work().layer_compute(layer, tier.timer())
    }
}

/// One pass through the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Prompt processing.
    Prefill,
    /// Decode step `i`.
    Decode(usize),
    /// A training step (forward, then backward).
    Train,
}

/// What placing a cut costs over the whole workload: total added latency and the device radio's
/// transmit and receive airtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Crossing {
    /// Added end-to-end latency, s.
    pub latency_s: f64,
    /// Device transmit airtime, s (radio link only).
    pub tx_s: f64,
    /// Device receive airtime, s (radio link only).
    pub rx_s: f64,
    /// Bytes crossing up (all passes).
    pub bytes_up: f64,
    /// Bytes crossing down (all passes).
    pub bytes_down: f64,
}

/// Per-layer and per-cut coefficients of the linear cost model, computed once per instance and
/// shared by the MILP builder and the enumeration. The evaluator does not use them: it simulates
/// the plan pass by pass.
#[derive(Debug, Clone)]
pub struct Coefficients {
    /// `compute[l][t]`: cost of layer `l` on tier `t` for the whole workload (`None`: tier absent).
    pub compute: Vec<[Option<Cost>; 3]>,
    /// Bytes each layer needs on the tier that runs it.
    pub memory: Vec<f64>,
    /// Extra bytes for a tied head away from the embedding.
    pub tied_extra: f64,
    /// `radio[p]`: cost of the device-edge link when the first off-device layer is `p`
    /// (includes the token returning to the device).
    pub radio: Vec<Crossing>,
    /// `backhaul[p]`: cost of the edge-cloud link when the first cloud layer is `p`.
    pub backhaul: Vec<Crossing>,
}

impl Coefficients {
    /// Computes the coefficients of `problem`.
    pub fn new(problem: &SplitProblem) -> Coefficients {
        let n = problem.layers();
        let compute = problem
            .table
            .layers
            .iter()
            .map(|layer| {
                let mut row = [None; 3];
                for t in Tier::ALL {
                    if let Some(res) = &problem.tiers[t.index()] {
                        row[t.index()] = Some(problem.layer_compute(layer, res));
                    }
                }
                row
            })
            .collect();
        let memory = problem
            .table
            .layers
            .iter()
            .map(|l| problem.layer_memory_bytes(l))
            .collect();
        let work = problem.work();
        let passes = work.passes();
        let crossing = |link: Option<&Link>, radio: bool| -> Vec<Crossing> {
            let Some(link) = link else {
                return vec![Crossing::default(); n];
            };
            (0..n)
                .map(|p| {
                    let mut c = Crossing::default();
                    for &(pass, repeat) in &passes {
                        let mut up = work.input_bytes(p, pass);
                        let mut down = 0.0;
                        let mut crossings = 1.0;
                        match pass {
                            Pass::Train => {
                                // Labels ride with the activations to the head's tier.
                                up += work.label_bytes();
                                if work.gradient_crosses(p) {
                                    down += work.input_bytes(p, pass);
                                    crossings += 1.0;
                                }
                            }
                            _ => {
                                // The sampled token returns to the device.
                                down += problem.table.layers[n - 1].out_bytes_per_token;
                                crossings += 1.0;
                            }
                        }
                        let tx = 8.0 * up / link.uplink_bps;
                        let rx = 8.0 * down / link.downlink_bps;
                        c.latency_s += repeat * (tx + rx + crossings * link.rtt_s / 2.0);
                        c.bytes_up += repeat * up;
                        c.bytes_down += repeat * down;
                        if radio {
                            c.tx_s += repeat * tx;
                            c.rx_s += repeat * rx;
                        }
                    }
                    c
                })
                .collect()
        };
        Coefficients {
            compute,
            memory,
            tied_extra: problem.tied_extra_bytes(),
            radio: crossing(problem.wireless.as_ref(), true),
            backhaul: crossing(problem.backhaul.as_ref(), false),
        }
    }
}
