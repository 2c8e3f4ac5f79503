//! The fast heuristic: Lagrangian pricing of the edge's shared resources over a choice of the
//! variants it holds, then a repair and a local search.
//!
//! 1. **Variant sets.** The edge holds a set `S` of variants (weights once each). With `S` fixed
//!    the problem is a multiple-choice knapsack with three resources: blocks `N`, utilisation
//!    `rho_max` and the memory left after the weights, over the options whose edge variant is in
//!    `S` (or none). Every set that fits is tried when at most [`MAX_ENUMERATED_VARIANTS`]
//!    variants appear in options; otherwise the empty set, the sets of one or two variants and
//!    the prefixes of the variants by how many users' best options use them.
//! 2. **Pricing.** For each set, a subgradient method on the multipliers `lambda` of the three
//!    resources (each normalised by its capacity): every user takes the option maximising
//!    `value - lambda . resources` (its primary value, weighted; ties to the lower latency);
//!    the dual value is an upper bound of the set's primary objective, so sets whose bound cannot
//!    beat the best plan found are not repaired.
//! 3. **Repair** of the pricing's best choice: while a resource is exceeded, the switch that
//!    removes the most excess per unit of value lost.
//! 4. **Local search** over all options (the set may change): single-user switches that improve
//!    the user's (primary value, latency) lexicographically and fit, then upgrades paired with a
//!    compensating switch of another user, until none improves.
//!
//! Deterministic; returns `None` when a user has no option or no choice found fits.

use super::milp::choice_fits;
use super::price::{self, Options, LIMIT_TOL};
use super::CollabProblem;

/// Variant sets are enumerated exhaustively up to this many candidate variants.
pub const MAX_ENUMERATED_VARIANTS: usize = 6;

/// Subgradient iterations per variant set.
const ITERATIONS: usize = 40;

/// Local search passes at most.
const MAX_PASSES: usize = 50;

/// Upgrades per user tried with a compensating switch of another user.
const PAIR_UPGRADES: usize = 2;

/// Improvements below this (relative) are noise.
const EPS: f64 = 1e-12;

/// The flattened data of one option.
#[derive(Debug, Clone, Copy)]
struct Opt {
    /// Weighted primary value (divided by the total weight).
    value: f64,
    /// Weighted latency at its fewest blocks (divided by the total weight).
    latency: f64,
    blocks: usize,
    load: f64,
    private: f64,
    edge: Option<usize>,
}

/// The instance as the heuristic sees it.
struct Data {
    opts: Vec<Vec<Opt>>,
    blocks_cap: usize,
    load_cap: f64,
    memory_cap: f64,
    weights: Vec<f64>,
}

impl Data {
    fn new(problem: &CollabProblem, options: &Options) -> Data {
        let total = problem.total_weight();
        let norm = if total > 0.0 && total.is_finite() {
            total
        } else {
            1.0
        };
        let opts = options
            .options
            .iter()
            .enumerate()
            .map(|(u, list)| {
                let w = problem.users[u].weight / norm;
                list.iter()
                    .map(|p| Opt {
                        value: w * price::primary_value(problem, u, p.quality),
                        latency: w * p.min_latency(),
                        blocks: p.min_blocks.unwrap_or(usize::MAX / 4),
                        load: p.load,
                        private: p.edge_private_bytes,
                        edge: p.edge_variant(),
                    })
                    .collect()
            })
            .collect();
        let edge = &problem.edge;
        Data {
            opts,
            blocks_cap: edge.resource_blocks,
            // A hair inside the tolerance of `fits`, against rounding in the running sums.
            load_cap: edge.max_utilisation * (1.0 + LIMIT_TOL) * (1.0 - 1e-12),
            memory_cap: edge.memory_bytes * (1.0 + LIMIT_TOL) * (1.0 - 1e-12),
            weights: problem.variants.iter().map(|v| v.weight_bytes()).collect(),
        }
    }

    /// Whether option `a` is lexicographically better for its user than `b`.
    fn better(a: &Opt, b: &Opt) -> bool {
        let margin = EPS * a.value.abs().max(b.value.abs()).max(1e-300);
        a.value > b.value + margin
            || (a.value >= b.value - margin && a.latency < b.latency * (1.0 - EPS))
    }
}

