//! Solving a cache instance with a preset, and the report.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::evaluate::{evaluate, unservable_users, CacheEvaluation};
use super::heuristics::{
    greedy, local_search, local_search_until, popularity, random, round_fractional, served_weight,
    Sharing,
};
use super::improve::{fits, reoptimise};
use super::model::{build_with, demands, CacheMilp, Demand, Formulation};
use super::{CachePlan, CacheProblem, Placement};
use crate::error::{Error, Result};
use crate::solve::export::header;
use crate::solve::milp::{HighsValue, MipOptions, MipResult};
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
            let exact = solve_exact(
                problem,
                &demand_list,
                preset,
                run,
                (start, LARGE),
                &mut stats,
            )?;
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

/// When a MILP is large, and the least time HiGHS must have left to run on one.
#[derive(Debug, Clone, Copy)]
struct LargeMilp {
    /// A MILP with more rows is large: its LP relaxation takes a sizeable share of the time
    /// limit (46 s on 20 × 300 × 1000 by the interior-point method; the dual simplex takes
    /// minutes), and HiGHS needs as long again for its own root LP.
    rows: usize,
    /// Seconds of the time limit that must be left after the start for HiGHS to run on a large
    /// MILP, at the least: with a second or two left the interior-point method overran a 5 s
    /// limit by up to 1 s. Otherwise the start is the plan and the relaxation's optimum its
    /// bound.
    highs_min_s: f64,
}

/// The large MILPs of the exact solve ([`LargeMilp`]; other values in tests).
const LARGE: LargeMilp = LargeMilp {
    rows: 30_000,
    highs_min_s: LARGE_MIN_S,
};

/// Seconds a large MILP's relaxation must have, at the least, and HiGHS on it (see
/// [`LargeMilp::highs_min_s`]).
const LARGE_MIN_S: f64 = 15.0;

/// Times the relaxation's seconds that must be left after the start for HiGHS to run on a large
/// MILP: its root LP takes as long as the relaxation (30-75 s on 20 × 300 × 1000, one HiGHS
/// thread, this project's 2-core machines), then each round of cut separation 20-27 s, and past
/// the limit HiGHS does not stop within a round (with 120 s on the shipped 20 × 300 × 1000 it
/// ended after 187-221 s).
const LARGE_ROOT_FACTOR: f64 = 3.0;

impl LargeMilp {
    /// Seconds HiGHS needs on a large MILP, given the seconds its relaxation took before
    /// (`None`: it did not end in the time it had).
    fn highs_needs_s(self, root_lp_s: Option<f64>) -> f64 {
        self.highs_min_s
            .max(LARGE_ROOT_FACTOR * root_lp_s.unwrap_or(f64::INFINITY))
    }
}

/// Share of the time limit a large MILP's relaxation leaves for its rounding and the polish.
const LARGE_RESERVE_SHARE: f64 = 1.0 / 6.0;

/// Share of the time limit by which the polish of the start ends.
const POLISH_END_SHARE: f64 = 0.95;

/// Share of the time limit by which the local search of the start begins its last pass.
const LOCAL_SEARCH_SHARE: f64 = 0.3;

/// The start of a MILP with fewer rows is not re-optimised: HiGHS proves those in a fraction of
/// a second from the local search's plan (4 × 20 × 50: 241 rows, 0.1 s).
const REOPTIMISE_ROWS: usize = 1_000;

/// What the exact solve returns besides the statistics.
struct Exact {
    /// The best placement: HiGHS's, or the start when HiGHS found nothing better.
    placement: Placement,
    /// MILP size: (variables, integer variables, constraints).
    milp_size: (usize, usize, usize),
    /// Optimum of the LP relaxation (a hit ratio), when it was solved to optimality.
    root_lp_bound: Option<f64>,
}

