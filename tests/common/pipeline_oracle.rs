//! Brute force for tiny pipeline instances, independent of the solvers' coefficients and of
//! Dijkstra: every stage list (ordered distinct nodes, contiguous non-empty ranges) with every
//! combination of candidate routes (simple paths found by depth-first search), each plan judged
//! by the independent evaluator.
//!
//! A transfer's candidates are the simple paths whose cost under the routing rule (the total
//! latency, or the transfer time of its bytes) is least among all simple paths, up to a relative
//! 1e-6 (computed here from the links, not by the solvers' routing); any other path breaks the
//! rule, which the evaluator reports as a `route.rule` violation, so leaving it out changes no
//! result and keeps the product of routes small. Transfers that move nothing (gradients that do
//! not cross a cut) may take any path; the first one is used.

use edgeplan::problems::pipeline::evaluate::{evaluate, Evaluation};
use edgeplan::problems::pipeline::{
    Pass, PipelinePlan, PipelineProblem, Routes, Routing, Stage, Workload,
};

/// The links of an instance as an adjacency list: `(neighbour, rate bit/s, latency s)`.
struct Graph {
    adj: Vec<Vec<(usize, f64, f64)>>,
}

impl Graph {
    fn new(problem: &PipelineProblem) -> Graph {
        let mut adj = vec![Vec::new(); problem.node_count()];
        for l in &problem.links {
            adj[l.a].push((l.b, l.a_to_b_bps, l.latency_s));
            adj[l.b].push((l.a, l.b_to_a_bps, l.latency_s));
        }
        Graph { adj }
    }

    /// Every simple path from `from` to `to`.
    fn simple_paths(&self, from: usize, to: usize) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut path = vec![from];
        let mut seen = vec![false; self.adj.len()];
        seen[from] = true;
        self.dfs(to, &mut path, &mut seen, &mut out);
        out
    }

    fn dfs(&self, to: usize, path: &mut Vec<usize>, seen: &mut [bool], out: &mut Vec<Vec<usize>>) {
        let u = *path.last().unwrap();
        if u == to {
            out.push(path.clone());
            return;
        }
        for &(v, _, _) in &self.adj[u] {
            if !seen[v] {
                seen[v] = true;
                path.push(v);
                self.dfs(to, path, seen, out);
                path.pop();
                seen[v] = false;
            }
        }
    }

    /// `(sum of 8 / rate, sum of latency)` along `path`.
    fn sums(&self, path: &[usize]) -> (f64, f64) {
        let mut s = (0.0, 0.0);
        for w in path.windows(2) {
            let &(_, rate, lat) = self.adj[w[0]].iter().find(|e| e.0 == w[1]).unwrap();
            s.0 += 8.0 / rate;
            s.1 += lat;
        }
        s
    }
}

/// Bytes and one-way crossings of a transfer over all passes.
type Volume = (f64, f64);

/// What the brute force needs of an instance.
struct Oracle<'a> {
    problem: &'a PipelineProblem,
    graph: Graph,
}

impl Oracle<'_> {
    /// The volume of the data entering layer `p` (forward; labels ride along in training) or of
    /// the gradients leaving it (backward).
    fn volume(&self, p: usize, backward: bool) -> Volume {
        let work = self.problem.work();
        let mut v = (0.0, 0.0);
        for (pass, repeat) in work.passes() {
            if backward {
                if pass == Pass::Train && work.gradient_crosses(p) {
                    v.0 += repeat * work.input_bytes(p, pass);
                    v.1 += repeat;
                }
            } else {
                let labels = if pass == Pass::Train {
                    work.label_bytes()
                } else {
                    0.0
                };
                v.0 += repeat * (work.input_bytes(p, pass) + labels);
                v.1 += repeat;
            }
        }
        v
    }

    /// The token back to the source.
    fn token_volume(&self) -> Volume {
        let work = self.problem.work();
        let n = self.problem.layers();
        let mut v = (0.0, 0.0);
        if let Workload::Inference { .. } = self.problem.workload {
            for (_, repeat) in work.passes() {
                v.0 += repeat * self.problem.table.layers[n - 1].out_bytes_per_token;
                v.1 += repeat;
            }
        }
        v
    }

    /// The routes from `from` to `to` that the routing rule allows for `volume` (empty when
    /// `to` is unreachable).
    fn candidates(&self, from: usize, to: usize, (bytes, crossings): Volume) -> Vec<Vec<usize>> {
        let paths = self.graph.simple_paths(from, to);
        if from == to || crossings == 0.0 {
            return paths.into_iter().take(1).collect();
        }
        let cost = |p: &[usize]| {
            let (inv_rate, lat) = self.graph.sums(p);
            match self.problem.routing {
                Routing::Shortest => lat,
                Routing::Fastest => bytes * inv_rate + crossings * lat,
            }
        };
        let best = paths.iter().map(|p| cost(p)).fold(f64::INFINITY, f64::min);
        paths
            .into_iter()
            .filter(|p| cost(p) <= best + 1e-6 * best.abs())
            .collect()
    }
}