/// A choice with its running resource sums.
#[derive(Clone)]
struct State {
    pick: Vec<usize>,
    blocks: usize,
    load: f64,
    memory: f64,
    held: Vec<usize>,
}

impl State {
    fn new(data: &Data, pick: Vec<usize>) -> State {
        let mut s = State {
            pick,
            blocks: 0,
            load: 0.0,
            memory: 0.0,
            held: vec![0; data.weights.len()],
        };
        s.recompute(data);
        s
    }

    fn recompute(&mut self, data: &Data) {
        self.blocks = 0;
        self.load = 0.0;
        self.memory = 0.0;
        self.held.iter_mut().for_each(|h| *h = 0);
        for (u, &o) in self.pick.iter().enumerate() {
            let p = &data.opts[u][o];
            self.blocks += p.blocks;
            self.load += p.load;
            self.memory += p.private;
            if let Some(v) = p.edge {
                if self.held[v] == 0 {
                    self.memory += data.weights[v];
                }
                self.held[v] += 1;
            }
        }
    }

    fn feasible(&self, data: &Data) -> bool {
        self.blocks <= data.blocks_cap
            && self.load <= data.load_cap
            && self.memory <= data.memory_cap
    }

    /// The sums after user `u` switches to `o`: (blocks, load, memory).
    fn after(&self, data: &Data, u: usize, o: usize) -> (usize, f64, f64) {
        let cur = &data.opts[u][self.pick[u]];
        let new = &data.opts[u][o];
        let blocks = self.blocks - cur.blocks + new.blocks;
        let load = self.load - cur.load + new.load;
        let mut memory = self.memory - cur.private + new.private;
        if cur.edge != new.edge {
            if let Some(v) = cur.edge {
                if self.held[v] == 1 {
                    memory -= data.weights[v];
                }
            }
            if let Some(t) = new.edge {
                if self.held[t] == 0 {
                    memory += data.weights[t];
                }
            }
        }
        (blocks, load, memory)
    }

    fn fits_after(&self, data: &Data, u: usize, o: usize) -> bool {
        let (b, l, m) = self.after(data, u, o);
        b <= data.blocks_cap && l <= data.load_cap && m <= data.memory_cap
    }

    fn switch(&mut self, data: &Data, u: usize, o: usize) {
        let (b, l, m) = self.after(data, u, o);
        if let Some(v) = data.opts[u][self.pick[u]].edge {
            self.held[v] -= 1;
        }
        if let Some(t) = data.opts[u][o].edge {
            self.held[t] += 1;
        }
        self.pick[u] = o;
        self.blocks = b;
        self.load = l;
        self.memory = m;
    }

    /// Total excess over the capacities, each relative to its capacity.
    fn excess(data: &Data, blocks: usize, load: f64, memory: f64) -> f64 {
        let rel = |x: f64, cap: f64| {
            if x <= cap {
                0.0
            } else {
                (x - cap) / cap.max(1e-300)
            }
        };
        rel(blocks as f64, data.blocks_cap as f64)
            + rel(load, data.load_cap)
            + rel(memory, data.memory_cap)
    }
}

/// The heuristic's choice: one option index per user (see the module documentation).
pub fn greedy(problem: &CollabProblem, options: &Options) -> Option<Vec<usize>> {
    if options.options.iter().any(|o| o.is_empty()) {
        return None;
    }
    let data = Data::new(problem, options);
    let sets = variant_sets(&data);
    // Per set: the subgradient's upper bound and the best-priced choice.
    let mut priced: Vec<(f64, Vec<usize>, Vec<bool>)> = sets
        .into_iter()
        .filter_map(|s| lagrange(&data, &s).map(|(ub, pick)| (ub, pick, s)))
        .collect();
    priced.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best: Option<State> = None;
    let mut best_value = f64::NEG_INFINITY;
    for (ub, pick, allowed) in priced {
        if ub < best_value - 1e-9 * best_value.abs().max(1e-12) {
            continue;
        }
        let mut state = State::new(&data, pick);
        if !repair(&data, &mut state, &allowed) {
            continue;
        }
        improve(&data, &mut state, Some(&allowed));
        let value = total_value(&data, &state);
        if best.is_none() || value > best_value + EPS * value.abs() {
            best_value = value;
            best = Some(state);
        }
    }
    let mut state = best?;
    improve(&data, &mut state, None);
    state.recompute(&data);
    choice_fits(problem, options, &state.pick).then_some(state.pick)
}

