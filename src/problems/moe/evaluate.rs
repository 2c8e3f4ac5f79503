//! The independent evaluator of MoE plans: walks each token through the plan (the home sends its
//! hidden state to every node that serves one of the token's experts, each node runs its experts
//! one after another and returns the result; a cache device runs its resident and fetched
//! experts while the edge runs the offloaded ones), takes the exact expectation over the routing
//! statistics, and checks it with a Monte Carlo simulation of sampled tokens (mean and 95%
//! interval). Unit prices (one expert on one node, one hidden state over one link) come from the
//! cost tables through [`Prices`].

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::cache::{sample_tokens, simulate, Policy, SimStats};
use super::price::{home_fixed_bytes, Prices};
use super::{Choice, MoePlan, MoeProblem, Objective, Task};
use crate::error::Result;
use crate::solve::violation::{within, Violation};

/// The cost of one token in one MoE block.
#[derive(Debug, Clone, Copy, Default)]
struct TokenCost {
    /// The block's expert time, s.
    latency_s: f64,
    /// Energy of the block's experts (placement: every node's compute; cache: the device's
    /// compute and radio), J.
    energy_j: f64,
}

/// Memory of one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeMemory {
    /// Node name.
    pub node: String,
    /// Experts held (every replica; cache: resident experts).
    pub experts: usize,
    /// Bytes used: experts, and on the home the dense part, embedding, head and KV cache.
    pub used_bytes: f64,
    /// Usable memory, bytes.
    pub capacity_bytes: f64,
}

/// One MoE block's expected cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlockCost {
    /// The block (cost-table row; Hugging Face block number + 1).
    pub layer: usize,
    /// Expected expert time per token, s.
    pub expected_s: f64,
    /// Experts whose (primary) node is the home (cache: resident experts).
    pub local_experts: usize,
}

/// The Monte Carlo check of the expectation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonteCarlo {
    /// Sampled tokens.
    pub tokens: usize,
    /// Seed.
    pub seed: u64,
    /// Mean decode latency per token, s.
    pub mean_latency_s: f64,
    /// Half-width of its 95% interval (1.96 standard errors), s.
    pub latency_half_width_s: f64,
    /// Mean energy per token, J.
    pub mean_energy_j: f64,
    /// Half-width of its 95% interval, J.
    pub energy_half_width_j: f64,
    /// Whether the analytic expected latency and energy lie inside the intervals.
    pub agrees: bool,
}

/// The evaluation of an MoE plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    /// `placement` or `cache`.
    pub task: &'static str,
    /// The instance's objective value.
    pub objective: f64,
    /// Expected decode latency per token, s.
    pub latency_s: f64,
    /// Placement: the busiest resource's expected time per token; cache: the latency (one device
    /// serves the tokens in turn), s.
    pub period_s: f64,
    /// Decode tokens per second of a stream, `1 / period_s`.
    pub tokens_per_s: f64,
    /// The busiest resource (placement).
    pub bottleneck: String,
    /// Expected energy per token, J: placement every node's compute; cache the device's compute
    /// and radio.
    pub energy_j: f64,
    /// Placement: the prompt's prefill time with expected loads (a fluid approximation), s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_s: Option<f64>,
    /// Per MoE block.
    pub blocks: Vec<BlockCost>,
    /// Per node.
    pub memory: Vec<NodeMemory>,
    /// The simulation.
    pub monte_carlo: MonteCarlo,
    /// Cache: an LRU cache of the same slots (every miss fetched), simulated on sampled tokens or
    /// on the trace read from a file; a baseline of the instance, the same for every plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lru: Option<SimStats>,
    /// Cache: the same with LFU eviction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfu: Option<SimStats>,
    /// Violated constraints; empty for a feasible plan.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// Whether every constraint holds.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Evaluates a plan whose shape [`check_shape`] accepted.
