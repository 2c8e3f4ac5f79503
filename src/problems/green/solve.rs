//! Solving a green-scheduling instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, GreenEvaluation};
use super::heuristics::{asap, greedy};
use super::model::{build, GreenMilp};
use super::{GreenProblem, Schedule};
use crate::error::{Error, Result};
use crate::solve::milp::MipOptions;
use crate::solve::report::{PrimalStatus, Report, SolveStats};
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
            // The greedy's schedule, when it meets every deadline, is a complete MIP start
            // (every variable set) and the fallback: the better of it and HiGHS's plan is
            // returned. Its time counts against the limit. HiGHS 1.16 can report the right
            // optimum with the start's values as its solution (tests/green_oracle.rs, seed 9):
            // when the returned plan's objective is not the one HiGHS reports, it solves again
            // without the start.
            let heuristic = greedy(problem).filter(|s| evaluate(problem, s).feasible());
            let objective = |s: &Schedule| {
                let ev = evaluate(problem, s);
                if ev.feasible() {
                    ev.objective
                } else {
                    f64::INFINITY
                }
            };
            let mut options = MipOptions::for_run(preset, run);
            let deadline = options.time_limit_s;
            let mut with_start = heuristic.is_some();
            let (result, found, objective_scale) = loop {
                let mut model = build(problem);
                let started = with_start
                    && heuristic
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
                milp_size = Some((
                    milp.num_vars(),
                    milp.num_integer_vars(),
                    milp.num_constraints(),
                ));
                stats.build_s = start.elapsed().as_secs_f64() - stats.solve_s;
                if let Some(limit) = deadline {
                    options.time_limit_s = Some((limit - start.elapsed().as_secs_f64()).max(0.01));
                }
                let result = milp.minimise(target, &options)?;
                stats.solve_s += result.solve_s;
                let found = result
                    .values
                    .as_ref()
                    .map(|v| GreenMilp::decode(&runs, problem, v));
                // The plan may be cheaper than reported (slack in a grid variable), never
                // dearer.
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
                break (result, found, objective_scale);
            };
            stats.termination = result.termination;
            stats.bound = result.bound.map(|b| b * objective_scale);
            stats.nodes = result.nodes;
            // The better of HiGHS's plan and the greedy's (ties: HiGHS's).
            [found, heuristic]
                .into_iter()
                .flatten()
                .min_by(|a, b| objective(a).total_cmp(&objective(b)))
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
