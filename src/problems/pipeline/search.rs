//! What every pipeline solver shares: the feasibility and objective of a stage list from the
//! coefficients ([`Scorer`]), the plan of a stage list with the rule's routes, exhaustive
//! enumeration (exact, small instances) and the explanation of an infeasible instance.

use super::price::{Coefficients, Priced};
use super::{PipelinePlan, PipelineProblem, Routes, Stage};
use crate::error::{Error, Result};
use crate::solve::violation::within;

/// Scores stage lists of one instance.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    /// The instance.
    pub problem: &'a PipelineProblem,
    /// Its coefficients.
    pub coef: &'a Coefficients,
}

impl Scorer<'_> {
    /// The objective of `stages` (routes by the instance's rule) when it meets every
    /// constraint, `None` otherwise.
    pub fn objective(&self, stages: &[Stage]) -> Option<f64> {
        let priced = self.feasible(stages)?;
        Some(self.value(&priced))
    }

    /// The objective value of a priced plan.
    pub fn value(&self, p: &Priced) -> f64 {
        self.problem
            .objective
            .value(p.latency_s, p.period_s, p.energy_j)
    }

    /// The priced plan when `stages` meets every constraint of the instance.
    pub fn feasible(&self, stages: &[Stage]) -> Option<Priced> {
        let (problem, coef) = (self.problem, self.coef);
        if let Some(max) = problem.rules.max_stages {
            if stages.len() > max {
                return None;
            }
        }
        let mut used = vec![false; coef.nodes];
        for st in stages {
            if std::mem::replace(&mut used[st.node], true) {
                return None;
            }
            if !within(coef.stage_memory(st.start, st.end), coef.capacity[st.node]) {
                return None;
            }
        }
        let priced = coef.price(stages)?;
        if problem
            .deadline_s
            .is_some_and(|d| !within(priced.latency_s, d))
            || problem
                .energy_budget_j
                .is_some_and(|b| !within(priced.energy_j, b))
        {
            return None;
        }
        if let Some(rate) = problem.min_requests_per_s {
            let limit = 1.0 / rate;
            if priced
                .busy_s
                .iter()
                .chain(&priced.arc_s)
                .any(|&t| !within(t, limit))
            {
                return None;
            }
        }
        Some(priced)
    }

    /// The plan of `stages` with the routes the coefficients priced (by the instance's rule).
    pub fn plan(&self, stages: &[Stage]) -> PipelinePlan {
        let coef = self.coef;
        let s = self.problem.source;
        let route = |t: Option<&super::price::Transfer>, from: usize, to: usize| {
            t.map(|t| t.route.clone()).unwrap_or_else(|| {
                if from == to {
                    vec![from]
                } else {
                    vec![from, to]
                }
            })
        };
        let first = stages[0].node;
        let last = stages[stages.len() - 1].node;
        let forward = stages
            .windows(2)
            .map(|w| {
                route(
                    coef.cut(w[1].start, w[0].node, w[1].node),
                    w[0].node,
                    w[1].node,
                )
            })
            .collect();
        let training = !self.problem.is_inference();
        let backward = if training {
            stages
                .windows(2)
                .map(|w| {
                    coef.cut(w[1].start, w[0].node, w[1].node)
                        .filter(|t| !t.back.is_empty())
                        .map(|t| t.back.clone())
                        .unwrap_or_else(|| {
                            self.coef
                                .network
                                .shortest_path(w[1].node, w[0].node)
                                .unwrap_or_else(|| vec![w[1].node, w[0].node])
                        })
                })
                .collect()
        } else {
            Vec::new()
        };
        PipelinePlan {
            stages: stages.to_vec(),
            routes: Routes {
                input: route(coef.input[first].as_ref(), s, first),
                forward,
                backward,
                output: if training {
                    Vec::new()
                } else {
                    route(coef.output[last].as_ref(), last, s)
                },
            },
        }
    }
}

/// Most plans [`enumerate`] visits.
pub const MAX_ENUMERATED: f64 = 5e6;

/// The number of stage lists of `layers` layers on `nodes` nodes with at most `max_stages`
/// stages: `sum_k N! / (N - k)! * C(L - 1, k - 1)`.
pub fn plan_count(layers: usize, nodes: usize, max_stages: usize) -> f64 {
    let mut total = 0.0;
    let (mut perms, mut binom) = (1.0, 1.0);
    for k in 1..=max_stages.min(nodes).min(layers) {
        perms *= (nodes - k + 1) as f64;
        if k > 1 {
            binom = binom * (layers - k + 1) as f64 / (k - 1) as f64;
        }
        total += perms * binom;
    }
    total
}

