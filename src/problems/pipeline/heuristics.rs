//! The fast heuristic: a dynamic program over a fixed node order, and a local search over node
//! orders.
//!
//! **DP over an order.** Given an order of the candidate nodes (available and connected to the
//! source), the stages use a subsequence of the order, each node one contiguous layer range.
//! `f[t][q]` is the best value of a plan covering layers `..q` whose last stage runs on the
//! `t`-th node of the order; a stage `p..q` on node `u` enters from any earlier node `t` through
//! the transfer `cut(p, t, u)` (from the source through `input[u]` when `p = 0`), and the plan
//! ends with `output[u]`. Each stage respects the allowed pairs, the node's memory (with the tied
//! embedding's extra copy, as [`Coefficients::stage_memory`] counts it) and the per-stage part of
//! `min_requests_per_s` (its busy time); each transfer the per-transfer part (its airtime on
//! every arc it crosses). `max_stages`, when set, adds the stage count as a dimension. Cost
//! `O(L N^2 + L^2 N)` per order (`O(K)` times that with `max_stages = K`).
//! - Latency, energy and weighted objectives add over stages and transfers: the DP is exact for
//!   the order.
//! - Throughput minimises the period, a max over nodes' busy time and arcs' summed airtime: the
//!   DP minimises the bottleneck over stages' busy time and transfers' largest arc airtime (ties:
//!   least latency). It is exact for the order unless several transfers share an arc; every
//!   candidate is priced exactly by [`Scorer`].
//!
//! **Lower bound and shortcut.** The same DP without the order (any node after any other,
//! revisits allowed) is a relaxation: when its plan uses each node once and meets every
//! constraint at the relaxed value, it is optimal and returned at once.
//!
//! **Search over orders.** Initial orders: the relaxed plan's node sequence, the source first
//! then the nearest nodes by route latency, and the fastest nodes first (with and without the
//! source first). From the best, first-improvement moves (swap two nodes of the plan, move any
//! node before or after a node of the plan) until none improves or the deadline passes; finally
//! every boundary between two stages is moved to its best position (exact prices). Every
//! candidate is checked with [`Scorer::feasible`] (deadline, energy budget, rate floor, shared
//! arcs); when an order's plan for the objective is infeasible, plans of the order for other
//! criteria (latency, energy, their mix, the bottleneck) are tried.

use std::time::Instant;

use super::price::{Coefficients, Transfer};
use super::search::Scorer;
use super::{Objective, Stage};
use crate::solve::violation::within;

/// How values combine along a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Sum of item costs.
    Sum,
    /// Max of item values (ties broken by the sum of `tie`).
    Max,
}

/// A criterion the DP minimises.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Criterion {
    /// `a * latency + b * energy`, additive.
    Additive { a: f64, b: f64 },
    /// The bottleneck: stage busy time and transfer arc airtime.
    Bottleneck,
}

/// A DP value: the main part and a tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Val {
    main: f64,
    tie: f64,
}

const INF: Val = Val {
    main: f64::INFINITY,
    tie: f64::INFINITY,
};

impl Val {
    fn combine(self, other: Val, mode: Mode) -> Val {
        Val {
            main: match mode {
                Mode::Sum => self.main + other.main,
                Mode::Max => self.main.max(other.main),
            },
            tie: self.tie + other.tie,
        }
    }

    fn less(self, other: Val) -> bool {
        self.main < other.main || (self.main == other.main && self.tie < other.tie)
    }
}

/// What does not depend on the criterion: candidate nodes and the valid stages of each node.
struct Shape {
    layers: usize,
    nodes: usize,
    /// Available nodes connected to the source.
    candidates: Vec<usize>,
    /// `lo[u * (L + 1) + q]`: the smallest `p >= 1` such that every stage `p'..q`, `p <= p' < q`,
    /// is valid on `u` (`q` when none).
    lo: Vec<usize>,
    /// `zero[u * (L + 1) + q]`: whether the stage `0..q` is valid on `u`.
    zero: Vec<bool>,
    /// Stage-count dimension (1 when `max_stages` is unset).
    kdim: usize,
    /// Whether `kdim` counts stages.
    counted: bool,
}

