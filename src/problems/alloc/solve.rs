//! Solving an allocation instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::bound::min_max_lower_bound;
use super::evaluate::{evaluate, AllocEvaluation};
use super::explain::explain_infeasible;
use super::heuristics::{
    baseline, local_search, local_search_until, to_plan, Allocation, Baseline,
};
use super::outer::outer_approximation;
pub use super::outer::MAX_ROUNDS;
use super::{AllocObjective, AllocPlan, AllocProblem, Options, UserOption};
use crate::error::{Error, Result};
use crate::solve::report::{Report, SolveStats, Termination};
use crate::solve::RunOptions;
use crate::solve::SolverPreset;

/// Solvers the allocation problem understands.
pub const SOLVERS: [&str; 6] = [
    "highs",
    "local-search",
    "equal-split",
    "all-device",
    "all-edge",
    "fixed-cut",
];

/// Seconds of MILP tests [`explain_infeasible`] may spend (at most the preset's time limit).
pub const EXPLAIN_BUDGET_S: f64 = 60.0;

/// What an allocation report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct AllocDetails {
    /// Outer-approximation rounds (exact solve only).
    pub rounds: usize,
    /// Options the exact solve dropped before building the MILP because even with a whole
    /// server they are slower than the incumbent allows ([`prune_options`]).
    pub options_pruned: Option<usize>,
}

/// The result of solving an allocation instance.
pub type AllocReport = Report<AllocPlan, AllocEvaluation, AllocDetails>;

/// Solves `problem` with `preset`.
pub fn solve(problem: &AllocProblem, preset: &SolverPreset) -> Result<AllocReport> {
    solve_with(problem, preset, &RunOptions::default())
}

