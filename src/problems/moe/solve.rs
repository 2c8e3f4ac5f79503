//! Solving an MoE instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::cache as cache_task;
use super::evaluate::{evaluate, Evaluation};
use super::placement;
use super::price::{home_fixed_bytes, Prices};
use super::{score, Exact, MilpSize, MoePlan, MoeProblem, Objective, Task};
use crate::error::{Error, Result};
use crate::solve::export::header;
use crate::solve::milp::{MipOptions, RunOptions};
use crate::solve::report::{PrimalStatus, Report, SolveStats, Termination};
use crate::solve::SolverPreset;

/// Solvers the MoE problem understands.
pub const SOLVERS: [&str; 5] = ["highs", "enumerate", "greedy", "round-robin", "layer-wise"];

/// What an MoE report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct MoeDetails {
    /// Model name.
    pub model: String,
    /// `placement` or `cache`.
    pub task: &'static str,
    /// The objective's name.
    pub objective_kind: &'static str,
    /// MoE blocks.
    pub moe_blocks: usize,
    /// Experts per MoE block.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
    /// Nodes.
    pub nodes: usize,
    /// Distinct routing patterns over all blocks (the terms of the expectation).
    pub patterns: usize,
    /// Where the routing statistics come from.
    pub routing: String,
    /// MILP size, when the MILP ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milp: Option<MilpSize>,
}

/// The result of solving an MoE instance.
pub type MoeReport = Report<MoePlan, Evaluation, MoeDetails>;

/// Solves `problem` with `preset`.
pub fn solve(problem: &MoeProblem, preset: &SolverPreset, run: &RunOptions) -> Result<MoeReport> {
    let start = Instant::now();
    let prices = Prices::new(problem);
    let build_s = start.elapsed().as_secs_f64();
    let heuristic = |plan: Option<MoePlan>| {
        let stats = SolveStats::heuristic(
            &preset.name,
            build_s,
            start.elapsed().as_secs_f64() - build_s,
        );
        (stats, plan, None)
    };
    let placement = problem.task == Task::Placement;
    let (mut stats, plan, milp, mut explanation) = match preset.solver.as_str() {
        "highs" => {
            let mut options = MipOptions::for_run(preset, run);
            let what = match problem.objective {
                Objective::Latency => "the expected decode latency per token (s)",
                Objective::Throughput => "the period per token (s)",
                Objective::Energy => "the expected device energy per decode token (J)",
            };
            options.model_header = header(
                &format!("moe ({})", problem.task.name()),
                &problem.name,
                &format!("{what}, as reported"),
            );
            // The MIP start: the best plan of the greedy and the two baselines. Under a time
            // limit the greedy's local search gets at most a quarter of it (in work units, so
            // the start does not depend on the machine's load).
            let work = options.time_limit_s.map_or(placement::LOCAL_WORK, |limit| {
                ((0.25 * limit * placement::WORK_PER_S) as u64).min(placement::LOCAL_WORK)
            });
            let candidates = if placement {
                [
                    placement::greedy_within(problem, &prices, work),
                    placement::layer_wise(problem, &prices),
                    placement::round_robin(problem, &prices),
                ]
            } else {
                [
                    cache_task::greedy(problem, &prices),
                    cache_task::layer_wise(problem, &prices),
                    cache_task::round_robin(problem, &prices),
                ]
            };
            let greedy = candidates
                .into_iter()
                .flatten()
                .filter(|p| score::fits(problem, &prices, p))
                .min_by(|a, b| {
                    score::objective(problem, &prices, a)
                        .total_cmp(&score::objective(problem, &prices, b))
                });
            // The MIP start's time counts against the limit; HiGHS gets 90% of what is left
            // (it checks its limit between phases, and its presolve of a 100k-row model ran
            // 2 s past it).
            if let Some(limit) = options.time_limit_s.as_mut() {
                *limit = (0.9 * (*limit - start.elapsed().as_secs_f64())).max(0.01);
            }
            let exact = if placement {
                placement::milp(problem, &prices, &options, greedy.as_ref())?
            } else {
                cache_task::milp(problem, &prices, &options, greedy.as_ref())?
            };
            let start_s = start.elapsed().as_secs_f64() - build_s - exact.build_s - exact.solve_s;
            let (stats, plan, size) = exact_result(preset, exact, build_s + start_s.max(0.0));
            (stats, plan, size, Vec::new())
        }
        "enumerate" => {
            let found = if placement {
                placement::enumerate(problem, &prices)
            } else {
                cache_task::enumerate(problem, &prices)
            };
            match found {
                Ok(exact) => {
                    let (stats, plan, _) = exact_result(preset, exact, build_s);
                    (stats, plan, None, Vec::new())
                }
                Err(message) => {
                    let (mut stats, _, _) = heuristic(None);
                    stats.termination = Termination::NoSolutionFound;
                    stats.primal_status = PrimalStatus::NoPlan;
                    (stats, None, None, vec![message])
                }
            }
        }
        name @ ("greedy" | "round-robin" | "layer-wise") => {
            let plan = match (name, placement) {
                ("greedy", true) => placement::greedy(problem, &prices),
                ("greedy", false) => cache_task::greedy(problem, &prices),
                ("round-robin", true) => placement::round_robin(problem, &prices),
                ("round-robin", false) => cache_task::round_robin(problem, &prices),
                (_, true) => placement::layer_wise(problem, &prices),
                (_, false) => cache_task::layer_wise(problem, &prices),
            };
            let (stats, plan, size) = heuristic(plan);
            (stats, plan, size, Vec::new())
        }
        other => {
            return Err(Error::Unknown {
                what: "solver for the moe problem",
                name: other.to_string(),
                hint: format!("the moe problem supports {}", SOLVERS.join(", ")),
            })
        }
    };
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    stats.record_plan(evaluation.as_ref().map(|e| (e.objective, e.feasible())));
    if stats.primal_status != PrimalStatus::Feasible && explanation.is_empty() {
        explanation = explain(problem, &prices);
    }
    let moe = problem.moe_blocks();
    let first = &problem.model.blocks[moe[0]];
    Ok(MoeReport {
        instance: problem.name.clone(),
        details: MoeDetails {
            model: problem.model.model.clone(),
            task: problem.task.name(),
            objective_kind: problem.objective.name(),
            moe_blocks: moe.len(),
            experts: first.experts,
            top_k: first.top_k,
            nodes: problem.node_count(),
            patterns: problem.routing.pattern_count(),
            routing: problem.routing.origin.clone(),
            milp,
        },
        stats,
        plan,
        evaluation,
        explanation,
    })
}

