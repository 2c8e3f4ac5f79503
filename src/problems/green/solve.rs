//! Solving a green-scheduling instance with a preset, and the report.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use super::columns::{
    columns_of, dive, generate, restricted_master, schedule_of, Column, Costs, Fixed,
};
use super::cuts::strengthen;
use super::evaluate::{evaluate, GreenEvaluation};
use super::fixing::fixing;
use super::heuristics::{asap, complete, greedy};
use super::model::{build, build_without, objective_scale, GreenMilp};
use super::neighbourhood::{search, Limits};
use super::{GreenObjective, GreenProblem, Schedule};
use crate::error::{Error, Result};
use crate::solve::export::{header, Sense};
use crate::solve::milp::MipOptions;
use crate::solve::report::{PrimalStatus, Report, SolveStats, Termination};
use crate::solve::RunOptions;
use crate::solve::SolverPreset;

/// Solvers the green problem understands.
pub const SOLVERS: [&str; 3] = ["highs", "greedy", "asap"];

/// What a green report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct GreenDetails {
    /// MILP size: (variables, integer variables, constraints); exact solve only.
    pub milp_size: Option<(usize, usize, usize)>,
}

/// The result of solving a green-scheduling instance; the plan is the schedule.
pub type GreenReport = Report<Schedule, GreenEvaluation, GreenDetails>;

/// Solves `problem` with `preset`.
pub fn solve(problem: &GreenProblem, preset: &SolverPreset) -> Result<GreenReport> {
    solve_with(problem, preset, &RunOptions::default())
}