impl Shape {
    fn new(scorer: &Scorer<'_>) -> Shape {
        let (problem, coef) = (scorer.problem, scorer.coef);
        let (n, nodes) = (coef.layers, coef.nodes);
        let candidates: Vec<usize> = (0..nodes)
            .filter(|&i| coef.input[i].is_some() && (0..n).any(|l| coef.place[l][i].is_some()))
            .collect();
        let mut mem = vec![0.0; n + 1];
        for l in 0..n {
            mem[l + 1] = mem[l] + coef.memory[l];
        }
        let limit = problem.min_requests_per_s.map(|r| 1.0 / r);
        let mut lo = vec![0; nodes * (n + 1)];
        let mut zero = vec![false; nodes * (n + 1)];
        for u in 0..nodes {
            let mut busy = vec![0.0; n + 1];
            for l in 0..n {
                busy[l + 1] = busy[l] + coef.place[l][u].as_ref().map_or(0.0, |p| p.busy_s);
            }
            let fits = |p: usize, q: usize| {
                let tied = if q == n && p > 0 {
                    coef.tied_extra
                } else {
                    0.0
                };
                within(mem[q] - mem[p] + tied, coef.capacity[u])
                    && limit.is_none_or(|t| within(busy[q] - busy[p], t))
            };
            for q in 1..=n {
                let mut p = q;
                while p > 1 && coef.place[p - 1][u].is_some() && fits(p - 1, q) {
                    p -= 1;
                }
                lo[u * (n + 1) + q] = p;
                zero[u * (n + 1) + q] = (0..q).all(|l| coef.place[l][u].is_some()) && fits(0, q);
            }
        }
        let (kdim, counted) = match problem.rules.max_stages {
            Some(k) => (k.min(nodes).max(1), true),
            None => (1, false),
        };
        Shape {
            layers: n,
            nodes,
            candidates,
            lo,
            zero,
            kdim,
            counted,
        }
    }

    /// The first layers `p` of the valid stages `p..q` on `u`, as a range `lo..q` and whether
    /// `0` is valid besides.
    fn window(&self, u: usize, q: usize) -> (usize, bool) {
        let k = u * (self.layers + 1) + q;
        (self.lo[k], self.zero[k])
    }
}

/// The values of items under one criterion.
struct Tables {
    mode: Mode,
    /// `seg[u * (L + 1) + l]`: prefix sums of the layers' values on `u`.
    seg: Vec<Val>,
    input: Vec<Val>,
    output: Vec<Val>,
    /// `cut[(p * N + i) * N + j]`.
    cut: Vec<Val>,
}

impl Tables {
    fn new(scorer: &Scorer<'_>, criterion: Criterion) -> Tables {
        let coef = scorer.coef;
        let (n, nodes) = (coef.layers, coef.nodes);
        let limit = scorer.problem.min_requests_per_s.map(|r| 1.0 / r);
        let mode = match criterion {
            Criterion::Additive { .. } => Mode::Sum,
            Criterion::Bottleneck => Mode::Max,
        };
        let transfer = |t: Option<&Transfer>| -> Val {
            let Some(t) = t else { return INF };
            if let Some(limit) = limit {
                if t.arcs.iter().any(|&(_, s)| !within(s, limit)) {
                    return INF;
                }
            }
            match criterion {
                Criterion::Additive { a, b } => Val {
                    main: a * t.item.latency_s + b * t.item.energy_j,
                    tie: 0.0,
                },
                Criterion::Bottleneck => Val {
                    main: t.arcs.iter().fold(0.0, |m, &(_, s)| m.max(s)),
                    tie: t.item.latency_s,
                },
            }
        };
        let mut seg = vec![
            Val {
                main: 0.0,
                tie: 0.0
            };
            nodes * (n + 1)
        ];
        for u in 0..nodes {
            for l in 0..n {
                let v = match (&coef.place[l][u], criterion) {
                    (None, _) => Val {
                        main: 0.0,
                        tie: 0.0,
                    },
                    (Some(p), Criterion::Additive { a, b }) => Val {
                        main: a * p.item.latency_s + b * p.item.energy_j,
                        tie: 0.0,
                    },
                    (Some(p), Criterion::Bottleneck) => Val {
                        main: p.busy_s,
                        tie: p.item.latency_s,
                    },
                };
                let prev = seg[u * (n + 1) + l];
                seg[u * (n + 1) + l + 1] = Val {
                    main: prev.main + v.main,
                    tie: prev.tie + v.tie,
                };
            }
        }
        let mut cut = vec![INF; n * nodes * nodes];
        for p in 1..n {
            for i in 0..nodes {
                for j in 0..nodes {
                    if i != j {
                        cut[(p * nodes + i) * nodes + j] = transfer(coef.cut(p, i, j));
                    }
                }
            }
        }
        Tables {
            mode,
            seg,
            input: coef.input.iter().map(|t| transfer(t.as_ref())).collect(),
            output: coef.output.iter().map(|t| transfer(t.as_ref())).collect(),
            cut,
        }
    }