/// The statistics, plan and MILP size of an exact solver's outcome.
fn exact_result(
    preset: &SolverPreset,
    exact: Exact,
    build_s: f64,
) -> (SolveStats, Option<MoePlan>, Option<MilpSize>) {
    let mut stats = SolveStats::heuristic(&preset.name, build_s + exact.build_s, exact.solve_s);
    stats.termination = exact.termination;
    stats.bound = exact.bound;
    stats.nodes = exact.nodes;
    if exact.plan.is_none() {
        stats.primal_status = PrimalStatus::NoPlan;
    }
    (stats, exact.plan, exact.size)
}

/// Why no plan fits, in the instance's terms.
pub fn explain(problem: &MoeProblem, prices: &Prices) -> Vec<String> {
    let mut out = Vec::new();
    let home = &problem.nodes[problem.home];
    let fixed = home_fixed_bytes(problem);
    if fixed > home.resource.memory_bytes {
        out.push(format!(
            "the home {} needs {:.3} GB for the embedding, head, dense parts and the KV cache of \
             {} tokens, but has {:.3} GB",
            home.name,
            fixed / 1e9,
            problem.prompt_tokens + problem.generate_tokens,
            home.resource.memory_bytes / 1e9
        ));
    }
    let expert_total: f64 = problem
        .routing
        .blocks
        .iter()
        .zip(&prices.expert_bytes)
        .map(|(b, bytes)| b.experts as f64 * bytes)
        .sum();
    match problem.task {
        Task::Placement => {
            let room: f64 = prices.capacity.iter().map(|c| c.max(0.0)).sum();
            if expert_total > room {
                out.push(format!(
                    "the experts need {:.3} GB, the nodes have {:.3} GB left after the home's \
                     dense part",
                    expert_total / 1e9,
                    room / 1e9
                ));
            }
        }
        Task::Cache => {
            if !problem.allow_fetch && !problem.allow_offload {
                let all: usize = problem.routing.blocks.iter().map(|b| b.experts).sum();
                if problem.expert_slots < all {
                    out.push(format!(
                        "misses can be neither fetched nor offloaded, so all {all} experts must \
                         be resident, but the device has {} slots",
                        problem.expert_slots
                    ));
                }
            }
        }
    }
    if out.is_empty() {
        out.push("no plan meets the memory limits of the nodes".into());
    }
    out
}
