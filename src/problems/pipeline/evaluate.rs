//! The independent evaluator: moves every pass of the workload through the plan's stages and
//! along the plan's routes hop by hop, from the raw cost table, device rows and links. It does
//! not use [`Coefficients`](super::price::Coefficients) (the aggregated costs the solvers use),
//! so agreement between the two is a real check. It lists every violated constraint.

use serde::Serialize;

use super::network::Network;
use super::{EnergyScope, Pass, PipelinePlan, PipelineProblem, Routing, Stage, Workload};
use crate::error::{Error, Result};
pub use crate::solve::violation::{within, Violation, TOLERANCE};

/// One stage as evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageUse {
    /// Node name.
    pub node: String,
    /// Layers `start..end`.
    pub start: usize,
    /// One past the last layer.
    pub end: usize,
    /// Compute time of the stage per request, s.
    pub compute_s: f64,
}

/// A node's load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeUse {
    /// Node name.
    pub node: String,
    /// Layers it runs.
    pub layers: usize,
    /// Compute time per request, s.
    pub compute_s: f64,
    /// Compute energy per request, J.
    pub compute_j: f64,
    /// Memory used, bytes.
    pub memory_bytes: f64,
    /// Memory available, bytes.
    pub memory_limit_bytes: f64,
}

/// A directed link's traffic per request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArcUse {
    /// Sending node.
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Bytes per request.
    pub bytes: f64,
    /// Airtime per request, s.
    pub airtime_s: f64,
    /// One-way crossings per request.
    pub crossings: f64,
}

/// Everything the evaluator recomputes for a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// One request's end-to-end latency, s.
    pub latency_s: f64,
    /// The pipeline's period: the busiest node's compute or link's airtime per request, s.
    pub period_s: f64,
    /// Throughput of a pipelined stream, requests/s (`1 / period_s`).
    pub requests_per_s: f64,
    /// Generated tokens per second of a pipelined stream (inference).
    pub tokens_per_s: Option<f64>,
    /// Energy in the instance's scope, J.
    pub energy_j: f64,
    /// The source node's energy, J.
    pub source_energy_j: f64,
    /// Its compute part, J.
    pub source_compute_j: f64,
    /// Its radio part, J.
    pub source_radio_j: f64,
    /// Its idle part, J.
    pub source_idle_j: f64,
    /// The instance's objective.
    pub objective: f64,
    /// Per stage.
    pub stages: Vec<StageUse>,
    /// Per node (every node of the instance, in order).
    pub nodes: Vec<NodeUse>,
    /// Per directed link carrying traffic.
    pub arcs: Vec<ArcUse>,
    /// Violated constraints; empty for a feasible plan.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// Whether every constraint holds.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The simulation's running totals.
struct Sim<'a> {
    problem: &'a PipelineProblem,
    network: Network,
    /// Per node: compute latency and energy.
    compute: Vec<(f64, f64)>,
    /// Per stage: compute latency.
    stage_s: Vec<f64>,
    /// Per arc: bytes, airtime, crossings.
    arcs: Vec<(f64, f64, f64)>,
    /// Transfer time (airtime + latency), s.
    transfer_s: f64,
    /// The source's transmit and receive airtime, s.
    tx_s: f64,
    rx_s: f64,
}

