//! The pipeline MILP (HiGHS): a path through the layered graph of `(layer, node)` pairs.
//!
//! **Variables.** A binary `z[l][i]` for every layer `l` and node `i` that may run it (the pair
//! allowed by [`Coefficients::place`](super::price::Coefficients::place), the layer's memory within the node's, and no single cost
//! of it beyond a limit the plan must meet, see *Pruning*). For every cut position `1 <= p < L`:
//! `t[p][i][j] in [0, 1]` (`i != j`) when layers `..p` may end on `i`, layer `p` may start on `j`
//! and the transfer between them exists (reachable); `stay[p][i] in [0, 1]` when both `p - 1` and
//! `p` may run on `i`.
//!
//! **Flow.** `sum_i z[0][i] = 1`, and for every `p` and node: `z[p-1][i] = stay[p][i] +
//! sum_j t[p][i][j]` (what leaves `i` after layer `p - 1`) and `z[p][j] = stay[p][j] +
//! sum_i t[p][i][j]` (what enters `j` at layer `p`). With binary `z` exactly one layer-`p-1` node
//! and one layer-`p` node are set, so the `stay` or the one `t` between them is 1 and every other
//! is 0: the formulation is exact, and `t` and `stay` need not be integer.
//!
//! **Stages.** Node `i` starts a stage at layer 0 (`z[0][i]`) or where a transfer enters it, so
//! distinct nodes are `z[0][i] + sum_{p,j} t[p][j][i] <= 1` (a node that starts one stage runs
//! one contiguous range) and the stage count is `1 + sum t <= max_stages`.
//!
//! **Costs.** Latency and energy are linear: `sum place[l][i] z[l][i] + sum_j input[j] z[0][j] +
//! sum_i output[i] z[L-1][i] + sum cut(p, i, j) t[p][i][j]`, each a non-negative sum over the
//! workload's passes (see [`super::price`]). Throughput minimises the period `T` with `T >=
//! sum_l busy[l][i] z[l][i]` per node and `T >=` the airtime of every transfer routed over an arc,
//! per arc; the valid inequalities `T >= sum_i busy[l][i] z[l][i]` per layer (the node of layer
//! `l` is busy at least that long) and `T >= sum heaviest_arc(p, i, j) t[p][i][j]` over the
//! transfers of one cut position, of those entering one node and of those leaving one node (at
//! most one of each is used) strengthen the relaxation.
//!
//! **Constraints.** Memory per node (normalised to 1): its layers' bytes plus the tied embedding
//! again when it holds the head but not layer 0 (`w_i >= z[L-1][i] - z[0][i]`, `w_i in [0, 1]`);
//! `latency <= deadline`; `energy <= budget`; with a least rate `r`, every node's busy time and
//! every arc's airtime per request at most `1 / r`.
//!
//! **Pruning.** Every cost is a sum of non-negative terms, so a pair or transfer whose own term
//! exceeds a limit (memory, deadline, energy budget, `1 / r`) is in no feasible plan and gets no
//! variable; with a known plan of objective `v`, neither is one whose own objective term exceeds
//! `v` (no plan using it beats `v`); for throughput the period is also bounded by `v`. The first
//! plan is the layered-graph relaxation's path when it meets every constraint (then optimal),
//! else the local search's ([`super::heuristics`]), passed to HiGHS as a complete MIP start.
//! Throughput with a known plan asks instead for a strictly better period (`solve_below`), in
//! which every node's layer count is bounded by what fits that period.
//! [`solve_highs`] solves in rounds: each next round prunes at
//! the best plan so far, which keeps the optimal plans and brings the objective's coefficients
//! to the optimum's scale, which HiGHS's absolute tolerances need.

use std::time::Instant;

use good_lp::constraint::{eq, leq};
use good_lp::{variable, Expression, IntoAffineExpression, Solution, Variable};

use super::heuristics;
use super::price::{Item, Transfer};
use super::search::Scorer;
use super::solve::MilpSize;
use super::{Objective, PipelinePlan, Stage};
use crate::error::Result;
use crate::solve::export::{header, Sense};
use crate::solve::milp::{Milp, MipOptions, MipResult, RunOptions, Values};
use crate::solve::report::{add_nodes, relative_gap, PrimalStatus, SolveStats, Termination};
use crate::solve::violation::within;
use crate::solve::SolverPreset;

/// What a `highs` run returns.
#[derive(Debug, Clone)]
pub struct HighsOutcome {
    /// Statistics.
    pub stats: SolveStats,
    /// The plan, if one was found.
    pub plan: Option<PipelinePlan>,
    /// The MILP's size.
    pub size: Option<MilpSize>,
}

/// The built model with the handles the decoder needs.
pub struct PipelineMilp {
    /// The model, ready to solve.
    pub milp: Milp,
    /// The objective.
    pub objective: Expression,
    /// Reads plans off solutions and writes MIP starts.
    pub decoder: Decoder,
    /// The largest objective term kept (throughput: the largest busy time or airtime): when it
    /// is no more than a plan's value, pruning at that value keeps every variable.
    pub largest_term: f64,
}

