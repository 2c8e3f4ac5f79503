//! The cache MILP (HiGHS).
//!
//! **Variables.** Per MoE block `j` and expert `e` the binaries `r[j][e]` (resident), `f[j][e]`
//! (fetched on a miss) and `o[j][e]` (offloaded on a miss), one column each for the policies
//! the instance allows (a disallowed policy has no column: fixed to 0), with `r + f + o = 1`.
//!
//! **Rows.** Slots: `sum r <= min(expert_slots, floor(capacity / smallest expert))` (the second
//! term a valid cut); memory: `sum_j bytes[j] sum_e r[j][e] <= capacity` (with the slack of
//! [`score::fits`](crate::problems::moe::score::fits)).
//!
//! **Latency.** Per pattern `S` (`k` experts, probability `p`) of block `j`, with
//! `c_r = x_dev[j]`, `c_f = fetch[j] + x_dev[j]` and `c_o = rt + x_edge[j]`:
//! - a pattern of one expert costs exactly `c_r r + c_f f + c_o o`: a linear objective term;
//! - so does any pattern when offload is not allowed: the block time is the device's sum;
//! - otherwise a continuous `T[j][S] >= 0` enters the objective as `p T`. The block time
//!   depends only on the pattern's counts of resident, fetched and offloaded experts:
//!   `g(n_r, n_o) = max(c_r n_r + c_f n_f, [n_o > 0] (rt + x_edge n_o))`. `T` gets a row per
//!   facet of the lower convex envelope of `g` over the count vectors, `T >= alpha + beta_r
//!   sum_{e in S} r_e + beta_o sum_{e in S} o_e` (computed once per block and `k`, see
//!   `envelope`; for `k > 8` none): valid for every plan, and on the relaxation the
//!   tightest a function of the counts can be. Where `g` is convex (the facets meet `g` at
//!   every count vector: e.g. `rt <= k c_r` without fetching) these rows alone are exact.
//!   Elsewhere (a round trip longer than the device's work makes `[n_o > 0]` a step) the exact
//!   rows are added: `T >= sum_{e in S} (c_r r_e + c_f f_e)` (the device) and `T >= rt a +
//!   x_edge sum_{e in S} o_e` (the edge) with the offload visit `a[j][S] in [0, 1]`,
//!   `a >= o_e` for `e in S`; in an integer solution the least `T` is the score's
//!   `max(local, remote)`.
//!
//! **Dominated fetching.** Offloading an expert instead of fetching it never costs more when
//! `c_f >= rt + k_max x_edge` (latency, `k_max` the block's largest pattern: the edge's part,
//! however many it runs, ends before the fetch alone would) or `e_f >= offload_j` (energy: one
//! visit at most replaces the fetch): such blocks get no fetch columns when offloading is
//! allowed (the optimum is unchanged; a MIP start's fetched experts there are offloaded).
//!
//! **Energy.** Linear in the choices but for the offload visit: `sum_S p (sum_{e in S} (e_r r_e
//! + e_f f_e) + offload_j a[j][S])` with `a >= o_e` (`a = o_e` for a pattern of one expert),
//! exactly the energy of [`score::cache_block`](crate::problems::moe::score::cache_block).
//!
//! **Units.** Times and energies are multiplied by `1000 / c_max` (`c_max`: the largest single
//! coefficient) so that HiGHS's absolute feasibility tolerance (1e-6) on the `T` rows is a
//! relative 1e-9 of the costs; bounds are reported in seconds or joules.

use std::collections::HashMap;
use std::time::Instant;

use good_lp::constraint::{eq, leq};
use good_lp::{variable, Expression, Solution, Variable};

use super::{block_sizes, memory_cap, BlockCost};
use crate::error::Result;
use crate::problems::moe::price::Prices;
use crate::problems::moe::score;
use crate::problems::moe::{Choice, Exact, MoePlan, MoeProblem, Objective};
use crate::solve::milp::{Milp, MipOptions, Values};
use crate::solve::report::Termination;

/// The columns of one expert.
#[derive(Debug, Clone, Copy)]
struct Cols {
    r: Variable,
    f: Option<Variable>,
    o: Option<Variable>,
}

impl Cols {
    fn value(&self, choice: Choice) -> Option<Variable> {
        match choice {
            Choice::Resident => Some(self.r),
            Choice::Fetch => self.f,
            Choice::Offload => self.o,
        }
    }