/// Solves `problem` with `preset`, with a HiGHS log and model export as `run` asks.
pub fn solve_with(
    problem: &GreenProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<GreenReport> {
    problem
        .check()
        .map_err(|message| Error::option("problem", message))?;
    let start = Instant::now();
    let mut stats = SolveStats::heuristic(&preset.name, 0.0, 0.0);
    let mut milp_size = None;
    let schedule = match preset.solver.as_str() {
        "highs" => {
            let (schedule, size) = exact(problem, preset, run, start, &mut stats)?;
            milp_size = size;
            schedule
        }
        name => {
            stats.build_s = start.elapsed().as_secs_f64();
            match name {
                "greedy" => greedy(problem),
                "asap" => Some(asap(problem)),
                other => {
                    return Err(Error::Unknown {
                        what: "solver for the green problem",
                        name: other.to_string(),
                        hint: format!("the green problem supports {}", SOLVERS.join(", ")),
                    })
                }
            }
        }
    };
    stats.solve_s = start.elapsed().as_secs_f64() - stats.build_s;
    let evaluation = schedule.as_ref().map(|s| evaluate(problem, s));
    stats.record_plan(evaluation.as_ref().map(|ev| (ev.objective, ev.feasible())));
    let explanation = if stats.primal_status == PrimalStatus::Feasible {
        Vec::new()
    } else {
        explain(problem)
    };
    Ok(GreenReport {
        instance: problem.name.clone(),
        stats,
        details: GreenDetails { milp_size },
        plan: schedule,
        evaluation,
        explanation,
    })
}

/// The exact solve (docs/green.md, "Exact solve"): the greedy, column generation for a bound
/// and a restricted master MILP for a schedule, on large instances a neighbourhood search from
/// it, then, while the gap is open, Lagrangian fixing and the time-indexed MILP. Returns the
/// schedule and the time-indexed MILP's size.
fn exact(
    problem: &GreenProblem,
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
    stats: &mut SolveStats,
) -> Result<Exact> {
    let objective = |s: &Schedule| {
        let ev = evaluate(problem, s);
        if ev.feasible() {
            ev.objective
        } else {
            f64::INFINITY
        }
    };
    // A plan of this objective meets a bound within the preset's gap.
    let within_gap = |value: f64, b: f64| {
        value - b <= (preset.mip_rel_gap * value.abs()).max(preset.mip_abs_gap)
    };
    // Every plan below this meets bound `b` within the gap (the time-indexed MILP's target).
    let meets_below = |b: f64| (b + preset.mip_rel_gap * b.abs()).max(b + preset.mip_abs_gap);
    let mut options = MipOptions {
        report_scale: objective_scale(problem),
        ..MipOptions::for_run(preset, run)
    };
    // Only the time-indexed MILP is exported ([`write_time_indexed`]), whichever MILPs run.
    options.write_model = None;
    let deadline = options.time_limit_s;
    let left = |share: f64| deadline.map(|l| (share * l - start.elapsed().as_secs_f64()).max(0.01));
    let heuristic = greedy(problem).filter(|s| evaluate(problem, s).feasible());
    let mut best = heuristic.clone();
    let consider = |best: &mut Option<Schedule>, found: Schedule| {
        if objective(&found) < best.as_ref().map_or(f64::INFINITY, objective) {
            *best = Some(found);
        }
    };

    // Column generation: a bound, and columns for a restricted master MILP (the greedy's
    // columns keep it feasible and start it).
    let costs = Costs::new(problem);
    let scale = objective_scale(problem);
    let mut pool = heuristic
        .as_ref()
        .map(|s| columns_of(problem, &costs, s))
        .unwrap_or_default();
    let mut bound: Option<f64> = None;
    // The slot prices of the column generation's bound, for the fixing before step 5.
    let mut prices: Option<Vec<Vec<f64>>> = None;
    // The time-indexed MILP gets the last part of a time limit only where it is small enough
    // to help; a larger one's root LP alone takes most of a minute, and the master and the
    // neighbourhood search get it.
    let small = run_variables(problem) <= MAX_TIME_INDEXED_RUNS;
    let (dive_share, master_share) = if small {
        (DIVE_SHARE, MASTER_SHARE)
    } else {
        (LARGE_DIVE_SHARE, LARGE_MASTER_SHARE)
    };
    // Warm-started master LPs where the model is large (on 50 x 96 x 5 their other, equally
    // optimal duals made the fixing and the time-indexed MILP do worse: 0.85% left at 60 s
    // against 0.56-0.65% from scratch).
    let generated = generate(
        problem,
        &costs,
        &mut pool,
        &Fixed::none(problem),
        left(COLUMN_SHARE),
        usize::MAX,
        &[],
        !small,
    );
    if let Some(generated) = generated {
        bound = Some(generated.bound * scale);
        // Rank-1 cuts on the master raise the bound where the time-indexed MILP is too large to
        // close the gap (on the smaller ones it does, and the cut rounds' columns only slow the
        // restricted master down). The slot prices for the fixing below stay those of the
        // generation without them.
        // Without a time limit the cut rounds get a few seconds, so the restricted master (and
        // its progress lines) still comes soon.
        let cut_time = left(CUT_SHARE).or(Some(CUT_SECONDS_WITHOUT_LIMIT));
        if generated.converged && !small {
            let (strengthened, _) = strengthen(problem, &costs, &mut pool, &generated.lp, cut_time);
            if let Some(b) = strengthened {
                bound = bound.map(|dw| dw.max(b * scale));
            }
        }
        prices = Some(generated.prices);
        // A dive, its last jobs placed by the greedy's rule when its slots run out.
        let dive_time = left(dive_share);
        let fixed = match dive_time {
            Some(t) if t <= 0.01 => None,
            _ => dive(problem, &costs, &mut pool, dive_time, !small),
        };
        if let Some(fixed) = fixed {
            let picked: Vec<&Column> = fixed.iter().flatten().map(|&i| &pool[i]).collect();
            if let Some(found) = complete(problem, schedule_of(problem, &picked)) {
                consider(&mut best, found);
            }
        }
        // The restricted master MILP over every column, started from the best schedule.
        let start_columns: Option<Vec<usize>> = best.as_ref().map(|s| {
            let first = pool.len();
            pool.extend(columns_of(problem, &costs, s));
            (first..pool.len()).collect()
        });
        let master = MipOptions {
            time_limit_s: left(master_share),
            ..options.clone()
        };
        if let Some(chosen) = restricted_master(
            problem,
            &pool,
            start_columns.as_deref(),
            costs.constant,
            &master,
        ) {
            let picked: Vec<&Column> = chosen.iter().map(|&i| &pool[i]).collect();
            let found = schedule_of(problem, &picked);
            // The greedy's re-placement and tuning moves from the master's schedule: it is
            // optimal over the columns generated, not over each job's every schedule.
            if let Some(polished) = complete(problem, found.clone()) {
                consider(&mut best, polished);
            }
            consider(&mut best, found);
        }
        // The neighbourhood search from the best schedule, until it meets the bound, where the
        // time-indexed MILP is too large to close the gap itself (on the smaller ones the
        // search's rounds only delay the MILP's proof).
        match (best.clone(), bound) {
            (Some(from), Some(b)) if !small => {
                let limits = Limits {
                    time_s: left(SEARCH_SHARE),
                    rounds: if deadline.is_some() {
                        usize::MAX
                    } else {
                        SEARCH_ROUNDS
                    },
                    stall: SEARCH_STALL,
                    done: &|value| within_gap(value, b),
                };
                let found = search(
                    problem, &costs, &mut pool, from, &objective, limits, &options,
                );
                consider(&mut best, found);
            }
            _ => {}
        }
    }
    let closed = |best: &Option<Schedule>, bound: Option<f64>| match (best, bound) {
        (Some(s), Some(b)) => within_gap(objective(s), b),
        _ => false,
    };
    // Lagrangian fixing: the runs no schedule cheaper than the best one uses, at the column
    // generation's prices (its exact least columns may also raise the bound a little).
    let fixed = match (&prices, &best) {
        (Some(pi), Some(s)) if !closed(&best, bound) => {
            let incumbent = objective(s);
            fixing(problem, &costs, pi, incumbent / scale).map(|mut f| {
                // The best schedule's runs stay, whatever the rounding (the argument keeps them).
                for (m, row) in s.runs.iter().enumerate() {
                    for (t, run) in row.iter().enumerate() {
                        if let Some(run) = run {
                            f.removed.remove(&(run.job, m, t, run.level));
                        }
                    }
                }
                bound = Some(bound.map_or(f.bound * scale, |b| b.max(f.bound * scale)));
                (f.removed, incumbent)
            })
        }
        _ => None,
    };
    if closed(&best, bound) {
        stats.termination = Termination::Optimal;
        stats.bound = bound;
        write_time_indexed(problem, best.as_ref(), run)?;
        return Ok((best, None));
    }

    // The time-indexed MILP without the fixed runs, with the best schedule as a complete MIP
    // start, stopping as soon as its incumbent meets the bound within the gap (an objective
    // target, not a row: a row `objective >= bound` holds the LP at the bound, and HiGHS's cuts
    // and restarts then no longer show in its bound). HiGHS 1.16 can report the right optimum
    // with the start's values as its solution (tests/green_oracle.rs, seed 9): when the returned
    // plan's objective is not the one HiGHS reports, it solves again without the start.
    let mut with_start = best.is_some();
    let mut size;
    let no_runs = HashSet::new();
    let removed = fixed.as_ref().map_or(&no_runs, |(r, _)| r);
    loop {
        // Only building the time-indexed MILP counts as build time; the rest is solving.
        let built = Instant::now();
        let mut model = build_without(problem, removed);
        let started = with_start
            && best
                .as_ref()
                .and_then(|s| model.start(problem, s))
                .map(|values| model.milp.set_start(values))
                .is_some();
        let GreenMilp {
            milp,
            objective: target,
            runs,
            objective_scale,
            ..
        } = model;
        options.objective_target = bound.map(|b| meets_below(b) / objective_scale);
        size = Some((
            milp.num_vars(),
            milp.num_integer_vars(),
            milp.num_constraints(),
        ));
        stats.build_s += built.elapsed().as_secs_f64();
        options.time_limit_s = left(1.0);
        let result = milp.minimise(target, &options)?;
        let found = result
            .values
            .as_ref()
            .map(|v| GreenMilp::decode(&runs, problem, v));
        // The plan may be cheaper than reported, never dearer.
        let consistent = match (&found, result.objective) {
            (Some(s), Some(o)) => {
                let reported = o * objective_scale;
                objective(s) <= reported + 1e-6 * reported.abs().max(1e-9)
            }
            _ => true,
        };
        if started && !consistent {
            with_start = false;
            continue;
        }
        stats.nodes = result.nodes;
        stats.termination = result.termination;
        // Without the fixed runs, HiGHS bounds the schedules cheaper than the one fixed with;
        // the others cost more than it.
        let milp_bound = result
            .bound
            .map(|b| b * objective_scale)
            .map(|b| fixed.as_ref().map_or(b, |&(_, incumbent)| b.min(incumbent)));
        bound = match (bound, milp_bound) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(found) = found {
            consider(&mut best, found);
        }
        break;
    }
    // The model keeps the best schedule's runs, so it is feasible; should HiGHS call it
    // infeasible all the same (its tolerances), a schedule is known, and the gap below decides.
    if stats.termination == Termination::Infeasible && best.is_some() {
        stats.termination = Termination::LimitReached;
    }
    if closed(&best, bound) {
        stats.termination = Termination::Optimal;
    }
    stats.bound = bound;
    write_time_indexed(problem, best.as_ref(), run)?;
    Ok((best, size))
}

/// Writes the time-indexed MILP (every run, none fixed) to `run.write_model` when it is set,
/// in the report's units, with `best` as its MIP start: its optimum is the reported objective
/// when the report says optimal, whether or not the solve needed it.
fn write_time_indexed(
    problem: &GreenProblem,
    best: Option<&Schedule>,
    run: &RunOptions,
) -> Result<()> {
    let Some(path) = &run.write_model else {
        return Ok(());
    };
    let mut model = build(problem);
    if let Some(values) = best.and_then(|s| model.start(problem, s)) {
        model.milp.set_start(values);
    }
    let what = match problem.objective {
        GreenObjective::Carbon => "grid carbon (g)",
        GreenObjective::Energy => "grid energy (kWh)",
        GreenObjective::Cost => "grid energy cost",
    };
    let options = MipOptions {
        write_model: Some(path.clone()),
        model_header: header(
            "green",
            &problem.name,
            &format!(
                "{what} of the time-indexed MILP, as reported (the exact solve may close the gap \
                 by column generation without solving this model)"
            ),
        ),
        ..MipOptions::default()
    };
    let objective = model.objective.clone() * model.objective_scale;
    model
        .milp
        .write_model(&objective, Sense::Minimise, &options)
}

/// The exact solve's schedule and the time-indexed MILP's size (when it was built).
type Exact = (Option<Schedule>, Option<(usize, usize, usize)>);

/// Share of the time limit by which the column generation ends.
const COLUMN_SHARE: f64 = 0.3;
/// Share of the time limit by which the rounds of cuts on the master end (where the time-indexed
/// MILP has more than [`MAX_TIME_INDEXED_RUNS`] run variables). On 100 x 96 x 10 (seed 1, 60 s)
/// they raise the bound from 1725.5 g to 1741.0 g by 35% of the limit, 1741.7-1742.1 g by 45%,
/// and the dive and the restricted master need the time more.
const CUT_SHARE: f64 = 0.35;
/// Seconds of cut rounds without a time limit.
const CUT_SECONDS_WITHOUT_LIMIT: f64 = 10.0;
/// Share of the time limit by which the dive ends.
const DIVE_SHARE: f64 = 0.5;
/// Share of the time limit by which the restricted master MILP ends.
const MASTER_SHARE: f64 = 0.65;
/// The dive's share when the time-indexed MILP has more than [`MAX_TIME_INDEXED_RUNS`] run
/// variables (after the cut rounds).
const LARGE_DIVE_SHARE: f64 = 0.45;
/// The restricted master's share in that case.
const LARGE_MASTER_SHARE: f64 = 0.55;
/// Share of the time limit by which the neighbourhood search ends (it runs only where the
/// time-indexed MILP has more than [`MAX_TIME_INDEXED_RUNS`] run variables). It improves the
/// schedule much faster than the whole restricted master: on 100 x 96 x 10, 2.2% above the
/// bound with the master until 95% of 60 s, 1.5-1.6% with the master until 50% and the search
/// after it (before the cut rounds; the bound was then the Dantzig-Wolfe one).
const SEARCH_SHARE: f64 = 0.95;
/// Neighbourhood rounds without a time limit.
const SEARCH_ROUNDS: usize = 30;
/// Consecutive neighbourhood rounds without a cheaper schedule after which the search hands the
/// time left to the time-indexed MILP. On 100 x 96 x 10 (seed 1) the search improved at rounds
/// 83 and 121 of a 60 s solve, and not once in rounds 35-120 of a 300 s one.
const SEARCH_STALL: usize = 50;
/// Run variables of the time-indexed MILP above which it gets only the last 5% of a time limit
/// (100 jobs x 96 slots x 10 servers: 22,000, root LP 14 s; 50 x 96 x 5: 5,700).
const MAX_TIME_INDEXED_RUNS: usize = 10_000;

/// Run variables of the time-indexed MILP: (job, server it fits, slot of its window, level).
fn run_variables(problem: &GreenProblem) -> usize {
    let slots = problem.slots();
    let mut count = 0;
    for (j, job) in problem.jobs.iter().enumerate() {
        let window = job.deadline.min(slots).saturating_sub(job.release);
        for (m, server) in problem.servers.iter().enumerate() {
            if problem.fits(j, m) {
                count += window * server.levels.len();
            }
        }
    }
    count
}

/// Jobs that cannot meet their deadline even alone: no server holds their memory, or their
/// window on the fastest level of every server that holds them is too short.
pub fn explain(problem: &GreenProblem) -> Vec<String> {
    let mut out = Vec::new();
    for (j, job) in problem.jobs.iter().enumerate() {
        let hosts: Vec<usize> = (0..problem.servers.len())
            .filter(|&m| problem.fits(j, m))
            .collect();
        if hosts.is_empty() {
            out.push(format!(
                "job {}: needs {:.3} GB, more than any server's memory",
                job.name,
                job.memory_bytes / 1e9
            ));
            continue;
        }
        let window = job
            .deadline
            .min(problem.slots())
            .saturating_sub(job.release);
        let best = hosts
            .iter()
            .map(|&m| {
                let fastest = problem.servers[m]
                    .levels
                    .iter()
                    .map(|l| l.speed_flops)
                    .fold(0.0, f64::max);
                fastest * problem.slot_s * window as f64
            })
            .fold(0.0, f64::max);
        if best < job.work_flop * (1.0 - super::evaluate::WORK_TOLERANCE) {
            out.push(format!(
                "job {}: needs {:.4e} FLOP, but its {window} slot(s) ({}..{}) at the fastest \
                 level of the best server give only {:.4e}",
                job.name, job.work_flop, job.release, job.deadline, best
            ));
        }
    }
    if out.is_empty() {
        out.push(
            "every job fits alone; together they need more server slots in their windows \
             than there are (or the heuristic found no room: `--solver highs` decides)"
                .into(),
        );
    }
    out
}