/// The variables of a built model.
#[derive(Debug, Clone)]
pub struct Decoder {
    layers: usize,
    z: Vec<Vec<Option<Variable>>>,
    /// `(p, i, stay variable)`.
    stay: Vec<(usize, usize, Variable)>,
    /// `(p, i, j, t variable)`.
    t: Vec<(usize, usize, usize, Variable)>,
    /// `(i, w variable)`: the tied copy on node `i`.
    w: Vec<(usize, Variable)>,
    /// The period, when the objective is throughput.
    period: Option<Variable>,
}

impl Decoder {
    /// The stages of a solution (`None` when some layer has no node set).
    pub fn decode(&self, values: &Values) -> Option<Vec<Stage>> {
        let mut stages: Vec<Stage> = Vec::new();
        for (l, row) in self.z.iter().enumerate() {
            let node = row
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i, values.value(v))))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|&(_, x)| x > 0.5)?
                .0;
            match stages.last_mut() {
                Some(last) if last.node == node => last.end = l + 1,
                _ => stages.push(Stage {
                    node,
                    start: l,
                    end: l + 1,
                }),
            }
        }
        (!stages.is_empty()).then_some(stages)
    }

    /// A complete MIP start (every column) for `stages`, with the period `period_s`; `None`
    /// when the plan uses a pair or transfer the model has no variable for.
    pub fn start(&self, stages: &[Stage], period_s: f64) -> Option<Vec<(Variable, f64)>> {
        let mut node_of = vec![usize::MAX; self.layers];
        for st in stages {
            node_of[st.start..st.end].fill(st.node);
        }
        let mut out = Vec::new();
        for (l, row) in self.z.iter().enumerate() {
            row[node_of[l]]?;
            for (i, v) in row.iter().enumerate() {
                if let Some(v) = v {
                    out.push((*v, f64::from(u8::from(node_of[l] == i))));
                }
            }
        }
        for p in 1..self.layers {
            let (a, b) = (node_of[p - 1], node_of[p]);
            if a == b {
                if !self.stay.iter().any(|&(q, i, _)| q == p && i == a) {
                    return None;
                }
            } else if !self
                .t
                .iter()
                .any(|&(q, i, j, _)| q == p && i == a && j == b)
            {
                return None;
            }
        }
        for &(p, i, v) in &self.stay {
            let on = node_of[p - 1] == i && node_of[p] == i;
            out.push((v, f64::from(u8::from(on))));
        }
        for &(p, i, j, v) in &self.t {
            let on = node_of[p - 1] == i && node_of[p] == j;
            out.push((v, f64::from(u8::from(on))));
        }
        let last = self.layers - 1;
        for &(i, v) in &self.w {
            let on = node_of[last] == i && node_of[0] != i;
            out.push((v, f64::from(u8::from(on))));
        }
        if let Some(v) = self.period {
            out.push((v, period_s));
        }
        Some(out)
    }
}

/// Which pairs and transfers may appear in a plan: within the instance's limits, and (when a
/// plan of objective `cap` is known) with no objective term above `cap`.
struct Filter<'a> {
    scorer: &'a Scorer<'a>,
    cap: f64,
    rate_limit: Option<f64>,
}

impl Filter<'_> {
    fn objective(&self) -> Objective {
        self.scorer.problem.objective
    }

    /// The objective term of an item (latency, energy or weighted objectives).
    fn term(&self, item: &Item) -> f64 {
        self.objective().value(item.latency_s, 0.0, item.energy_j)
    }

    /// Whether an item's latency and energy fit the deadline and budget and its objective term
    /// the cap.
    fn item_ok(&self, item: &Item) -> bool {
        let problem = self.scorer.problem;
        if problem
            .deadline_s
            .is_some_and(|d| !within(item.latency_s, d))
            || problem
                .energy_budget_j
                .is_some_and(|b| !within(item.energy_j, b))
        {
            return false;
        }
        match self.objective() {
            Objective::Throughput => true,
            _ => self.term(item) <= self.cap,
        }
    }

    /// Whether a time per request (busy or airtime) fits `1 / rate` and (throughput) the cap.
    fn load_ok(&self, s: f64) -> bool {
        if self.rate_limit.is_some_and(|limit| !within(s, limit)) {
            return false;
        }
        !matches!(self.objective(), Objective::Throughput) || s <= self.cap
    }

    /// Whether layer `l` may run on `i`.
    fn place_ok(&self, l: usize, i: usize) -> bool {
        let coef = self.scorer.coef;
        match &coef.place[l][i] {
            Some(p) => {
                within(coef.memory[l], coef.capacity[i])
                    && self.item_ok(&p.item)
                    && self.load_ok(p.busy_s)
            }
            None => false,
        }
    }

    /// Whether a transfer may be used.
    fn transfer_ok(&self, t: &Transfer) -> bool {
        self.item_ok(&t.item) && t.arcs.iter().all(|&(_, s)| self.load_ok(s))
    }
}

