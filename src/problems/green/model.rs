//! The green-scheduling MILP (time-indexed).
//!
//! **Variables.** `u_jmtl` binary: job `j` runs on server `m` in slot `t` at level `l` (created
//! only where the job fits the server's memory and `release_j <= t < deadline_j`); without
//! migration, `b_jm` binary: job `j` is placed on server `m`.
//!
//! **Constraints.** One job per server and slot: `sum_{j,l} u_jmtl <= 1`. Work:
//! `sum_{m,t,l} (speed_ml slot_s / W_j) u_jmtl >= 1`. No migration: `sum_m b_jm = 1`,
//! `sum_l u_jmtl <= b_jm` for every slot, and the work on the server it is placed on alone:
//! `sum_{t,l} (speed_ml slot_s / W_j) u_jmtl >= b_jm`. Valid cuts: a job needs at least
//! `ceil(W_j / (fastest speed x slot_s))` slots, overall and (times `b_jm`) on each server at
//! that server's fastest level; the work row alone lets the LP run a fraction of a fast slot.
//! (Coefficients stay bounded: a run's share of the work is capped at 1, and a cut's slot count
//! at one more than the job's window.)
//!
//! **Objective, exact and tight.** Server `m` in slot `t` holds one run or none, so its grid
//! energy `max(0, P - R_mt)` takes one value per state: `c0_mt = max(0, E_m - R_mt)` empty
//! (`E_m` the idle power, or 0 when it may sleep) and `c_mtl = max(0, P_ml - R_mt)` running at
//! level `l`. The objective `sum_{m,t} w_t (c0_mt + sum_{j,l} (c_mtl - c0_mt) u_jmtl)` is exact
//! at every integer point and is the convex envelope of the grid energy over the slot's states:
//! a fraction of a run is charged its share of the run's grid energy. (The former form,
//! `g_mt >= E_m + sum (P_ml - E_m) u - R_mt` with `g >= 0`, let a half run under a renewable
//! supply of half its power draw nothing from the grid: on 100 jobs x 96 slots x 10 servers its
//! root bound was 26% below the greedy.) Coefficients per (server, slot, level) come from
//! [`super::columns::Costs`], shared with the column generation.
//!
//! **Scale.** Energies are measured in slots at the highest power of any level and weights
//! relative to the largest ([`units`]), so that rows and objective are near 1 at any slot
//! length and carbon or price scale (a millisecond slot draws some 1e-8 kWh, below HiGHS's
//! tolerances); [`GreenMilp::objective_scale`] converts the MILP's objective and bound back.

use std::collections::HashSet;

use good_lp::{constraint, variable, Expression, Solution, Variable};

use super::columns::Costs;
use super::{GreenProblem, Run, Schedule, J_PER_KWH};
use crate::solve::milp::{Milp, Values};

/// The MILP and the handles to decode it.
pub struct GreenMilp {
    /// The model.
    pub milp: Milp,
    /// The objective, to minimise.
    pub objective: Expression,
    /// `(job, server, slot, level, u)`.
    pub runs: Vec<(usize, usize, usize, usize, Variable)>,
    /// `(job, server, b)`: placement variables (without migration only).
    pub placed: Vec<(usize, usize, Variable)>,
    /// The unit of the objective's energies, kWh: one slot at the highest power of any level.
    pub energy_unit_kwh: f64,
    /// What one unit of the objective is worth in the problem's objective (grams, kWh or
    /// money): multiply the MILP's objective and bound by it.
    pub objective_scale: f64,
}

