//! The carbon-aware greedy and the as-soon-as-possible baseline. Both are deterministic.
//!
//! - **Greedy**: jobs in earliest-deadline-first order; each goes to the (server, level) whose
//!   cheapest set of free slots in its window that carries its work costs the least objective
//!   (carbon, energy or cost of the extra grid energy over the empty server, given the
//!   renewable supply). Slower levels need more slots but less power, so the lowest sufficient
//!   level wins unless clean slots are scarce. A job that finds no room is moved to the front of
//!   the order and the schedule rebuilt (EDF repair), at most once per job. The greedy keeps
//!   each job on one server and one level, a subset of what the MILP may do.
//! - **ASAP**: jobs by release time, each at the fastest level on the server where it finishes
//!   first, in its earliest free slots; work left at the deadline stays undone (the evaluator
//!   flags it).

use super::evaluate::WORK_TOLERANCE;
use super::{GreenProblem, Run, Schedule};

/// Slots a job of `work` FLOP needs at `slot_work` FLOP per slot.
fn slots_needed(work: f64, slot_work: f64) -> usize {
    if work <= 0.0 {
        return 0;
    }
    ((work / slot_work) * (1.0 - WORK_TOLERANCE))
        .ceil()
        .max(1.0) as usize
}

/// Places job `j` by the greedy rule into `schedule`; false when no (server, level) has room.
fn place_cheapest(problem: &GreenProblem, schedule: &mut Schedule, j: usize) -> bool {
    let job = &problem.jobs[j];
    let end = job.deadline.min(problem.slots());
    // (cost, level, server, slots)
    let mut best: Option<(f64, usize, usize, Vec<usize>)> = None;
    for (m, server) in problem.servers.iter().enumerate() {
        if !problem.fits(j, m) {
            continue;
        }
        let free: Vec<usize> = (job.release..end)
            .filter(|&t| schedule.runs[m][t].is_none())
            .collect();
        for (l, level) in server.levels.iter().enumerate() {
            let n = slots_needed(job.work_flop, problem.slot_work(m, l));
            if n > free.len() {
                continue;
            }
            let empty = problem.empty_power_w(m);
            let mut priced: Vec<(f64, usize)> = free
                .iter()
                .map(|&t| {
                    let extra =
                        problem.grid_kwh(m, t, level.power_w) - problem.grid_kwh(m, t, empty);
                    (problem.weight_per_kwh(t) * extra, t)
                })
                .collect();
            priced.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let chosen: Vec<usize> = priced[..n].iter().map(|p| p.1).collect();
            let cost: f64 = priced[..n].iter().map(|p| p.0).sum();
            // Cheaper wins; on a tie the lower level (less energy), then the lower server.
            let better = best.as_ref().is_none_or(|(c, bl, bm, _)| {
                let eps = 1e-12 * c.abs().max(1.0);
                cost < *c - eps || (cost <= *c + eps && (l, m) < (*bl, *bm))
            });
            if better {
                best = Some((cost, l, m, chosen));
            }
        }
    }
    match best {
        Some((_, level, m, chosen)) => {
            for t in chosen {
                schedule.runs[m][t] = Some(Run { job: j, level });
            }
            true
        }
        None => false,
    }
}

/// The carbon-aware greedy with EDF repair; `None` when no order it tries places every job.
pub fn greedy(problem: &GreenProblem) -> Option<Schedule> {
    let mut order: Vec<usize> = (0..problem.jobs.len()).collect();
    order.sort_by_key(|&j| (problem.jobs[j].deadline, problem.jobs[j].release, j));
    for _ in 0..=problem.jobs.len() {
        let mut schedule = problem.empty_schedule();
        let failed = order
            .iter()
            .copied()
            .find(|&j| !place_cheapest(problem, &mut schedule, j));
        match failed {
            None => return Some(schedule),
            Some(j) => {
                if order.first() == Some(&j) {
                    return None;
                }
                // Repair: the job that found no room goes first.
                order.retain(|&k| k != j);
                order.insert(0, j);
            }
        }
    }
    None
}

/// As soon as possible at full speed.
pub fn asap(problem: &GreenProblem) -> Schedule {
    let mut order: Vec<usize> = (0..problem.jobs.len()).collect();
    order.sort_by_key(|&j| (problem.jobs[j].release, problem.jobs[j].deadline, j));
    let mut schedule = problem.empty_schedule();
    for j in order {
        let job = &problem.jobs[j];
        let end = job.deadline.min(problem.slots());
        // (completion slot, slots, server, level)
        let mut best: Option<(usize, Vec<usize>, usize, usize)> = None;
        for (m, server) in problem.servers.iter().enumerate() {
            if !problem.fits(j, m) || server.levels.is_empty() {
                continue;
            }
            let top = server.levels.len() - 1;
            let n = slots_needed(job.work_flop, problem.slot_work(m, top));
            let chosen: Vec<usize> = (job.release..end)
                .filter(|&t| schedule.runs[m][t].is_none())
                .take(n)
                .collect();
            let completion = if chosen.len() == n {
                chosen.last().map_or(job.release, |t| t + 1)
            } else {
                usize::MAX - (chosen.len())
            };
            if best.as_ref().is_none_or(|b| completion < b.0) {
                best = Some((completion, chosen, m, top));
            }
        }
        if let Some((_, chosen, m, level)) = best {
            for t in chosen {
                schedule.runs[m][t] = Some(Run { job: j, level });
            }
        }
    }
    schedule
}