    /// The value of the stage `p..q` on `u` (`L` layers).
    fn stage(&self, layers: usize, u: usize, p: usize, q: usize) -> Val {
        let (a, b) = (
            self.seg[u * (layers + 1) + q],
            self.seg[u * (layers + 1) + p],
        );
        Val {
            main: a.main - b.main,
            tie: a.tie - b.tie,
        }
    }
}

/// The DP's work space for one order.
struct Dp<'a> {
    shape: &'a Shape,
    tables: &'a Tables,
}

impl Dp<'_> {
    /// The best stage list over `order` (strict: stages follow the order; relaxed: any node may
    /// follow any other, revisits included) and its DP value.
    fn solve(&self, order: &[usize], strict: bool) -> Option<(Vec<Stage>, Val)> {
        let (shape, tables) = (self.shape, self.tables);
        let (n, nn, m, kdim) = (shape.layers, shape.nodes, order.len(), shape.kdim);
        if m == 0 {
            return None;
        }
        let mode = tables.mode;
        let idx = |k: usize, q: usize, t: usize| (k * (n + 1) + q) * m + t;
        // f: best value with the last stage (the k-th) ending at q on order[t]; fb: its start.
        let mut f = vec![INF; kdim * (n + 1) * m];
        let mut fb = vec![0usize; kdim * (n + 1) * m];
        // h: best value entering the k-th stage at p on order[u]; hb: the previous node.
        let mut h = vec![INF; kdim * (n + 1) * m];
        let mut hb = vec![0usize; kdim * (n + 1) * m];
        for (u, &node) in order.iter().enumerate() {
            h[idx(0, 0, u)] = tables.input[node];
        }
        for q in 1..=n {
            let p = q - 1;
            if p >= 1 {
                for k in 0..kdim {
                    let from = if shape.counted {
                        if k == 0 {
                            continue;
                        }
                        k - 1
                    } else {
                        k
                    };
                    for (u, &node) in order.iter().enumerate() {
                        let mut best = INF;
                        let mut arg = 0;
                        for (t, &prev) in order.iter().enumerate() {
                            if (strict && t >= u) || prev == node {
                                if strict {
                                    break;
                                }
                                continue;
                            }
                            let fv = f[idx(from, p, t)];
                            if fv.main.is_infinite() {
                                continue;
                            }
                            let c = tables.cut[(p * nn + prev) * nn + node];
                            let v = fv.combine(c, mode);
                            if v.less(best) {
                                best = v;
                                arg = t;
                            }
                        }
                        h[idx(k, p, u)] = best;
                        hb[idx(k, p, u)] = arg;
                    }
                }
            }
            for k in 0..kdim {
                for (u, &node) in order.iter().enumerate() {
                    let (lo, zero) = shape.window(node, q);
                    let mut best = INF;
                    let mut arg = 0;
                    let mut consider = |p: usize| {
                        let hv = h[idx(k, p, u)];
                        if hv.main.is_infinite() {
                            return;
                        }
                        let v = hv.combine(tables.stage(n, node, p, q), mode);
                        if v.less(best) {
                            best = v;
                            arg = p;
                        }
                    };
                    for p in lo.max(1)..q {
                        consider(p);
                    }
                    if zero && k == 0 {
                        consider(0);
                    }
                    f[idx(k, q, u)] = best;
                    fb[idx(k, q, u)] = arg;
                }
            }
        }
        let mut best = INF;
        let mut end = None;
        for k in 0..kdim {
            for (u, &node) in order.iter().enumerate() {
                let fv = f[idx(k, n, u)];
                if fv.main.is_infinite() {
                    continue;
                }
                let v = fv.combine(tables.output[node], mode);
                if v.less(best) {
                    best = v;
                    end = Some((k, u));
                }
            }
        }
        let (mut k, mut u) = end?;
        let mut q = n;
        let mut stages = Vec::new();
        loop {
            let p = fb[idx(k, q, u)];
            stages.push(Stage {
                node: order[u],
                start: p,
                end: q,
            });
            if p == 0 {
                break;
            }
            let t = hb[idx(k, p, u)];
            if shape.counted {
                k -= 1;
            }
            q = p;
            u = t;
        }
        stages.reverse();
        Some((stages, best))
    }
}