pub fn evaluate(problem: &MoeProblem, plan: &MoePlan) -> Result<Evaluation> {
    check_shape(problem, plan).map_err(|m| crate::error::Error::option("plan", m))?;
    let prices = Prices::new(problem);
    let walker = Walker {
        problem,
        prices: &prices,
        plan,
    };
    let mut blocks = Vec::new();
    let (mut latency_s, mut energy_j) = (prices.dense_s, prices.dense_j);
    for (j, &b) in problem.moe_blocks().iter().enumerate() {
        let mut expected = 0.0;
        for p in &problem.routing.blocks[j].patterns {
            let c = walker.token(j, &p.experts);
            expected += p.prob * c.latency_s;
            energy_j += p.prob * c.energy_j;
        }
        latency_s += expected;
        blocks.push(BlockCost {
            layer: problem.model.blocks[b].layer,
            expected_s: expected,
            local_experts: walker.local_experts(j),
        });
    }
    let (period_s, bottleneck) = match problem.task {
        Task::Placement => walker.period(),
        Task::Cache => (latency_s, problem.nodes[problem.home].name.clone()),
    };
    let objective = match problem.objective {
        Objective::Latency => latency_s,
        Objective::Throughput => period_s,
        Objective::Energy => energy_j,
    };
    let monte_carlo = walker.monte_carlo(latency_s, energy_j);
    let memory = walker.memory();
    let mut violations = Vec::new();
    for m in &memory {
        if !within(m.used_bytes, m.capacity_bytes) {
            violations.push(Violation {
                constraint: format!("memory.{}", m.node),
                message: format!(
                    "{} holds {:.3} GB ({} experts) but has {:.3} GB",
                    m.node,
                    m.used_bytes / 1e9,
                    m.experts,
                    m.capacity_bytes / 1e9
                ),
            });
        }
    }
    violations.extend(walker.cache_violations());
    let (lru, lfu) = dynamic_baselines(problem, &prices).unzip();
    Ok(Evaluation {
        task: problem.task.name(),
        objective,
        latency_s,
        period_s,
        tokens_per_s: 1.0 / period_s.max(1e-300),
        bottleneck,
        energy_j,
        prefill_s: (problem.task == Task::Placement).then(|| walker.prefill_s()),
        blocks,
        memory,
        monte_carlo,
        lru,
        lfu,
        violations,
    })
}

/// Most tokens the LRU and LFU baselines simulate (their 95% intervals are reported): enough
/// for a half-width of a fraction of a percent on the shipped instances, few enough that a cache
/// evaluation stays within a second.
pub const BASELINE_TOKENS: usize = 5_000;

/// The LRU and LFU baselines of a cache instance (`None` for placement): on the trace in order
/// when it was read from a file, else on the instance's Monte Carlo tokens (at most
/// [`BASELINE_TOKENS`]) sampled from the statistics.
pub fn dynamic_baselines(problem: &MoeProblem, prices: &Prices) -> Option<(SimStats, SimStats)> {
    (problem.task == Task::Cache).then(|| {
        let tokens = if problem.routing.measured {
            problem.routing.trace.tokens.clone()
        } else {
            let n = problem.mc_tokens.min(BASELINE_TOKENS);
            sample_tokens(&problem.routing, n, problem.mc_seed ^ 0x5eed)
        };
        (
            simulate(problem, prices, Policy::Lru, &tokens),
            simulate(problem, prices, Policy::Lfu, &tokens),
        )
    })
}