/// The exact solve: build the MILP, start it from [`heuristic_start`] (a complete start), solve
/// it with what is left of the time limit (counted from `start`), and check HiGHS's answer
/// against its plan ([`Solved::suspect`]; solved again without the start if it does not hold).
/// Records build time, termination, bound and nodes in `stats`. What a large MILP is: `limits`
/// ([`LARGE`] but in tests).
fn solve_exact(
    problem: &CacheProblem,
    demand_list: &[Demand],
    preset: &SolverPreset,
    run: &RunOptions,
    (start, limits): (Instant, LargeMilp),
    stats: &mut SolveStats,
) -> Result<Exact> {
    let form = Formulation::default();
    let mut model = build_with(problem, demand_list, form);
    stats.build_s = start.elapsed().as_secs_f64();
    let size = |m: &CacheMilp| {
        (
            m.milp.num_vars(),
            m.milp.num_integer_vars(),
            m.milp.num_constraints(),
        )
    };
    let mut milp_size = size(&model);
    let large = (model.milp.num_constraints() > limits.rows).then_some(limits);
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
    let Start {
        placement: incumbent,
        root_lp_bound,
        root_lp_s,
        form: highs_form,
    } = heuristic_start(problem, demand_list, preset, (form, &model, large), start)?;
    if highs_form != form {
        model = build_with(problem, demand_list, highs_form);
        milp_size = size(&model);
    }
    let start_weight = served_weight(problem, demand_list, &incumbent);
    let left = preset
        .time_limit_s
        .map(|t| t - start.elapsed().as_secs_f64());
    // The weight of every servable demand bounds the hit ratio too; HiGHS's trivial bound (every
    // column at its best) can exceed it many times over when it stops before its root LP.
    let servable: f64 = demand_list.iter().map(|d| d.weight).sum();
    if left.is_some_and(|l| large.is_some_and(|large| l < large.highs_needs_s(root_lp_s))) {
        // HiGHS could not end its root LP in the time left, and its interior-point method
        // overshoots a short limit: the start is the plan, the relaxation's optimum its bound.
        stats.termination = Termination::LimitReached;
        stats.bound = root_lp_bound.map(|b| b.min(servable));
        return Ok(Exact {
            placement: incumbent,
            milp_size,
            root_lp_bound,
        });
    }
    let report_scale = 1.0 / model.scale;
    let options = |log: bool| MipOptions {
        // What the relaxation and the start left of the time limit.
        time_limit_s: preset
            .time_limit_s
            .map(|t| (t - start.elapsed().as_secs_f64()).max(0.01)),
        log_file: if log { run.log_file.clone() } else { None },
        write_model: if log { run.write_model.clone() } else { None },
        model_header: header(
            "cache",
            &problem.name,
            "the expected hit ratio, as reported (HiGHS solves it times a factor that makes its \
             largest coefficient 1)",
        ),
        highs: if large.is_some() {
            // The root LP by the interior-point method (with crossover): the dual simplex
            // takes minutes on it.
            vec![("mip_lp_solver", HighsValue::Text("ipx"))]
        } else {
            Vec::new()
        },
        report_scale,
        ..MipOptions::from_preset(preset)
    };
    model.set_start(&incumbent);
    let mut solved = run_milp(problem, demand_list, model, &options(true))?;
    let suspect = |s: &Solved| s.suspect(Some(start_weight));
    if suspect(&solved) {
        // HiGHS 1.16 has returned wrong optima from MIP starts: the claimed objective is not
        // that of the plan, or an optimum below the start. Solve again without the start (the
        // plan is checked the same way); keep the better plan, and no claim while in doubt.
        let retry = run_milp(
            problem,
            demand_list,
            build_with(problem, demand_list, highs_form),
            &options(false),
        )?;
        let doubtful = suspect(&retry);
        if retry.weight > solved.weight || !doubtful {
            solved = retry;
        }
        if doubtful {
            solved.result.termination = Termination::LimitReached;
            solved.result.bound = None;
        }
    }
    let result = &solved.result;
    stats.termination = result.termination;
    // The LP optimum is a bound too, and the only one when HiGHS stopped early.
    stats.bound = [result.bound.map(|b| b / solved.scale), root_lp_bound]
        .into_iter()
        .flatten()
        .reduce(f64::min)
        .map(|b| b.min(servable));
    stats.nodes = result.nodes;
    // HiGHS may stop (time limit) before it takes the start in: the start is a
    // feasible plan all the same.
    // The storage rows hold within HiGHS's feasibility tolerance only: a plan over a capacity
    // counted exactly gives way to the start.
    let placement = match solved.placement {
        Some(p)
            if solved.weight >= start_weight
                && p.iter().enumerate().all(|(m, list)| fits(problem, m, list)) =>
        {
            p
        }
        _ => incumbent,
    };
    Ok(Exact {
        placement,
        milp_size,
        root_lp_bound,
    })
}

