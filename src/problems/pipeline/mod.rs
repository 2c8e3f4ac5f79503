//! In-network model splitting (docs/pipeline.md): one model pipelined across a network of
//! heterogeneous nodes joined by links of different speeds.
//!
//! **Instance.** Nodes `i` (a device of the catalog each, usable memory, optional background
//! load, availability), undirected links between some pairs of nodes (a rate each way, a one-way
//! latency), the source node `s` where the prompt arrives and the tokens return, the model and
//! workload (as in split: prefill + decode, or fine-tuning steps), the routing rule and the
//! placement rules.
//!
//! **Plan.** An ordered list of stages, each a contiguous, non-empty range of layers on a
//! distinct node, covering the model in order; and the route of every transfer: the input from
//! the source to the first stage, the hidden states from each stage to the next (and, in
//! fine-tuning, the gradients back), and the sampled token from the last stage back to the source.
//! A route is a simple path of the network; the empty route (one node) costs nothing.
//!
//! **Cost model** (the chain's, [`crate::chain::Work`], on more places than three tiers). Every
//! pass of the workload (prefill, each decode step, each training step) moves through the stages
//! in order. A transfer of `B` bytes over a route pays, on each hop `u -> v`, `8 B / rate(u -> v)`
//! plus the hop's latency (store and forward at relays). A layer on node `i` costs its forward
//! (and backward) cost on `i`'s device, multiplied by `1 / (1 - background_load_i)`.
//! - **latency**: one request alone in the network: the sum over passes of compute and transfers.
//! - **period** (throughput objective): a stream of requests pipelined through the stages; in
//!   steady state each resource serves every request once, so the time between two completed
//!   requests is the busiest resource's time per request: a node's compute over all passes, or a
//!   directed link's airtime (bytes / rate, all transfers routed over it; propagation latency
//!   does not occupy the link). Requests per second = 1 / period.
//! - **energy**: the source node's energy, as split prices the device's: its compute, its radio
//!   (transmit power for its hops' outgoing airtime, receive power for incoming) and idle power
//!   for the rest of the request's latency. Scope `all` adds every other node's compute energy.
//! - **memory** per node: its layers' weights, KV cache for `P + G` tokens of each of the
//!   `kv_requests` requests it holds (or fine-tuning state and activations), and the tied
//!   embedding again when a tied head runs away from the embedding.

pub mod edgeshard;
pub mod evaluate;
pub mod heuristics;
pub mod model;
pub mod network;
pub mod price;
pub mod render;
pub mod search;
pub mod solve;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::chain::{Pass, TierResource, Training, Work, Workload};
use crate::costs::table::CostTable;
pub use network::Network;

/// A node of the network.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique name.
    pub name: String,
    /// Its device, usable memory and profiled table.
    pub resource: TierResource,
    /// Fraction of the node's compute taken by other work, in `[0, 0.99]`: our layers run
    /// `1 / (1 - load)` times slower.
    pub background_load: f64,
    /// Whether the node may run layers (an unavailable node still relays traffic).
    pub available: bool,
}

impl Node {
    /// The factor on our layers' compute time and energy.
    pub fn slowdown(&self) -> f64 {
        1.0 / (1.0 - self.background_load)
    }
}

/// An undirected link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetLink {
    /// One end (node index).
    pub a: usize,
    /// The other end.
    pub b: usize,
    /// Rate from `a` to `b`, bit/s.
    pub a_to_b_bps: f64,
    /// Rate from `b` to `a`, bit/s.
    pub b_to_a_bps: f64,
    /// One-way latency, s.
    pub latency_s: f64,
}

/// How transfers are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// The path of least total latency (ties: fewer hops, then lower node indices).
    Shortest,
    /// Each transfer takes the path that moves its bytes fastest (airtime plus latency over all
    /// passes); chosen by the model.
    Fastest,
}

impl Routing {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Routing::Shortest => "shortest",
            Routing::Fastest => "fastest",
        }
    }
}

/// What is minimised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Objective {
    /// One request's end-to-end latency, s.
    Latency,
    /// The pipeline's period, s per request (the throughput objective: 1 / period requests/s).
    Throughput,
    /// Energy, J (scope: the source node, or all nodes).
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
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Throughput => "throughput",
            Objective::Energy => "energy",
            Objective::Weighted { .. } => "weighted",
        }
    }

    /// The objective value of a plan with this latency, period and energy.
    pub fn value(&self, latency_s: f64, period_s: f64, energy_j: f64) -> f64 {
        match *self {
            Objective::Latency => latency_s,
            Objective::Throughput => period_s,
            Objective::Energy => energy_j,
            Objective::Weighted {
                latency_weight,
                energy_weight,
            } => latency_weight * latency_s + energy_weight * energy_j,
        }
    }
}