/// Checks that a plan has one entry per MoE block and expert, valid nodes and shares that sum
/// to 1 (placement), or a choice per expert (cache). A message naming the entry otherwise.
pub fn check_shape(problem: &MoeProblem, plan: &MoePlan) -> std::result::Result<(), String> {
    let blocks = &problem.routing.blocks;
    let (list, name) = match problem.task {
        Task::Placement => (plan.experts.len(), "experts"),
        Task::Cache => (plan.choices.len(), "choices"),
    };
    if list != blocks.len() {
        return Err(format!(
            "{name}: expected one entry per MoE block ({}), got {list}",
            blocks.len()
        ));
    }
    for (j, block) in blocks.iter().enumerate() {
        let got = match problem.task {
            Task::Placement => plan.experts[j].len(),
            Task::Cache => plan.choices[j].len(),
        };
        if got != block.experts {
            return Err(format!(
                "{name}[{j}]: expected one entry per expert ({}), got {got}",
                block.experts
            ));
        }
        if problem.task == Task::Cache {
            continue;
        }
        for (e, replicas) in plan.experts[j].iter().enumerate() {
            let at = format!("experts[{j}][{e}]");
            if replicas.is_empty() {
                return Err(format!("{at}: an expert needs at least one node"));
            }
            let mut seen = vec![false; problem.nodes.len()];
            for r in replicas {
                if r.node >= problem.nodes.len() {
                    return Err(format!("{at}: no node {}", r.node));
                }
                if std::mem::replace(&mut seen[r.node], true) {
                    return Err(format!(
                        "{at}: node {} is listed twice",
                        problem.nodes[r.node].name
                    ));
                }
                if !(r.share.is_finite() && r.share > 0.0 && r.share <= 1.0) {
                    return Err(format!("{at}: a share is in (0, 1], got {}", r.share));
                }
            }
            let total: f64 = replicas.iter().map(|r| r.share).sum();
            if (total - 1.0).abs() > 1e-6 {
                return Err(format!("{at}: the shares sum to {total}, not 1"));
            }
        }
    }
    Ok(())
}

/// Walks tokens through one plan.
struct Walker<'a> {
    problem: &'a MoeProblem,
    prices: &'a Prices,
    plan: &'a MoePlan,
}

