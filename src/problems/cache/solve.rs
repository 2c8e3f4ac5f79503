//! Solving a cache instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, unservable_users, CacheEvaluation};
use super::heuristics::{
    greedy, local_search, popularity, random, round_fractional, served_weight, Sharing,
};
use super::model::{build, demands, CacheMilp};
use super::{CachePlan, CacheProblem, Placement};
use crate::error::{Error, Result};
use crate::solve::milp::MipOptions;
use crate::solve::report::{Report, SolveStats, Termination};
use crate::solve::RunOptions;
use crate::solve::SolverPreset;
use good_lp::Solution;

/// Solvers the cache problem understands.
pub const SOLVERS: [&str; 6] = [
    "highs",
    "greedy",
    "local-search",
    "independent",
    "popularity",
    "random",
];

/// Passes of the local search (each tries every drop-and-refill move on every server).
pub const LOCAL_SEARCH_PASSES: usize = 20;

/// Size of the demand model the MILP is built on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DemandStats {
    /// Requests `(k, i)` with positive probability.
    pub requests: usize,
    /// Of these, the ones some server could serve in time.
    pub servable: usize,
    /// Aggregated demands `(model, server set)`.
    pub demands: usize,
    /// Upper bound on the hit ratio: every servable request served.
    pub servable_weight: f64,
}

/// What a cache report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct CacheDetails {
    /// The demands the problem reduces to.
    pub demand: DemandStats,
    /// Optimum of the MILP's LP relaxation, an upper bound on the hit ratio; exact solve only.
    pub root_lp_bound: Option<f64>,
    /// MILP size: (variables, integer variables, constraints); exact solve only.
    pub milp_size: Option<(usize, usize, usize)>,
}

/// The result of solving a cache instance; its explanation lists the users no placement can
/// serve, with the reason ([`unservable_users`]).
pub type CacheReport = Report<CachePlan, CacheEvaluation, CacheDetails>;

/// Solves `problem` with `preset`.
pub fn solve(problem: &CacheProblem, preset: &SolverPreset) -> Result<CacheReport> {
    solve_with(problem, preset, &RunOptions::default())
}

/// Solves `problem` with `preset`, with a HiGHS log and model export as `run` asks.
pub fn solve_with(
    problem: &CacheProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<CacheReport> {
    problem
        .check()
        .map_err(|message| Error::option("problem", message))?;
    let start = Instant::now();
    let demand_list = demands(problem);
    let requests = problem
        .users
        .iter()
        .map(|u| u.requests.iter().filter(|r| r.1 > 0.0).count())
        .sum();
    let demand = DemandStats {
        requests,
        servable: demand_list.iter().map(|d| d.requests).sum(),
        demands: demand_list.len(),
        servable_weight: demand_list.iter().map(|d| d.weight).sum(),
    };
    let mut stats = SolveStats::heuristic(&preset.name, 0.0, 0.0);
    let mut milp_size = None;
    let mut root_lp_bound = None;
    let placement: Option<Placement> = match preset.solver.as_str() {
        "highs" => {
            let mut model = build(problem, &demand_list);
            stats.build_s = start.elapsed().as_secs_f64();
            milp_size = Some((
                model.milp.num_vars(),
                model.milp.num_integer_vars(),
                model.milp.num_constraints(),
            ));
            if model.x.is_empty() {
                // Nothing worth caching: no request can be a hit, and HiGHS is not needed to
                // prove it (it rejects an empty model).
                stats.termination = Termination::Optimal;
                stats.bound = Some(0.0);
                Some(vec![Vec::new(); problem.servers.len()])
            } else {
                // HiGHS's first incumbent: the better of the local search from the greedy and
                // from the rounded LP relaxation (whose optimum is also a bound).
                let first = greedy(problem, &demand_list, Sharing::Aware);
                let mut incumbent =
                    local_search(problem, &demand_list, &first, LOCAL_SEARCH_PASSES);
                let relaxed = build(problem, &demand_list);
                let lp_options = MipOptions {
                    // At most a third of the time limit: the rounding only helps the start.
                    time_limit_s: preset.time_limit_s.map(|t| t / 3.0),
                    interior_point: true,
                    ..MipOptions::from_preset(preset)
                };
                let lp = relaxed
                    .milp
                    .maximise_relaxation(relaxed.objective, &lp_options)?;
                if lp.termination == Termination::Optimal {
                    root_lp_bound = lp.objective.map(|o| o / relaxed.scale);
                }
                if let Some(values) = &lp.values {
                    let fractional: Vec<(usize, usize, f64)> = relaxed
                        .x
                        .iter()
                        .map(|&(m, i, v)| (m, i, values.value(v)))
                        .collect();
                    let rounded =
                        round_fractional(problem, &demand_list, &fractional, LOCAL_SEARCH_PASSES);
                    if served_weight(problem, &demand_list, &rounded)
                        > served_weight(problem, &demand_list, &incumbent)
                    {
                        incumbent = rounded;
                    }
                }
                model.set_start(&incumbent);
                let CacheMilp {
                    milp,
                    objective,
                    scale,
                    x,
                } = model;
                let options = MipOptions {
                    // What the relaxation and the start left of the time limit.
                    time_limit_s: preset
                        .time_limit_s
                        .map(|t| (t - start.elapsed().as_secs_f64()).max(0.01)),
                    log_file: run.log_file.clone(),
                    write_model: run.write_model.clone(),
                    ..MipOptions::from_preset(preset)
                };
                let result = milp.maximise(objective, &options)?;
                stats.termination = result.termination;
                // The LP optimum is a bound too, and the only one when HiGHS stopped early.
                stats.bound = match (result.bound.map(|b| b / scale), root_lp_bound) {
                    (Some(b), Some(lp)) => Some(b.min(lp)),
                    (b, lp) => b.or(lp),
                };
                stats.nodes = result.nodes;
                // HiGHS may stop (time limit) before it takes the start in: the start is a
                // feasible plan all the same.
                let found = result
                    .values
                    .as_ref()
                    .map(|v| CacheMilp::decode(&x, problem.servers.len(), v))
                    .filter(|p| {
                        served_weight(problem, &demand_list, p)
                            >= served_weight(problem, &demand_list, &incumbent)
                    });
                Some(found.unwrap_or(incumbent))
            }
        }
        name => {
            stats.build_s = start.elapsed().as_secs_f64();
            Some(match name {
                "greedy" => greedy(problem, &demand_list, Sharing::Aware),
                "local-search" => {
                    let first = greedy(problem, &demand_list, Sharing::Aware);
                    local_search(problem, &demand_list, &first, LOCAL_SEARCH_PASSES)
                }
                "independent" => greedy(problem, &demand_list, Sharing::Ignored),
                "popularity" => popularity(problem, &demand_list),
                "random" => random(problem, &demand_list, preset.seed),
                other => {
                    return Err(Error::Unknown {
                        what: "solver for the cache problem",
                        name: other.to_string(),
                        hint: format!("the cache problem supports {}", SOLVERS.join(", ")),
                    })
                }
            })
        }
    };
    stats.solve_s = start.elapsed().as_secs_f64() - stats.build_s;
    let evaluation = placement.as_ref().map(|p| evaluate(problem, p));
    stats.record_plan(evaluation.as_ref().map(|ev| (ev.hit_ratio, ev.feasible())));
    Ok(CacheReport {
        instance: problem.name.clone(),
        stats,
        details: CacheDetails {
            demand,
            root_lp_bound,
            milp_size,
        },
        plan: placement.as_ref().map(|p| problem.plan(p)),
        evaluation,
        explanation: unservable_users(problem),
    })
}
