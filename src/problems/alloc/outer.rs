//! The exact allocation solve: outer approximation of the convex latency terms.
//!
//! A server option's latency `c / share` is convex in the user's compute share, which a MILP
//! cannot hold exactly. Each round builds the MILP ([`build`]) with the tangents collected so
//! far, which under-estimate `c / share` (so the MILP's optimum is a lower bound on the
//! problem's), and solves it with HiGHS. The round's choice of options and resource blocks is
//! then given its exact optimal compute shares ([`optimal_shares`]); the better of that plan
//! and the incumbent is kept, and new tangents are added where the MILP under-estimated the
//! latency and at the exact shares; and the airtime secants through the block counts it chose
//! (the model starts with a grid of them, [`super::model::initial_secants`]).
//!
//! For min-max, the floor of [`min_max_lower_bound`] (the resources the users that cannot run
//! locally need, searched over the objective) is a lower bound before any round and a row
//! `T >= floor` of every round's MILP; it is usually within a fraction of a percent of the
//! optimum, where the LP relaxation alone is several percent below.
//!
//! Stopping rule, checked in this order:
//!
//! - **floor**: the incumbent (the local search's plan) is within the tolerance below of the
//!   floor: no MILP is solved (`optimal`, 0 rounds), unless the run asks for a model export or
//!   a HiGHS log, which round 1 writes (the export is the last round's, [`write_last_round`]);
//! - **max rounds**: at most [`MAX_ROUNDS`] MILPs are solved (termination `limit_reached`);
//! - **time limit**: no round starts once the preset's time limit (counted from the start of
//!   the whole solve, pricing included) has passed, and each MILP gets only what is left of it
//!   (`limit_reached`);
//! - **infeasible relaxation**: the MILP is infeasible, so the problem is; any incumbent is
//!   dropped (`infeasible`);
//! - **no MILP solution**: HiGHS stopped without a solution (`limit_reached`);
//! - **gap tolerance**: the incumbent is within `max(mip_rel_gap, 1e-6)` (relative gap) of the
//!   lower bound (`optimal`);
//! - **no new tangent**: the round added no tangent or secant, so another would return the same MILP: the
//!   MILP's objective is then the exact value of its own plan, so when HiGHS solved it to
//!   optimality and the incumbent is no worse than it, the incumbent is optimal to HiGHS's
//!   tolerances (`optimal`, with the gap HiGHS left, which can exceed the preset's on latencies
//!   of milliseconds); otherwise `limit_reached`.
//!
//! The reported bound is the largest lower bound of any round: HiGHS's dual bound (valid even
//! when it stopped at its time limit), or the MILP's objective when it gives no bound, and the
//! floor. Every
//! MILP only holds more tangents than the one before, so each bound is valid for the problem.

use std::time::Instant;

use super::bound::min_max_lower_bound;
use super::heuristics::{optimal_shares, Allocation};
use super::model::{build_with_floor, initial_secants, AllocMilp, Decoded, MIN_TANGENT};
use super::{AllocObjective, AllocProblem, Options};
use crate::error::Result;
use crate::solve::export::{header, Sense};
use crate::solve::milp::MipOptions;
use crate::solve::report::{relative_gap, Termination};
use crate::solve::RunOptions;
use crate::solve::SolverPreset;

/// Largest number of outer-approximation rounds of the exact solve.
pub const MAX_ROUNDS: usize = 60;

/// A tangent of a server option's latency: (user, option, compute share it touches at).
type Tangent = (usize, usize, f64);

/// A secant of a group's airtime: (group, `j`), through `(j, S/j)` and `(j+1, S/(j+1))`.
type Secant = (usize, usize);

/// What the outer approximation ends with.
#[derive(Debug, Clone)]
pub struct OuterResult {
    /// Best plan found: per user the option index (into the options solved), and its
    /// allocation. `None` when no round found one, or the problem is infeasible.
    pub found: Option<(Vec<usize>, Allocation)>,
    /// How the loop stopped: `optimal`, `infeasible` or `limit_reached`.
    pub termination: Termination,
    /// Largest lower bound on the objective of any round (seconds, weighted for the weighted
    /// sum); `None` when no round gave one.
    pub bound: Option<f64>,
    /// MILPs solved.
    pub rounds: usize,
    /// Branch-and-bound nodes over every round; `None` when no round ran.
    pub nodes: Option<i64>,
    /// Seconds spent building the MILPs and adding their tangents.
    pub build_s: f64,
}

