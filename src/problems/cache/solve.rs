//! Solving a cache instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, unservable_users, CacheEvaluation};
use super::heuristics::{
    greedy, local_search, popularity, random, round_fractional, served_weight, Sharing,
};
use super::model::{build, demands, CacheMilp, Demand};
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
///
/// The pipeline: reduce the requests to demands, run the preset's solver (the exact one: a
/// heuristic start, then the MILP), and evaluate the placement independently.
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
    let demand = demand_stats(problem, &demand_list);
    let mut stats = SolveStats::heuristic(&preset.name, 0.0, 0.0);
    let mut milp_size = None;
    let mut root_lp_bound = None;
    let placement = match preset.solver.as_str() {
        "highs" => {
            let exact = solve_exact(problem, &demand_list, preset, run, start, &mut stats)?;
            milp_size = Some(exact.milp_size);
            root_lp_bound = exact.root_lp_bound;
            exact.placement
        }
        name => {
            stats.build_s = start.elapsed().as_secs_f64();
            run_heuristic(problem, &demand_list, name, preset.seed)?
        }
    };
    stats.solve_s = start.elapsed().as_secs_f64() - stats.build_s;
    let evaluation = evaluate(problem, &placement);
    stats.record_plan(Some((evaluation.hit_ratio, evaluation.feasible())));
    Ok(CacheReport {
        instance: problem.name.clone(),
        stats,
        details: CacheDetails {
            demand,
            root_lp_bound,
            milp_size,
        },
        plan: Some(problem.plan(&placement)),
        evaluation: Some(evaluation),
        explanation: unservable_users(problem),
    })
}

/// Size of the demand model: requests with positive probability, the servable ones, the
/// aggregated demands and their weight (a hit ratio).
fn demand_stats(problem: &CacheProblem, demand_list: &[Demand]) -> DemandStats {
    let requests = problem
        .users
        .iter()
        .map(|u| u.requests.iter().filter(|r| r.1 > 0.0).count())
        .sum();
    DemandStats {
        requests,
        servable: demand_list.iter().map(|d| d.requests).sum(),
        demands: demand_list.len(),
        servable_weight: demand_list.iter().map(|d| d.weight).sum(),
    }
}

/// The placement of the heuristic solver `name` (`random` from `seed`), or the unknown-solver
/// error.
fn run_heuristic(
    problem: &CacheProblem,
    demand_list: &[Demand],
    name: &str,
    seed: u64,
) -> Result<Placement> {
    Ok(match name {
        "greedy" => greedy(problem, demand_list, Sharing::Aware),
        "local-search" => {
            let first = greedy(problem, demand_list, Sharing::Aware);
            local_search(problem, demand_list, &first, LOCAL_SEARCH_PASSES)
        }
        "independent" => greedy(problem, demand_list, Sharing::Ignored),
        "popularity" => popularity(problem, demand_list),
        "random" => random(problem, demand_list, seed),
        other => {
            return Err(Error::Unknown {
                what: "solver for the cache problem",
                name: other.to_string(),
                hint: format!("the cache problem supports {}", SOLVERS.join(", ")),
            })
        }
    })
}

/// What the exact solve returns besides the statistics.
struct Exact {
    /// The best placement: HiGHS's, or the start when HiGHS found nothing better.
    placement: Placement,
    /// MILP size: (variables, integer variables, constraints).
    milp_size: (usize, usize, usize),
    /// Optimum of the LP relaxation (a hit ratio), when it was solved to optimality.
    root_lp_bound: Option<f64>,
}

/// The exact solve: build the MILP, start it from [`heuristic_start`], solve it with what is
/// left of the time limit (counted from `start`). Records build time, termination, bound and
/// nodes in `stats`.
fn solve_exact(
    problem: &CacheProblem,
    demand_list: &[Demand],
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
    stats: &mut SolveStats,
) -> Result<Exact> {
    let mut model = build(problem, demand_list);
    stats.build_s = start.elapsed().as_secs_f64();
    let milp_size = (
        model.milp.num_vars(),
        model.milp.num_integer_vars(),
        model.milp.num_constraints(),
    );
    if model.x.is_empty() {
        // Nothing worth caching: no request can be a hit, and HiGHS is not needed to
        // prove it (it rejects an empty model).
        stats.termination = Termination::Optimal;
        stats.bound = Some(0.0);
        return Ok(Exact {
            placement: vec![Vec::new(); problem.servers.len()],
            milp_size,
            root_lp_bound: None,
        });
    }
    let (incumbent, root_lp_bound) = heuristic_start(problem, demand_list, preset)?;
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
            served_weight(problem, demand_list, p)
                >= served_weight(problem, demand_list, &incumbent)
        });
    Ok(Exact {
        placement: found.unwrap_or(incumbent),
        milp_size,
        root_lp_bound,
    })
}

/// HiGHS's first incumbent: the better of the local search from the greedy and from the
/// rounded LP relaxation; and the relaxation's optimum (a hit ratio, an upper bound) when it
/// was solved to optimality.
fn heuristic_start(
    problem: &CacheProblem,
    demand_list: &[Demand],
    preset: &SolverPreset,
) -> Result<(Placement, Option<f64>)> {
    let first = greedy(problem, demand_list, Sharing::Aware);
    let mut incumbent = local_search(problem, demand_list, &first, LOCAL_SEARCH_PASSES);
    let relaxed = build(problem, demand_list);
    let lp_options = MipOptions {
        // At most a third of the time limit: the rounding only helps the start.
        time_limit_s: preset.time_limit_s.map(|t| t / 3.0),
        interior_point: true,
        ..MipOptions::from_preset(preset)
    };
    let lp = relaxed
        .milp
        .maximise_relaxation(relaxed.objective, &lp_options)?;
    let mut root_lp_bound = None;
    if lp.termination == Termination::Optimal {
        root_lp_bound = lp.objective.map(|o| o / relaxed.scale);
    }
    if let Some(values) = &lp.values {
        let fractional: Vec<(usize, usize, f64)> = relaxed
            .x
            .iter()
            .map(|&(m, i, v)| (m, i, values.value(v)))
            .collect();
        let rounded = round_fractional(problem, demand_list, &fractional, LOCAL_SEARCH_PASSES);
        if served_weight(problem, demand_list, &rounded)
            > served_weight(problem, demand_list, &incumbent)
        {
            incumbent = rounded;
        }
    }
    Ok((incumbent, root_lp_bound))
}