/// A MILP solved, with its plan decoded and checked.
struct Solved {
    result: MipResult,
    /// HiGHS's plan.
    placement: Option<Placement>,
    /// Its hit ratio (0 without a plan).
    weight: f64,
    /// The objective's factor ([`CacheMilp::scale`]).
    scale: f64,
}

impl Solved {
    /// Whether HiGHS's answer contradicts itself: the objective it reports is not the hit ratio
    /// of its plan, or it claims an optimum below the start it was given (`start`).
    fn suspect(&self, start: Option<f64>) -> bool {
        let tol = |v: f64| 1e-7 * v.abs().max(1e-3);
        let claimed = self.result.objective.map(|o| o / self.scale);
        let mismatch = match (claimed, &self.placement) {
            (Some(c), Some(_)) => (c - self.weight).abs() > tol(self.weight),
            _ => false,
        };
        let below_start = self.result.termination == Termination::Optimal
            && start.is_some_and(|s| self.weight < s - tol(s));
        mismatch || below_start
    }
}

/// Solves `model` with `options`; decodes and scores HiGHS's plan.
fn run_milp(
    problem: &CacheProblem,
    demand_list: &[Demand],
    model: CacheMilp,
    options: &MipOptions,
) -> Result<Solved> {
    let CacheMilp {
        milp,
        objective,
        scale,
        x,
        ..
    } = model;
    // Exported as the hit ratio itself: `options.report_scale` is 1 / `scale`.
    let result = milp.maximise(objective, options)?;
    let placement = result
        .values
        .as_ref()
        .map(|v| CacheMilp::decode(&x, problem.servers.len(), v));
    let weight = placement
        .as_ref()
        .map_or(0.0, |p| served_weight(problem, demand_list, p));
    Ok(Solved {
        result,
        placement,
        weight,
        scale,
    })
}