impl Sim<'_> {
    /// Moves `bytes` along `route`, `repeat` times.
    fn send(&mut self, route: &[usize], bytes: f64, repeat: f64) {
        let s = self.problem.source;
        for w in route.windows(2) {
            let a = self.network.arc(w[0], w[1]).expect("routes were checked");
            let arc = self.network.arcs[a];
            let airtime = 8.0 * bytes / arc.rate_bps;
            self.transfer_s += repeat * (airtime + arc.latency_s);
            let u = &mut self.arcs[a];
            u.0 += repeat * bytes;
            u.1 += repeat * airtime;
            u.2 += repeat;
            if arc.from == s {
                self.tx_s += repeat * airtime;
            }
            if arc.to == s {
                self.rx_s += repeat * airtime;
            }
        }
    }

    /// Runs layer `l` of stage `k` on `node` in `pass` (the forward part, or the backward part),
    /// `repeat` times.
    fn compute(
        &mut self,
        (k, node): (usize, usize),
        l: usize,
        pass: Pass,
        backward: bool,
        repeat: f64,
    ) {
        let problem = self.problem;
        let n = &problem.nodes[node];
        let layer = &problem.table.layers[l];
        let timer = n.resource.timer();
        let c = if backward {
            problem.work().backward_cost(layer, timer)
        } else {
            problem.work().forward_cost(layer, pass, timer)
        };
        let slow = n.slowdown();
        self.compute[node].0 += repeat * c.latency_s * slow;
        self.compute[node].1 += repeat * c.energy_j * slow;
        self.stage_s[k] += repeat * c.latency_s * slow;
    }

    /// One pass, `repeat` times.
    fn run_pass(&mut self, plan: &PipelinePlan, pass: Pass, repeat: f64) {
        let work = self.problem.work();
        let labels = if pass == Pass::Train {
            work.label_bytes()
        } else {
            0.0
        };
        self.send(
            &plan.routes.input,
            work.input_bytes(0, pass) + labels,
            repeat,
        );
        for (k, st) in plan.stages.iter().enumerate() {
            for l in st.start..st.end {
                self.compute((k, st.node), l, pass, false, repeat);
            }
            if let Some(next) = plan.stages.get(k + 1) {
                let bytes = work.input_bytes(next.start, pass) + labels;
                self.send(&plan.routes.forward[k], bytes, repeat);
            }
        }
        match pass {
            Pass::Prefill | Pass::Decode(_) => {
                let n = self.problem.layers();
                let token = self.problem.table.layers[n - 1].out_bytes_per_token;
                self.send(&plan.routes.output, token, repeat);
            }
            Pass::Train => {
                for (k, st) in plan.stages.iter().enumerate().rev() {
                    for l in (st.start..st.end).rev() {
                        self.compute((k, st.node), l, pass, true, repeat);
                    }
                    if k > 0 && work.gradient_crosses(st.start) {
                        let bytes = work.input_bytes(st.start, pass);
                        self.send(&plan.routes.backward[k - 1], bytes, repeat);
                    }
                }
            }
        }
    }
}

/// Checks that `stages` cover the layers in order, each non-empty, on nodes that exist.
pub fn check_stages(problem: &PipelineProblem, stages: &[Stage]) -> Result<()> {
    let (n, nodes) = (problem.layers(), problem.node_count());
    let bad = |field: &str, message: String| Err(Error::option(field, message));
    if stages.is_empty() {
        return bad("stages", "the plan has no stage".into());
    }
    let mut next = 0;
    for (k, st) in stages.iter().enumerate() {
        if st.node >= nodes {
            return bad(
                &format!("stages[{k}].node"),
                format!("node {} does not exist (the instance has {nodes})", st.node),
            );
        }
        if st.start != next || st.end <= st.start || st.end > n {
            return bad(
                &format!("stages[{k}]"),
                format!(
                    "layers {}..{}: stages must cover layers 0..{n} in order, each non-empty \
                     (this one should start at {next})",
                    st.start, st.end
                ),
            );
        }
        next = st.end;
    }
    if next != n {
        return bad(
            "stages",
            format!("the stages end at layer {next}, the model has {n} layers"),
        );
    }
    Ok(())
}