/// Solves `problem` with `preset`; the exact solve writes the last round's MILP to
/// `run.write_model` and each round's HiGHS log to `run.log_file` (round 1) and
/// `<log_file>.round<r>` (round `r > 1`).
///
/// The pipeline: price every user's options, settle infeasibility by the cheap exact checks,
/// then run the preset's solver (the exact one: local search for a start, option pruning
/// against it, [`outer_approximation`]), and evaluate the plan independently.
pub fn solve_with(
    problem: &AllocProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<AllocReport> {
    let start = Instant::now();
    let opts = problem.options();
    let build_s = start.elapsed().as_secs_f64();
    // Cheap, exact causes (a user with no option or that misses its deadline alone, more
    // must-offload users than blocks or memory) settle infeasibility before any solver runs.
    let proven = explain_infeasible(problem, &opts, 0.0);
    let mut stats = SolveStats::heuristic(&preset.name, build_s, 0.0);
    let outcome = if proven.is_empty() {
        match preset.solver.as_str() {
            "highs" => solve_exact(problem, opts, preset, run, start, &mut stats)?,
            "local-search" => {
                // The preset's time limit stops the search with its best plan so far.
                let deadline = preset
                    .time_limit_s
                    .map(|t| start + std::time::Duration::from_secs_f64(t));
                let mut stopped = false;
                let outcome = Outcome::heuristic(opts, |o| {
                    let (found, at_limit) = local_search_until(problem, o, 10, deadline)?;
                    stopped = at_limit;
                    Some(found)
                });
                if stopped {
                    stats.termination = Termination::LimitReached;
                }
                outcome
            }
            name => {
                let which = baseline_named(name)?;
                Outcome::heuristic(opts, |o| baseline(problem, o, which))
            }
        }
    } else {
        stats.termination = Termination::Infeasible;
        Outcome::heuristic(opts, |_| None)
    };
    stats.solve_s = start.elapsed().as_secs_f64() - stats.build_s;
    let Outcome {
        opts,
        found,
        rounds,
        options_pruned,
    } = outcome;
    let plan = found.as_ref().map(|(c, a)| to_plan(&opts, c, a));
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    let plan_value = match (&found, &evaluation) {
        (Some((_, a)), Some(ev)) => Some((a.objective, ev.feasible())),
        _ => None,
    };
    stats.record_plan(plan_value);
    let explanation = explanation(problem, preset, &opts, &stats, proven);
    Ok(AllocReport {
        instance: problem.name.clone(),
        stats,
        details: AllocDetails {
            rounds,
            options_pruned,
        },
        plan,
        evaluation,
        explanation,
    })
}

/// What a solver ends with: the options it chose among, its plan over them and, for the
/// exact solve, its rounds and how many options it pruned.
struct Outcome {
    /// The options the plan's choice indexes (pruned ones for the exact solve).
    opts: Options,
    /// Per user the option index into `opts`, and the allocation.
    found: Option<(Vec<usize>, Allocation)>,
    /// Outer-approximation rounds (0 for the heuristics).
    rounds: usize,
    /// Options pruned before the exact solve (count); `None` for the heuristics.
    options_pruned: Option<usize>,
}

impl Outcome {
    /// The outcome of a heuristic `solver` run on `opts`.
    fn heuristic(
        opts: Options,
        solver: impl FnOnce(&Options) -> Option<(Vec<usize>, Allocation)>,
    ) -> Outcome {
        let found = solver(&opts);
        Outcome {
            opts,
            found,
            rounds: 0,
            options_pruned: None,
        }
    }
}

/// The exact solve: a short local search for a start, option pruning against it, then the
/// outer approximation. Records termination, bound, nodes and model-building seconds in
/// `stats`.
fn solve_exact(
    problem: &AllocProblem,
    mut opts: Options,
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
    stats: &mut SolveStats,
) -> Result<Outcome> {
    let mut incumbent = local_search(problem, &opts, 2);
    let mut options_pruned = None;
    if let Some(found) = &mut incumbent {
        let (pruned, dropped) = prune_around(problem, &opts, found);
        options_pruned = Some(dropped);
        opts = pruned;
    }
    let outer = outer_approximation(problem, &opts, incumbent, preset, run, start)?;
    stats.termination = outer.termination;
    stats.nodes = outer.nodes;
    stats.build_s += outer.build_s;
    stats.bound = outer.bound;
    Ok(Outcome {
        opts,
        found: outer.found,
        rounds: outer.rounds,
        options_pruned,
    })
}

/// Prunes `opts` against the incumbent `(choice, allocation)` ([`prune_options`]) and
/// re-indexes its choice into the kept options. Returns the pruned options and how many
/// options were dropped (count).
fn prune_around(
    problem: &AllocProblem,
    opts: &Options,
    incumbent: &mut (Vec<usize>, Allocation),
) -> (Options, usize) {
    let (choice, a) = incumbent;
    let floor = min_max_lower_bound(problem, opts, Some(a.objective));
    let (pruned, kept) = prune_options(problem, opts, a.objective, floor, choice);
    for (k, o) in choice.iter_mut().enumerate() {
        *o = kept[k]
            .iter()
            .position(|&i| i == *o)
            .expect("prune_options keeps the incumbent's options");
    }
    let dropped = opts.options.iter().map(Vec::len).sum::<usize>()
        - pruned.options.iter().map(Vec::len).sum::<usize>();
    (pruned, dropped)
}

/// The baseline a solver name stands for, or the unknown-solver error.
fn baseline_named(name: &str) -> Result<Baseline> {
    Ok(match name {
        "equal-split" => Baseline::EqualSplit,
        "all-device" => Baseline::AllDevice,
        "all-edge" => Baseline::AllEdge,
        "fixed-cut" => Baseline::FixedCut,
        other => {
            return Err(Error::Unknown {
                what: "solver for the alloc problem",
                name: other.to_string(),
                hint: format!("the alloc problem supports {}", SOLVERS.join(", ")),
            })
        }
    })
}

/// The report's explanation lines: the cheap checks' causes (`proven`) when they settled
/// infeasibility, a budgeted [`explain_infeasible`] when the solve proved it, a hint when a
/// heuristic found no plan, and nothing otherwise.
fn explanation(
    problem: &AllocProblem,
    preset: &SolverPreset,
    opts: &Options,
    stats: &SolveStats,
    proven: Vec<String>,
) -> Vec<String> {
    match stats.termination {
        Termination::Infeasible if !proven.is_empty() => proven,
        Termination::Infeasible => {
            let budget = preset
                .time_limit_s
                .map_or(EXPLAIN_BUDGET_S, |t| t.min(EXPLAIN_BUDGET_S));
            explain_infeasible(problem, opts, budget)
        }
        // A heuristic without a plan proves nothing; the cheap checks may still find a cause.
        Termination::NoSolutionFound => vec![format!(
            "{} found no plan; `--solver highs` decides whether one exists",
            preset.name
        )],
        _ => Vec::new(),
    }
}

/// Drops options that no plan better than `upper` (the objective of the incumbent `incumbent`,
/// whose options are always kept) needs:
///
/// - an option whose least possible latency (with all of its server's blocks and compute)
///   exceeds what the objective leaves for it: `upper` for min-max, `upper` minus every other
///   user's least possible (weighted) latency for the sums; or exceeds the user's deadline;
/// - a server option whose device time and round trips alone already reach the user's local
///   latency: running locally is no slower and uses no server resource (block, compute,
///   memory), so swapping keeps any plan feasible and no worse;
/// - for min-max with a lower bound `floor` on the optimum (e.g. [`min_max_lower_bound`]),
///   every server option of a user whose local latency is at most the floor (and its
///   deadline): moving it to its device in an optimal plan keeps its latency at most the
///   optimum, frees resources and leaves every other latency as it was.
///
/// Exact: some optimal plan uses only kept options. Returns the pruned options and, per user,
/// the original index of each kept one.
pub fn prune_options(
    problem: &AllocProblem,
    opts: &Options,
    upper: f64,
    floor: Option<f64>,
    incumbent: &[usize],
) -> (Options, Vec<Vec<usize>>) {
    let fastest = |o: &UserOption| {
        let n = o
            .server
            .map_or(1.0, |s| problem.servers[s].resource_blocks as f64);
        o.latency(n, 1.0)
    };
    let weight = |k: usize| match problem.objective {
        AllocObjective::WeightedSum => problem.users[k].weight,
        _ => 1.0,
    };
    let least: Vec<f64> = opts
        .options
        .iter()
        .map(|list| list.iter().map(fastest).fold(f64::INFINITY, f64::min))
        .collect();
    let total_least: f64 = least.iter().enumerate().map(|(k, l)| weight(k) * l).sum();
    let slack = 1e-9 * upper.abs().max(1e-12);
    let mut pruned = opts.clone();
    let mut kept = Vec::with_capacity(opts.options.len());
    for (k, list) in opts.options.iter().enumerate() {
        let room = match problem.objective {
            AllocObjective::MinMax => upper,
            _ => (upper - (total_least - weight(k) * least[k])) / weight(k),
        };
        let limit = problem.users[k].deadline_s.map_or(room, |d| d.min(room)) + slack;
        let local = list
            .iter()
            .filter(|o| o.server.is_none())
            .map(|o| o.latency(1.0, 1.0))
            .fold(f64::INFINITY, f64::min);
        let local_enough = problem.objective == AllocObjective::MinMax
            && floor.is_some_and(|f| local <= problem.users[k].deadline_s.map_or(f, |d| d.min(f)));
        let keep: Vec<usize> = (0..list.len())
            .filter(|&o| {
                let opt = &list[o];
                let dominated =
                    opt.server.is_some() && (opt.device_s + opt.fixed_s >= local || local_enough);
                o == incumbent[k] || (fastest(opt) <= limit && !dominated)
            })
            .collect();
        pruned.options[k] = keep.iter().map(|&o| list[o].clone()).collect();
        kept.push(keep);
    }
    (pruned, kept)
}
