//! Solving a pipeline instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, Evaluation};
use super::price::Coefficients;
use super::search::{enumerate, explain_infeasible, Scorer};
use super::{edgeshard, heuristics, model, PipelinePlan, PipelineProblem, Stage};
use crate::error::{Error, Result};
pub use crate::solve::milp::MilpSize;
use crate::solve::milp::RunOptions;
use crate::solve::report::{PrimalStatus, Report, SolveStats, Termination};
use crate::solve::SolverPreset;

/// Solvers the pipeline problem understands.
pub const SOLVERS: [&str; 4] = ["highs", "enumerate", "local-search", "edgeshard"];

/// What a pipeline report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineDetails {
    /// Model name.
    pub model: String,
    /// Nodes.
    pub nodes: usize,
    /// Links.
    pub links: usize,
    /// The objective's name.
    pub objective_kind: &'static str,
    /// MILP size, when the MILP ran: (variables, integer variables, rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milp: Option<MilpSize>,
}

/// The result of solving a pipeline instance.
pub type PipelineReport = Report<PipelinePlan, Evaluation, PipelineDetails>;

/// Solves `problem` with `preset`.
pub fn solve(
    problem: &PipelineProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<PipelineReport> {
    let start = Instant::now();
    let coef = Coefficients::new(problem);
    let scorer = Scorer {
        problem,
        coef: &coef,
    };
    let coef_s = start.elapsed().as_secs_f64();
    let heuristic_stats = |start: Instant| {
        SolveStats::heuristic(&preset.name, coef_s, start.elapsed().as_secs_f64() - coef_s)
    };
    let mut milp = None;
    let (mut stats, plan) = match preset.solver.as_str() {
        "highs" => {
            let out = model::solve_highs(&scorer, preset, run, start)?;
            milp = out.size;
            (out.stats, out.plan)
        }
        "enumerate" => {
            let best = enumerate(&scorer)?;
            let mut stats = heuristic_stats(start);
            match &best {
                Some((_, v)) => {
                    stats.termination = Termination::Optimal;
                    stats.objective = Some(*v);
                    stats.bound = Some(*v);
                    stats.gap = Some(0.0);
                }
                None => {
                    stats.termination = Termination::Infeasible;
                    stats.primal_status = PrimalStatus::NoPlan;
                }
            }
            (stats, best.map(|(st, _)| scorer.plan(&st)))
        }
        "local-search" => {
            let deadline = preset
                .time_limit_s
                .map(|t| start + std::time::Duration::from_secs_f64(t));
            let found = heuristics::local_search(&scorer, deadline);
            heuristic_result(&scorer, found, heuristic_stats(start))
        }
        "edgeshard" => {
            let found = edgeshard::plan(&scorer);
            heuristic_result(&scorer, found, heuristic_stats(start))
        }
        other => {
            return Err(Error::Unknown {
                what: "solver for the pipeline problem",
                name: other.to_string(),
                hint: format!("the pipeline problem supports {}", SOLVERS.join(", ")),
            })
        }
    };
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    if let Some(ev) = &evaluation {
        stats.objective = Some(ev.objective);
        if !ev.feasible() {
            stats.primal_status = PrimalStatus::Infeasible;
        }
    }
    let explanation = if stats.termination == Termination::Infeasible
        || stats.primal_status != PrimalStatus::Feasible
    {
        explain_infeasible(problem, &coef)
    } else {
        Vec::new()
    };
    Ok(PipelineReport {
        instance: problem.name.clone(),
        details: PipelineDetails {
            model: problem.table.model.clone(),
            nodes: problem.node_count(),
            links: problem.links.len(),
            objective_kind: problem.objective.name(),
            milp,
        },
        stats,
        plan,
        evaluation,
        explanation,
    })
}

/// The statistics and plan of a heuristic that found `stages` (or nothing).
fn heuristic_result(
    scorer: &Scorer<'_>,
    found: Option<Vec<Stage>>,
    mut stats: SolveStats,
) -> (SolveStats, Option<PipelinePlan>) {
    match found {
        Some(stages) => (stats, Some(scorer.plan(&stages))),
        None => {
            stats.termination = Termination::NoSolutionFound;
            stats.primal_status = PrimalStatus::NoPlan;
            (stats, None)
        }
    }
}
