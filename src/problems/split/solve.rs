//! Solving a split instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, Evaluation};
use super::heuristics::{baseline, enumerate, explain_infeasible};
use super::model::build;
use super::{Coefficients, SplitPlan, SplitProblem, Tier};
use crate::error::{Error, Result};
use crate::solve::milp::{MipOptions, RunOptions};
use crate::solve::report::{PrimalStatus, Report, SolveStats, Termination};
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
            let model = build(problem, &coef);
            let build_s = start.elapsed().as_secs_f64();
            let options = MipOptions::for_run(preset, run);
            let result = model.milp.minimise(model.objective, &options)?;
            let plan = result.values.as_ref().map(|v| model.decoder.decode(v));
            let stats = SolveStats {
                termination: result.termination,
                primal_status: result.primal_status,
                objective: result.objective,
                bound: result.bound,
                gap: result.gap,
                nodes: result.nodes,
                ..SolveStats::heuristic(&preset.name, build_s, result.solve_s)
            };
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