/// Lower bounds from the layered-graph relaxation of a linear objective (latency, energy,
/// weighted): the cheapest path through the `(layer, node)` pairs and transfers the filter
/// allows, with distinct nodes, memory, stage count and the sum limits dropped.
/// `fwd[l][i]`: the cheapest cover of layers `..=l` with layer `l` on `i` (input included);
/// `bwd[l][i]`: of layers `l..` with layer `l` on `i` (output included).
struct Relaxation {
    fwd: Vec<Vec<f64>>,
    bwd: Vec<Vec<f64>>,
    place: Vec<Vec<f64>>,
}

impl Relaxation {
    /// The relaxation of the instance under `filter` (`None` for throughput).
    fn new(filter: &Filter<'_>) -> Option<Relaxation> {
        if matches!(filter.objective(), Objective::Throughput) {
            return None;
        }
        let coef = filter.scorer.coef;
        let inference = filter.scorer.problem.is_inference();
        let (n, nodes) = (coef.layers, coef.nodes);
        let inf = f64::INFINITY;
        let place: Vec<Vec<f64>> = (0..n)
            .map(|l| {
                (0..nodes)
                    .map(|i| {
                        if filter.place_ok(l, i) {
                            filter.term(&coef.place[l][i].as_ref().expect("allowed").item)
                        } else {
                            inf
                        }
                    })
                    .collect()
            })
            .collect();
        let end = |t: Option<&Transfer>, used: bool| match t.filter(|t| filter.transfer_ok(t)) {
            Some(t) if used => filter.term(&t.item),
            Some(_) => 0.0,
            None => inf,
        };
        let cut = |p: usize, i: usize, j: usize| {
            coef.cut(p, i, j)
                .filter(|t| filter.transfer_ok(t))
                .map_or(inf, |t| filter.term(&t.item))
        };
        let mut fwd = vec![vec![inf; nodes]; n];
        for i in 0..nodes {
            fwd[0][i] = place[0][i] + end(coef.input[i].as_ref(), true);
        }
        for p in 1..n {
            for j in 0..nodes {
                if place[p][j] == inf {
                    continue;
                }
                let mut best = fwd[p - 1][j];
                for (i, &before) in fwd[p - 1].iter().enumerate() {
                    if i != j && before < inf {
                        best = best.min(before + cut(p, i, j));
                    }
                }
                fwd[p][j] = best + place[p][j];
            }
        }
        let mut bwd = vec![vec![inf; nodes]; n];
        for i in 0..nodes {
            bwd[n - 1][i] = place[n - 1][i] + end(coef.output[i].as_ref(), inference);
        }
        for p in (1..n).rev() {
            for i in 0..nodes {
                if place[p - 1][i] == inf {
                    continue;
                }
                let mut best = bwd[p][i];
                for (j, &after) in bwd[p].iter().enumerate() {
                    if i != j && after < inf {
                        best = best.min(cut(p, i, j) + after);
                    }
                }
                bwd[p - 1][i] = best + place[p - 1][i];
            }
        }
        Some(Relaxation { fwd, bwd, place })
    }

    /// A lower bound of every plan that runs layer `l` on `i`.
    fn through(&self, l: usize, i: usize) -> f64 {
        self.fwd[l][i] + self.bwd[l][i] - self.place[l][i]
    }

    /// A lower bound of every plan whose layers `..p` end on `i` and layer `p` starts on `j`,
    /// given the transfer's term.
    fn across(&self, p: usize, i: usize, j: usize, term: f64) -> f64 {
        self.fwd[p - 1][i] + term + self.bwd[p][j]
    }

    /// The stages of the relaxation's cheapest path.
    fn path(&self, filter: &Filter<'_>) -> Option<Vec<Stage>> {
        let coef = filter.scorer.coef;
        let n = coef.layers;
        let (mut node, value) = self.fwd[n - 1]
            .iter()
            .zip(&self.bwd[n - 1])
            .zip(&self.place[n - 1])
            .map(|((f, b), p)| f + b - p)
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        if !value.is_finite() {
            return None;
        }
        let mut nodes = vec![node; n];
        // Walk back: at each cut position, the predecessor that attains fwd.
        for p in (1..n).rev() {
            let target = self.fwd[p][node] - self.place[p][node];
            let stay = self.fwd[p - 1][node];
            if stay > target * (1.0 + 1e-12) + 1e-300 {
                node = (0..coef.nodes)
                    .filter(|&i| i != node && self.fwd[p - 1][i].is_finite())
                    .min_by(|&a, &b| {
                        let cost = |i: usize| {
                            self.fwd[p - 1][i]
                                + coef
                                    .cut(p, i, node)
                                    .filter(|t| filter.transfer_ok(t))
                                    .map_or(f64::INFINITY, |t| filter.term(&t.item))
                        };
                        cost(a).total_cmp(&cost(b))
                    })?;
            }
            nodes[p - 1] = node;
        }
        let mut stages: Vec<Stage> = Vec::new();
        for (l, &i) in nodes.iter().enumerate() {
            match stages.last_mut() {
                Some(last) if last.node == i => last.end = l + 1,
                _ => stages.push(Stage {
                    node: i,
                    start: l,
                    end: l + 1,
                }),
            }
        }
        Some(stages)
    }
}

