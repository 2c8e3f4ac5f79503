//! The collaboration solvers: the exact MILP (HiGHS), brute force, the greedy and the
//! baselines, behind one `solve` entry point.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::solve::export::header;
use crate::solve::milp::{MilpSize, MipOptions};
use crate::solve::report::{PrimalStatus, SolveStats, Termination};
use crate::solve::{Report, RunOptions, SolverPreset};

use super::evaluate::{evaluate, Evaluation};
use super::price::{self, Options, Priced, Score};
use super::{baselines, enumerate, explain, greedy, milp};
use super::{CollabPlan, CollabProblem};

/// The solvers the problem understands.
pub const SOLVERS: [&str; 6] = [
    "highs",
    "enumerate",
    "greedy",
    "all-device",
    "all-edge",
    "cascade-fixed",
];

/// What a collaboration report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct CollabDetails {
    /// The objective's name.
    pub objective_kind: &'static str,
    /// Users.
    pub users: usize,
    /// Variants.
    pub variants: usize,
    /// Modes allowed.
    pub modes: Vec<&'static str>,
    /// Modes priced per user.
    pub candidates: usize,
    /// Options kept after removing infeasible and dominated ones, over all users.
    pub options: usize,
    /// MILP size, when the MILP ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milp: Option<MilpSize>,
    /// How the MILP's second stage (the latency tie-break among the plans of the best primary
    /// value) ended, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<Termination>,
}

/// The result of solving a collaboration instance.
pub type CollabReport = Report<CollabPlan, Evaluation, CollabDetails>;

/// User `u`'s option that is `p` or dominates it (at least as good in the objective and the
/// latency, no more blocks, load or edge memory, holding nothing or the same variant).
fn option_for(problem: &CollabProblem, options: &Options, u: usize, p: &Priced) -> Option<usize> {
    let list = options.options.get(u)?;
    if let Some(i) = list.iter().position(|q| q.mode == p.mode) {
        return Some(i);
    }
    let value = price::primary_value(problem, u, p.quality);
    list.iter().position(|q| {
        let edge_ok = match (q.edge_variant(), p.edge_variant()) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        edge_ok
            && price::primary_value(problem, u, q.quality) >= value
            && q.min_latency() <= p.min_latency()
            && q.min_blocks <= p.min_blocks
            && q.load <= p.load
            && q.edge_private_bytes <= p.edge_private_bytes
    })
}

/// A baseline's modes as a choice of options (`None` when one has no counterpart).
pub fn as_choice(
    problem: &CollabProblem,
    options: &Options,
    chosen: &[Priced],
) -> Option<Vec<usize>> {
    if chosen.len() != options.options.len() {
        return None;
    }
    chosen
        .iter()
        .enumerate()
        .map(|(u, p)| option_for(problem, options, u, p))
        .collect()
}

