//! Lagrangian variable fixing: the runs of the time-indexed MILP that no schedule cheaper than
//! the best one can use, from the column generation's slot prices.
//!
//! **Argument.** For slot prices `pi_mt <= 0`, any schedule costs at least its jobs' priced
//! costs plus `sum pi` (each slot is used at most once and `pi <= 0`), where a column's priced
//! cost is its cost less the prices of its runs. So, with `least_j` the least priced cost of a
//! column of job `j` and `L = sum_j least_j + sum pi + constant` the Lagrangian bound, a schedule
//! in which job `j` runs on server `m` in slot `t` at level `l` costs at least
//! `L - least_j + forced_j(m, t, l)`, where `forced_j(m, t, l)` is the least priced cost of a
//! column of `j` with that run. When this exceeds the cost `U` of a known schedule, no schedule
//! cheaper than it uses the run, and the MILP that looks for one may leave the run out. Near the
//! Dantzig-Wolfe prices (whose `L` is far above the time-indexed LP's bound) this removes runs
//! in dear slots, at slow levels and on poor servers (on 100 jobs x 96 slots x 10 servers, see
//! `docs/green.md`).
//!
//! **`forced`**, exactly: per job and server (all servers at once with migration) a forward and
//! a backward programme over the job's cells on the Pareto-optimal (work, priced cost) states of
//! the cells before and after each cell, as in the pricing programme ([`super::columns`]); a
//! run's least column joins the cheapest forward and backward states whose work, with the run's,
//! covers the job (both lists sorted by work, so one merge per run).

use std::collections::HashSet;

use super::columns::{Costs, Pricing, MAX_STATES};
use super::evaluate::WORK_TOLERANCE;
use super::GreenProblem;

/// States the forward and backward lists of one job and cell group may hold in all (16 bytes
/// each: 64 MB); past it nothing is fixed.
const MAX_STORED: usize = 4_000_000;

/// The runs left out and the bound they were fixed with.
#[derive(Debug, Clone)]
pub struct Fixing {
    /// The Lagrangian bound at the prices, in the MILP's units with the empty servers' constant
    /// (each job's least priced cost computed exactly, so at least the column generation's).
    pub bound: f64,
    /// `(job, server, slot, level)` runs no schedule cheaper than the known one uses.
    pub removed: HashSet<(usize, usize, usize, usize)>,
}

/// The least priced cost of a column of one job through each (cell, level) of a cell group, and
/// of any column of the group.
struct Forced {
    /// Per cell of the group, per level: the least priced cost of a column with that run
    /// (infinite when no column has it).
    through: Vec<Vec<f64>>,
    /// The least priced cost of any column of the group (infinite when none does the work).
    least: f64,
}

/// The fixing at slot prices `prices` (`<= 0`) against a schedule of cost `incumbent` (MILP
/// units, with the constant). `None` when some job's programme exceeds [`MAX_STATES`] states
/// (or its lists [`MAX_STORED`]), or a job has no work or no schedule: nothing is fixed then.
pub fn fixing(
    problem: &GreenProblem,
    costs: &Costs,
    prices: &[Vec<f64>],
    incumbent: f64,
) -> Option<Fixing> {
    let pricing = Pricing::new(problem, costs);
    let mut per_job = Vec::with_capacity(problem.jobs.len());
    let mut bound = costs.constant + prices.iter().flatten().sum::<f64>();
    for (j, job) in problem.jobs.iter().enumerate() {
        if job.work_flop <= 0.0 {
            return None;
        }
        let groups = pricing.groups(j, &|_, _| true);
        let mut forced = Vec::with_capacity(groups.len());
        for cells in groups {
            let items = pricing.items(j, &cells, prices);
            let through = forced_costs(&items)?;
            forced.push((cells, through));
        }
        let least = forced
            .iter()
            .map(|(_, f)| f.least)
            .fold(f64::INFINITY, f64::min);
        if !least.is_finite() {
            // A job without any schedule: the instance is infeasible, nothing to fix.
            return None;
        }
        bound += least;
        per_job.push((least, forced));
    }
    // Rounding in the sums above may differ from HiGHS's; fix only with a clear margin.
    let margin = 1e-7 * incumbent.abs().max(1.0);
    let mut removed = HashSet::new();
    for (j, (least, forced)) in per_job.iter().enumerate() {
        let slack = incumbent - bound + least + margin;
        for (cells, f) in forced {
            for (&(m, t), levels) in cells.iter().zip(&f.through) {
                for (l, &cost) in levels.iter().enumerate() {
                    if cost > slack {
                        removed.insert((j, m, t, l));
                    }
                }
            }
        }
    }
    Some(Fixing { bound, removed })
}

