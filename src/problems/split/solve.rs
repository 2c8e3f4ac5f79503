//! Solving a split instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, Evaluation};
use super::heuristics::{baseline, enumerate, explain_infeasible};
use super::model::build_capped;
use super::{Coefficients, SplitPlan, SplitProblem, Tier};
use crate::error::{Error, Result};
use crate::solve::export::header;
use crate::solve::milp::{MipOptions, MipResult, RunOptions};
use crate::solve::report::{add_nodes, PrimalStatus, Report, SolveStats, Termination};
use crate::solve::SolverPreset;

/// Solvers the split problem understands.
pub const SOLVERS: [&str; 5] = ["highs", "enumerate", "all-device", "all-edge", "all-cloud"];

/// What a split report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct SplitDetails {
    /// Model name.
    pub model: String,
}

/// The result of solving a split instance.
pub type SplitReport = Report<SplitPlan, Evaluation, SplitDetails>;

/// Solves `problem` with `preset`.
pub fn solve(
    problem: &SplitProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<SplitReport> {
    let start = Instant::now();
    let coef = Coefficients::new(problem);
    let coef_s = start.elapsed().as_secs_f64();
    let n = problem.layers();
    let (mut stats, plan) = match preset.solver.as_str() {
        "highs" => {
            let (stats, plan) = solve_highs(problem, &coef, preset, run, start)?;
            (stats, plan)
        }
        "enumerate" => {
            let best = enumerate(problem, &coef);
            let mut stats =
                SolveStats::heuristic(&preset.name, coef_s, start.elapsed().as_secs_f64() - coef_s);
            match best {
                Some(b) => {
                    stats.termination = Termination::Optimal;
                    stats.objective = Some(b.objective);
                    stats.bound = Some(b.objective);
                    stats.gap = Some(0.0);
                }
                None => {
                    stats.termination = Termination::Infeasible;
                    stats.primal_status = PrimalStatus::NoPlan;
                }
            }
            (stats, best.map(|b| SplitPlan::from_cuts(n, b.c1, b.c2)))
        }
        name @ ("all-device" | "all-edge" | "all-cloud") => {
            let tier = Tier::parse(&name[4..]).expect("baseline names end in a tier");
            let plan = baseline(problem, tier);
            let stats =
                SolveStats::heuristic(&preset.name, coef_s, start.elapsed().as_secs_f64() - coef_s);
            (stats, Some(plan))
        }
        other => {
            return Err(Error::Unknown {
                what: "solver for the split problem",
                name: other.to_string(),
                hint: format!("the split problem supports {}", SOLVERS.join(", ")),
            })
        }
    };
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    if let Some(ev) = &evaluation {
        if stats.objective.is_none() {
            stats.objective = Some(ev.objective);
        }
        if !ev.feasible() {
            stats.primal_status = PrimalStatus::Infeasible;
        }
    }
    let explanation = if stats.termination == Termination::Infeasible
        || stats.primal_status == PrimalStatus::Infeasible
    {
        explain_infeasible(problem, &coef)
    } else {
        Vec::new()
    };
    Ok(SplitReport {
        instance: problem.name.clone(),
        details: SplitDetails {
            model: problem.table.model.clone(),
        },
        stats,
        plan,
        evaluation,
        explanation,
    })
}

/// Most MILP solves of one `highs` run (see [`solve_highs`]).
const MAX_ROUNDS: usize = 4;

/// The MILP with HiGHS, in rounds: the first with the plain objective; each next one with every
/// objective term capped at the objective of the best plan so far ([`build_capped`]), which
/// keeps the optimal plans and lets HiGHS compare plans at the optimum's scale rather than at the
/// scale of the dearest term (on instances whose terms span many orders of magnitude, the first
/// round's plan can be far from optimal within HiGHS's absolute tolerances). The rounds stop when
/// a plan no longer improves, or the time limit is spent. The statistics are the last round's,
/// with times and nodes summed.
fn solve_highs(
    problem: &SplitProblem,
    coef: &Coefficients,
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
) -> Result<(SolveStats, Option<SplitPlan>)> {
    let mut options = MipOptions::for_run(preset, run);
    let (a, b) = problem.objective.weights();
    options.model_header = header(
        "split",
        &problem.name,
        &format!("{a} x latency (s) + {b} x device energy (J), as reported"),
    );
    let mut cap = f64::INFINITY;
    let mut best: Option<(SplitPlan, f64, MipResult)> = None;
    let (mut build_s, mut solve_s, mut nodes) = (0.0, 0.0, None::<i64>);
    for _ in 0..MAX_ROUNDS {
        let round = Instant::now();
        let model = build_capped(problem, coef, cap);
        build_s += round.elapsed().as_secs_f64();
        let result = model.milp.minimise(model.objective, &options)?;
        solve_s += result.solve_s;
        nodes = add_nodes(nodes, result.nodes);
        // Only the first round exports the model (uncapped: its optimum is the reported one).
        options.write_model = None;
        let Some(values) = &result.values else {
            // No plan: infeasible (the caps never change which plans are feasible) or out of
            // time; a later round keeps the plan of an earlier one.
            if best.is_none() {
                return Ok((stats_of(&result, preset, build_s, solve_s, nodes), None));
            }
            break;
        };
        let plan = model.decoder.decode(values);
        let value = evaluate(problem, &plan)?.objective;
        let improved = best
            .as_ref()
            .is_none_or(|(_, v, _)| value < *v * (1.0 - 1e-9));
        if improved {
            best = Some((plan, value, result));
        }
        let limit_hit = best
            .as_ref()
            .is_some_and(|(_, _, r)| r.termination != Termination::Optimal);
        let spent = start.elapsed().as_secs_f64();
        let time_left = preset.time_limit_s.map(|t| t - spent);
        if !improved || limit_hit || value <= 0.0 || time_left.is_some_and(|t| t <= 0.0) {
            break;
        }
        options.time_limit_s = time_left;
        // A little above the best value, so that its own terms are never capped.
        cap = value * (1.0 + 1e-6);
    }
    let (plan, _, result) = best.expect("the first round yields a plan or returns");
    Ok((
        stats_of(&result, preset, build_s, solve_s, nodes),
        Some(plan),
    ))
}

/// The statistics of a MILP result, with the times and node count of all rounds.
fn stats_of(
    result: &MipResult,
    preset: &SolverPreset,
    build_s: f64,
    solve_s: f64,
    nodes: Option<i64>,
) -> SolveStats {
    SolveStats {
        termination: result.termination,
        primal_status: result.primal_status,
        objective: result.objective,
        bound: result.bound,
        gap: result.gap,
        nodes,
        ..SolveStats::heuristic(&preset.name, build_s, solve_s)
    }
}