/// Checks the plan's shape against the instance: stages covering the layers in order, node
/// indices in range, one route per transfer, each a path of links between the right nodes.
/// A plan of the wrong shape is an error (exit code 2), not a violation.
pub fn check_shape(problem: &PipelineProblem, plan: &PipelinePlan) -> Result<()> {
    check_stages(problem, &plan.stages)?;
    let nodes = problem.node_count();
    let bad = |field: &str, message: String| Err(Error::option(field, message));
    let network = Network::new(nodes, &problem.links);
    let s = problem.source;
    let name = |i: usize| problem.nodes[i].name.as_str();
    let route = |field: String, r: &[usize], from: usize, to: usize| -> Result<()> {
        if r.first() != Some(&from) || r.last() != Some(&to) {
            return Err(Error::option(
                &field,
                format!("the route must go from {} to {}", name(from), name(to)),
            ));
        }
        if let Some(&v) = r.iter().find(|&&v| v >= nodes) {
            return Err(Error::option(&field, format!("node {v} does not exist")));
        }
        for (h, w) in r.windows(2).enumerate() {
            if network.arc(w[0], w[1]).is_none() {
                return Err(Error::option(
                    &field,
                    format!("hop {h}: no link between {} and {}", name(w[0]), name(w[1])),
                ));
            }
        }
        let mut seen = vec![false; nodes];
        for &v in r {
            if std::mem::replace(&mut seen[v], true) {
                return Err(Error::option(
                    &field,
                    format!("the route visits {} twice", name(v)),
                ));
            }
        }
        Ok(())
    };
    let stages = &plan.stages;
    let k = stages.len();
    let routes = &plan.routes;
    route("routes.input".into(), &routes.input, s, stages[0].node)?;
    if routes.forward.len() != k - 1 {
        return bad(
            "routes.forward",
            format!(
                "expected {} routes (one per stage after the first), got {}",
                k - 1,
                routes.forward.len()
            ),
        );
    }
    for (j, r) in routes.forward.iter().enumerate() {
        route(
            format!("routes.forward[{j}]"),
            r,
            stages[j].node,
            stages[j + 1].node,
        )?;
    }
    let training = !problem.is_inference();
    let expected_back = if training { k - 1 } else { 0 };
    if routes.backward.len() != expected_back {
        return bad(
            "routes.backward",
            format!(
                "expected {expected_back} routes, got {}",
                routes.backward.len()
            ),
        );
    }
    for (j, r) in routes.backward.iter().enumerate() {
        route(
            format!("routes.backward[{j}]"),
            r,
            stages[j + 1].node,
            stages[j].node,
        )?;
    }
    if training {
        if !routes.output.is_empty() {
            return bad(
                "routes.output",
                "a fine-tuning plan returns no token: expected []".into(),
            );
        }
    } else {
        route(
            "routes.output".into(),
            &routes.output,
            stages[k - 1].node,
            s,
        )?;
    }
    Ok(())
}

/// Evaluates `plan` on `problem`. Errors only when the plan's shape does not match the instance
/// ([`check_shape`]); constraint violations are reported in the result.
pub fn evaluate(problem: &PipelineProblem, plan: &PipelinePlan) -> Result<Evaluation> {
    check_shape(problem, plan)?;
    let (n, nodes) = (problem.layers(), problem.node_count());
    let network = Network::new(nodes, &problem.links);
    let arcs_len = network.arcs.len();
    let mut sim = Sim {
        problem,
        network,
        compute: vec![(0.0, 0.0); nodes],
        stage_s: vec![0.0; plan.stages.len()],
        arcs: vec![(0.0, 0.0, 0.0); arcs_len],
        transfer_s: 0.0,
        tx_s: 0.0,
        rx_s: 0.0,
    };
    for (pass, repeat) in problem.work().passes() {
        sim.run_pass(plan, pass, repeat);
    }
    let s = problem.source;
    let latency_s = sim.compute.iter().map(|c| c.0).sum::<f64>() + sim.transfer_s;
    let period_s = sim
        .compute
        .iter()
        .map(|c| c.0)
        .chain(sim.arcs.iter().map(|a| a.1))
        .fold(0.0, f64::max);
    let idle_w = problem.nodes[s].resource.device.power_idle_w;
    let source_compute_j = sim.compute[s].1;
    let source_radio_j = problem.tx_power_w * sim.tx_s + problem.rx_power_w * sim.rx_s;
    let source_idle_j = idle_w * (latency_s - sim.compute[s].0 - sim.tx_s - sim.rx_s);
    let source_energy_j = source_compute_j + source_radio_j + source_idle_j;
    let others_j: f64 = (0..nodes)
        .filter(|&i| i != s)
        .map(|i| sim.compute[i].1)
        .sum();
    let energy_j = match problem.energy_scope {
        EnergyScope::Source => source_energy_j,
        EnergyScope::All => source_energy_j + others_j,
    };
    let requests_per_s = if period_s > 0.0 { 1.0 / period_s } else { 0.0 };

    let owner = plan.node_of_layers(n);
    let node_uses: Vec<NodeUse> = (0..nodes)
        .map(|i| {
            let layers = owner.iter().filter(|&&o| o == Some(i)).count();
            let mut memory_bytes: f64 = (0..n)
                .filter(|&l| owner[l] == Some(i))
                .map(|l| problem.layer_memory_bytes(l))
                .sum();
            if owner[n - 1] == Some(i) && owner[0] != Some(i) {
                memory_bytes += problem.work().tied_extra_bytes();
            }
            NodeUse {
                node: problem.nodes[i].name.clone(),
                layers,
                compute_s: sim.compute[i].0,
                compute_j: sim.compute[i].1,
                memory_bytes,
                memory_limit_bytes: problem.nodes[i].resource.memory_bytes,
            }
        })
        .collect();
    let stages = plan
        .stages
        .iter()
        .enumerate()
        .map(|(k, st)| StageUse {
            node: problem.nodes[st.node].name.clone(),
            start: st.start,
            end: st.end,
            compute_s: sim.stage_s[k],
        })
        .collect();
    let arcs = sim
        .arcs
        .iter()
        .enumerate()
        .filter(|(_, u)| u.2 > 0.0)
        .map(|(a, u)| {
            let arc = sim.network.arcs[a];
            ArcUse {
                from: problem.nodes[arc.from].name.clone(),
                to: problem.nodes[arc.to].name.clone(),
                bytes: u.0,
                airtime_s: u.1,
                crossings: u.2,
            }
        })
        .collect();
    let mut ev = Evaluation {
        latency_s,
        period_s,
        requests_per_s,
        tokens_per_s: problem
            .is_inference()
            .then(|| problem.generate_tokens() as f64 * requests_per_s),
        energy_j,
        source_energy_j,
        source_compute_j,
        source_radio_j,
        source_idle_j,
        objective: problem.objective.value(latency_s, period_s, energy_j),
        stages,
        nodes: node_uses,
        arcs,
        violations: Vec::new(),
    };
    ev.violations = violations(problem, plan, &ev, &sim.network);
    Ok(ev)
}