    fn decode(&self, values: &Values) -> Choice {
        [Choice::Resident, Choice::Fetch, Choice::Offload]
            .into_iter()
            .filter_map(|c| self.value(c).map(|v| (c, values.value(v))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(Choice::Resident, |(c, _)| c)
    }
}

/// The pattern variables: `(block, pattern, T, a)`.
type PatternCols = (usize, usize, Option<Variable>, Option<Variable>);

/// The exact cache MILP of `problem` (both objectives); `start` (a plan with the instance's
/// shape and allowed policies) is passed to HiGHS as a complete MIP start.
pub fn milp(
    problem: &MoeProblem,
    prices: &Prices,
    options: &MipOptions,
    start: Option<&MoePlan>,
) -> Result<Exact> {
    let t0 = Instant::now();
    let sizes = block_sizes(problem);
    let (home, edge) = (problem.home, problem.edge());
    let energy = problem.objective == Objective::Energy;
    let offload = problem.allow_offload;
    let rt = prices.rt_s[edge];

    // Per block: the cost of one expert resident, fetched, offloaded (alone), and an offloaded
    // expert's time on the edge, in seconds or joules.
    let coef: Vec<[f64; 4]> = (0..sizes.len())
        .map(|j| {
            if energy {
                let r = prices.expert_j[home][j];
                [r, prices.fetch_j[j] + r, prices.offload_j, 0.0]
            } else {
                let r = prices.expert_s[home][j];
                let x_edge = prices.expert_s[edge][j];
                [r, prices.fetch_s[j] + r, rt + x_edge, x_edge]
            }
        })
        .collect();
    let largest = coef
        .iter()
        .flat_map(|c| c.iter().copied())
        .filter(|c| c.is_finite())
        .fold(0.0, f64::max);
    let unit = if largest > 0.0 { 1000.0 / largest } else { 1.0 };
    let dense = BlockCost::new(problem, prices).dense();
    // Fetching where offloading is never worse gets no column.
    let fetch: Vec<bool> = (0..sizes.len())
        .map(|j| {
            let k = problem.routing.blocks[j]
                .patterns
                .iter()
                .map(|p| p.experts.len())
                .max()
                .unwrap_or(0);
            let dominated = if energy {
                coef[j][1] >= coef[j][2]
            } else {
                coef[j][1] >= rt + k as f64 * coef[j][3]
            };
            problem.allow_fetch && !(offload && dominated)
        })
        .collect();

    let mut m = Milp::new();
    let mut objective = Expression::from(dense * unit);
    let cols: Vec<Vec<Cols>> = sizes
        .iter()
        .enumerate()
        .map(|(j, &n)| {
            (0..n)
                .map(|e| {
                    let mut binary = |what: &str| {
                        m.add(
                            variable()
                                .binary()
                                .name(format!("{what}[block{j},expert{e}]")),
                        )
                    };
                    let r = binary("resident");
                    let f = fetch[j].then(|| binary("fetched"));
                    let o = offload.then(|| binary("offloaded"));
                    Cols { r, f, o }
                })
                .collect()
        })
        .collect();
    for (j, block) in cols.iter().enumerate() {
        for (e, c) in block.iter().enumerate() {
            let mut one = Expression::from(c.r);
            for v in [c.f, c.o].into_iter().flatten() {
                one.add_mul(1.0, v);
            }
            m.constrain_named(format!("one_policy[block{j},expert{e}]"), eq(one, 1.0));
        }
    }

    // The device's cost of expert `e` of block `j` (its own choice), scaled.
    let local = |j: usize, c: &Cols, expr: &mut Expression, weight: f64| {
        expr.add_mul(weight * coef[j][0] * unit, c.r);
        if let Some(f) = c.f {
            expr.add_mul(weight * coef[j][1] * unit, f);
        }
    };
    let mut pattern_cols: Vec<PatternCols> = Vec::new();
    let mut envelopes: Vec<HashMap<usize, Envelope>> = vec![HashMap::new(); sizes.len()];
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        for (s, p) in block.patterns.iter().enumerate() {
            let experts = &p.experts;
            if experts.is_empty() || p.prob == 0.0 {
                continue;
            }
            if energy {
                for &e in experts {
                    local(j, &cols[j][e], &mut objective, p.prob);
                }
                if offload && coef[j][2] > 0.0 {
                    if let [e] = experts[..] {
                        objective.add_mul(p.prob * coef[j][2] * unit, cols[j][e].o.unwrap());
                    } else {
                        let label = format!("block{j},pattern{s}");
                        let a = m.add(
                            variable()
                                .min(0.0)
                                .max(1.0)
                                .name(format!("edge_used[{label}]")),
                        );
                        for &e in experts {
                            let name = format!("edge_used[{label},expert{e}]");
                            m.constrain_named(
                                name,
                                leq(Expression::from(cols[j][e].o.unwrap()) - a, 0.0),
                            );
                        }
                        objective.add_mul(p.prob * coef[j][2] * unit, a);
                        pattern_cols.push((j, s, None, Some(a)));
                    }
                }
                continue;
            }
            if !offload || experts.len() == 1 {
                // Exactly linear: the device's sum, or the one expert wherever it runs.
                for &e in experts {
                    local(j, &cols[j][e], &mut objective, p.prob);
                    if let Some(o) = cols[j][e].o {
                        objective.add_mul(p.prob * coef[j][2] * unit, o);
                    }
                }
                continue;
            }
            let label = format!("block{j},pattern{s}");
            let t = m.add(variable().min(0.0).name(format!("pattern_time[{label}]")));
            objective.add_mul(p.prob, t);
            let k = experts.len();
            let env = envelopes[j]
                .entry(k)
                .or_insert_with(|| envelope(k, coef[j][0], coef[j][1], rt, coef[j][3], fetch[j]));
            // Counts of resident and offloaded experts, scaled by `unit`.
            let counts = |alpha: f64, beta_r: f64, beta_o: f64| {
                let mut row = Expression::from(alpha * unit);
                for &e in experts {
                    let c = &cols[j][e];
                    row.add_mul(beta_r * unit, c.r);
                    row.add_mul(beta_o * unit, c.o.unwrap());
                }
                row
            };
            for (f, &(alpha, beta_r, beta_o)) in env.facets.iter().enumerate() {
                let name = format!("pattern_time_facet[{label},{f}]");
                m.constrain_named(name, leq(counts(alpha, beta_r, beta_o) - t, 0.0));
            }
            if env.exact {
                pattern_cols.push((j, s, Some(t), None));
                continue;
            }
            // The device.
            if !env.has_local {
                let mut row = Expression::from(0.0);
                for &e in experts {
                    local(j, &cols[j][e], &mut row, 1.0);
                }
                m.constrain_named(format!("pattern_time_device[{label}]"), leq(row - t, 0.0));
            }
            // The edge.
            let a = m.add(
                variable()
                    .min(0.0)
                    .max(1.0)
                    .name(format!("edge_used[{label}]")),
            );
            let mut row = Expression::from(0.0);
            row.add_mul(rt * unit, a);
            for &e in experts {
                let o = cols[j][e].o.unwrap();
                row.add_mul(coef[j][3] * unit, o);
                let name = format!("edge_used[{label},expert{e}]");
                m.constrain_named(name, leq(Expression::from(o) - a, 0.0));
            }
            m.constrain_named(format!("pattern_time_edge[{label}]"), leq(row - t, 0.0));
            pattern_cols.push((j, s, Some(t), Some(a)));
        }
    }

    // Slots and memory.
    let cap = memory_cap(problem, prices);
    let smallest = prices
        .expert_bytes
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let mut slots = problem.expert_slots as f64;
    if smallest > 0.0 && smallest.is_finite() {
        slots = slots.min((cap / smallest).floor().max(-1.0));
    }
    let mut count = Expression::from(0.0);
    let mut bytes = Expression::from(0.0);
    for (j, block) in cols.iter().enumerate() {
        for c in block {
            count.add_mul(1.0, c.r);
            bytes.add_mul(prices.expert_bytes[j], c.r);
        }
    }
    m.constrain_named("expert_slots", leq(count, slots));
    m.constrain_named("memory", leq(bytes, cap));

    if let Some(plan) = start.filter(|p| start_matches(problem, &sizes, p)) {
        m.set_start(start_values(
            problem,
            prices,
            plan,
            &cols,
            &pattern_cols,
            unit,
        ));
    }
    let size = m.size();
    let build_s = t0.elapsed().as_secs_f64();
    // Exported and shown in seconds or joules, as reported (HiGHS solves it times `unit`).
    let options = MipOptions {
        report_scale: 1.0 / unit,
        ..options.clone()
    };
    let result = m.minimise(objective, &options)?;
    let plan = result.values.as_ref().map(|values| {
        MoePlan::cache(
            cols.iter()
                .map(|block| block.iter().map(|c| c.decode(values)).collect())
                .collect(),
        )
    });
    let plan = match result.termination {
        Termination::Infeasible | Termination::Unbounded => None,
        _ => plan,
    };
    Ok(Exact {
        plan,
        termination: result.termination,
        bound: result.bound.map(|b| b / unit),
        nodes: result.nodes,
        size: Some(size),
        build_s,
        solve_s: result.solve_s,
    })
}

/// Whether `plan` is a cache plan of the instance's shape that uses only allowed policies.
fn start_matches(problem: &MoeProblem, sizes: &[usize], plan: &MoePlan) -> bool {
    plan.choices.len() == sizes.len()
        && plan
            .choices
            .iter()
            .zip(sizes)
            .all(|(b, &n)| b.len() == n && b.iter().all(|&c| super::allowed(problem, c)))
}

/// A value for every column: the plan's choices, each pattern's block time (scaled) and
/// offload visit.
fn start_values(
    problem: &MoeProblem,
    prices: &Prices,
    plan: &MoePlan,
    cols: &[Vec<Cols>],
    patterns: &[PatternCols],
    unit: f64,
) -> Vec<(Variable, f64)> {
    let mut out = Vec::new();
    for (block, choices) in cols.iter().zip(&plan.choices) {
        for (c, &choice) in block.iter().zip(choices) {
            for (alt, v) in [
                (Choice::Resident, Some(c.r)),
                (Choice::Fetch, c.f),
                (Choice::Offload, c.o),
            ] {
                if let Some(v) = v {
                    out.push((v, f64::from(u8::from(alt == choice))));
                }
            }
        }
    }
    for &(j, s, t, a) in patterns {
        let experts = &problem.routing.blocks[j].patterns[s].experts;
        let (local, remote, _) =
            score::cache_block(problem, prices, j, experts, |e| plan.choices[j][e]);
        if let Some(t) = t {
            out.push((t, local.max(remote) * unit));
        }
        if let Some(a) = a {
            let visit = experts
                .iter()
                .any(|&e| plan.choices[j][e] == Choice::Offload);
            out.push((a, f64::from(u8::from(visit))));
        }
    }
    out
}

/// Patterns of more experts get no envelope rows (the facet search is cubic in the
/// `(k + 1) (k + 2) / 2` count vectors).
const ENVELOPE_MAX_K: usize = 8;

/// The lower convex envelope of a pattern's block time over its count vectors.
#[derive(Debug, Clone, Default)]
struct Envelope {
    /// Facets `(alpha, beta_r, beta_o)`: `T >= alpha + beta_r n_r + beta_o n_o`.
    facets: Vec<(f64, f64, f64)>,
    /// Whether the facets' maximum equals the block time at every count vector.
    exact: bool,
    /// Whether the device's sum (the local row) is one of the facets.
    has_local: bool,
}

/// The lower convex envelope of a pattern's block time as a function of its counts of resident
/// `n_r` and offloaded `n_o` experts (the other `n_f = k - n_r - n_o` fetched; none when
/// `fetch` is false): `g = max(c_r n_r + c_f n_f, [n_o > 0] (rt + x_edge n_o))`. Every facet
/// lies below `g` at every count vector (lowered by its largest violation in floating point),
/// so it is valid for every plan. Brute force: the plane through every three count vectors (the
/// line through every two without fetch), kept when no count vector lies below it.
fn envelope(k: usize, c_r: f64, c_f: f64, rt: f64, x_edge: f64, fetch: bool) -> Envelope {
    if k > ENVELOPE_MAX_K {
        return Envelope::default();
    }
    let g = |nr: usize, no: usize| {
        let local = c_r * nr as f64 + c_f * (k - nr - no) as f64;
        let remote = if no > 0 { rt + x_edge * no as f64 } else { 0.0 };
        local.max(remote)
    };
    let mut points: Vec<(f64, f64, f64)> = Vec::new();
    for nr in 0..=k {
        for no in 0..=k - nr {
            if fetch || nr + no == k {
                points.push((nr as f64, no as f64, g(nr, no)));
            }
        }
    }
    let scale = points
        .iter()
        .map(|p| p.2.abs())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let tol = 1e-9 * scale;
    let at = |f: (f64, f64, f64), p: (f64, f64, f64)| f.0 + f.1 * p.0 + f.2 * p.1;
    let same = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        points.iter().all(|&p| (at(a, p) - at(b, p)).abs() <= tol)
    };
    let mut facets: Vec<(f64, f64, f64)> = Vec::new();
    let mut keep = |facet: (f64, f64, f64)| {
        let worst = points
            .iter()
            .map(|&p| at(facet, p) - p.2)
            .fold(f64::NEG_INFINITY, f64::max);
        if worst > tol {
            return;
        }
        let facet = (facet.0 - worst.max(0.0), facet.1, facet.2);
        if !facets.iter().any(|&f| same(f, facet)) {
            facets.push(facet);
        }
    };
    if fetch {
        for a in 0..points.len() {
            for b in a + 1..points.len() {
                for c in b + 1..points.len() {
                    let (p, q, r) = (points[a], points[b], points[c]);
                    let (u, v) = (
                        (q.0 - p.0, q.1 - p.1, q.2 - p.2),
                        (r.0 - p.0, r.1 - p.1, r.2 - p.2),
                    );
                    let det = u.0 * v.1 - u.1 * v.0;
                    if det == 0.0 {
                        continue;
                    }
                    let beta_r = (u.2 * v.1 - u.1 * v.2) / det;
                    let beta_o = (u.0 * v.2 - u.2 * v.0) / det;
                    keep((p.2 - beta_r * p.0 - beta_o * p.1, beta_r, beta_o));
                }
            }
        }
    } else {
        // One dimension (n_o = k - n_r): lines in n_r alone.
        for a in 0..points.len() {
            for b in a + 1..points.len() {
                let (p, q) = (points[a], points[b]);
                let slope = (q.2 - p.2) / (q.0 - p.0);
                keep((p.2 - slope * p.0, slope, 0.0));
            }
        }
    }
    let exact = !facets.is_empty()
        && points.iter().all(|&p| {
            facets
                .iter()
                .map(|&f| at(f, p))
                .fold(f64::NEG_INFINITY, f64::max)
                >= p.2 - tol
        });
    // The local row: c_f k + (c_r - c_f) n_r - c_f n_o.
    let local = (c_f * k as f64, c_r - c_f, -c_f);
    let has_local = facets.iter().any(|&f| same(f, local));
    Envelope {
        facets,
        exact,
        has_local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every facet lies below the block time at every count vector, and `exact` says whether
    /// their maximum meets it everywhere (checked by brute force here).
    #[test]
    fn envelope_facets_are_valid_and_exactness_is_right() {
        let mut exact_seen = [false; 2];
        for k in 2..=6 {
            for &(c_r, c_f, rt, x_edge) in &[
                (1.0, 4.0, 0.5, 1.0),
                (1.0, 1.2, 10.0, 0.1),
                (0.02, 3.0, 5.0, 0.01),
                (2.0, 2.5, 0.1, 3.0),
                (1.0, 1.0, 0.0, 1.0),
            ] {
                for fetch in [true, false] {
                    let env = envelope(k, c_r, c_f, rt, x_edge, fetch);
                    assert!(!env.facets.is_empty());
                    let mut exact = true;
                    for nr in 0..=k {
                        for no in 0..=k - nr {
                            if !fetch && nr + no != k {
                                continue;
                            }
                            let nf = k - nr - no;
                            let local = c_r * nr as f64 + c_f * nf as f64;
                            let remote = if no > 0 { rt + x_edge * no as f64 } else { 0.0 };
                            let g = local.max(remote);
                            let top = env
                                .facets
                                .iter()
                                .map(|f| f.0 + f.1 * nr as f64 + f.2 * no as f64)
                                .fold(f64::NEG_INFINITY, f64::max);
                            assert!(top <= g + 1e-12 * g.abs().max(1.0), "k {k} ({nr}, {no})");
                            exact &= top >= g - 1e-9 * g.abs().max(1.0);
                        }
                    }
                    assert_eq!(env.exact, exact, "k {k} {c_r} {c_f} {rt} {x_edge} {fetch}");
                    exact_seen[usize::from(exact)] = true;
                }
            }
        }
        assert_eq!(exact_seen, [true, true]);
        // Without fetching and with a round trip below the device's work, convex: exact.
        assert!(envelope(4, 1.0, 9.0, 2.0, 0.5, false).exact);
        // A round trip far above it: the step at n_o = 0 is not convex.
        assert!(!envelope(4, 1.0, 9.0, 20.0, 0.5, false).exact);
        assert!(envelope(9, 1.0, 9.0, 2.0, 0.5, false).facets.is_empty());
    }
}