/// Whether every node runs at most one stage.
fn distinct(stages: &[Stage], nodes: usize) -> bool {
    let mut used = vec![false; nodes];
    stages
        .iter()
        .all(|s| !std::mem::replace(&mut used[s.node], true))
}

/// The search state: tables per criterion and the best plan.
struct Search<'a> {
    scorer: &'a Scorer<'a>,
    shape: Shape,
    /// The objective's criterion first, then fallbacks for infeasible plans.
    tables: Vec<Tables>,
    best: Option<(Vec<Stage>, f64)>,
}

impl Search<'_> {
    /// Prices `stages` exactly and keeps them when better; their objective when feasible.
    fn offer(&mut self, stages: &[Stage]) -> Option<f64> {
        let v = self.scorer.objective(stages)?;
        if self.best.as_ref().is_none_or(|(_, b)| improves(v, *b)) {
            self.best = Some((stages.to_vec(), v));
        }
        Some(v)
    }

    /// The best feasible objective of `order`'s plans (the objective's criterion, then the
    /// fallbacks while none is feasible); infinity when none is.
    fn evaluate(&mut self, order: &[usize]) -> f64 {
        for c in 0..self.tables.len() {
            let dp = Dp {
                shape: &self.shape,
                tables: &self.tables[c],
            };
            if let Some((stages, _)) = dp.solve(order, true) {
                if let Some(v) = self.offer(&stages) {
                    return v;
                }
            }
        }
        f64::INFINITY
    }
}

/// Whether `v` is better than `best` by more than rounding.
fn improves(v: f64, best: f64) -> bool {
    v < best - 1e-12 * best.abs()
}