/// The heaviest arc airtime of a transfer (0 when it uses none).
fn heaviest(t: &Transfer) -> f64 {
    t.arcs.iter().fold(0.0, |a, &(_, s)| a.max(s))
}

/// A linear quantity of the model as its terms: `(variable, latency, energy)` of every item.
#[derive(Default)]
struct Items {
    terms: Vec<(Variable, f64, f64)>,
}

impl Items {
    fn push(&mut self, v: Variable, item: &Item) {
        self.terms.push((v, item.latency_s, item.energy_j));
    }

    /// `sum f(latency, energy) v`, zero terms left out, each divided by `scale`.
    fn expression(&self, scale: f64, f: impl Fn(f64, f64) -> f64) -> Expression {
        let mut e = Expression::with_capacity(self.terms.len());
        for &(v, lat, en) in &self.terms {
            let c = f(lat, en);
            if c != 0.0 {
                e.add_mul(c / scale, v);
            }
        }
        e
    }
}

/// Builds the MILP of the instance of `scorer` with every variable whose own objective term
/// exceeds `cap` left out (`f64::INFINITY`: none).
pub fn build(scorer: &Scorer<'_>, cap: f64) -> PipelineMilp {
    build_with(scorer, cap, None)
}

/// [`build`], also leaving out what the relaxation's bounds put above `cap`.
fn build_with(scorer: &Scorer<'_>, cap: f64, relaxation: Option<&Relaxation>) -> PipelineMilp {
    let (problem, coef) = (scorer.problem, scorer.coef);
    let (n, nodes) = (coef.layers, coef.nodes);
    let filter = Filter {
        scorer,
        cap,
        rate_limit: problem.min_requests_per_s.map(|r| 1.0 / r),
    };
    let throughput = matches!(problem.objective, Objective::Throughput);
    let inference = problem.is_inference();
    let mut m = Milp::new();
    let node = |i: usize| problem.nodes[i].name.as_str();
    let mut items = Items::default();
    let mut largest = 0.0f64;
    let mut note = |x: f64| largest = largest.max(x);
    // Busy time per node and airtime per arc, as (variable, seconds) terms.
    let mut busy: Vec<Vec<(Variable, f64)>> = vec![Vec::new(); nodes];
    let mut arc_load: Vec<Vec<(Variable, f64)>> = vec![Vec::new(); coef.network.arcs.len()];
    let mut add_transfer =
        |v: Variable, t: &Transfer, items: &mut Items, note: &mut dyn FnMut(f64)| {
            items.push(v, &t.item);
            for &(a, s) in &t.arcs {
                arc_load[a].push((v, s));
                if throughput {
                    note(s);
                }
            }
            if !throughput {
                note(filter.term(&t.item));
            }
        };

    // z[l][i], with the first layer's input and the last layer's output folded into its
    // availability.
    let mut z: Vec<Vec<Option<Variable>>> = vec![vec![None; nodes]; n];
    for (l, row) in z.iter_mut().enumerate() {
        for (i, slot) in row.iter_mut().enumerate() {
            if !filter.place_ok(l, i) || relaxation.is_some_and(|r| r.through(l, i) > cap) {
                continue;
            }
            let input = if l == 0 {
                match coef.input[i].as_ref().filter(|t| filter.transfer_ok(t)) {
                    Some(t) => Some(t),
                    None => continue,
                }
            } else {
                None
            };
            let output = if l == n - 1 {
                match coef.output[i].as_ref().filter(|t| filter.transfer_ok(t)) {
                    Some(t) => Some(t),
                    None => continue,
                }
            } else {
                None
            };
            let v = m.add(variable().binary().name(format!("z[layer{l},{}]", node(i))));
            *slot = Some(v);
            let p = coef.place[l][i].as_ref().expect("filtered");
            items.push(v, &p.item);
            busy[i].push((v, p.busy_s));
            if throughput {
                note(p.busy_s);
            } else {
                note(filter.term(&p.item));
            }
            // The input and output ride on z[0][i] and z[L-1][i].
            for t in input.into_iter().chain(output.filter(|_| inference)) {
                add_transfer(v, t, &mut items, &mut note);
            }
        }
    }

    // Flow: stay and t per cut position.
    let mut starts: Vec<Expression> = (0..nodes)
        .map(|i| z[0][i].map_or_else(|| Expression::from(0), Expression::from))
        .collect();
    let mut cuts = Expression::from(0);
    let mut stay = Vec::new();
    let mut tv = Vec::new();
    let mut heaviest_cut: Vec<Expression> = Vec::new();
    // Per node, the heaviest arc of the transfer that enters it and of the one that leaves it
    // (at most one each: a node runs at most one stage).
    let mut heaviest_in: Vec<Expression> = vec![Expression::from(0); nodes];
    let mut heaviest_out: Vec<Expression> = vec![Expression::from(0); nodes];
    for p in 1..n {
        let mut out: Vec<Expression> = vec![Expression::from(0); nodes];
        let mut inn: Vec<Expression> = vec![Expression::from(0); nodes];
        let mut heavy = Expression::from(0);
        for i in 0..nodes {
            if let (Some(_), Some(_)) = (z[p - 1][i], z[p][i]) {
                let name = format!("stay[cut{p},{}]", node(i));
                let v = m.add(variable().min(0).max(1).name(name));
                stay.push((p, i, v));
                out[i] += v;
                inn[i] += v;
            }
        }
        for i in 0..nodes {
            if z[p - 1][i].is_none() {
                continue;
            }
            for j in 0..nodes {
                if i == j || z[p][j].is_none() {
                    continue;
                }
                let Some(t) = coef.cut(p, i, j).filter(|t| {
                    filter.transfer_ok(t)
                        && relaxation.is_none_or(|r| r.across(p, i, j, filter.term(&t.item)) <= cap)
                }) else {
                    continue;
                };
                let name = format!("transfer[cut{p},{},{}]", node(i), node(j));
                let v = m.add(variable().min(0).max(1).name(name));
                tv.push((p, i, j, v));
                out[i] += v;
                inn[j] += v;
                starts[j] += v;
                cuts += v;
                let h = heaviest(t);
                if h > 0.0 {
                    heavy.add_mul(h, v);
                    heaviest_in[j].add_mul(h, v);
                    heaviest_out[i].add_mul(h, v);
                }
                add_transfer(v, t, &mut items, &mut note);
            }
        }
        for i in 0..nodes {
            if let Some(v) = z[p - 1][i] {
                let name = format!("flow_out[cut{p},{}]", node(i));
                m.constrain_named(name, eq(Expression::from(v) - out[i].clone(), 0.0));
            }
            if let Some(v) = z[p][i] {
                let name = format!("flow_in[cut{p},{}]", node(i));
                m.constrain_named(name, eq(Expression::from(v) - inn[i].clone(), 0.0));
            }
        }
        heaviest_cut.push(heavy);
    }
    let cover: Expression = z[0].iter().flatten().map(|&v| Expression::from(v)).sum();
    m.constrain_named("first_layer_once", eq(cover, 1.0));
    for (i, s) in starts.into_iter().enumerate() {
        if (&s).linear_coefficients().count() > 1 {
            m.constrain_named(format!("one_stage[{}]", node(i)), leq(s, 1.0));
        }
    }
    if let Some(max) = problem.rules.max_stages {
        if max < nodes {
            m.constrain_named("max_stages", leq(cuts, (max - 1) as f64));
        }
    }

    // A plan of period at most `cap` runs at most `most_layers(i, cap)` layers on node `i`: the
    // integer rounding the LP relaxation misses (it spreads fractions of layers over nodes).
    if throughput && cap.is_finite() {
        for i in 0..nodes {
            let on_i: Vec<(usize, Variable)> = z
                .iter()
                .enumerate()
                .filter_map(|(l, row)| Some((l, row[i]?)))
                .collect();
            let layers: Vec<usize> = on_i.iter().map(|&(l, _)| l).collect();
            let most = most_layers(coef, i, &layers, cap);
            if most < layers.len() {
                let count: Expression = on_i.iter().map(|&(_, v)| Expression::from(v)).sum();
                m.constrain_named(format!("most_layers[{}]", node(i)), leq(count, most as f64));
            }
        }
    }

    // Memory per node, normalised to its capacity.
    let mut w = Vec::new();
    for (i, &capacity) in coef.capacity.iter().enumerate() {
        if !capacity.is_finite() || capacity <= 0.0 {
            continue;
        }
        let share = |bytes: f64| (bytes / capacity).min(2.0);
        let mut used = Expression::from(0);
        let mut most = 0.0;
        for (row, &bytes) in z.iter().zip(&coef.memory) {
            if let Some(v) = row[i] {
                used.add_mul(share(bytes), v);
                most += share(bytes);
            }
        }
        if coef.tied_extra > 0.0 && n > 1 {
            if let Some(head) = z[n - 1][i] {
                let extra = share(coef.tied_extra);
                match z[0][i] {
                    Some(embed) => {
                        let name = format!("tied_embedding[{}]", node(i));
                        let v = m.add(variable().min(0).max(1).name(name.clone()));
                        m.constrain_named(name, leq(Expression::from(head) - embed - v, 0.0));
                        w.push((i, v));
                        used.add_mul(extra, v);
                    }
                    None => used.add_mul(extra, head),
                }
                most += extra;
            }
        }
        if !within(most, 1.0) {
            m.constrain_named(format!("memory[{}]", node(i)), leq(used, 1.0));
        }
    }

    // Deadline and energy budget, normalised to their limits.
    if let Some(d) = problem.deadline_s {
        m.constrain_named("deadline", leq(items.expression(d, |lat, _| lat), 1.0));
    }
    if let Some(b) = problem.energy_budget_j {
        m.constrain_named("energy_budget", leq(items.expression(b, |_, en| en), 1.0));
    }

    // Loads: per node and per arc, at most 1 / rate, and below the period.
    let loads = |terms: &[(Variable, f64)], scale: f64| {
        let mut e = Expression::with_capacity(terms.len());
        for &(v, s) in terms {
            if s != 0.0 {
                e.add_mul(s / scale, v);
            }
        }
        e
    };
    // Names of the loads: busy[node] for nodes, airtime[arc<a>] for arcs.
    let load_name = |k: usize| {
        if k < nodes {
            format!("busy[{}]", node(k))
        } else {
            format!("airtime[arc{}]", k - nodes)
        }
    };
    if let Some(limit) = filter.rate_limit {
        for (k, terms) in busy.iter().chain(&arc_load).enumerate() {
            let most: f64 = terms.iter().map(|t| t.1).sum();
            if !within(most, limit) {
                m.constrain_named(
                    format!("rate_{}", load_name(k)),
                    leq(loads(terms, limit), 1.0),
                );
            }
        }
    }
    let mut period = None;
    let objective = if throughput {
        // Each layer runs somewhere: the period is at least its fastest node's time.
        let floor = z
            .iter()
            .enumerate()
            .map(|(l, row)| {
                (0..nodes)
                    .filter(|&i| row[i].is_some())
                    .filter_map(|i| coef.place[l][i].as_ref().map(|p| p.busy_s))
                    .fold(f64::INFINITY, f64::min)
            })
            .filter(|x| x.is_finite())
            .fold(0.0, f64::max);
        let floor = if cap.is_finite() {
            floor.min(cap)
        } else {
            floor
        };
        // A plan of period `cap` is known: only better ones are sought.
        let period_var = if cap.is_finite() && cap >= floor {
            m.add(variable().min(floor).max(cap).name("period"))
        } else {
            m.add(variable().min(floor).name("period"))
        };
        period = Some(period_var);
        for (k, terms) in busy.iter().chain(&arc_load).enumerate() {
            if terms.len() > 1 || terms.iter().any(|t| t.1 > floor) {
                let name = format!("period_{}", load_name(k));
                m.constrain_named(name, leq(loads(terms, 1.0) - period_var, 0.0));
            }
        }
        for (l, row) in z.iter().enumerate() {
            let mut e = Expression::with_capacity(nodes);
            for (i, v) in row.iter().enumerate() {
                if let (Some(v), Some(p)) = (v, &coef.place[l][i]) {
                    e.add_mul(p.busy_s, *v);
                }
            }
            m.constrain_named(format!("period_layer[layer{l}]"), leq(e - period_var, 0.0));
        }
        let cut_count = heaviest_cut.len();
        for (k, heavy) in heaviest_cut
            .into_iter()
            .chain(heaviest_in)
            .chain(heaviest_out)
            .enumerate()
        {
            if (&heavy).linear_coefficients().count() > 0 {
                let name = if k < cut_count {
                    format!("period_heaviest_arc[cut{}]", k + 1)
                } else if k < cut_count + nodes {
                    format!("period_heaviest_arc_in[{}]", node(k - cut_count))
                } else {
                    format!("period_heaviest_arc_out[{}]", node(k - cut_count - nodes))
                };
                m.constrain_named(name, leq(heavy - period_var, 0.0));
            }
        }
        Expression::from(period_var)
    } else {
        let objective = problem.objective;
        items.expression(1.0, |lat, en| objective.value(lat, 0.0, en))
    };
    PipelineMilp {
        milp: m,
        objective,
        decoder: Decoder {
            layers: n,
            z,
            stay,
            t: tv,
            w,
            period,
        },
        largest_term: largest,
    }
}

