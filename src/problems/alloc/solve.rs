//! Solving an allocation instance with a preset, and the report.

use std::time::Instant;

use serde::Serialize;

use super::evaluate::{evaluate, AllocEvaluation};
use super::explain::explain_infeasible;
use super::heuristics::{baseline, local_search, optimal_shares, to_plan, Allocation, Baseline};
use super::model::{build, MIN_TANGENT};
use super::{AllocObjective, AllocPlan, AllocProblem, Options, UserOption};
use crate::error::{Error, Result};
use crate::solve::milp::MipOptions;
use crate::solve::report::{relative_gap, Report, SolveStats, Termination};
use crate::solve::RunOptions;
use crate::solve::SolverPreset;

/// Solvers the allocation problem understands.
pub const SOLVERS: [&str; 6] = [
    "highs",
    "local-search",
    "equal-split",
    "all-device",
    "all-edge",
    "fixed-cut",
];

/// Seconds of MILP tests [`explain_infeasible`] may spend (at most the preset's time limit).
pub const EXPLAIN_BUDGET_S: f64 = 60.0;

/// Largest number of outer-approximation rounds of the exact solve.
pub const MAX_ROUNDS: usize = 60;

/// What an allocation report adds to the common members.
#[derive(Debug, Clone, Serialize)]
pub struct AllocDetails {
    /// Outer-approximation rounds (exact solve only).
    pub rounds: usize,
    /// Options the exact solve dropped before building the MILP because even with a whole
    /// server they are slower than the incumbent allows ([`prune_options`]).
    pub options_pruned: Option<usize>,
}

/// The result of solving an allocation instance.
pub type AllocReport = Report<AllocPlan, AllocEvaluation, AllocDetails>;

/// Solves `problem` with `preset`.
pub fn solve(problem: &AllocProblem, preset: &SolverPreset) -> Result<AllocReport> {
    solve_with(problem, preset, &RunOptions::default())
}

/// Solves `problem` with `preset`; the exact solve writes the first round's MILP to
/// `run.write_model` and each round's HiGHS log to `run.log_file` (round 1) and
/// `<log_file>.round<r>` (round `r > 1`).
pub fn solve_with(
    problem: &AllocProblem,
    preset: &SolverPreset,
    run: &RunOptions,
) -> Result<AllocReport> {
    let start = Instant::now();
    let mut opts = problem.options();
    let build_s = start.elapsed().as_secs_f64();
    // Cheap, exact causes (a user with no option or that misses its deadline alone, more
    // must-offload users than blocks or memory) settle infeasibility before any solver runs.
    let proven = explain_infeasible(problem, &opts, 0.0);
    let mut stats = SolveStats::heuristic(&preset.name, build_s, 0.0);
    let mut rounds = 0;
    let mut options_pruned = None;
    let mut found: Option<(Vec<usize>, Allocation)> = None;
    if proven.is_empty() {
        match preset.solver.as_str() {
            "highs" => {
                let tolerance = preset.mip_rel_gap.max(1e-6);
                found = local_search(problem, &opts, 2);
                if let Some((choice, a)) = &mut found {
                    let (pruned, kept) = prune_options(problem, &opts, a.objective, choice);
                    for (k, o) in choice.iter_mut().enumerate() {
                        *o = kept[k]
                            .iter()
                            .position(|&i| i == *o)
                            .expect("prune_options keeps the incumbent's options");
                    }
                    options_pruned = Some(
                        opts.options.iter().map(Vec::len).sum::<usize>()
                            - pruned.options.iter().map(Vec::len).sum::<usize>(),
                    );
                    opts = pruned;
                }
                let mut lower = f64::NEG_INFINITY;
                let mut tangents: Vec<(usize, usize, f64)> = Vec::new();
                stats.termination = Termination::LimitReached;
                let mut build_total = build_s;
                loop {
                    if rounds >= MAX_ROUNDS {
                        break;
                    }
                    let remaining = preset
                        .time_limit_s
                        .map(|t| t - start.elapsed().as_secs_f64());
                    if remaining.is_some_and(|r| r <= 0.0) {
                        break;
                    }
                    rounds += 1;
                    let t0 = Instant::now();
                    let mut model = build(problem, &opts);
                    for &(k, o, p) in &tangents {
                        model.add_tangent(k, o, p);
                    }
                    build_total += t0.elapsed().as_secs_f64();
                    let options = MipOptions {
                        time_limit_s: remaining,
                        log_file: run.log_file.as_ref().map(|log| {
                            if rounds == 1 {
                                log.clone()
                            } else {
                                let mut name = log.clone().into_os_string();
                                name.push(format!(".round{rounds}"));
                                name.into()
                            }
                        }),
                        write_model: run.write_model.clone().filter(|_| rounds == 1),
                        ..MipOptions::from_preset(preset)
                    };
                    let decoder = model.decoder.clone();
                    let result = model.milp.minimise(model.objective, &options)?;
                    stats.nodes = Some(stats.nodes.unwrap_or(0) + result.nodes.unwrap_or(0));
                    if result.termination == Termination::Infeasible {
                        // The relaxation is infeasible, so the problem is.
                        stats.termination = Termination::Infeasible;
                        found = None;
                        break;
                    }
                    let Some(values) = result.values.as_ref() else {
                        break;
                    };
                    if let Some(b) = result.bound.or(result.objective) {
                        lower = lower.max(b);
                    }
                    let d = decoder.decode(values);
                    let exact = optimal_shares(problem, &opts, &d.option, &d.resource_blocks);
                    if let Some(a) = &exact {
                        if found.as_ref().is_none_or(|f| a.objective < f.1.objective) {
                            found = Some((d.option.clone(), a.clone()));
                        }
                    }
                    if let Some(f) = &found {
                        // HiGHS's dual bound is valid even when it stopped at its time limit.
                        if relative_gap(f.1.objective, lower) <= tolerance {
                            stats.termination = Termination::Optimal;
                            break;
                        }
                    }
                    // Tangents where the relaxation underestimates, and at the exact shares.
                    let before = tangents.len();
                    for k in 0..problem.users.len() {
                        let o = d.option[k];
                        if opts.options[k][o].server_s <= 0.0 {
                            continue;
                        }
                        let mut points = vec![d.compute_share[k]];
                        if let Some(a) = &exact {
                            points.push(a.compute_share[k]);
                        }
                        for p in points {
                            let p = p.clamp(MIN_TANGENT, 1.0);
                            if !tangents
                                .iter()
                                .any(|t| t.0 == k && t.1 == o && (t.2 - p).abs() <= 1e-12 * p)
                            {
                                tangents.push((k, o, p));
                            }
                        }
                    }
                    if tangents.len() == before {
                        break;
                    }
                }
                stats.build_s = build_total;
                stats.bound = lower.is_finite().then_some(lower);
            }
            "local-search" => found = local_search(problem, &opts, 10),
            name => {
                let which = match name {
                    "equal-split" => Baseline::EqualSplit,
                    "all-device" => Baseline::AllDevice,
                    "all-edge" => Baseline::AllEdge,
                    "fixed-cut" => Baseline::FixedCut,
                    other => {
                        return Err(Error::Unknown {
                            what: "solver for the alloc problem",
                            name: other.to_string(),
                            hint: format!("the alloc problem supports {}", SOLVERS.join(", ")),
                        })
                    }
                };
                found = baseline(problem, &opts, which);
            }
        }
    } else {
        stats.termination = Termination::Infeasible;
    }
    stats.solve_s = start.elapsed().as_secs_f64() - stats.build_s;
    let plan = found.as_ref().map(|(c, a)| to_plan(&opts, c, a));
    let evaluation = plan.as_ref().map(|p| evaluate(problem, p)).transpose()?;
    let plan_value = match (&found, &evaluation) {
        (Some((_, a)), Some(ev)) => Some((a.objective, ev.feasible())),
        _ => None,
    };
    stats.record_plan(plan_value);
    let explanation = match stats.termination {
        Termination::Infeasible if !proven.is_empty() => proven,
        Termination::Infeasible => {
            let budget = preset
                .time_limit_s
                .map_or(EXPLAIN_BUDGET_S, |t| t.min(EXPLAIN_BUDGET_S));
            explain_infeasible(problem, &opts, budget)
        }
        // A heuristic without a plan proves nothing; the cheap checks may still find a cause.
        Termination::NoSolutionFound => vec![format!(
            "{} found no plan; `--solver highs` decides whether one exists",
            preset.name
        )],
        _ => Vec::new(),
    };
    Ok(AllocReport {
        instance: problem.name.clone(),
        stats,
        details: AllocDetails {
            rounds,
            options_pruned,
        },
        plan,
        evaluation,
        explanation,
    })
}