/// The best plan over every stage list (exact), with its objective; `None` when no plan meets
/// the constraints. An error when the instance has more than [`MAX_ENUMERATED`] stage lists.
pub fn enumerate(scorer: &Scorer<'_>) -> Result<Option<(Vec<Stage>, f64)>> {
    let (problem, coef) = (scorer.problem, scorer.coef);
    let max_stages = problem.rules.max_stages.unwrap_or(coef.nodes);
    let count = plan_count(coef.layers, coef.nodes, max_stages);
    if count > MAX_ENUMERATED {
        return Err(Error::option(
            "solver",
            format!(
                "enumerate would visit {count:.3e} plans (at most {MAX_ENUMERATED:.0e}): use \
                 highs or local-search"
            ),
        ));
    }
    let mut best: Option<(Vec<Stage>, f64)> = None;
    let mut stages = Vec::new();
    let mut used = vec![false; coef.nodes];
    visit(scorer, &mut stages, &mut used, max_stages, &mut best);
    Ok(best)
}

/// Extends `stages` (ending before layer `next`) in every way.
fn visit(
    scorer: &Scorer<'_>,
    stages: &mut Vec<Stage>,
    used: &mut Vec<bool>,
    max_stages: usize,
    best: &mut Option<(Vec<Stage>, f64)>,
) {
    let coef = scorer.coef;
    let start = stages.last().map_or(0, |s| s.end);
    if start == coef.layers {
        if let Some(v) = scorer.objective(stages) {
            if best.as_ref().is_none_or(|(_, b)| v < *b) {
                *best = Some((stages.clone(), v));
            }
        }
        return;
    }
    if stages.len() == max_stages {
        return;
    }
    for node in 0..coef.nodes {
        if used[node] {
            continue;
        }
        used[node] = true;
        for end in start + 1..=coef.layers {
            if coef.place[end - 1][node].is_none() {
                break;
            }
            if !within(coef.stage_memory(start, end), coef.capacity[node]) {
                break;
            }
            stages.push(Stage { node, start, end });
            visit(scorer, stages, used, max_stages, best);
            stages.pop();
        }
        used[node] = false;
    }
}