/// The most of `layers` node `i` can run within a period `cap` and its memory: the count of its
/// fastest layers whose busy times add up to at most `cap`, and of its smallest whose bytes fit
/// (a stage holds a subset of `layers`, so it cannot hold more than either).
fn most_layers(coef: &super::price::Coefficients, i: usize, layers: &[usize], cap: f64) -> usize {
    let fitting = |mut values: Vec<f64>, limit: f64| {
        values.sort_by(f64::total_cmp);
        let mut sum = 0.0;
        values
            .iter()
            .take_while(|&&v| {
                sum += v;
                within(sum, limit)
            })
            .count()
    };
    let busy = layers
        .iter()
        .filter_map(|&l| coef.place[l][i].as_ref().map(|p| p.busy_s))
        .collect();
    let bytes = layers.iter().map(|&l| coef.memory[l]).collect();
    fitting(busy, cap).min(fitting(bytes, coef.capacity[i]))
}

/// Throughput with a known plan of period `v`: the MILP asks for a plan of period at most
/// `v (1 - g)` (`g` the preset's relative gap, at least 1e-6), in which every node runs at most
/// the layers that fit that period ([`most_layers`]: the integer rounding its LP relaxation
/// lacks), and minimises the period among them. Infeasible: the known plan is optimal within
/// `g`. A plan proven optimal there is optimal overall (every better plan is in the model).
/// Otherwise (a plan, unproven) the next round asks below that plan, until the time limit.
fn solve_below(
    scorer: &Scorer<'_>,
    preset: &SolverPreset,
    mut options: MipOptions,
    start: Instant,
    first: (Vec<Stage>, f64),
    mut build_s: f64,
) -> Result<HighsOutcome> {
    let gap = preset.mip_rel_gap.max(1e-6);
    let (mut best, mut value) = first;
    // Exported: the model of periods up to the known plan's (its rounds ask for less), whose
    // optimum is the reported period.
    if options.write_model.is_some() {
        let model = build(scorer, value * (1.0 + 1e-6));
        model
            .milp
            .write_model(&model.objective, Sense::Minimise, &options)?;
        options.write_model = None;
    }
    let (mut solve_s, mut nodes, mut size) = (0.0, None::<i64>, None);
    let mut bound;
    let mut termination;
    loop {
        let cutoff = value * (1.0 - gap);
        let clock = Instant::now();
        let model = build(scorer, cutoff);
        build_s += clock.elapsed().as_secs_f64();
        size = size.or(Some(model.milp.size()));
        let result = model.milp.minimise(model.objective, &options)?;
        options.write_model = None;
        solve_s += result.solve_s;
        nodes = add_nodes(nodes, result.nodes);
        let found = result
            .values
            .as_ref()
            .and_then(|v| model.decoder.decode(v))
            .and_then(|stages| Some((scorer.objective(&stages)?, stages)))
            .filter(|(v, _)| *v < value);
        termination = result.termination;
        match (result.termination, found) {
            (Termination::Infeasible, _) => {
                // No plan of period at most the cutoff: the known one is optimal within `gap`.
                termination = Termination::Optimal;
                bound = cutoff;
                break;
            }
            (Termination::Optimal, Some((v, stages))) => {
                best = stages;
                value = v;
                bound = result.bound.unwrap_or(v).min(v);
                break;
            }
            (Termination::Optimal, None) => {
                // The model's optimum is at the cutoff, and its plan no better than the known
                // one: within HiGHS's tolerances there is no plan below the cutoff.
                bound = result.bound.unwrap_or(cutoff).min(cutoff);
                break;
            }
            (_, Some((v, stages))) => {
                best = stages;
                value = v;
                bound = result.bound.unwrap_or(0.0).min(cutoff);
            }
            (_, None) => {
                bound = result.bound.unwrap_or(0.0).min(cutoff);
                termination = Termination::LimitReached;
                break;
            }
        }
        let time_left = preset
            .time_limit_s
            .map(|t| t - start.elapsed().as_secs_f64());
        if time_left.is_some_and(|t| t <= 0.0) {
            termination = Termination::LimitReached;
            break;
        }
        options.time_limit_s = time_left;
    }
    let mut stats = SolveStats {
        termination,
        primal_status: PrimalStatus::Feasible,
        objective: Some(value),
        bound: Some(bound.min(value)),
        gap: Some(relative_gap(value, bound.min(value))),
        nodes,
        ..SolveStats::heuristic(&preset.name, build_s, solve_s)
    };
    if stats.termination != Termination::Optimal {
        stats.termination = Termination::LimitReached;
    }
    Ok(HighsOutcome {
        stats,
        plan: Some(scorer.plan(&best)),
        size,
    })
}