/// The local search (see the module documentation) from a fitting choice: a choice at least as
/// good lexicographically that fits (`choice` itself when it does not fit or is malformed).
pub fn polish(problem: &CollabProblem, options: &Options, choice: &[usize]) -> Vec<usize> {
    let well_formed = choice.len() == options.options.len()
        && choice
            .iter()
            .zip(&options.options)
            .all(|(&o, list)| o < list.len());
    if !well_formed {
        return choice.to_vec();
    }
    let data = Data::new(problem, options);
    let mut state = State::new(&data, choice.to_vec());
    if !state.feasible(&data) {
        return choice.to_vec();
    }
    improve(&data, &mut state, None);
    state.recompute(&data);
    if choice_fits(problem, options, &state.pick) {
        state.pick
    } else {
        choice.to_vec()
    }
}

fn total_value(data: &Data, state: &State) -> f64 {
    state
        .pick
        .iter()
        .enumerate()
        .map(|(u, &o)| data.opts[u][o].value)
        .sum()
}

/// The variant sets to try, as membership masks (see the module documentation).
fn variant_sets(data: &Data) -> Vec<Vec<bool>> {
    let nv = data.weights.len();
    let mut used = vec![0usize; nv];
    for list in &data.opts {
        // The variant of the user's best option, and whether a variant appears at all.
        let best = list
            .iter()
            .enumerate()
            .fold(None::<usize>, |b, (i, o)| match b {
                Some(j) if !Data::better(o, &list[j]) => Some(j),
                _ => Some(i),
            });
        for o in list {
            if let Some(v) = o.edge {
                used[v] = used[v].max(1);
            }
        }
        if let Some(v) = best.and_then(|j| list[j].edge) {
            used[v] += 1;
        }
    }
    let relevant: Vec<usize> = (0..nv).filter(|&v| used[v] > 0).collect();
    let mask = |members: &[usize]| {
        let mut m = vec![false; nv];
        for &v in members {
            m[v] = true;
        }
        m
    };
    let mut sets: Vec<Vec<bool>> = Vec::new();
    if relevant.len() <= MAX_ENUMERATED_VARIANTS {
        for bits in 0u32..(1 << relevant.len()) {
            let members: Vec<usize> = (0..relevant.len())
                .filter(|i| bits & (1 << i) != 0)
                .map(|i| relevant[i])
                .collect();
            sets.push(mask(&members));
        }
    } else {
        sets.push(mask(&[]));
        for (i, &a) in relevant.iter().enumerate() {
            sets.push(mask(&[a]));
            for &b in &relevant[i + 1..] {
                sets.push(mask(&[a, b]));
            }
        }
        let mut order = relevant.clone();
        order.sort_by(|a, b| used[*b].cmp(&used[*a]).then(a.cmp(b)));
        for k in 3..=order.len() {
            sets.push(mask(&order[..k]));
        }
    }
    sets.retain(|s| {
        let w: f64 = (0..nv).filter(|&v| s[v]).map(|v| data.weights[v]).sum();
        w <= data.memory_cap
    });
    sets
}

/// An allowed option in the pricing: its index, value, latency and normalised resources.
type Lane = (usize, f64, f64, [f64; 3]);