/// Whose energy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyScope {
    /// The source node's (compute, radio, idle): split's device energy.
    Source,
    /// The source node's plus every other node's compute energy.
    All,
}

/// Placement rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// The embedding runs on the source node (raw tokens never leave it).
    pub embed_on_source: bool,
    /// At most this many stages.
    pub max_stages: Option<usize>,
    /// `(layer, node)` pairs that must hold.
    pub pinned: Vec<(usize, usize)>,
    /// `(layer, node)` pairs that must not hold.
    pub forbidden: Vec<(usize, usize)>,
}

/// A validated pipeline instance: plain data, no I/O.
#[derive(Debug, Clone)]
pub struct PipelineProblem {
    /// Instance name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// File the instance came from.
    pub source_file: Option<PathBuf>,
    /// The model's cost table.
    pub table: CostTable,
    /// The workload.
    pub workload: Workload,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The links.
    pub links: Vec<NetLink>,
    /// The source node (index).
    pub source: usize,
    /// The source node's radio power while transmitting, W.
    pub tx_power_w: f64,
    /// The source node's radio power while receiving, W.
    pub rx_power_w: f64,
    /// Routing rule.
    pub routing: Routing,
    /// Objective.
    pub objective: Objective,
    /// Whose energy the objective and the energy budget count.
    pub energy_scope: EnergyScope,
    /// Requests whose KV cache each node holds (inference; 1 for a single request).
    pub kv_requests: usize,
    /// Limit on one request's latency, s.
    pub deadline_s: Option<f64>,
    /// Limit on the energy (of `energy_scope`) of one request, J.
    pub energy_budget_j: Option<f64>,
    /// Least throughput, requests/s: every node's compute and every link's airtime per request
    /// at most `1 / min_requests_per_s`.
    pub min_requests_per_s: Option<f64>,
    /// Placement rules.
    pub rules: Rules,
}

impl PipelineProblem {
    /// The workload on the model's chain.
    pub fn work(&self) -> Work<'_> {
        Work {
            table: &self.table,
            workload: self.workload,
        }
    }

    /// Number of layers (rows of the cost table).
    pub fn layers(&self) -> usize {
        self.table.len()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Bytes layer `l` needs on the node that runs it (its KV cache for `kv_requests` requests).
    pub fn layer_memory_bytes(&self, l: usize) -> f64 {
        let layer = &self.table.layers[l];
        let work = self.work();
        match self.workload {
            Workload::Inference { .. } if self.kv_requests > 1 => {
                let one = work.layer_memory_bytes(layer);
                let kv = one - layer.param_bytes;
                layer.param_bytes + kv * self.kv_requests as f64
            }
            _ => work.layer_memory_bytes(layer),
        }
    }

    /// Whether the workload is inference (the sampled token returns to the source).
    pub fn is_inference(&self) -> bool {
        matches!(self.workload, Workload::Inference { .. })
    }

    /// Decode steps (0 for fine-tuning).
    pub fn generate_tokens(&self) -> usize {
        match self.workload {
            Workload::Inference {
                generate_tokens, ..
            } => generate_tokens,
            Workload::Finetune { .. } => 0,
        }
    }
}

/// One stage: layers `start..end` on `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Node index.
    pub node: usize,
    /// First layer.
    pub start: usize,
    /// One past the last layer.
    pub end: usize,
}

/// The routes of a plan's transfers, as node-index paths (first and last node included).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Routes {
    /// Source -> first stage (the input token ids).
    pub input: Vec<usize>,
    /// Stage `k` -> stage `k + 1` (hidden states; labels ride along in fine-tuning).
    pub forward: Vec<Vec<usize>>,
    /// Stage `k + 1` -> stage `k` (fine-tuning: the activation gradients; empty for inference).
    pub backward: Vec<Vec<usize>>,
    /// Last stage -> source (inference: the sampled token; empty for fine-tuning).
    pub output: Vec<usize>,
}

/// A plan: the stages in order and the route of every transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelinePlan {
    /// The stages, in execution order.
    pub stages: Vec<Stage>,
    /// The routes.
    pub routes: Routes,
}

impl PipelinePlan {
    /// The node of every layer (`None` for a layer no stage covers).
    pub fn node_of_layers(&self, layers: usize) -> Vec<Option<usize>> {
        let mut out = vec![None; layers];
        for s in &self.stages {
            for slot in out.iter_mut().take(s.end.min(layers)).skip(s.start) {
                *slot = Some(s.node);
            }
        }
        out
    }
}