/// HiGHS's first incumbent: the better of the local search from the greedy (no pass begun past
/// [`LOCAL_SEARCH_SHARE`] of the time limit, counted from `start`) and from the
/// rounded LP relaxation, polished by exact re-optimisation of single servers and overlapping
/// pairs ([`reoptimise`], a quarter of the time limit at most, not below [`REOPTIMISE_ROWS`]
/// rows); the relaxation's optimum (a hit ratio, an upper bound) when it was solved to
/// optimality; and the seconds that took (`None` when it did not end). `model` is the MILP in
/// formulation `form`, `large` what a large MILP needs when it is one.
fn heuristic_start(
    problem: &CacheProblem,
    demand_list: &[Demand],
    preset: &SolverPreset,
    (form, model, large): (Formulation, &CacheMilp, Option<LargeMilp>),
    start: Instant,
) -> Result<Start> {
    let rows = model.milp.num_constraints();
    let first = greedy(problem, demand_list, Sharing::Aware);
    let passes_until = preset
        .time_limit_s
        .map(|t| start + Duration::from_secs_f64(LOCAL_SEARCH_SHARE * t));
    let mut incumbent = local_search_until(
        problem,
        demand_list,
        &first,
        LOCAL_SEARCH_PASSES,
        passes_until,
    );
    let mut root_lp_s = None;
    // The relaxation of the model itself first, within a third of the time limit (a large
    // model: what is left of it but a sixth): its rounding makes the better start (0.66958
    // against 0.66923 on 10 × 100 × 500; on 10 × 300 × 1000 the rounding of its unfinished
    // interior-point solution, 0.5845 against 0.5807; on 20 × 300 × 1000, where it takes 46 s,
    // 0.6167 against 0.6136). When it does not finish (with subset columns its LP takes 3 s on
    // 10 × 100 × 500), the relaxation without them within another third, if it is not large
    // (0.6 s there), so that a short limit still gets a bound.
    let mut forms = vec![form];
    if !model.coverage.is_empty() {
        forms.push(Formulation {
            coverage_subsets: false,
            ..form
        });
    }
    let mut root_lp_bound = None;
    let mut highs_form = form;
    for (k, &form) in forms.iter().enumerate() {
        let relaxed = build_with(problem, demand_list, form);
        if k > 0 && relaxed.milp.num_constraints() > LARGE.rows {
            break;
        }
        let lp_limit = preset.time_limit_s.map(|t| {
            if large.is_some() {
                (t * (1.0 - LARGE_RESERVE_SHARE) - start.elapsed().as_secs_f64()).max(0.01)
            } else {
                t / 3.0
            }
        });
        if large.is_some() && lp_limit.is_some_and(|l| l < LARGE_MIN_S) {
            // Far too short for a relaxation of 30-75 s: its interior-point solve overshoots
            // the limit, and the rounding of what it left costs more than it gains.
            break;
        }
        let lp_options = MipOptions {
            time_limit_s: lp_limit,
            interior_point: true,
            ..MipOptions::from_preset(preset)
        };
        let began = Instant::now();
        let lp = relaxed
            .milp
            .maximise_relaxation(relaxed.objective, &lp_options)?;
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
        if lp.termination == Termination::Optimal {
            root_lp_bound = lp.objective.map(|o| o / relaxed.scale);
            if k == 0 {
                root_lp_s = Some(began.elapsed().as_secs_f64());
            }
            // HiGHS gets the model whose relaxation finished: with 5 s on the shipped
            // 10 × 100 × 500, where the one with subset columns takes 3.9 s, the one without
            // them (0.8 s) gives HiGHS a bound of 0.63951-0.63974 where it stayed at 0.63980.
            highs_form = form;
            break;
        }
    }
    if rows >= REOPTIMISE_ROWS {
        // The polish gets a quarter of the time limit (30 s without one), not past
        // [`POLISH_END_SHARE`] of it, and stops once the plan is within the preset's gap of the
        // LP bound. When HiGHS will not have the time for its root LP after that quarter, it
        // gets the whole of that share instead.
        let deadline = match preset.time_limit_s {
            Some(t) => {
                let end = start + Duration::from_secs_f64(POLISH_END_SHARE * t);
                let left = t - start.elapsed().as_secs_f64() - t / 4.0;
                if large.is_some_and(|large| left < large.highs_needs_s(root_lp_s)) {
                    end
                } else {
                    (Instant::now() + Duration::from_secs_f64(t / 4.0)).min(end)
                }
            }
            None => Instant::now() + Duration::from_secs(30),
        };
        let target = root_lp_bound.map_or(f64::INFINITY, |b| b * (1.0 - preset.mip_rel_gap));
        incumbent = reoptimise(problem, demand_list, &incumbent, deadline, target)?;
    }
    Ok(Start {
        placement: incumbent,
        root_lp_bound,
        root_lp_s,
        form: highs_form,
    })
}

