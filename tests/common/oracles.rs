//! Brute-force optima of tiny instances, shared by the oracle tests and the numerics tests:
//! every option combination and block split (alloc), every placement (cache), every schedule
//! (green), each judged by the problem's own evaluator.

use edgeplan::problems::alloc::evaluate::evaluate as alloc_evaluate;
use edgeplan::problems::alloc::heuristics::{optimal_shares, to_plan};
use edgeplan::problems::alloc::{AllocProblem, Options};
use edgeplan::problems::cache::evaluate::evaluate as cache_evaluate;
use edgeplan::problems::cache::{CacheProblem, Placement};
use edgeplan::problems::green::evaluate::evaluate as green_evaluate;
use edgeplan::problems::green::{GreenProblem, Run, Schedule};

/// Best objective over every option combination and every integer block split, with the exact
/// shares for each; also checks server memory through the evaluator.
pub fn alloc_brute_force(problem: &AllocProblem, opts: &Options) -> Option<f64> {
    let users = problem.users.len();
    let mut best: Option<f64> = None;
    let mut choice = vec![0usize; users];
    loop {
        // Enumerate block vectors for this choice.
        let caps: Vec<usize> = (0..users)
            .map(|k| match opts.options[k][choice[k]].server {
                Some(s) if opts.options[k][choice[k]].airtime_rb_s > 0.0 => {
                    problem.servers[s].resource_blocks
                }
                _ => 0,
            })
            .collect();
        let mut blocks: Vec<usize> = caps.iter().map(|&c| c.min(1)).collect();
        loop {
            let ok = (0..problem.servers.len()).all(|s| {
                (0..users)
                    .filter(|&k| opts.options[k][choice[k]].server == Some(s))
                    .map(|k| blocks[k])
                    .sum::<usize>()
                    <= problem.servers[s].resource_blocks
            });
            if ok {
                if let Some(a) = optimal_shares(problem, opts, &choice, &blocks) {
                    if best.is_none_or(|b| a.objective < b) {
                        // Server memory is checked by the independent evaluator.
                        let plan = to_plan(opts, &choice, &a);
                        if alloc_evaluate(problem, &plan).unwrap().feasible() {
                            best = Some(a.objective);
                        }
                    }
                }
            }
            // Next block vector.
            let mut i = 0;
            while i < users {
                if caps[i] > 0 && blocks[i] < caps[i] {
                    blocks[i] += 1;
                    break;
                }
                blocks[i] = caps[i].min(1);
                i += 1;
            }
            if i == users {
                break;
            }
        }
        // Next option combination.
        let mut i = 0;
        while i < users {
            choice[i] += 1;
            if choice[i] < opts.options[i].len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
        if i == users {
            break;
        }
    }
    best
}

/// The best hit ratio over every placement that respects storage, by the evaluator.
pub fn cache_brute_force(problem: &CacheProblem) -> (f64, Placement) {
    let servers = problem.servers.len();
    let models = problem.models.len();
    let pairs = servers * models;
    assert!(pairs <= 16, "brute force over 2^{pairs} placements");
    let mut best = (-1.0, Vec::new());
    for mask in 0u32..(1 << pairs) {
        let placement: Placement = (0..servers)
            .map(|m| {
                (0..models)
                    .filter(|&i| mask & (1 << (m * models + i)) != 0)
                    .collect()
            })
            .collect();
        let ev = cache_evaluate(problem, &placement);
        if ev.feasible() && ev.hit_ratio > best.0 {
            best = (ev.hit_ratio, placement);
        }
    }
    best
}

/// The least objective over every feasible schedule (`None`: none is feasible).
pub fn green_brute_force(problem: &GreenProblem) -> Option<f64> {
    let mut best: Option<f64> = None;
    green_schedules(problem, &mut |_, value| {
        if best.is_none_or(|b| value < b) {
            best = Some(value);
        }
    });
    best
}

/// Calls `visit` with every feasible schedule of `problem` (every assignment of a job and level,
/// or nothing, to every server slot that the evaluator accepts) and its objective.
pub fn green_schedules(problem: &GreenProblem, visit: &mut dyn FnMut(&Schedule, f64)) {
    let slots = problem.slots();
    let cells: Vec<(usize, usize)> = (0..problem.servers.len())
        .flat_map(|m| (0..slots).map(move |t| (m, t)))
        .collect();
    let options: Vec<Vec<Option<Run>>> = cells
        .iter()
        .map(|&(m, t)| {
            let mut list = vec![None];
            for (j, job) in problem.jobs.iter().enumerate() {
                if t >= job.release && t < job.deadline && problem.fits(j, m) {
                    for level in 0..problem.servers[m].levels.len() {
                        list.push(Some(Run { job: j, level }));
                    }
                }
            }
            list
        })
        .collect();
    let mut schedule = problem.empty_schedule();
    fn walk(
        problem: &GreenProblem,
        cells: &[(usize, usize)],
        options: &[Vec<Option<Run>>],
        k: usize,
        schedule: &mut Schedule,
        visit: &mut dyn FnMut(&Schedule, f64),
    ) {
        if k == cells.len() {
            let ev = green_evaluate(problem, schedule);
            if ev.feasible() {
                visit(schedule, ev.objective);
            }
            return;
        }
        let (m, t) = cells[k];
        for option in &options[k] {
            schedule.runs[m][t] = *option;
            walk(problem, cells, options, k + 1, schedule, visit);
        }
        schedule.runs[m][t] = None;
    }
    walk(problem, &cells, &options, 0, &mut schedule, visit);
}