/// The criteria for `scorer`'s instance: the objective's, then the fallbacks.
fn criteria(scorer: &Scorer<'_>) -> Vec<Criterion> {
    let (problem, coef) = (scorer.problem, scorer.coef);
    let primary = match problem.objective {
        Objective::Latency => Criterion::Additive { a: 1.0, b: 0.0 },
        Objective::Energy => Criterion::Additive { a: 0.0, b: 1.0 },
        Objective::Weighted {
            latency_weight,
            energy_weight,
        } => Criterion::Additive {
            a: latency_weight,
            b: energy_weight,
        },
        Objective::Throughput => Criterion::Bottleneck,
    };
    let mut out = vec![primary];
    let constrained = problem.deadline_s.is_some()
        || problem.energy_budget_j.is_some()
        || problem.min_requests_per_s.is_some();
    if constrained {
        // Scales that make latency and energy comparable: the cheapest layer on any node.
        let scale = |f: &dyn Fn(&super::price::Placement) -> f64| -> f64 {
            let s: f64 = coef
                .place
                .iter()
                .map(|row| row.iter().flatten().map(f).fold(f64::INFINITY, f64::min))
                .filter(|x| x.is_finite())
                .sum();
            if s > 0.0 {
                1.0 / s
            } else {
                1.0
            }
        };
        let ls = scale(&|p| p.item.latency_s);
        let es = scale(&|p| p.item.energy_j);
        for c in [
            Criterion::Additive { a: 1.0, b: 0.0 },
            Criterion::Additive { a: 0.0, b: 1.0 },
            Criterion::Additive { a: ls, b: es },
            Criterion::Additive { a: ls, b: 4.0 * es },
            Criterion::Additive { a: 4.0 * ls, b: es },
            Criterion::Bottleneck,
        ] {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// A lower bound on the objective of every plan: the relaxation's value (the DP without the
/// order, revisits allowed; for throughput the bottleneck, which every plan's period reaches);
/// `None` when not even the relaxation has a plan. Tight for the additive objectives (usually the
/// optimum); weak for throughput, where revisits split a fast node's work into several stages.
pub fn lower_bound(scorer: &Scorer<'_>) -> Option<f64> {
    let shape = Shape::new(scorer);
    let tables = Tables::new(scorer, criteria(scorer)[0]);
    let dp = Dp {
        shape: &shape,
        tables: &tables,
    };
    dp.solve(&shape.candidates, false).map(|(_, v)| v.main)
}

/// The best stage list the heuristic finds before `deadline` (`None`: no feasible plan found).
pub fn local_search(scorer: &Scorer<'_>, deadline: Option<Instant>) -> Option<Vec<Stage>> {
    let coef = scorer.coef;
    let shape = Shape::new(scorer);
    if shape.candidates.is_empty() {
        return None;
    }
    let tables: Vec<Tables> = criteria(scorer)
        .into_iter()
        .map(|c| Tables::new(scorer, c))
        .collect();
    let mut search = Search {
        scorer,
        shape,
        tables,
        best: None,
    };
    let late = || deadline.is_some_and(|d| Instant::now() >= d);

    // The relaxation: a lower bound, and often the optimum.
    let relaxed = Dp {
        shape: &search.shape,
        tables: &search.tables[0],
    }
    .solve(&search.shape.candidates.clone(), false);
    let Some((relaxed_stages, bound)) = relaxed else {
        // Not even the relaxation has a plan: no stage list fits.
        return None;
    };
    if distinct(&relaxed_stages, coef.nodes) && search.offer(&relaxed_stages).is_some() {
        let v = search.best.as_ref().map(|b| b.1).unwrap_or(f64::INFINITY);
        if !improves(bound.main, v) {
            return search.best.map(|(s, _)| s);
        }
    }

    // Initial orders.
    let candidates = search.shape.candidates.clone();
    let mut orders: Vec<Vec<usize>> = Vec::new();
    let complete = |head: Vec<usize>, rest: &[usize]| -> Vec<usize> {
        let mut out = Vec::with_capacity(rest.len());
        for i in head.into_iter().chain(rest.iter().copied()) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    };
    let source = scorer.problem.source;
    let by_distance = {
        let mut v = candidates.clone();
        let dist = |i: usize| {
            coef.input[i]
                .as_ref()
                .map_or(f64::INFINITY, |t| t.item.latency_s)
        };
        v.sort_by(|&a, &b| dist(a).total_cmp(&dist(b)).then(a.cmp(&b)));
        v
    };
    let by_speed = {
        let mut v = candidates.clone();
        let busy = |i: usize| -> f64 {
            coef.place
                .iter()
                .map(|row| row[i].as_ref().map_or(f64::INFINITY, |p| p.busy_s))
                .sum()
        };
        v.sort_by(|&a, &b| busy(a).total_cmp(&busy(b)).then(a.cmp(&b)));
        v
    };
    orders.push(complete(
        relaxed_stages.iter().map(|s| s.node).collect(),
        &by_distance,
    ));
    orders.push(complete(
        vec![source],
        &nearest_chain(coef, source, &candidates),
    ));
    orders.push(by_distance.clone());
    orders.push(complete(vec![source], &by_speed));
    orders.push(by_speed);
    let mut current: Option<(Vec<usize>, f64)> = None;
    for order in orders {
        if current.as_ref().is_some_and(|(o, _)| *o == order) {
            continue;
        }
        let v = search.evaluate(&order);
        if current.as_ref().is_none_or(|(_, b)| improves(v, *b)) {
            current = Some((order, v));
        }
        if late() {
            break;
        }
    }
    let (mut order, mut value) = current?;

    // Local search over orders.
    let at_bound = |v: f64| !improves(bound.main, v);
    let mut rounds = 0;
    'outer: while !late() && !at_bound(value) && rounds < 1000 {
        rounds += 1;
        let used: Vec<usize> = match &search.best {
            Some((stages, _)) => stages
                .iter()
                .filter_map(|s| order.iter().position(|&x| x == s.node))
                .collect(),
            None => (0..order.len()).collect(),
        };
        for candidate in moves(&order, &used) {
            if late() {
                break 'outer;
            }
            let v = search.evaluate(&candidate);
            if improves(v, value) {
                order = candidate;
                value = v;
                continue 'outer;
            }
        }
        break;
    }

    // Boundary polish with exact prices.
    let (mut stages, mut best) = search.best.clone()?;
    let mut changed = true;
    let mut passes = 0;
    while changed && passes < 20 && !late() {
        changed = false;
        passes += 1;
        for b in 1..stages.len() {
            let (lo, hi) = (stages[b - 1].start + 1, stages[b].end - 1);
            for x in lo..=hi {
                if x == stages[b].start {
                    continue;
                }
                let mut trial = stages.clone();
                trial[b - 1].end = x;
                trial[b].start = x;
                if let Some(v) = scorer.objective(&trial) {
                    if improves(v, best) {
                        stages = trial;
                        best = v;
                        changed = true;
                    }
                }
            }
        }
    }
    Some(stages)
}

/// The source, then repeatedly the candidate nearest (by route latency) to the last one taken.
fn nearest_chain(coef: &Coefficients, source: usize, candidates: &[usize]) -> Vec<usize> {
    let mut out = vec![source];
    let mut left: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| i != source)
        .collect();
    let mut last = source;
    while !left.is_empty() {
        let dist = |j: usize| -> f64 {
            coef.network
                .shortest_path(last, j)
                .and_then(|path| coef.network.path_arcs(&path))
                .map_or(f64::INFINITY, |arcs| {
                    arcs.iter().map(|&a| coef.network.arcs[a].latency_s).sum()
                })
        };
        let (k, _) = left
            .iter()
            .enumerate()
            .min_by(|a, b| dist(*a.1).total_cmp(&dist(*b.1)).then(a.1.cmp(b.1)))
            .expect("not empty");
        last = left.remove(k);
        out.push(last);
    }
    out
}

/// Neighbours of `order`: swaps of two positions of the plan, and every node moved just before
/// or just after a position of the plan.
fn moves(order: &[usize], used: &[usize]) -> Vec<Vec<usize>> {
    let m = order.len();
    let mut out: Vec<Vec<usize>> = Vec::new();
    let push = |o: Vec<usize>, out: &mut Vec<Vec<usize>>| {
        if o != order && !out.contains(&o) {
            out.push(o);
        }
    };
    for (a, &i) in used.iter().enumerate() {
        for &j in &used[a + 1..] {
            let mut o = order.to_vec();
            o.swap(i, j);
            push(o, &mut out);
        }
    }
    let mut targets: Vec<usize> = used.iter().flat_map(|&i| [i, i + 1]).collect();
    targets.push(0);
    targets.sort_unstable();
    targets.dedup();
    for from in 0..m {
        for &to in &targets {
            // Insert order[from] so that it lands before the element now at `to`.
            let mut o = order.to_vec();
            let x = o.remove(from);
            let at = if to > from { to - 1 } else { to };
            o.insert(at.min(o.len()), x);
            push(o, &mut out);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fmt::Write as _;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::problems::pipeline::price::Coefficients;
    use crate::problems::pipeline::search::enumerate;
    use crate::problems::pipeline::PipelineProblem;

    /// A seeded random instance: `nodes` nodes in the unit square (node 0 a phone, the source),
    /// links between nodes closer than 0.5 plus a spanning chain to the nearest earlier node,
    /// `model` in fp16, memory drawn so that it binds; `extra` is appended to the file.
    pub(crate) fn instance(
        seed: u64,
        nodes: usize,
        model: &str,
        objective: &str,
        extra: &str,
    ) -> PipelineProblem {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/instances");
        let devices = [
            "rpi5",
            "jetson-orin-nano-8gb",
            "jetson-agx-orin-64gb",
            "laptop-m2-pro",
            "rtx-4090",
            "l4",
            "a100-80gb-sxm",
        ];
        let mut s = String::new();
        writeln!(
            s,
            "problem = \"pipeline\"\nname = \"t{seed}\"\nmodel = \"{model}\"\nsource = \"n0\"\n\
             devices = \"{root}/devices.csv\"\nmodels_dir = \"{root}/models\"\n\
             profiles_dir = \"{root}/profiles\"\n\
             [workload]\nmode = \"inference\"\nprompt_tokens = 128\ngenerate_tokens = 8\n"
        )
        .unwrap();
        let pos: Vec<(f64, f64)> = (0..nodes).map(|_| (rng.gen(), rng.gen())).collect();
        for i in 0..nodes {
            let device = if i == 0 {
                "phone-sd8gen3"
            } else {
                devices[rng.gen_range(0..devices.len())]
            };
            let mem: f64 = rng.gen_range(0.05e9..0.4e9);
            writeln!(
                s,
                "[[nodes]]\nname = \"n{i}\"\ndevice = \"{device}\"\nmemory_bytes = {mem}\n"
            )
            .unwrap();
        }
        let d = |a: usize, b: usize| {
            ((pos[a].0 - pos[b].0).powi(2) + (pos[a].1 - pos[b].1).powi(2)).sqrt()
        };
        for j in 1..nodes {
            let near = (0..j).min_by(|&a, &b| d(a, j).total_cmp(&d(b, j))).unwrap();
            for i in 0..j {
                if i == near || d(i, j) < 0.5 {
                    let rate = [20e6, 100e6, 1e9][rng.gen_range(0..3)];
                    let lat = 0.001 + 0.01 * d(i, j);
                    writeln!(
                        s,
                        "[[links]]\na = \"n{i}\"\nb = \"n{j}\"\nbandwidth_bps = {rate}\n\
                         latency_s = {lat}\n"
                    )
                    .unwrap();
                }
            }
        }
        writeln!(s, "[objective]\n{objective}\n{extra}").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.toml");
        std::fs::write(&path, s).unwrap();
        crate::instance::pipeline::load(&path).unwrap()
    }

    /// Local search against enumeration on `cases` instances: never better, equal on most.
    fn compare(objective: &str, extra: &str, nodes: usize, cases: u64) {
        let mut equal = 0;
        let mut solved = 0;
        let mut stages_total = 0;
        for seed in 0..cases {
            let problem = instance(seed, nodes, "gpt2", objective, extra);
            let coef = Coefficients::new(&problem);
            let scorer = Scorer {
                problem: &problem,
                coef: &coef,
            };
            let exact = enumerate(&scorer).unwrap();
            let found = local_search(&scorer, None);
            match (&exact, &found) {
                (None, Some(stages)) => panic!("seed {seed}: infeasible, yet found {stages:?}"),
                (_, None) => {}
                (Some((best, opt)), Some(stages)) => {
                    stages_total += best.len();
                    let v = scorer
                        .objective(stages)
                        .unwrap_or_else(|| panic!("seed {seed}: infeasible plan {stages:?}"));
                    assert!(v >= opt * (1.0 - 1e-9), "seed {seed}: {v} < optimum {opt}");
                    solved += 1;
                    if v <= opt * (1.0 + 1e-9) {
                        equal += 1;
                    }
                }
            }
            if exact.is_some() {
                assert!(found.is_some(), "seed {seed}: no plan, optimum exists");
            }
        }
        eprintln!(
            "{objective} {extra}: optimal on {equal} of {solved} of {cases}, {stages_total} stages"
        );
        assert!(solved > 0, "no instance solved");
        assert!(
            equal * 10 >= solved * 8,
            "{objective} {extra}: optimal on {equal} of {solved}"
        );
    }

    #[test]
    fn latency_matches_enumeration() {
        compare("kind = \"latency\"", "", 5, 12);
    }

    #[test]
    fn throughput_matches_enumeration() {
        compare("kind = \"throughput\"", "", 5, 12);
    }

    #[test]
    fn energy_and_weighted_match_enumeration() {
        compare("kind = \"energy\"\nenergy_scope = \"all\"", "", 5, 8);
        compare(
            "kind = \"weighted\"\nlatency_weight = 1.0\nenergy_weight = 0.05",
            "",
            5,
            8,
        );
    }

    #[test]
    fn rules_and_limits_are_respected() {
        compare(
            "kind = \"latency\"",
            "[constraints]\nmax_stages = 2\nembed_on_source = true",
            5,
            8,
        );
        compare(
            "kind = \"throughput\"",
            "[constraints]\nmax_stages = 3\ndeadline_s = 0.5",
            5,
            8,
        );
        compare(
            "kind = \"energy\"",
            "[constraints]\ndeadline_s = 0.4\nmin_requests_per_s = 4.0",
            5,
            8,
        );
    }
}