/// Drops options that no plan better than `upper` (the objective of the incumbent `incumbent`,
/// whose options are always kept) needs:
///
/// - an option whose least possible latency (with all of its server's blocks and compute)
///   exceeds what the objective leaves for it: `upper` for min-max, `upper` minus every other
///   user's least possible (weighted) latency for the sums; or exceeds the user's deadline;
/// - a server option whose device time and round trips alone already reach the user's local
///   latency: running locally is no slower and uses no server resource (block, compute,
///   memory), so swapping keeps any plan feasible and no worse.
///
/// Exact: some optimal plan uses only kept options. Returns the pruned options and, per user,
/// the original index of each kept one.
pub fn prune_options(
    problem: &AllocProblem,
    opts: &Options,
    upper: f64,
    incumbent: &[usize],
) -> (Options, Vec<Vec<usize>>) {
    let fastest = |o: &UserOption| {
        let n = o
            .server
            .map_or(1.0, |s| problem.servers[s].resource_blocks as f64);
        o.latency(n, 1.0)
    };
    let weight = |k: usize| match problem.objective {
        AllocObjective::WeightedSum => problem.users[k].weight,
        _ => 1.0,
    };
    let least: Vec<f64> = opts
        .options
        .iter()
        .map(|list| list.iter().map(fastest).fold(f64::INFINITY, f64::min))
        .collect();
    let total_least: f64 = least.iter().enumerate().map(|(k, l)| weight(k) * l).sum();
    let slack = 1e-9 * upper.abs().max(1e-12);
    let mut pruned = opts.clone();
    let mut kept = Vec::with_capacity(opts.options.len());
    for (k, list) in opts.options.iter().enumerate() {
        let room = match problem.objective {
            AllocObjective::MinMax => upper,
            _ => (upper - (total_least - weight(k) * least[k])) / weight(k),
        };
        let limit = problem.users[k].deadline_s.map_or(room, |d| d.min(room)) + slack;
        let local = list
            .iter()
            .filter(|o| o.server.is_none())
            .map(|o| o.latency(1.0, 1.0))
            .fold(f64::INFINITY, f64::min);
        let keep: Vec<usize> = (0..list.len())
            .filter(|&o| {
                let opt = &list[o];
                let dominated = opt.server.is_some() && opt.device_s + opt.fixed_s >= local;
                o == incumbent[k] || (fastest(opt) <= limit && !dominated)
            })
            .collect();
        pruned.options[k] = keep.iter().map(|&o| list[o].clone()).collect();
        kept.push(keep);
    }
    (pruned, kept)
}