impl GreenMilp {
    /// A complete MIP start for `schedule`: every variable's value (runs and placements), so
    /// that HiGHS need not complete it (HiGHS 1.16 returned a wrong optimum from a partial
    /// start). `None` when the schedule has a run without a variable (outside the job's window,
    /// on a server it does not fit, an unknown level) or, without migration, a job on two
    /// servers.
    pub fn start(
        &self,
        problem: &GreenProblem,
        schedule: &Schedule,
    ) -> Option<Vec<(Variable, f64)>> {
        use std::collections::HashMap;
        let slots = problem.slots();
        if schedule.runs.len() != problem.servers.len()
            || schedule.runs.iter().any(|r| r.len() != slots)
        {
            return None;
        }
        let index: HashMap<(usize, usize, usize, usize), Variable> = self
            .runs
            .iter()
            .map(|&(j, m, t, l, u)| ((j, m, t, l), u))
            .collect();
        let mut on: HashMap<Variable, f64> = HashMap::new();
        let mut server_of: Vec<Option<usize>> = vec![None; problem.jobs.len()];
        for (m, row) in schedule.runs.iter().enumerate() {
            for (t, run) in row.iter().enumerate() {
                let Some(run) = run else { continue };
                let u = *index.get(&(run.job, m, t, run.level))?;
                on.insert(u, 1.0);
                match server_of.get(run.job)? {
                    Some(other) if *other != m && !problem.migration => return None,
                    _ => server_of[run.job] = Some(m),
                }
            }
        }
        let mut out: Vec<(Variable, f64)> = self
            .runs
            .iter()
            .map(|&(.., u)| (u, on.get(&u).copied().unwrap_or(0.0)))
            .collect();
        // Placements: the job's server, or the first it fits when it has no run.
        for (j, server) in server_of.iter().enumerate() {
            let first = self
                .placed
                .iter()
                .find(|&&(pj, ..)| pj == j)
                .map(|&(_, m, _)| m);
            let chosen = server.or(first);
            for &(_, m, b) in self.placed.iter().filter(|&&(pj, ..)| pj == j) {
                out.push((b, f64::from(u8::from(Some(m) == chosen))));
            }
        }
        Some(out)
    }

    /// The schedule of a solution.
    pub fn decode(
        runs: &[(usize, usize, usize, usize, Variable)],
        problem: &GreenProblem,
        values: &Values,
    ) -> Schedule {
        let mut schedule = problem.empty_schedule();
        for &(j, m, t, l, v) in runs {
            if values.value(v) > 0.5 {
                schedule.runs[m][t] = Some(Run { job: j, level: l });
            }
        }
        schedule
    }
}

/// The coefficient of a run in a job's work row: the share of the job's `work` FLOP that one
/// slot of `slot_work` FLOP does, capped at 1 (a run that does the whole job satisfies the row
/// alone either way), so that a job far smaller than a slot gives no huge coefficient.
fn work_share(slot_work: f64, work: f64) -> f64 {
    if slot_work >= work {
        1.0
    } else {
        slot_work / work
    }
}

/// The fewest slots job `job` needs at `slot_work` FLOP per slot, capped at one more than its
/// window (as many as can never fit: the cut then forbids the server exactly as a larger count
/// would, without a huge or infinite coefficient).
fn least_slots(job: &super::Job, slot_work: f64) -> f64 {
    let window = job.deadline.saturating_sub(job.release) as f64;
    (job.work_flop / slot_work * (1.0 - super::evaluate::WORK_TOLERANCE))
        .ceil()
        .min(window + 1.0)
}

/// Builds the MILP of `problem`.
pub fn build(problem: &GreenProblem) -> GreenMilp {
    build_without(problem, &HashSet::new())
}