/// The subgradient method over the options allowed by variant set `allowed`: the least dual
/// value found (an upper bound of the set's weighted primary value, up to the latency
/// tie-break's small term) and the choice at the multipliers of the best feasible or least
/// violating choice seen. `None` when a user has no allowed option.
fn lagrange(data: &Data, allowed: &[bool]) -> Option<(f64, Vec<usize>)> {
    let weights: f64 = (0..allowed.len())
        .filter(|&v| allowed[v])
        .map(|v| data.weights[v])
        .sum();
    let caps = [
        (data.blocks_cap as f64).max(1e-300),
        data.load_cap.max(1e-300),
        (data.memory_cap - weights).max(1e-300),
    ];
    let ok = |o: &Opt| o.edge.is_none_or(|v| allowed[v]);
    // Allowed options per user with normalised resources.
    let users: Vec<Vec<Lane>> = data
        .opts
        .iter()
        .map(|list| {
            list.iter()
                .enumerate()
                .filter(|(_, o)| ok(o))
                .map(|(i, o)| {
                    (
                        i,
                        o.value,
                        o.latency,
                        [
                            o.blocks as f64 / caps[0],
                            o.load / caps[1],
                            o.private / caps[2],
                        ],
                    )
                })
                .collect()
        })
        .collect();
    if users.iter().any(|l| l.is_empty()) {
        return None;
    }
    // A small latency term breaks ties between equal values.
    let vmax = users
        .iter()
        .flatten()
        .map(|o| o.1.abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let lmax = users
        .iter()
        .flatten()
        .map(|o| o.2.abs())
        .filter(|l| l.is_finite())
        .fold(0.0, f64::max)
        .max(1e-12);
    let tie = 1e-6 * vmax / lmax;
    let mut lambda = [0.0f64; 3];
    let mut best_ub = f64::INFINITY;
    let mut best_pick: Option<(f64, Vec<usize>)> = None; // (excess, pick)
    let mut feasible_value = f64::NEG_INFINITY;
    let mut alpha = 1.0;
    let mut stall = 0;
    let mut pick = vec![0usize; users.len()];
    for _ in 0..ITERATIONS {
        let mut dual = lambda.iter().sum::<f64>();
        let mut usage = [0.0f64; 3];
        let mut value = 0.0;
        for (u, list) in users.iter().enumerate() {
            let mut arg = 0;
            let mut top = f64::NEG_INFINITY;
            for (k, o) in list.iter().enumerate() {
                let r =
                    o.1 - tie * o.2 - lambda[0] * o.3[0] - lambda[1] * o.3[1] - lambda[2] * o.3[2];
                if r > top {
                    top = r;
                    arg = k;
                }
            }
            let o = &list[arg];
            pick[u] = o.0;
            dual += o.1 - lambda[0] * o.3[0] - lambda[1] * o.3[1] - lambda[2] * o.3[2];
            value += o.1;
            for (x, r) in usage.iter_mut().zip(o.3) {
                *x += r;
            }
        }
        let g = [usage[0] - 1.0, usage[1] - 1.0, usage[2] - 1.0];
        let excess: f64 = g.iter().map(|x| x.max(0.0)).sum();
        if excess <= 0.0 && value > feasible_value {
            feasible_value = value;
        }
        let replace = match &best_pick {
            None => true,
            Some((e, _)) => excess < *e || (excess <= 0.0 && *e <= 0.0),
        };
        if replace && (excess > 0.0 || value >= feasible_value) {
            best_pick = Some((excess, pick.clone()));
        }
        if dual < best_ub - 1e-12 * dual.abs() {
            best_ub = dual;
            stall = 0;
        } else {
            stall += 1;
            if stall >= 4 {
                alpha /= 2.0;
                stall = 0;
            }
        }
        // Projected subgradient: components of a zero multiplier pointing down are dropped.
        let mut norm = 0.0;
        for k in 0..3 {
            if lambda[k] > 0.0 || g[k] > 0.0 {
                norm += g[k] * g[k];
            }
        }
        if norm <= 1e-18 {
            break;
        }
        let lower = if feasible_value.is_finite() {
            feasible_value
        } else {
            0.0
        };
        let step = alpha * (best_ub - lower).max(1e-6 * vmax) / norm;
        for k in 0..3 {
            lambda[k] = (lambda[k] + step * g[k]).max(0.0);
        }
    }
    best_pick.map(|(_, p)| (best_ub, p))
}

/// Makes the choice fit by switches within the allowed options that remove the most excess per
/// unit of value lost; false when it cannot.
fn repair(data: &Data, state: &mut State, allowed: &[bool]) -> bool {
    let ok = |o: &Opt| o.edge.is_none_or(|v| allowed[v]);
    for _ in 0..(4 * data.opts.len() + 10) {
        if state.feasible(data) {
            return true;
        }
        let now = State::excess(data, state.blocks, state.load, state.memory);
        let mut best: Option<(f64, usize, usize)> = None;
        for (u, list) in data.opts.iter().enumerate() {
            let cur = &list[state.pick[u]];
            for (o, opt) in list.iter().enumerate() {
                if o == state.pick[u] || !ok(opt) {
                    continue;
                }
                let (b, l, m) = state.after(data, u, o);
                let gain = now - State::excess(data, b, l, m);
                if gain <= 0.0 {
                    continue;
                }
                let loss = cur.value - opt.value;
                let ratio = loss / gain;
                if best.is_none_or(|(r, _, _)| ratio < r) {
                    best = Some((ratio, u, o));
                }
            }
        }
        let Some((_, u, o)) = best else {
            return false;
        };
        state.switch(data, u, o);
    }
    state.feasible(data)
}

/// Local search (see the module documentation), restricted to `allowed` variants when given.
fn improve(data: &Data, state: &mut State, allowed: Option<&[bool]>) {
    let ok = |o: &Opt| allowed.is_none_or(|a| o.edge.is_none_or(|v| a[v]));
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        // Single switches.
        for u in 0..data.opts.len() {
            let list = &data.opts[u];
            let mut best = state.pick[u];
            for (o, opt) in list.iter().enumerate() {
                if ok(opt) && Data::better(opt, &list[best]) && state.fits_after(data, u, o) {
                    best = o;
                }
            }
            if best != state.pick[u] {
                state.switch(data, u, best);
                changed = true;
            }
        }
        // An upgrade of `u` that does not fit alone, with the cheapest switch of another user
        // that makes room; kept when the pair's combined change is an improvement.
        for u in 0..data.opts.len() {
            let list = &data.opts[u];
            let cur = list[state.pick[u]];
            let mut found: Option<(f64, f64, usize, usize, usize)> = None;
            // The best few upgrades that do not fit alone.
            let mut ups: Vec<usize> = (0..list.len())
                .filter(|&o| {
                    ok(&list[o]) && Data::better(&list[o], &cur) && !state.fits_after(data, u, o)
                })
                .collect();
            ups.sort_by(|&a, &b| {
                list[b]
                    .value
                    .total_cmp(&list[a].value)
                    .then(list[a].latency.total_cmp(&list[b].latency))
            });
            ups.truncate(PAIR_UPGRADES);
            for o in ups {
                let opt = &list[o];
                let gain = opt.value - cur.value;
                let lgain = cur.latency - opt.latency;
                let old = state.pick[u];
                state.switch(data, u, o);
                for v in 0..data.opts.len() {
                    if v == u {
                        continue;
                    }
                    let vl = &data.opts[v];
                    let vc = vl[state.pick[v]];
                    for (q, qo) in vl.iter().enumerate() {
                        if q == state.pick[v] || !ok(qo) {
                            continue;
                        }
                        let dv = gain + qo.value - vc.value;
                        let dl = lgain + vc.latency - qo.latency;
                        let margin = EPS * gain.abs().max(1e-300);
                        let improves = dv > margin || (dv >= -margin && dl > EPS * lgain.abs());
                        if !improves {
                            continue;
                        }
                        if found.is_some_and(|f| (f.0, f.1) >= (dv, dl)) {
                            continue;
                        }
                        if state.fits_after(data, v, q) {
                            found = Some((dv, dl, o, v, q));
                        }
                    }
                }
                state.switch(data, u, old);
            }
            if let Some((_, _, o, v, q)) = found {
                state.switch(data, u, o);
                state.switch(data, v, q);
                changed = true;
            }
        }
        state.recompute(data);
        if !changed {
            break;
        }
    }
    if !state.feasible(data) {
        // Rounding drift cannot make a fitting choice unfit by more than the caps' margin, but
        // never hand back an unfit one.
        state.recompute(data);
    }
}