/// Every constraint the evaluated plan breaks, in the instance's terms.
fn violations(
    problem: &PipelineProblem,
    plan: &PipelinePlan,
    ev: &Evaluation,
    network: &Network,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut violate = |constraint: &str, message: String| {
        out.push(Violation {
            constraint: constraint.into(),
            message,
        })
    };
    let name = |i: usize| problem.nodes[i].name.as_str();
    let n = problem.layers();
    let mut stages_on = vec![0usize; problem.node_count()];
    for st in &plan.stages {
        stages_on[st.node] += 1;
        if !problem.nodes[st.node].available {
            violate(
                "node.unavailable",
                format!(
                    "layers {}..{} run on {}, which is not available for compute",
                    st.start,
                    st.end,
                    name(st.node)
                ),
            );
        }
    }
    for (i, &count) in stages_on.iter().enumerate() {
        if count > 1 {
            violate(
                "stage.distinct",
                format!(
                    "{} runs {count} stages; each stage needs its own node",
                    name(i)
                ),
            );
        }
    }
    for u in &ev.nodes {
        if !within(u.memory_bytes, u.memory_limit_bytes) {
            violate(
                "memory",
                format!(
                    "{} needs {:.4e} bytes for its layers but has {:.4e}",
                    u.node, u.memory_bytes, u.memory_limit_bytes
                ),
            );
        }
    }
    let rules = &problem.rules;
    if let Some(max) = rules.max_stages {
        if plan.stages.len() > max {
            violate(
                "stages",
                format!("{} stages, at most {max} allowed", plan.stages.len()),
            );
        }
    }
    let owner = plan.node_of_layers(n);
    if rules.embed_on_source && owner[0] != Some(problem.source) {
        violate(
            "embed_on_source",
            format!(
                "the embedding must run on the source node {}",
                name(problem.source)
            ),
        );
    }
    for &(l, i) in &rules.pinned {
        if owner[l] != Some(i) {
            violate("pin", format!("layer {l} must run on {}", name(i)));
        }
    }
    for &(l, i) in &rules.forbidden {
        if owner[l] == Some(i) {
            violate("forbid", format!("layer {l} must not run on {}", name(i)));
        }
    }
    if let Some(d) = problem.deadline_s {
        if !within(ev.latency_s, d) {
            violate(
                "deadline",
                format!("latency {:.6} s exceeds the deadline {d} s", ev.latency_s),
            );
        }
    }
    if let Some(b) = problem.energy_budget_j {
        if !within(ev.energy_j, b) {
            violate(
                "energy",
                format!("energy {:.6} J exceeds the budget {b} J", ev.energy_j),
            );
        }
    }
    if let Some(rate) = problem.min_requests_per_s {
        let limit = 1.0 / rate;
        for u in &ev.nodes {
            if !within(u.compute_s, limit) {
                violate(
                    "throughput.node",
                    format!(
                        "{} computes {:.6} s per request; {rate} requests/s allow {limit:.6} s",
                        u.node, u.compute_s
                    ),
                );
            }
        }
        for a in &ev.arcs {
            if !within(a.airtime_s, limit) {
                violate(
                    "throughput.link",
                    format!(
                        "link {} -> {} is busy {:.6} s per request; {rate} requests/s allow \
                         {limit:.6} s",
                        a.from, a.to, a.airtime_s
                    ),
                );
            }
        }
    }
    check_routes(problem, plan, network, &mut violate);
    out
}