/// Solves `problem` over the options `opts` exactly by outer approximation (see the module
/// doc), starting from `incumbent` (a plan over `opts`, e.g. from the local search). `start`
/// is when the whole solve started, against which the preset's time limit counts; `run`
/// writes the last round's MILP to `run.write_model` ([`write_last_round`]) and each round's
/// HiGHS log to `run.log_file` (round 1) and `<log_file>.round<r>` (round `r > 1`).
pub fn outer_approximation(
    problem: &AllocProblem,
    opts: &Options,
    incumbent: Option<(Vec<usize>, Allocation)>,
    preset: &SolverPreset,
    run: &RunOptions,
    start: Instant,
) -> Result<OuterResult> {
    let tolerance = preset.mip_rel_gap.max(1e-6);
    let mut out = OuterResult {
        found: incumbent,
        termination: Termination::LimitReached,
        bound: None,
        rounds: 0,
        nodes: None,
        build_s: 0.0,
    };
    // The min-max floor: often within the tolerance of the local search's plan already.
    let floor = min_max_lower_bound(problem, opts, out.found.as_ref().map(|f| f.1.objective));
    let mut lower = floor.unwrap_or(f64::NEG_INFINITY);
    let wants_files = run.write_model.is_some() || run.log_file.is_some();
    if let (Some(f), false) = (&out.found, wants_files) {
        if relative_gap(f.1.objective, lower) <= tolerance {
            out.termination = Termination::Optimal;
            out.bound = Some(lower);
            return Ok(out);
        }
    }
    let mut tangents: Vec<Tangent> = Vec::new();
    let mut secants: Vec<Secant> = Vec::new();
    // The tangents and secants of the last round's MILP, kept to export it.
    let mut last_round = (Vec::new(), Vec::new());
    loop {
        if out.rounds >= MAX_ROUNDS {
            break;
        }
        let remaining = preset
            .time_limit_s
            .map(|t| t - start.elapsed().as_secs_f64());
        if remaining.is_some_and(|r| r <= 0.0) {
            break;
        }
        out.rounds += 1;
        let t0 = Instant::now();
        let model = build_round(problem, opts, floor, &tangents, &secants);
        out.build_s += t0.elapsed().as_secs_f64();
        let options = MipOptions {
            time_limit_s: remaining,
            log_file: round_log_file(run, out.rounds),
            report_scale: model.objective_scale,
            progress_label: "outer-approximation round",
            ..MipOptions::from_preset(preset)
        };
        if run.write_model.is_some() {
            last_round = (tangents.clone(), secants.clone());
        }
        let decoder = model.decoder.clone();
        let scale = model.objective_scale;
        let result = model.milp.minimise(model.objective, &options)?;
        out.nodes = Some(out.nodes.unwrap_or(0) + result.nodes.unwrap_or(0));
        if result.termination == Termination::Infeasible {
            // The relaxation is infeasible, so the problem is.
            out.termination = Termination::Infeasible;
            out.found = None;
            break;
        }
        let Some(values) = result.values.as_ref() else {
            break;
        };
        if let Some(b) = result.bound.or(result.objective) {
            lower = lower.max(b * scale);
        }
        let d = decoder.decode(values);
        let exact = optimal_shares(problem, opts, &d.option, &d.resource_blocks);
        if let Some(a) = &exact {
            if out
                .found
                .as_ref()
                .is_none_or(|f| a.objective < f.1.objective)
            {
                out.found = Some((d.option.clone(), a.clone()));
            }
        }
        if let Some(f) = &out.found {
            // HiGHS's dual bound is valid even when it stopped at its time limit.
            if relative_gap(f.1.objective, lower) <= tolerance {
                out.termination = Termination::Optimal;
                break;
            }
        }
        let new_secants = add_secants(&d, &mut secants);
        let new_tangents = add_tangents(problem, opts, &d, exact.as_ref(), &mut tangents);
        if !new_secants && !new_tangents {
            // The MILP's compute shares are all tangent points already and its block counts
            // have both their secants, so its objective is the exact latency of its own plan: if HiGHS solved it to optimality and the
            // incumbent is no worse, the incumbent is optimal to HiGHS's own tolerances (the
            // remaining gap is HiGHS's, e.g. on latencies of milliseconds).
            let milp_optimal = result.termination == Termination::Optimal;
            if let (true, Some(f), Some(primal)) = (milp_optimal, &out.found, result.objective) {
                let primal = primal * scale;
                if f.1.objective <= primal + tolerance * primal.abs() {
                    out.termination = Termination::Optimal;
                }
            }
            break;
        }
    }
    out.bound = lower.is_finite().then_some(lower);
    if let (Some(path), true) = (&run.write_model, out.rounds > 0) {
        let (t, s) = &last_round;
        write_last_round(problem, opts, floor, t, s, &out, tolerance, path)?;
    }
    Ok(out)
}