/// The best feasible plan of `problem` by brute force, with the evaluator's objective and
/// evaluation; `None` when no plan meets every constraint.
pub fn pipeline_brute_force(problem: &PipelineProblem) -> Option<(PipelinePlan, Evaluation)> {
    let oracle = Oracle {
        problem,
        graph: Graph::new(problem),
    };
    let mut best: Option<(PipelinePlan, Evaluation)> = None;
    let mut stages = Vec::new();
    let mut used = vec![false; problem.node_count()];
    stage_lists(&oracle, &mut stages, &mut used, &mut best);
    best
}

/// Extends `stages` in every way; evaluates every complete stage list with every route
/// combination.
fn stage_lists(
    oracle: &Oracle<'_>,
    stages: &mut Vec<Stage>,
    used: &mut Vec<bool>,
    best: &mut Option<(PipelinePlan, Evaluation)>,
) {
    let n = oracle.problem.layers();
    let start = stages.last().map_or(0, |s| s.end);
    if start == n {
        routes(oracle, stages, best);
        return;
    }
    for node in 0..used.len() {
        if used[node] {
            continue;
        }
        used[node] = true;
        for end in start + 1..=n {
            stages.push(Stage { node, start, end });
            stage_lists(oracle, stages, used, best);
            stages.pop();
        }
        used[node] = false;
    }
}

/// Evaluates `stages` with every combination of candidate routes.
fn routes(oracle: &Oracle<'_>, stages: &[Stage], best: &mut Option<(PipelinePlan, Evaluation)>) {
    let problem = oracle.problem;
    let s = problem.source;
    let training = !problem.is_inference();
    let first = stages[0].node;
    let last = stages[stages.len() - 1].node;
    // Each transfer's candidates: input, forward..., backward..., output.
    let mut lists: Vec<Vec<Vec<usize>>> =
        vec![oracle.candidates(s, first, oracle.volume(0, false))];
    for w in stages.windows(2) {
        lists.push(oracle.candidates(w[0].node, w[1].node, oracle.volume(w[1].start, false)));
    }
    if training {
        for w in stages.windows(2) {
            lists.push(oracle.candidates(w[1].node, w[0].node, oracle.volume(w[1].start, true)));
        }
    } else {
        lists.push(oracle.candidates(last, s, oracle.token_volume()));
    }
    if lists.iter().any(|l| l.is_empty()) {
        return;
    }
    let k = stages.len();
    let mut pick = vec![0usize; lists.len()];
    loop {
        let route = |t: usize| lists[t][pick[t]].clone();
        let plan = PipelinePlan {
            stages: stages.to_vec(),
            routes: Routes {
                input: route(0),
                forward: (1..k).map(route).collect(),
                backward: if training {
                    (k..2 * k - 1).map(route).collect()
                } else {
                    Vec::new()
                },
                output: if training { Vec::new() } else { route(k) },
            },
        };
        let ev = evaluate(problem, &plan).expect("brute-force plans have the right shape");
        if ev.feasible()
            && best
                .as_ref()
                .is_none_or(|(_, b)| ev.objective < b.objective)
        {
            *best = Some((plan, ev));
        }
        // Next combination.
        let mut t = 0;
        loop {
            if t == pick.len() {
                return;
            }
            pick[t] += 1;
            if pick[t] < lists[t].len() {
                break;
            }
            pick[t] = 0;
            t += 1;
        }
    }
}