impl Walker<'_> {
    /// One token through MoE block `j`.
    fn token(&self, j: usize, experts: &[usize]) -> TokenCost {
        match self.problem.task {
            Task::Placement => self.placement_token(j, experts),
            Task::Cache => self.cache_token(j, experts),
        }
    }

    /// Placement: the home sends the hidden state to each serving node at time 0; a node starts
    /// when it arrives, runs its experts in turn and sends the result back; the block ends when
    /// the last result is home.
    fn placement_token(&self, j: usize, experts: &[usize]) -> TokenCost {
        let p = self.prices;
        let n = self.problem.nodes.len();
        let mut busy_until = vec![None::<f64>; n];
        let mut energy = 0.0;
        for &e in experts {
            let node = self.plan.experts[j][e][0].node;
            let link = self.problem.nodes[node].link;
            let arrival = link.map_or(0.0, |l| l.latency_s + p.send_air_s[node]);
            let start = busy_until[node].unwrap_or(arrival);
            busy_until[node] = Some(start + p.expert_s[node][j]);
            energy += p.expert_j[node][j];
        }
        let mut end: f64 = 0.0;
        for (node, done) in busy_until.iter().enumerate() {
            if let Some(t) = done {
                let back = self.problem.nodes[node]
                    .link
                    .map_or(0.0, |l| l.latency_s + p.recv_air_s[node]);
                end = end.max(t + back);
            }
        }
        TokenCost {
            latency_s: end,
            energy_j: energy,
        }
    }

    /// Cache: the device runs resident experts and, after each download, fetched ones; the
    /// edge, once the hidden state arrives, runs the offloaded ones and returns the result.
    fn cache_token(&self, j: usize, experts: &[usize]) -> TokenCost {
        let p = self.prices;
        let (home, edge) = (self.problem.home, self.problem.edge());
        let (mut device_clock, mut edge_clock, mut energy) = (0.0, None::<f64>, 0.0);
        for &e in experts {
            match self.plan.choices[j][e] {
                Choice::Resident => {
                    device_clock += p.expert_s[home][j];
                    energy += p.expert_j[home][j];
                }
                Choice::Fetch => {
                    device_clock += p.fetch_s[j] + p.expert_s[home][j];
                    energy += p.fetch_j[j] + p.expert_j[home][j];
                }
                Choice::Offload => {
                    let link = self.problem.nodes[edge].link.expect("the edge has a link");
                    let start = edge_clock.unwrap_or(link.latency_s + p.send_air_s[edge]);
                    edge_clock = Some(start + p.expert_s[edge][j]);
                }
            }
        }
        let remote = match edge_clock {
            Some(t) => {
                energy += self.problem.tx_power_w * p.send_air_s[edge]
                    + self.problem.rx_power_w * p.recv_air_s[edge];
                let link = self.problem.nodes[edge].link.expect("the edge has a link");
                t + link.latency_s + p.recv_air_s[edge]
            }
            None => 0.0,
        };
        TokenCost {
            latency_s: f64::max(device_clock, remote),
            energy_j: energy,
        }
    }

    /// Placement: the busiest resource's expected time per token and its name. Every activation
    /// of an expert is split over its replicas by their shares.
    fn period(&self) -> (f64, String) {
        let (problem, p) = (self.problem, self.prices);
        let n = problem.nodes.len();
        let mut node = vec![0.0; n];
        let (mut send, mut recv) = (vec![0.0; n], vec![0.0; n]);
        node[problem.home] = p.dense_s;
        for (j, block) in problem.routing.blocks.iter().enumerate() {
            for pattern in &block.patterns {
                for &e in &pattern.experts {
                    for r in &self.plan.experts[j][e] {
                        let w = pattern.prob * r.share;
                        node[r.node] += w * p.expert_s[r.node][j];
                        send[r.node] += w * p.send_air_s[r.node];
                        recv[r.node] += w * p.recv_air_s[r.node];
                    }
                }
            }
        }
        let mut best = (node[problem.home], problem.nodes[problem.home].name.clone());
        for i in 0..n {
            let name = &problem.nodes[i].name;
            let home = &problem.nodes[problem.home].name;
            for (t, what) in [
                (node[i], name.clone()),
                (send[i], format!("link {home} -> {name}")),
                (recv[i], format!("link {name} -> {home}")),
            ] {
                if t > best.0 {
                    best = (t, what);
                }
            }
        }
        best
    }

    /// Placement: prefill of the prompt as one batch. The home runs the dense parts for all `P`
    /// tokens; in each MoE block every node receives its expected share of the tokens' hidden
    /// states, runs each of its experts on its expected tokens and returns the results; the
    /// block waits for the slowest node.
    fn prefill_s(&self) -> f64 {
        use crate::costs::latency::LayerTimer;
        let problem = self.problem;
        let prompt = problem.prompt_tokens;
        let m = &problem.model;
        let timer = |n: usize| LayerTimer {
            device: &problem.nodes[n].resource.device,
            profile: None,
        };
        let home = timer(problem.home);
        let mut total =
            home.prefill(&m.embed, prompt).latency_s + home.prefill(&m.head, prompt).latency_s;
        for b in &m.blocks {
            total += home.prefill(&b.dense, prompt).latency_s;
        }
        total *= problem.nodes[problem.home].slowdown();
        for (j, &b) in problem.moe_blocks().iter().enumerate() {
            let block = &m.blocks[b];
            let freq = problem.routing.blocks[j].frequency();
            let n = problem.nodes.len();
            let mut time = vec![0.0; n];
            let mut tokens = vec![0.0; n];
            for (e, replicas) in self.plan.experts[j].iter().enumerate() {
                for r in replicas {
                    let t = prompt as f64 * freq[e] * r.share;
                    if t <= 0.0 {
                        continue;
                    }
                    let c = timer(r.node).work(
                        crate::costs::Phase::Prefill,
                        t * block.expert.fwd_flop_per_token,
                        block.expert.param_bytes,
                    );
                    time[r.node] += c.latency_s * problem.nodes[r.node].slowdown();
                    tokens[r.node] += t;
                }
            }
            let mut slowest: f64 = 0.0;
            for i in 0..n {
                if tokens[i] <= 0.0 {
                    continue;
                }
                let transfer = problem.nodes[i].link.map_or(0.0, |l| {
                    let bytes = 8.0 * tokens[i] * block.hidden_bytes;
                    2.0 * l.latency_s + bytes / l.to_node_bps + bytes / l.from_node_bps
                });
                slowest = slowest.max(time[i] + transfer);
            }
            total += slowest;
        }
        total
    }

    /// Experts on the home (placement: primary replicas there; cache: resident).
    fn local_experts(&self, j: usize) -> usize {
        match self.problem.task {
            Task::Placement => self.plan.experts[j]
                .iter()
                .filter(|r| r[0].node == self.problem.home)
                .count(),
            Task::Cache => self.plan.choices[j]
                .iter()
                .filter(|c| **c == Choice::Resident)
                .count(),
        }
    }

    /// Memory use of every node.
    fn memory(&self) -> Vec<NodeMemory> {
        let problem = self.problem;
        let mut out: Vec<NodeMemory> = problem
            .nodes
            .iter()
            .map(|n| NodeMemory {
                node: n.name.clone(),
                experts: 0,
                used_bytes: 0.0,
                capacity_bytes: n.resource.memory_bytes,
            })
            .collect();
        out[problem.home].used_bytes = home_fixed_bytes(problem);
        for (j, &b) in problem.moe_blocks().iter().enumerate() {
            let bytes = problem.model.blocks[b].expert.param_bytes;
            let mut hold = |node: usize| {
                out[node].experts += 1;
                out[node].used_bytes += bytes;
            };
            match problem.task {
                Task::Placement => self.plan.experts[j]
                    .iter()
                    .flatten()
                    .for_each(|r| hold(r.node)),
                Task::Cache => self.plan.choices[j]
                    .iter()
                    .filter(|c| **c == Choice::Resident)
                    .for_each(|_| hold(problem.home)),
            }
        }
        if problem.task == Task::Cache {
            // The edge holds the whole model to serve fetches and offloads; not the plan's
            // concern.
            out = vec![out.swap_remove(problem.home)];
        }
        out
    }

    /// Cache: slots and allowed miss policies.
    fn cache_violations(&self) -> Vec<Violation> {
        let problem = self.problem;
        if problem.task != Task::Cache {
            return Vec::new();
        }
        let mut out = Vec::new();
        let all = self.plan.choices.iter().flatten();
        let resident = all.clone().filter(|c| **c == Choice::Resident).count();
        if resident > problem.expert_slots {
            out.push(Violation {
                constraint: "slots".into(),
                message: format!(
                    "{resident} experts resident, the device has {} slots",
                    problem.expert_slots
                ),
            });
        }
        for (choice, allowed) in [
            (Choice::Fetch, problem.allow_fetch),
            (Choice::Offload, problem.allow_offload),
        ] {
            let used = all.clone().filter(|c| **c == choice).count();
            if used > 0 && !allowed {
                out.push(Violation {
                    constraint: format!("policy.{}", choice.name()),
                    message: format!(
                        "{used} experts {} on a miss, which the instance does not allow",
                        match choice {
                            Choice::Fetch => "are fetched",
                            _ => "are offloaded",
                        }
                    ),
                });
            }
        }
        out
    }

    /// Samples tokens from the statistics and walks each through the plan.
    fn monte_carlo(&self, latency_s: f64, energy_j: f64) -> MonteCarlo {
        let problem = self.problem;
        let mut rng = ChaCha8Rng::seed_from_u64(problem.mc_seed);
        let n = problem.mc_tokens;
        let (mut sum_l, mut sq_l, mut sum_e, mut sq_e) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let token = problem.routing.sample(&mut rng);
            let (mut l, mut e) = (self.prices.dense_s, self.prices.dense_j);
            for (j, &s) in token.iter().enumerate() {
                let c = self.token(j, &problem.routing.blocks[j].patterns[s].experts);
                l += c.latency_s;
                e += c.energy_j;
            }
            sum_l += l;
            sq_l += l * l;
            sum_e += e;
            sq_e += e * e;
        }
        let nf = n as f64;
        let half = |sum: f64, sq: f64| {
            let mean = sum / nf;
            let var = ((sq - nf * mean * mean) / (nf - 1.0)).max(0.0);
            (mean, 1.96 * (var / nf).sqrt())
        };
        let (mean_l, hw_l) = half(sum_l, sq_l);
        let (mean_e, hw_e) = half(sum_e, sq_e);
        // Rounding slack: a distribution with one pattern has a zero-width interval.
        let inside = |a: f64, m: f64, hw: f64| (a - m).abs() <= hw + 1e-9 * a.abs().max(1e-12);
        MonteCarlo {
            tokens: n,
            seed: problem.mc_seed,
            mean_latency_s: mean_l,
            latency_half_width_s: hw_l,
            mean_energy_j: mean_e,
            energy_half_width_j: hw_e,
            agrees: inside(latency_s, mean_l, hw_l) && inside(energy_j, mean_e, hw_e),
        }
    }
}