/// Pushes a violation for every route that breaks the instance's routing rule.
fn check_routes(
    problem: &PipelineProblem,
    plan: &PipelinePlan,
    network: &Network,
    violate: &mut impl FnMut(&str, String),
) {
    let work = problem.work();
    let passes = work.passes();
    let volume = |p: Option<usize>, backward: bool| -> (f64, f64) {
        let mut v = (0.0, 0.0);
        for &(pass, repeat) in &passes {
            let labels = if pass == Pass::Train {
                work.label_bytes()
            } else {
                0.0
            };
            match p {
                None => {
                    // The token back to the source.
                    let n = problem.layers();
                    if problem.is_inference() {
                        v.0 += repeat * problem.table.layers[n - 1].out_bytes_per_token;
                        v.1 += repeat;
                    }
                }
                Some(p) if backward => {
                    if pass == Pass::Train && work.gradient_crosses(p) {
                        v.0 += repeat * work.input_bytes(p, pass);
                        v.1 += repeat;
                    }
                }
                Some(p) => {
                    v.0 += repeat * (work.input_bytes(p, pass) + labels);
                    v.1 += repeat;
                }
            }
        }
        v
    };
    let cost = |route: &[usize], bytes: f64, crossings: f64| -> f64 {
        route
            .windows(2)
            .map(|w| {
                let arc = &network.arcs[network.arc(w[0], w[1]).expect("checked")];
                match problem.routing {
                    Routing::Shortest => arc.latency_s,
                    Routing::Fastest => 8.0 * bytes / arc.rate_bps + crossings * arc.latency_s,
                }
            })
            .sum()
    };
    let mut check = |what: String, route: &[usize], (bytes, crossings): (f64, f64)| {
        if route.len() < 2 || crossings == 0.0 {
            return;
        }
        let (from, to) = (route[0], route[route.len() - 1]);
        let best = match problem.routing {
            Routing::Shortest => network.shortest_path(from, to),
            Routing::Fastest => network.fastest_path(from, to, bytes, crossings),
        }
        .map(|p| cost(&p, bytes, crossings))
        .unwrap_or(f64::INFINITY);
        let mine = cost(route, bytes, crossings);
        if !within(mine, best) {
            let measure = match problem.routing {
                Routing::Shortest => "latency",
                Routing::Fastest => "transfer time",
            };
            violate(
                "route.rule",
                format!(
                    "the route of {what} has {measure} {mine:.6e} s; routing \"{}\" needs the \
                     best path ({best:.6e} s)",
                    problem.routing.name()
                ),
            );
        }
    };
    let stages = &plan.stages;
    check(
        "the input".into(),
        &plan.routes.input,
        volume(Some(0), false),
    );
    for (k, r) in plan.routes.forward.iter().enumerate() {
        check(
            format!("stage {k} -> {}", k + 1),
            r,
            volume(Some(stages[k + 1].start), false),
        );
    }
    for (k, r) in plan.routes.backward.iter().enumerate() {
        check(
            format!("the gradients of stage {} -> {k}", k + 1),
            r,
            volume(Some(stages[k + 1].start), true),
        );
    }
    if let Workload::Inference { .. } = problem.workload {
        check(
            "the token back".into(),
            &plan.routes.output,
            volume(None, false),
        );
    }
}