/// Why no plan meets the constraints, in the instance's terms (best effort: the first reasons
/// found by cheap checks; empty when none applies).
pub fn explain_infeasible(problem: &PipelineProblem, coef: &Coefficients) -> Vec<String> {
    let mut out = Vec::new();
    let name = |i: usize| problem.nodes[i].name.as_str();
    let reach = coef.network.reachable(problem.source);
    for (i, &r) in reach.iter().enumerate() {
        if !r && problem.nodes[i].available {
            out.push(format!(
                "node {} is not connected to the source {}: it can run no layer",
                name(i),
                name(problem.source)
            ));
        }
    }
    for l in 0..coef.layers {
        let hosts: Vec<usize> = (0..coef.nodes)
            .filter(|&i| coef.place[l][i].is_some() && reach[i])
            .collect();
        if hosts.is_empty() {
            out.push(format!(
                "layer {l} may run on no reachable, available node (pins, forbidden pairs, \
                 embed_on_source and availability exclude every node)"
            ));
            continue;
        }
        if hosts
            .iter()
            .all(|&i| !within(coef.memory[l], coef.capacity[i]))
        {
            out.push(format!(
                "layer {l} needs {:.4e} bytes; no node that may run it has that much memory \
                 (largest: {:.4e} bytes)",
                coef.memory[l],
                hosts.iter().map(|&i| coef.capacity[i]).fold(0.0, f64::max)
            ));
        }
    }
    let usable: f64 = (0..coef.nodes)
        .filter(|&i| reach[i] && problem.nodes[i].available)
        .map(|i| coef.capacity[i])
        .sum();
    let needed: f64 = coef.memory.iter().sum();
    if !within(needed, usable) {
        out.push(format!(
            "the model needs {needed:.4e} bytes; all reachable, available nodes together have \
             {usable:.4e}"
        ));
    }
    if let Some(rate) = problem.min_requests_per_s {
        let limit = 1.0 / rate;
        // Links on which every transfer that could be routed over them is too long.
        let mut least = vec![f64::INFINITY; coef.network.arcs.len()];
        // The transfers a plan may use: into a node that may run the first layer, out of one
        // that may run the last, between nodes that may run the layers on either side of a cut.
        let may = |l: usize, i: usize| coef.place[l][i].is_some();
        let last = coef.layers - 1;
        let inputs = (0..coef.nodes)
            .filter(|&j| may(0, j))
            .filter_map(|j| coef.input[j].as_ref());
        let outputs = (0..coef.nodes)
            .filter(|&i| may(last, i))
            .filter_map(|i| coef.output[i].as_ref());
        let cuts = (1..coef.layers).flat_map(|p| {
            (0..coef.nodes).flat_map(move |i| {
                (0..coef.nodes).filter_map(move |j| {
                    (i != j && may(p - 1, i) && may(p, j)).then(|| coef.cut(p, i, j))?
                })
            })
        });
        let transfers = inputs.chain(outputs).chain(cuts);
        for t in transfers {
            for &(a, airtime) in &t.arcs {
                least[a] = least[a].min(airtime);
            }
        }
        for (a, &t) in least.iter().enumerate() {
            if t.is_finite() && !within(t, limit) {
                let arc = &coef.network.arcs[a];
                out.push(format!(
                    "link {} -> {} is too slow for {rate} requests/s: every transfer routed over \
                     it takes at least {t:.6} s of airtime per request, {limit:.6} s allowed",
                    name(arc.from),
                    name(arc.to)
                ));
            }
        }
        for (l, row) in coef.place.iter().enumerate() {
            let fastest = row
                .iter()
                .flatten()
                .map(|p| p.busy_s)
                .fold(f64::INFINITY, f64::min);
            if fastest.is_finite() && !within(fastest, limit) {
                out.push(format!(
                    "layer {l} alone takes at least {fastest:.6} s per request on any node; \
                     {rate} requests/s allow {limit:.6} s"
                ));
            }
        }
    }
    if out.is_empty() {
        if let Some(d) = problem.deadline_s {
            out.push(format!(
                "no plan that fits in memory meets the deadline of {d} s together with the \
                 other limits"
            ));
        } else {
            out.push(
                "no stage list meets the memory, stage-count, energy and throughput limits \
                 together"
                    .into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::pipeline::evaluate::evaluate;
    use crate::problems::pipeline::{EnergyScope, Objective, Routing};

    fn chain() -> PipelineProblem {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("instances/pipeline/chain-llama2-7b-jetson.toml");
        crate::instance::pipeline::load(&path).unwrap()
    }

    /// Every stage list of the shipped three-node chain, priced by the coefficients and by the
    /// independent evaluator: latency, period, energy (both scopes, both routing rules) agree.
    #[test]
    fn coefficients_price_every_plan_as_the_evaluator_does() {
        let mut checked = 0;
        for (routing, scope) in [
            (Routing::Shortest, EnergyScope::Source),
            (Routing::Fastest, EnergyScope::All),
        ] {
            let mut problem = chain();
            problem.routing = routing;
            problem.energy_scope = scope;
            problem.objective = Objective::Weighted {
                latency_weight: 1.0,
                energy_weight: 0.1,
            };
            problem.nodes[1].background_load = 0.3;
            let coef = Coefficients::new(&problem);
            let scorer = Scorer {
                problem: &problem,
                coef: &coef,
            };
            let n = problem.layers();
            let mut lists = Vec::new();
            for a in 0..=n {
                for b in a..=n {
                    for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [2, 1, 0]] {
                        let bounds = [(0, a), (a, b), (b, n)];
                        let stages: Vec<Stage> = order
                            .iter()
                            .zip(bounds)
                            .filter(|(_, (s, e))| s < e)
                            .map(|(&node, (start, end))| Stage { node, start, end })
                            .collect();
                        lists.push(stages);
                    }
                }
            }
            for stages in lists {
                let Some(priced) = coef.price(&stages) else {
                    continue;
                };
                let ev = evaluate(&problem, &scorer.plan(&stages)).unwrap();
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
                assert!(close(priced.latency_s, ev.latency_s), "{stages:?}");
                assert!(close(priced.period_s, ev.period_s), "{stages:?}");
                assert!(close(priced.energy_j, ev.energy_j), "{stages:?}");
                assert!(close(scorer.value(&priced), ev.objective), "{stages:?}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// A throughput floor no plan meets is explained by the link that is too slow for it.
    #[test]
    fn a_slow_link_is_named() {
        let mut problem = chain();
        problem.min_requests_per_s = Some(10.0);
        let coef = Coefficients::new(&problem);
        let scorer = Scorer {
            problem: &problem,
            coef: &coef,
        };
        assert!(enumerate(&scorer).unwrap().is_none());
        let why = explain_infeasible(&problem, &coef);
        assert!(
            why.iter()
                .any(|w| w.starts_with("link device -> edge is too slow for 10 requests/s")),
            "{why:?}"
        );
    }

    /// `plan_count` counts what `enumerate` visits.
    #[test]
    fn plan_count_is_the_number_of_stage_lists() {
        // 3 nodes, 4 layers: 3 + 6*3 + 6*3 = 39.
        assert_eq!(plan_count(4, 3, 3), 39.0);
        assert_eq!(plan_count(4, 3, 1), 3.0);
        assert_eq!(plan_count(1, 5, 5), 5.0);
    }
}