/// Writes the MILP of the outer approximation's last round (`tangents`, `secants`) to `path`,
/// with its objective in the report's units and a header that says what its optimum means.
#[allow(clippy::too_many_arguments)]
fn write_last_round(
    problem: &AllocProblem,
    opts: &Options,
    floor: Option<f64>,
    tangents: &[Tangent],
    secants: &[Secant],
    out: &OuterResult,
    tolerance: f64,
    path: &std::path::Path,
) -> Result<()> {
    let model = build_round(problem, opts, floor, tangents, secants);
    let objective = model.objective.clone() * model.objective_scale;
    let what = match problem.objective {
        AllocObjective::MinMax => "the largest user latency (s)",
        AllocObjective::Sum => "the sum of user latencies (s)",
        AllocObjective::WeightedSum => "the weighted sum of user latencies (s)",
    };
    let note = format!(
        "{what} under the tangents and secants of round {} of the outer approximation: they \
         under-estimate each latency, so its optimum is a lower bound on the reported objective, \
         within the relative gap {tolerance:e} of it when the report says optimal (equal when \
         the last round added no tangent)",
        out.rounds
    );
    let options = MipOptions {
        write_model: Some(path.to_path_buf()),
        model_header: header("alloc", &problem.name, &note),
        ..MipOptions::default()
    };
    model
        .milp
        .write_model(&objective, Sense::Minimise, &options)
}

/// The round's MILP: the model over `opts` with the min-max `floor` and every tangent collected
/// so far.
fn build_round(
    problem: &AllocProblem,
    opts: &Options,
    floor: Option<f64>,
    tangents: &[Tangent],
    secants: &[Secant],
) -> AllocMilp {
    let mut model = build_with_floor(problem, opts, floor);
    for &(k, o, p) in tangents {
        model.add_tangent(k, o, p);
    }
    for &(g, j) in secants {
        model.add_secant(g, j);
    }
    model
}

/// Adds the secants that make the airtime exact at the block count `n` each user's group got
/// in a round (`j = n - 1` and `j = n`, within `1..N`), skipping ones the model starts with
/// ([`initial_secants`]) or already added. Returns whether any was added.
fn add_secants(d: &Decoded, secants: &mut Vec<Secant>) -> bool {
    let before = secants.len();
    for (k, group) in d.group.iter().enumerate() {
        let Some((g, blocks)) = *group else { continue };
        let n = d.resource_blocks[k];
        for j in [n.saturating_sub(1), n] {
            if j == 0 || j >= blocks || initial_secants(blocks).binary_search(&j).is_ok() {
                continue;
            }
            if !secants.contains(&(g, j)) {
                secants.push((g, j));
            }
        }
    }
    secants.len() > before
}

/// Path of round `round`'s HiGHS log: `run.log_file` for round 1, `<log_file>.round<r>` after.
fn round_log_file(run: &RunOptions, round: usize) -> Option<std::path::PathBuf> {
    run.log_file.as_ref().map(|log| {
        if round == 1 {
            log.clone()
        } else {
            let mut name = log.clone().into_os_string();
            name.push(format!(".round{round}"));
            name.into()
        }
    })
}

/// Adds the tangents of a round: for each user on a server option, at the MILP's compute share
/// (where the relaxation under-estimates) and at the exact shares `exact` (a fraction of the
/// server, clamped to at least [`MIN_TANGENT`]), skipping ones already there. Returns whether
/// any was added.
fn add_tangents(
    problem: &AllocProblem,
    opts: &Options,
    d: &Decoded,
    exact: Option<&Allocation>,
    tangents: &mut Vec<Tangent>,
) -> bool {
    let before = tangents.len();
    for k in 0..problem.users.len() {
        let o = d.option[k];
        if opts.options[k][o].server_s <= 0.0 {
            continue;
        }
        let mut points = vec![d.compute_share[k]];
        if let Some(a) = exact {
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
    tangents.len() > before
}
