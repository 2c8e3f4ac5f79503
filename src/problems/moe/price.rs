//! The numbers every MoE solver works with, priced once from the cost tables (the evaluator
//! prices plans on its own, token by token: [`super::evaluate`]).

use crate::costs::latency::{Cost, LayerTimer};
use crate::costs::table::LayerCost;

use super::MoeProblem;

/// Per-token prices of an instance's parts on its nodes.
#[derive(Debug, Clone)]
pub struct Prices {
    /// The home's per-token decode time of the embedding, every dense part and the head, s.
    pub dense_s: f64,
    /// Its energy, J.
    pub dense_j: f64,
    /// `expert_s[n][j]`: one decode token through one expert of the `j`-th MoE block on node
    /// `n`, s (background load included).
    pub expert_s: Vec<Vec<f64>>,
    /// `expert_j[n][j]`: its energy, J.
    pub expert_j: Vec<Vec<f64>>,
    /// `rt_s[n]`: the round trip of one hidden state between the home and node `n` (two
    /// latencies plus both airtimes); 0 for the home.
    pub rt_s: Vec<f64>,
    /// `send_air_s[n]`: airtime of one hidden state from the home to `n`, s (0 for the home).
    pub send_air_s: Vec<f64>,
    /// `recv_air_s[n]`: airtime of one hidden state from `n` to the home, s.
    pub recv_air_s: Vec<f64>,
    /// `expert_bytes[j]`: weight bytes of one expert of the `j`-th MoE block.
    pub expert_bytes: Vec<f64>,
    /// `capacity[n]`: memory left for experts on node `n`, bytes (the home's after its dense
    /// part, embedding, head and KV cache; may be negative).
    pub capacity: Vec<f64>,
    /// Cache: `fetch_s[j]`: downloading one expert of block `j` from the edge (latency plus
    /// airtime), s.
    pub fetch_s: Vec<f64>,
    /// Cache: `fetch_j[j]`: the device's receive energy of that download, J.
    pub fetch_j: Vec<f64>,
    /// Cache: the device's radio energy of one offload visit (send one hidden state, receive
    /// one), J.
    pub offload_j: f64,
}

/// Mean cost of one decode token through `layer` over the request's decode steps.
pub fn decode_mean(timer: &LayerTimer<'_>, layer: &LayerCost, prompt: usize, steps: usize) -> Cost {
    let steps = steps.max(1);
    let total = timer.decode_steps(layer, prompt, steps);
    Cost {
        latency_s: total.latency_s / steps as f64,
        energy_j: total.energy_j / steps as f64,
    }
}

/// Weight bytes the home holds besides experts: embedding, head, every dense part, and the KV
/// cache of `P + G` tokens.
pub fn home_fixed_bytes(problem: &MoeProblem) -> f64 {
    let m = &problem.model;
    let tokens = (problem.prompt_tokens + problem.generate_tokens) as f64;
    m.embed.param_bytes
        + m.head.param_bytes
        + m.blocks
            .iter()
            .map(|b| b.dense.param_bytes + b.dense.kv_bytes_per_token * tokens)
            .sum::<f64>()
}

impl Prices {
    /// Prices `problem`.
    pub fn new(problem: &MoeProblem) -> Prices {
        let (p, g) = (problem.prompt_tokens, problem.generate_tokens);
        let m = &problem.model;
        let moe = problem.moe_blocks();
        let timer = |n: usize| LayerTimer {
            device: &problem.nodes[n].resource.device,
            profile: None,
        };
        let home = problem.home;
        let slow = problem.nodes[home].slowdown();
        let mut dense = Cost::default();
        dense += decode_mean(&timer(home), &m.embed, p, g);
        for b in &m.blocks {
            dense += decode_mean(&timer(home), &b.dense, p, g);
        }
        dense += decode_mean(&timer(home), &m.head, p, g);
        let hidden = m.blocks.first().map_or(0.0, |b| b.hidden_bytes);
        let n_nodes = problem.nodes.len();
        let mut prices = Prices {
            dense_s: dense.latency_s * slow,
            dense_j: dense.energy_j * slow,
            expert_s: vec![Vec::new(); n_nodes],
            expert_j: vec![Vec::new(); n_nodes],
            rt_s: vec![0.0; n_nodes],
            send_air_s: vec![0.0; n_nodes],
            recv_air_s: vec![0.0; n_nodes],
            expert_bytes: moe
                .iter()
                .map(|&b| m.blocks[b].expert.param_bytes)
                .collect(),
            capacity: problem
                .nodes
                .iter()
                .map(|n| n.resource.memory_bytes)
                .collect(),
            fetch_s: vec![0.0; moe.len()],
            fetch_j: vec![0.0; moe.len()],
            offload_j: 0.0,
        };
        prices.capacity[home] -= home_fixed_bytes(problem);
        for (n, node) in problem.nodes.iter().enumerate() {
            for &b in &moe {
                let c = timer(n).decode(&m.blocks[b].expert, p);
                prices.expert_s[n].push(c.latency_s * node.slowdown());
                prices.expert_j[n].push(c.energy_j * node.slowdown());
            }
            if let Some(link) = node.link {
                prices.send_air_s[n] = 8.0 * hidden / link.to_node_bps;
                prices.recv_air_s[n] = 8.0 * hidden / link.from_node_bps;
                prices.rt_s[n] = 2.0 * link.latency_s + prices.send_air_s[n] + prices.recv_air_s[n];
            }
        }
        let edge = problem.edge();
        if let Some(link) = problem.nodes[edge].link {
            for (j, bytes) in prices.expert_bytes.iter().enumerate() {
                let air = 8.0 * bytes / link.from_node_bps;
                prices.fetch_s[j] = link.latency_s + air;
                prices.fetch_j[j] = problem.rx_power_w * air;
            }
            prices.offload_j = problem.tx_power_w * prices.send_air_s[edge]
                + problem.rx_power_w * prices.recv_air_s[edge];
        }
        prices
    }
}