/// The forward and backward programmes over `items` (per cell, per level: work share, priced
/// cost) and the least column through each run. `None` past [`MAX_STATES`] states in a list or
/// [`MAX_STORED`] in all.
fn forced_costs(items: &[Vec<(f64, f64)>]) -> Option<Forced> {
    // The cover test is a little looser than the pricing's: a run kept by rounding is harmless,
    // a run removed by it is not.
    let target = 1.0 - WORK_TOLERANCE - 1e-12;
    let n = items.len();
    let extend = |from: &[(f64, f64)], options: &[(f64, f64)]| -> Option<Vec<(f64, f64)>> {
        let mut next: Vec<(f64, f64)> = from.to_vec();
        for &(work, cost) in from {
            for &(share, c) in options {
                next.push(((work + share).min(1.0), cost + c));
            }
        }
        let frontier = pareto(next);
        (frontier.len() <= MAX_STATES).then_some(frontier)
    };
    // Every list is kept: their total is capped (a long window of many levels).
    let mut stored = 0;
    let mut keep = |list: &Vec<(f64, f64)>| {
        stored += list.len();
        stored <= MAX_STORED
    };
    let mut forward = Vec::with_capacity(n + 1);
    forward.push(vec![(0.0, 0.0)]);
    for options in items {
        let next = extend(forward.last().expect("one list at least"), options)?;
        if !keep(&next) {
            return None;
        }
        forward.push(next);
    }
    let mut backward = vec![Vec::new(); n + 1];
    backward[n] = vec![(0.0, 0.0)];
    for i in (0..n).rev() {
        backward[i] = extend(&backward[i + 1], &items[i])?;
        if !keep(&backward[i]) {
            return None;
        }
    }
    let least = forward[n]
        .iter()
        .filter(|s| s.0 >= target)
        .map(|s| s.1)
        .fold(f64::INFINITY, f64::min);
    let through = items
        .iter()
        .enumerate()
        .map(|(i, options)| {
            options
                .iter()
                .map(|&(share, cost)| {
                    cost + cheapest_join(&forward[i], &backward[i + 1], target - share)
                })
                .collect()
        })
        .collect();
    Some(Forced { through, least })
}

/// The Pareto-optimal states of `states` (no other has at least the work for at most the cost),
/// by work ascending (so by cost ascending too).
fn pareto(mut states: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    states.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.total_cmp(&b.1)));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(states.len());
    let mut cheapest = f64::INFINITY;
    for s in states {
        if s.1 < cheapest {
            cheapest = s.1;
            out.push(s);
        }
    }
    out.reverse();
    out
}

/// The least `f.cost + b.cost` over states `f` of `before` and `b` of `after` (both Pareto
/// lists by work ascending) with `f.work + b.work >= need`; infinite when none.
fn cheapest_join(before: &[(f64, f64)], after: &[(f64, f64)], need: f64) -> f64 {
    let mut best = f64::INFINITY;
    // `before` from the most work down: the work asked of `after` grows, so its cheapest state
    // with enough work moves up the list.
    let mut k = 0;
    for &(work, cost) in before.iter().rev() {
        while k < after.len() && work + after[k].0 < need {
            k += 1;
        }
        if k == after.len() {
            break;
        }
        best = best.min(cost + after[k].1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over every choice of a level or nothing per cell.
    fn brute(items: &[Vec<(f64, f64)>]) -> (Vec<Vec<f64>>, f64) {
        let target = 1.0 - WORK_TOLERANCE;
        let n = items.len();
        let mut through: Vec<Vec<f64>> =
            items.iter().map(|o| vec![f64::INFINITY; o.len()]).collect();
        let mut least = f64::INFINITY;
        let mut choice = vec![0usize; n];
        loop {
            let (mut work, mut cost) = (0.0f64, 0.0);
            for (i, &c) in choice.iter().enumerate() {
                if c > 0 {
                    work += items[i][c - 1].0;
                    cost += items[i][c - 1].1;
                }
            }
            if work >= target {
                least = least.min(cost);
                for (i, &c) in choice.iter().enumerate() {
                    if c > 0 {
                        through[i][c - 1] = through[i][c - 1].min(cost);
                    }
                }
            }
            let mut i = 0;
            loop {
                if i == n {
                    return (through, least);
                }
                choice[i] += 1;
                if choice[i] <= items[i].len() {
                    break;
                }
                choice[i] = 0;
                i += 1;
            }
        }
    }

    #[test]
    fn forced_costs_equal_brute_force() {
        // Shares of a few slots' work, costs of either sign, from a seeded generator.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12345);
        let mut next = || rng.gen::<f64>();
        for case in 0..200 {
            let cells = 1 + case % 7;
            let levels = 1 + case % 3;
            let items: Vec<Vec<(f64, f64)>> = (0..cells)
                .map(|_| {
                    (0..levels)
                        .map(|l| {
                            let share = (0.15 + 0.2 * l as f64 + 0.3 * next()).min(1.0);
                            (share, 2.0 * next() - 0.7)
                        })
                        .collect()
                })
                .collect();
            let found = forced_costs(&items).expect("small");
            let (through, least) = brute(&items);
            let close =
                |a: f64, b: f64| (a.is_infinite() && b.is_infinite()) || (a - b).abs() < 1e-9;
            assert!(
                close(found.least, least),
                "case {case}: {} vs {least}",
                found.least
            );
            for (i, levels) in through.iter().enumerate() {
                for (l, &b) in levels.iter().enumerate() {
                    assert!(
                        close(found.through[i][l], b),
                        "case {case}, cell {i}, level {l}: {} vs {b}",
                        found.through[i][l]
                    );
                }
            }
        }
    }
}
