//! Expected costs of a plan from the [`Prices`] and the routing statistics: the objective the
//! solvers compare plans by (exact over the statistics; the evaluator re-derives it from the
//! cost tables, [`super::evaluate`]).

use super::price::Prices;
use super::routing::Routing;
use super::{Choice, MoePlan, MoeProblem};

/// The expert time of one MoE block for a token routed to `experts`, when expert `e` is served
/// by `node_of(e)`: nodes in parallel, each a round trip plus its experts in sequence.
pub fn placement_block_s(
    prices: &Prices,
    j: usize,
    experts: &[usize],
    node_of: impl Fn(usize) -> usize,
) -> f64 {
    // k <= a few dozen: count per node in a small list.
    let mut used: Vec<(usize, usize)> = Vec::with_capacity(experts.len());
    for &e in experts {
        let n = node_of(e);
        match used.iter_mut().find(|(m, _)| *m == n) {
            Some((_, c)) => *c += 1,
            None => used.push((n, 1)),
        }
    }
    used.iter()
        .map(|&(n, c)| prices.rt_s[n] + c as f64 * prices.expert_s[n][j])
        .fold(0.0, f64::max)
}

/// Expected decode latency per token of a placement (primary replicas), s.
pub fn placement_latency(prices: &Prices, routing: &Routing, primary: &[Vec<usize>]) -> f64 {
    let mut total = prices.dense_s;
    for (j, block) in routing.blocks.iter().enumerate() {
        for p in &block.patterns {
            total += p.prob * placement_block_s(prices, j, &p.experts, |e| primary[j][e]);
        }
    }
    total
}

/// Expected busy time per token of every node and link direction under a placement with shares:
/// `(node_s, send_s, recv_s)` indexed by node (links: home -> node and node -> home).
pub fn placement_loads(
    problem: &MoeProblem,
    prices: &Prices,
    plan: &MoePlan,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = problem.nodes.len();
    let (mut node_s, mut send_s, mut recv_s) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    node_s[problem.home] = prices.dense_s;
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        let freq = block.frequency();
        for (e, replicas) in plan.experts[j].iter().enumerate() {
            for r in replicas {
                let load = freq[e] * r.share;
                node_s[r.node] += load * prices.expert_s[r.node][j];
                send_s[r.node] += load * prices.send_air_s[r.node];
                recv_s[r.node] += load * prices.recv_air_s[r.node];
            }
        }
    }
    (node_s, send_s, recv_s)
}

/// The period (s per token) of a placement: its busiest resource.
pub fn placement_period(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> f64 {
    let (a, b, c) = placement_loads(problem, prices, plan);
    a.iter().chain(&b).chain(&c).copied().fold(0.0, f64::max)
}

/// `(local_s, offload_s, energy_j)` of one MoE block of a cache plan for a token routed to
/// `experts`: the device's sequence of resident and fetched experts, the edge's round trip and
/// offloaded experts, and the device energy of the block's experts and radio.
pub fn cache_block(
    problem: &MoeProblem,
    prices: &Prices,
    j: usize,
    experts: &[usize],
    choice_of: impl Fn(usize) -> Choice,
) -> (f64, f64, f64) {
    let (home, edge) = (problem.home, problem.edge());
    let (mut local, mut offloaded, mut energy) = (0.0, 0usize, 0.0);
    for &e in experts {
        match choice_of(e) {
            Choice::Resident => {
                local += prices.expert_s[home][j];
                energy += prices.expert_j[home][j];
            }
            Choice::Fetch => {
                local += prices.fetch_s[j] + prices.expert_s[home][j];
                energy += prices.fetch_j[j] + prices.expert_j[home][j];
            }
            Choice::Offload => offloaded += 1,
        }
    }
    let remote = if offloaded > 0 {
        energy += prices.offload_j;
        prices.rt_s[edge] + offloaded as f64 * prices.expert_s[edge][j]
    } else {
        0.0
    };
    (local, remote, energy)
}

/// Expected `(latency_s, energy_j)` per decode token of a cache plan.
pub fn cache_expectation(
    problem: &MoeProblem,
    prices: &Prices,
    choices: &[Vec<Choice>],
) -> (f64, f64) {
    let (mut latency, mut energy) = (prices.dense_s, prices.dense_j);
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        for p in &block.patterns {
            let (local, remote, e) = cache_block(problem, prices, j, &p.experts, |x| choices[j][x]);
            latency += p.prob * local.max(remote);
            energy += p.prob * e;
        }
    }
    (latency, energy)
}

/// Bytes of experts each node holds under a placement (every replica counts).
pub fn placement_memory(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> Vec<f64> {
    let mut used = vec![0.0; problem.nodes.len()];
    for (j, block) in plan.experts.iter().enumerate() {
        for replicas in block {
            for r in replicas {
                used[r.node] += prices.expert_bytes[j];
            }
        }
    }
    used
}

/// Whether every node holds its experts (placement) or the device its resident experts within
/// the slots and memory (cache).
pub fn fits(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> bool {
    const SLACK: f64 = 1e-9;
    match problem.task {
        super::Task::Placement => placement_memory(problem, prices, plan)
            .iter()
            .zip(&prices.capacity)
            .all(|(u, c)| *u <= c + SLACK * c.abs().max(1.0)),
        super::Task::Cache => {
            let mut slots = 0;
            let mut bytes = 0.0;
            for (j, block) in plan.choices.iter().enumerate() {
                for c in block {
                    if *c == Choice::Resident {
                        slots += 1;
                        bytes += prices.expert_bytes[j];
                    }
                }
            }
            let cap = prices.capacity[problem.home];
            slots <= problem.expert_slots && bytes <= cap + SLACK * cap.abs().max(1.0)
        }
    }
}

/// The objective value of a plan (the instance's objective; no feasibility check).
pub fn objective(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> f64 {
    use super::Objective;
    match (problem.task, problem.objective) {
        (super::Task::Placement, Objective::Throughput) => placement_period(problem, prices, plan),
        (super::Task::Placement, _) => {
            let primary: Vec<Vec<usize>> = plan
                .experts
                .iter()
                .map(|b| b.iter().map(|r| r[0].node).collect())
                .collect();
            placement_latency(prices, &problem.routing, &primary)
        }
        (super::Task::Cache, Objective::Energy) => {
            cache_expectation(problem, prices, &plan.choices).1
        }
        (super::Task::Cache, _) => cache_expectation(problem, prices, &plan.choices).0,
    }
}