/// What [`heuristic_start`] returns.
struct Start {
    /// The best placement found.
    placement: Placement,
    /// The LP relaxation's optimum (a hit ratio), when it was solved to optimality.
    root_lp_bound: Option<f64>,
    /// Seconds the relaxation of the model itself took, when it was solved to optimality.
    root_lp_s: Option<f64>,
    /// The formulation HiGHS gets: without subset columns when their relaxation did not finish
    /// and the one without them did.
    form: Formulation,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::PrimalStatus;

    fn solved(termination: Termination, objective: f64, weight: f64) -> Solved {
        Solved {
            result: MipResult {
                termination,
                primal_status: PrimalStatus::Feasible,
                objective: Some(objective * 4.0),
                bound: Some(objective * 4.0),
                gap: Some(0.0),
                solve_s: 0.0,
                nodes: Some(0),
                values: None,
            },
            placement: Some(Vec::new()),
            weight,
            scale: 4.0,
        }
    }

    /// HiGHS's answer is doubted when its objective is not its plan's hit ratio, or when it
    /// claims an optimum below the start; agreement within float noise is not doubted.
    #[test]
    fn contradicting_answers_are_suspect() {
        let start = Some(0.5);
        assert!(!solved(Termination::Optimal, 0.6, 0.6 + 1e-12).suspect(start));
        assert!(solved(Termination::Optimal, 0.6, 0.55).suspect(start));
        assert!(solved(Termination::Optimal, 0.45, 0.45).suspect(start));
        // Stopped by the limit below the start: the start is kept, nothing is claimed.
        assert!(!solved(Termination::LimitReached, 0.45, 0.45).suspect(start));
        assert!(!solved(Termination::Optimal, 0.45, 0.45).suspect(None));
    }

    /// A large MILP whose root LP HiGHS could not end in the time left is not handed to HiGHS:
    /// the start is the plan and the relaxation's optimum its bound, which the optimum (solved
    /// as a small MILP) respects.
    #[test]
    fn a_large_milp_without_time_for_highs_reports_the_relaxation_bound() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("instances/cache/cache-4s-20m-50u.toml");
        let problem = crate::instance::cache::load(&path).unwrap();
        let list = demands(&problem);
        // Time for the relaxation, not for HiGHS on a large MILP.
        let preset = SolverPreset {
            time_limit_s: Some(2.0 * LARGE_MIN_S),
            ..SolverPreset::default()
        };
        let solve = |limits: LargeMilp| {
            let mut stats = SolveStats::heuristic("highs", 0.0, 0.0);
            let exact = solve_exact(
                &problem,
                &list,
                &preset,
                &RunOptions::default(),
                (Instant::now(), limits),
                &mut stats,
            )
            .unwrap();
            (exact, stats)
        };
        let (small, small_stats) = solve(LARGE);
        assert_eq!(small_stats.termination, Termination::Optimal);
        let optimum = served_weight(&problem, &list, &small.placement);

        let (large, stats) = solve(LargeMilp {
            rows: 1,
            highs_min_s: 3.0 * LARGE_MIN_S,
        });
        assert_eq!(stats.termination, Termination::LimitReached);
        let lp = build_with(&problem, &list, Formulation::default());
        let relaxed = lp
            .milp
            .maximise_relaxation(lp.objective, &MipOptions::default())
            .unwrap();
        let lp_bound = relaxed.objective.unwrap() / lp.scale;
        let bound = stats.bound.expect("the relaxation's optimum as the bound");
        assert!((bound - lp_bound).abs() <= 1e-9, "{bound} vs LP {lp_bound}");
        assert_eq!(large.root_lp_bound, Some(bound));
        let plan = served_weight(&problem, &list, &large.placement);
        assert!(plan <= optimum + 1e-12 && optimum <= bound + 1e-9);
        assert!(large
            .placement
            .iter()
            .enumerate()
            .all(|(m, l)| fits(&problem, m, l)));
    }
}