/// Most MILP solves of one `highs` run.
const MAX_ROUNDS: usize = 4;

/// Longest time the heuristic that supplies the first plan may take, s.
const HEURISTIC_BUDGET_S: f64 = 0.5;

/// Solves the instance of `scorer` with the MILP, in rounds: the first with every variable the
/// limits allow; each next one pruned at the best plan so far ([`build`]), which keeps the
/// optimal plans and puts the objective's coefficients at the optimum's scale (on instances whose
/// terms span many orders of magnitude, the first round's plan can be off within HiGHS's absolute
/// tolerances). A round runs only when it prunes something; the rounds stop when a plan no longer
/// improves or the time limit is spent. Every plan is checked against the coefficients
/// ([`Scorer::feasible`]) before it is kept. The statistics are the last round's, with times and
/// nodes summed and the best bound of all rounds.
pub fn solve_highs(
    scorer: &Scorer<'_>,
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
) -> Result<HighsOutcome> {
    let mut options = MipOptions::for_run(preset, run);
    options.model_header = header(
        "pipeline",
        &scorer.problem.name,
        "the reported objective (the period, s, for throughput), over the plans no worse than the \
         first known one (the others' variables are left out)",
    );
    let mut cap = f64::INFINITY;
    let mut size = None;
    let mut best: Option<(Vec<Stage>, f64)> = None;
    let mut last: Option<MipResult> = None;
    let mut bound = f64::NEG_INFINITY;
    let (mut build_s, mut solve_s, mut nodes) = (0.0, 0.0, None::<i64>);
    // The relaxation's bounds prune what no plan better than a known one uses, and its path,
    // when it meets every constraint, is optimal and the first plan.
    let clock = Instant::now();
    let limits = Filter {
        scorer,
        cap: f64::INFINITY,
        rate_limit: scorer.problem.min_requests_per_s.map(|r| 1.0 / r),
    };
    let relaxation = Relaxation::new(&limits);
    if let Some(stages) = relaxation.as_ref().and_then(|r| r.path(&limits)) {
        if let Some(v) = scorer.objective(&stages) {
            cap = v * (1.0 + 1e-6);
            best = Some((stages, v));
        }
    }
    // Otherwise the heuristic's plan (a few ms on the benchmark's sizes) is the first plan: it
    // prunes the first round and is its complete MIP start.
    if best.is_none() {
        let budget = std::time::Duration::from_secs_f64(HEURISTIC_BUDGET_S);
        if let Some(stages) = heuristics::local_search(scorer, Some(Instant::now() + budget)) {
            if let Some(v) = scorer.objective(&stages) {
                cap = v * (1.0 + 1e-6);
                best = Some((stages, v));
            }
        }
    }
    build_s += clock.elapsed().as_secs_f64();
    if let (Objective::Throughput, Some((stages, value))) = (scorer.problem.objective, &best) {
        return solve_below(
            scorer,
            preset,
            options,
            start,
            (stages.clone(), *value),
            build_s,
        );
    }
    for round in 0..MAX_ROUNDS {
        let clock = Instant::now();
        let mut model = build_with(scorer, cap, relaxation.as_ref());
        if round == 0 {
            size = Some(model.milp.size());
        }
        if let Some((stages, _)) = &best {
            let period = scorer.feasible(stages).map_or(0.0, |p| p.period_s);
            if let Some(values) = model.decoder.start(stages, period) {
                model.milp.set_start(values);
            }
        }
        build_s += clock.elapsed().as_secs_f64();
        let result = model.milp.minimise(model.objective, &options)?;
        solve_s += result.solve_s;
        nodes = add_nodes(nodes, result.nodes);
        options.write_model = None;
        if let Some(b) = result.bound {
            bound = bound.max(b);
        }
        let decoded = result.values.as_ref().and_then(|v| model.decoder.decode(v));
        let Some(stages) = decoded else {
            last = Some(result);
            break;
        };
        let value = scorer.objective(&stages);
        let improved = match (&best, value) {
            (None, _) => true,
            (Some((_, b)), Some(v)) => v < *b * (1.0 - 1e-9),
            (Some(_), None) => false,
        };
        let limit_hit = result.termination != Termination::Optimal;
        if improved {
            best = Some((stages, value.unwrap_or(f64::INFINITY)));
        }
        last = Some(result);
        let Some(value) = value else {
            // HiGHS's tolerances let through a plan the coefficients reject: no cap to prune at.
            break;
        };
        let spent = start.elapsed().as_secs_f64();
        let time_left = preset.time_limit_s.map(|t| t - spent);
        let next_cap = value * (1.0 + 1e-6);
        if !improved
            || limit_hit
            || value <= 0.0
            || time_left.is_some_and(|t| t <= 0.0)
            || model.largest_term <= next_cap
        {
            break;
        }
        options.time_limit_s = time_left;
        // A little above the best value, so that its own terms are never pruned.
        cap = next_cap;
    }
    let result = last.expect("at least one round ran");
    let mut stats = SolveStats {
        termination: result.termination,
        primal_status: result.primal_status,
        objective: None,
        bound: bound.is_finite().then_some(bound),
        gap: None,
        nodes,
        ..SolveStats::heuristic(&preset.name, build_s, solve_s)
    };
    let plan = match best {
        Some((stages, value)) => {
            if value.is_finite() {
                stats.objective = Some(value);
                if let Some(b) = stats.bound.as_mut() {
                    *b = b.min(value);
                    stats.gap = Some(relative_gap(value, *b));
                }
            }
            stats.primal_status = PrimalStatus::Feasible;
            if matches!(
                stats.termination,
                Termination::Infeasible | Termination::NoSolutionFound
            ) {
                // A later round stopped without a plan (out of time, or tolerances that reject
                // the kept plan): the plan stands, unproven.
                stats.termination = Termination::LimitReached;
            }
            Some(scorer.plan(&stages))
        }
        None => {
            stats.primal_status = PrimalStatus::NoPlan;
            if stats.termination == Termination::LimitReached
                || stats.termination == Termination::Optimal
            {
                stats.termination = Termination::NoSolutionFound;
            }
            None
        }
    };
    Ok(HighsOutcome { stats, plan, size })
}
