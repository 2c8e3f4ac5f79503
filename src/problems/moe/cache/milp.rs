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
//! **Latency.** Per pattern `S` (probability `p`) of block `j`, with `c_r = x_dev[j]`,
//! `c_f = fetch[j] + x_dev[j]` and `c_o = rt + x_edge[j]`:
//! - a pattern of one expert costs exactly `c_r r + c_f f + c_o o`: a linear objective term;
//! - so does any pattern when offload is not allowed: the block time is the device's sum;
//! - otherwise a continuous `T[j][S] >= 0` enters the objective as `p T` with
//!   `T >= sum_{e in S} (c_r r_e + c_f f_e)` (the device), `T >= rt a + x_edge sum_{e in S} o_e`
//!   (the edge) where `a[j][S] in [0, 1]`, `a >= o_e` for `e in S` is the offload visit, and the
//!   valid inequalities `T >= c_r r_e + c_f f_e + c_o o_e` per `e in S` (the block takes at least
//!   as long as any one of its experts, wherever it runs): in an integer solution the minimum
//!   `T` is `max(local, remote)` of the score, and the per-expert rows only cut off fractional
//!   points (one expert half resident, half offloaded).
//!
//! **Energy.** Linear in the choices but for the offload visit: `sum_S p (sum_{e in S} (e_r r_e
//! + e_f f_e) + offload_j a[j][S])` with `a >= o_e` (`a = o_e` for a pattern of one expert),
//! exactly the energy of [`score::cache_block`](crate::problems::moe::score::cache_block).
//!
//! **Units.** Times and energies are multiplied by `1000 / c_max` (`c_max`: the largest single
//! coefficient) so that HiGHS's absolute feasibility tolerance (1e-6) on the `T` rows is a
//! relative 1e-9 of the costs; bounds are reported in seconds or joules.

use std::time::Instant;

use good_lp::constraint::{eq, leq};
use good_lp::{variable, Expression, Solution, Variable};

use super::{block_sizes, memory_cap, BlockCost};
use crate::error::Result;
use crate::problems::moe::price::Prices;
use crate::problems::moe::score;
use crate::problems::moe::{Choice, Exact, MilpSize, MoePlan, MoeProblem, Objective};
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

    let mut m = Milp::new();
    let mut objective = Expression::from(dense * unit);
    let cols: Vec<Vec<Cols>> = sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    let r = m.add(variable().binary());
                    let f = problem.allow_fetch.then(|| m.add(variable().binary()));
                    let o = offload.then(|| m.add(variable().binary()));
                    Cols { r, f, o }
                })
                .collect()
        })
        .collect();
    for block in &cols {
        for c in block {
            let mut one = Expression::from(c.r);
            for v in [c.f, c.o].into_iter().flatten() {
                one.add_mul(1.0, v);
            }
            m.constrain(eq(one, 1.0));
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
                        let a = m.add(variable().min(0.0).max(1.0));
                        for &e in experts {
                            m.constrain(leq(Expression::from(cols[j][e].o.unwrap()) - a, 0.0));
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
            let t = m.add(variable().min(0.0));
            let a = m.add(variable().min(0.0).max(1.0));
            objective.add_mul(p.prob, t);
            // The device.
            let mut row = Expression::from(0.0);
            for &e in experts {
                local(j, &cols[j][e], &mut row, 1.0);
            }
            m.constrain(leq(row - t, 0.0));
            // The edge.
            let mut row = Expression::from(0.0);
            row.add_mul(rt * unit, a);
            for &e in experts {
                let o = cols[j][e].o.unwrap();
                row.add_mul(coef[j][3] * unit, o);
                m.constrain(leq(Expression::from(o) - a, 0.0));
            }
            m.constrain(leq(row - t, 0.0));
            // Each expert alone.
            for &e in experts {
                let c = &cols[j][e];
                let mut row = Expression::from(0.0);
                local(j, c, &mut row, 1.0);
                row.add_mul(coef[j][2] * unit, c.o.unwrap());
                m.constrain(leq(row - t, 0.0));
            }
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
    m.constrain(leq(count, slots));
    m.constrain(leq(bytes, cap));

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
    let size = MilpSize {
        variables: m.num_vars(),
        binaries: m.num_integer_vars(),
        rows: m.num_constraints(),
    };
    let build_s = t0.elapsed().as_secs_f64();
    let result = m.minimise(objective, options)?;
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