/// The MIP start: the best fitting choice of the greedy and the baselines.
pub fn best_start(problem: &CollabProblem, options: &Options) -> Option<Vec<usize>> {
    let mut candidates: Vec<Vec<usize>> = Vec::new();
    candidates.extend(greedy::greedy(problem, options));
    for name in ["all-device", "all-edge", "cascade-fixed"] {
        if let Some(Some(chosen)) = baselines::baseline(problem, name) {
            candidates.extend(as_choice(problem, options, &chosen));
        }
    }
    let mut best: Option<(Score, Vec<usize>)> = None;
    for c in candidates {
        if !milp::choice_fits(problem, options, &c) {
            continue;
        }
        let Some(s) = milp::choice_score(problem, options, &c) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| s.better(b, 1e-12)) {
            best = Some((s, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The plan of a choice of options.
fn plan_of_choice(
    problem: &CollabProblem,
    options: &Options,
    choice: &[usize],
) -> Option<CollabPlan> {
    milp::chosen(options, choice).map(|c| price::plan_of(problem, &c))
}

/// The plan of priced modes.
fn plan_of_priced(problem: &CollabProblem, chosen: &[Priced]) -> CollabPlan {
    let refs: Vec<&Priced> = chosen.iter().collect();
    price::plan_of(problem, &refs)
}

/// Solves with a preset.
pub fn solve(
    problem: &CollabProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<CollabReport> {
    let start = Instant::now();
    let options = Options::build(problem);
    let build_s = start.elapsed().as_secs_f64();
    let heuristic = |plan: Option<CollabPlan>| {
        let stats = SolveStats::heuristic(
            &preset.name,
            build_s,
            start.elapsed().as_secs_f64() - build_s,
        );
        (stats, plan)
    };
    let mut milp_size = None;
    let mut tie_break = None;
    let mut explanation = Vec::new();
    let (mut stats, plan) = match preset.solver.as_str() {
        "highs" => {
            let mut mip = MipOptions::for_run(preset, run);
            mip.model_header = header(
                "collab",
                &problem.name,
                &format!(
                    "stage 1: {}, as reported; the report's tie-break (the lowest mean latency \
                     among its optima) is a second stage not in this file",
                    match problem.objective {
                        crate::problems::collab::Objective::Quality => "the weighted mean quality",
                        crate::problems::collab::Objective::Served => {
                            "the weighted share of users whose quality reaches their target"
                        }
                    }
                ),
            );
            let start_choice = best_start(problem, &options);
            // The MIP start's time counts against the limit.
            if let Some(limit) = mip.time_limit_s.as_mut() {
                *limit = (*limit - start.elapsed().as_secs_f64()).max(0.01);
            }
            let heuristic_s = start.elapsed().as_secs_f64() - build_s;
            let outcome = milp::milp(problem, &options, &mip, start_choice.as_deref())?;
            let mut stats = SolveStats::heuristic(
                &preset.name,
                build_s + heuristic_s + outcome.build_s,
                outcome.solve_s,
            );
            stats.termination = outcome.termination;
            // A proven primary optimum whose tie-break did not finish is not a proven optimum.
            if outcome.termination == Termination::Optimal
                && outcome.choice.is_some()
                && outcome.tie_break != Some(Termination::Optimal)
            {
                stats.termination = Termination::LimitReached;
            }
            stats.bound = outcome.bound;
            stats.nodes = outcome.nodes;
            milp_size = outcome.size;
            tie_break = outcome.tie_break;
            let plan = outcome
                .choice
                .as_deref()
                .and_then(|c| plan_of_choice(problem, &options, c));
            if plan.is_none() {
                stats.primal_status = PrimalStatus::NoPlan;
            }
            (stats, plan)
        }
        "enumerate" => match enumerate::enumerate(problem, &options) {
            Ok(choice) => {
                let plan = choice
                    .as_deref()
                    .and_then(|c| plan_of_choice(problem, &options, c));
                let (mut stats, plan) = heuristic(plan);
                stats.termination = if plan.is_some() {
                    Termination::Optimal
                } else {
                    Termination::Infeasible
                };
                if let Some(c) = choice.as_deref() {
                    stats.bound = milp::choice_score(problem, &options, c).map(|s| s.primary);
                } else {
                    stats.primal_status = PrimalStatus::NoPlan;
                }
                (stats, plan)
            }
            Err(message) => {
                let (mut stats, _) = heuristic(None);
                stats.termination = Termination::NoSolutionFound;
                stats.primal_status = PrimalStatus::NoPlan;
                explanation.push(message);
                (stats, None)
            }
        },
        "greedy" => {
            let plan = greedy::greedy(problem, &options)
                .and_then(|c| plan_of_choice(problem, &options, &c));
            heuristic(plan)
        }
        name @ ("all-device" | "all-edge" | "cascade-fixed") => {
            let plan = baselines::baseline(problem, name)
                .flatten()
                .map(|c| plan_of_priced(problem, &c));
            if plan.is_none() {
                explanation = explain::baseline(problem, name, &baselines::modes(problem, name));
            }
            heuristic(plan)
        }
        other => {
            return Err(Error::Unknown {
                what: "solver for the collab problem",
                name: other.to_string(),
                hint: format!("the collab problem supports {}", SOLVERS.join(", ")),
            })
        }
    };
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    stats.record_plan(evaluation.as_ref().map(|e| (e.objective, e.feasible())));
    if stats.primal_status != PrimalStatus::Feasible && explanation.is_empty() {
        if plan.is_none() && stats.termination == Termination::LimitReached {
            explanation.push(
                "the time limit stopped the MILP before it found a plan or proved that none \
                 exists"
                    .into(),
            );
        }
        explanation.extend(explain::explain(problem, &options));
    }
    Ok(CollabReport {
        instance: problem.name.clone(),
        details: CollabDetails {
            objective_kind: problem.objective.name(),
            users: problem.users.len(),
            variants: problem.variants.len(),
            modes: problem.modes.iter().map(|m| m.name()).collect(),
            candidates: options.candidates,
            options: options.options.iter().map(|o| o.len()).sum(),
            milp: milp_size,
            tie_break,
        },
        stats,
        plan,
        evaluation,
        explanation,
    })
}