/// Builds the MILP of `problem` without the `(job, server, slot, level)` runs in `removed` (a
/// server left without a run of a job is not offered to it): the runs Lagrangian fixing shows
/// no schedule cheaper than a known one uses ([`super::fixing`]).
pub fn build_without(
    problem: &GreenProblem,
    removed: &HashSet<(usize, usize, usize, usize)>,
) -> GreenMilp {
    let slots = problem.slots();
    let servers = problem.servers.len();
    let mut milp = Milp::new();
    let mut runs = Vec::new();
    let mut placed_vars = Vec::new();
    let (power_unit, _) = units(problem);
    let energy_unit_kwh = power_unit * problem.slot_s / J_PER_KWH;
    // The empty servers' cost is a constant; a run adds its slot's cost over the empty one.
    let costs = Costs::new(problem);
    let mut objective = Expression::from(costs.constant);
    // Per (server, slot): occupancy.
    let mut occupancy: Vec<Vec<Expression>> = vec![vec![Expression::from(0); slots]; servers];
    for (j, job) in problem.jobs.iter().enumerate() {
        let name = &job.name;
        let mut work = Expression::from(0);
        let mut placements = Expression::from(0);
        let mut slots_used = Expression::from(0);
        let mut fastest = 0.0f64;
        for (m, server) in problem.servers.iter().enumerate() {
            let window = job.release..job.deadline.min(slots);
            let kept = |t: usize, l: usize| !removed.contains(&(j, m, t, l));
            let offered = window
                .clone()
                .any(|t| (0..server.levels.len()).any(|l| kept(t, l)));
            if !problem.fits(j, m) || !offered {
                continue;
            }
            let at = format!("{name},{}", server.name);
            let placed = (!problem.migration)
                .then(|| milp.add(variable().binary().name(format!("placed[{at}]"))));
            if let Some(b) = placed {
                placements.add_mul(1.0, b);
                placed_vars.push((j, m, b));
            }
            let mut on_server = Expression::from(0);
            let mut work_here = Expression::from(0);
            for (t, (occupied, run_cost)) in occupancy[m]
                .iter_mut()
                .zip(&costs.run[m])
                .enumerate()
                .take(window.end)
                .skip(window.start)
            {
                if !(0..server.levels.len()).any(|l| kept(t, l)) {
                    continue;
                }
                let mut in_slot = Expression::with_capacity(server.levels.len());
                for (l, &cost) in run_cost.iter().enumerate() {
                    if !kept(t, l) {
                        continue;
                    }
                    let u = milp.add(variable().binary().name(format!("run[{at},t{t},level{l}]")));
                    runs.push((j, m, t, l, u));
                    let share = work_share(problem.slot_work(m, l), job.work_flop);
                    work.add_mul(share, u);
                    work_here.add_mul(share, u);
                    occupied.add_mul(1.0, u);
                    objective.add_mul(cost, u);
                    in_slot.add_mul(1.0, u);
                    on_server.add_mul(1.0, u);
                    slots_used.add_mul(1.0, u);
                }
                if let Some(b) = placed {
                    milp.constrain_named(
                        format!("only_where_placed[{at},t{t}]"),
                        constraint!(in_slot <= b),
                    );
                }
            }
            if let Some(b) = placed {
                // Placed on m, the job's whole work is done on m.
                if job.work_flop > 0.0 {
                    milp.constrain_named(
                        format!("work_where_placed[{at}]"),
                        constraint!(work_here >= b),
                    );
                }
                // Valid cut: it needs at least as many slots as at m's fastest level (the
                // work row alone lets the LP run fractions of fast slots).
                if let Some(top) = server.levels.last() {
                    let least = least_slots(job, top.speed_flops * problem.slot_s);
                    if least > 1.0 {
                        milp.constrain_named(
                            format!("least_slots[{at}]"),
                            constraint!(on_server >= least * b),
                        );
                    }
                }
            }
            fastest = fastest.max(server.levels.last().map_or(0.0, |l| l.speed_flops));
        }
        // The same over all servers, at the fastest level anywhere.
        if fastest > 0.0 {
            let least = least_slots(job, fastest * problem.slot_s);
            if least > 1.0 {
                milp.constrain_named(
                    format!("least_slots[{name}]"),
                    constraint!(slots_used >= least),
                );
            }
        }
        if !problem.migration {
            milp.constrain_named(
                format!("one_server[{name}]"),
                constraint!(placements == 1.0),
            );
        }
        if job.work_flop > 0.0 {
            milp.constrain_named(format!("work[{name}]"), constraint!(work >= 1.0));
        }
    }
    for (m, row) in occupancy.into_iter().enumerate() {
        for (t, occ) in row.into_iter().enumerate() {
            let name = format!("one_job[{},t{t}]", problem.servers[m].name);
            milp.constrain_named(name, constraint!(occ <= 1.0));
        }
    }
    GreenMilp {
        milp,
        objective,
        runs,
        placed: placed_vars,
        energy_unit_kwh,
        objective_scale: objective_scale(problem),
    }
}

/// The units of the objective: energies in slots at the highest power of any level or idle
/// state (W), weights relative to the largest (per kWh), so that the rows and the objective stay
/// near 1 whatever the slot length (milliseconds give kWh below HiGHS's tolerances) and the
/// carbon or price scale.
pub fn units(problem: &GreenProblem) -> (f64, f64) {
    let weight_unit = (0..problem.slots())
        .map(|t| problem.weight_per_kwh(t))
        .fold(0.0, f64::max);
    let weight_unit = if weight_unit > 0.0 { weight_unit } else { 1.0 };
    (reference_power_w(problem), weight_unit)
}

/// What one unit of the MILP's objective (in [`units`]) is worth in the problem's objective.
pub fn objective_scale(problem: &GreenProblem) -> f64 {
    let (power_unit, weight_unit) = units(problem);
    power_unit * problem.slot_s / J_PER_KWH * weight_unit
}

/// The highest power of any server's level or idle state, W (1 W when all are 0).
fn reference_power_w(problem: &GreenProblem) -> f64 {
    let power = problem
        .servers
        .iter()
        .flat_map(|s| s.levels.iter().map(|l| l.power_w).chain([s.idle_w]))
        .fold(0.0, f64::max);
    if power.is_finite() && power > 0.0 {
        power
    } else {
        1.0
    }
}
