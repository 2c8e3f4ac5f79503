//! Why an allocation instance is infeasible: which users and which resources.
//!
//! The checks go from the most to the least specific, and the first that finds a cause answers:
//!
//! 1. **A user alone.** A user whose every option misses its deadline even with all the blocks
//!    and the whole compute of a server (or, locally, with the device to itself) cannot be
//!    helped by any allocation.
//! 2. **Users that must offload.** Users whose deadline no local option meets need a server; if
//!    more of them can only use server `m` than `m` has resource blocks, or their smallest
//!    possible footprint (the highest cut that still meets the deadline alone, which minimises
//!    both the shared and the private bytes) exceeds its memory, the server is named with them.
//! 3. **Deadlines that conflict.** Otherwise a deletion filter over the deadlines: a deadline is
//!    dropped when the instance stays infeasible without it, so what is left is a minimal set of
//!    users that cannot all meet their deadlines together. Each test solves the first-round MILP
//!    (a relaxation: infeasible there means infeasible), so a test that the relaxation passes
//!    keeps the deadline, and the set is minimal with respect to the relaxation. The filter then
//!    says which resource (blocks, compute, memory), made unlimited, would let the set through.
//!    Every test has a time limit; when it runs out the set is reported as found so far.
//!
//! Checks 1 and 2 are proofs of infeasibility and cost no solve; with a zero budget only they
//! run, which is how [`super::solve`] settles such instances before building any MILP.

use std::time::Instant;

use super::model::build_with_floor;
use super::{AllocProblem, Options};
use crate::solve::milp::MipOptions;
use crate::solve::report::Termination;

/// Users named in one line at most.
const NAMES_SHOWN: usize = 12;

/// Time limit of one relaxation test of the deletion filter, s.
const TEST_LIMIT_S: f64 = 10.0;

/// Fastest latency of user `k` alone: all of its server's blocks and compute, or the device.
fn fastest_alone(problem: &AllocProblem, opts: &Options, k: usize) -> Option<(usize, f64)> {
    opts.options[k]
        .iter()
        .enumerate()
        .map(|(o, opt)| {
            let n = opt
                .server
                .map_or(1.0, |s| problem.servers[s].resource_blocks as f64);
            (o, opt.latency(n, 1.0))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Where option `o` of user `k` runs, in words.
fn place(problem: &AllocProblem, opts: &Options, k: usize, o: usize) -> String {
    let opt = &opts.options[k][o];
    let n = problem.users[k].table.len();
    match opt.server {
        None => "on the device".into(),
        Some(s) => {
            let srv = &problem.servers[s];
            format!(
                "with {} of {n} layers on the device and the rest on {} with all {} blocks and its whole compute",
                opt.cut, srv.name, srv.resource_blocks
            )
        }
    }
}

/// Whether the instance is infeasible by the first-round MILP (`Some(true)`), feasible there
/// (`Some(false)`), or undecided within `limit_s`.
fn relaxation_infeasible(problem: &AllocProblem, opts: &Options, limit_s: f64) -> Option<bool> {
    // No min-max floor: feasibility only, and the deletion filter builds many of these.
    let model = build_with_floor(problem, opts, None);
    let options = MipOptions {
        time_limit_s: Some(limit_s.max(0.1)),
        mip_rel_gap: 1.0,
        ..MipOptions::default()
    };
    // Feasibility only: a zero objective lets HiGHS stop at the first feasible point.
    let result = model
        .milp
        .minimise(good_lp::Expression::from(0.0), &options)
        .ok()?;
    match result.termination {
        Termination::Infeasible => Some(true),
        _ if result.values.is_some() => Some(false),
        _ => None,
    }
}

/// Lines that say why `problem` has no feasible plan, within about `budget_s` seconds of MILP
/// tests (the cheap checks always run).
pub fn explain_infeasible(problem: &AllocProblem, opts: &Options, budget_s: f64) -> Vec<String> {
    let start = Instant::now();
    let lines = users_alone(problem, opts);
    if !lines.is_empty() {
        return lines;
    }
    let lines = users_that_must_offload(problem, opts);
    if !lines.is_empty() || budget_s <= 0.0 {
        return lines;
    }
    conflicting_deadlines(problem, opts, budget_s, start)
}

/// Check 1: a line per user with no option at all, or whose fastest option alone misses its
/// deadline (seconds).
fn users_alone(problem: &AllocProblem, opts: &Options) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, u) in problem.users.iter().enumerate() {
        if opts.options[k].is_empty() {
            lines.push(format!(
                "user {}: no placement fits the device memory ({:.2} GB on {}) and the placement rules",
                u.name,
                u.device.memory_bytes / 1e9,
                u.device.device.name
            ));
            continue;
        }
        if let (Some(d), Some((o, best))) = (u.deadline_s, fastest_alone(problem, opts, k)) {
            if best > d * (1.0 + 1e-9) {
                lines.push(format!(
                    "user {}: misses its deadline of {d} s even alone: its fastest option, {}, takes {best:.4} s",
                    u.name,
                    place(problem, opts, k, o)
                ));
            }
        }
    }
    lines
}

/// Whether option `o` of user `k` meets the user's deadline with all of its server's blocks
/// and compute (or the device to itself).
fn meets_alone(problem: &AllocProblem, opts: &Options, k: usize, o: usize) -> bool {
    let opt = &opts.options[k][o];
    let n = opt
        .server
        .map_or(1.0, |s| problem.servers[s].resource_blocks as f64);
    problem.users[k]
        .deadline_s
        .is_none_or(|d| opt.latency(n, 1.0) <= d * (1.0 + 1e-9))
}

/// The names of users `list`, at most [`NAMES_SHOWN`] of them and how many more.
fn user_names(problem: &AllocProblem, list: &[usize]) -> String {
    let mut text = list
        .iter()
        .take(NAMES_SHOWN)
        .map(|&k| problem.users[k].name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > NAMES_SHOWN {
        text.push_str(&format!(" and {} more", list.len() - NAMES_SHOWN));
    }
    text
}

/// Check 2: a line per server that the users bound to it (every deadline-meeting option on it)
/// outnumber its resource blocks, or whose leanest footprint exceeds its memory (bytes).
fn users_that_must_offload(problem: &AllocProblem, opts: &Options) -> Vec<String> {
    let mut lines = Vec::new();
    for (s, srv) in problem.servers.iter().enumerate() {
        // Users whose every deadline-meeting option is on server s.
        let bound: Vec<usize> = (0..problem.users.len())
            .filter(|&k| {
                let ok: Vec<usize> = (0..opts.options[k].len())
                    .filter(|&o| meets_alone(problem, opts, k, o))
                    .collect();
                !ok.is_empty() && ok.iter().all(|&o| opts.options[k][o].server == Some(s))
            })
            .collect();
        if bound.is_empty() {
            continue;
        }
        if bound.len() > srv.resource_blocks {
            lines.push(format!(
                "server {}: {} users must offload to it, no local option fitting their device or \
                 meeting their deadline ({}), but it has {} resource blocks, one per user at least",
                srv.name,
                bound.len(),
                user_names(problem, &bound),
                srv.resource_blocks
            ));
            continue;
        }
        let memory = leanest_memory(problem, opts, s, &bound);
        if memory > srv.memory_bytes * (1.0 + 1e-9) {
            lines.push(format!(
                "server {}: {} users must offload to it ({}); with as few layers \
                 there as their deadlines allow they need {:.2} GB, it has {:.2} GB",
                srv.name,
                bound.len(),
                user_names(problem, &bound),
                memory / 1e9,
                srv.memory_bytes / 1e9
            ));
        }
    }
    lines
}

/// Bytes on server `s` of the leanest choice: the highest deadline-meeting cut for the `bound`
/// users, nobody else.
fn leanest_memory(problem: &AllocProblem, opts: &Options, s: usize, bound: &[usize]) -> f64 {
    let mut choice: Vec<Option<usize>> = vec![None; problem.users.len()];
    for &k in bound {
        choice[k] = (0..opts.options[k].len())
            .filter(|&o| meets_alone(problem, opts, k, o))
            .max_by_key(|&o| opts.options[k][o].cut);
    }
    problem.server_memory_of(
        opts,
        choice
            .iter()
            .enumerate()
            .filter_map(|(k, o)| o.map(|o| (k, o))),
    )[s]
}

/// Check 3: the deletion filter over the deadlines, and which resource made (1000 times)
/// larger lets the set left through; MILP tests within `budget_s` seconds from `start`.
fn conflicting_deadlines(
    problem: &AllocProblem,
    opts: &Options,
    budget_s: f64,
    start: Instant,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut relaxed = problem.clone();
    let with_deadline: Vec<usize> = (0..problem.users.len())
        .filter(|&k| problem.users[k].deadline_s.is_some())
        .collect();
    let left = |start: &Instant| (budget_s - start.elapsed().as_secs_f64()).min(TEST_LIMIT_S);
    if with_deadline.is_empty() || relaxation_infeasible(problem, opts, left(&start)) != Some(true)
    {
        lines.push(
            "no assignment of cuts, resource blocks and compute shares meets every deadline and \
             server limit; try `--solver local-search` to see which users miss their deadlines"
                .into(),
        );
        return lines;
    }
    let mut kept = Vec::new();
    let mut complete = true;
    for &k in &with_deadline {
        if left(&start) <= 0.0 {
            complete = false;
            kept.push(k);
            continue;
        }
        let deadline = relaxed.users[k].deadline_s.take();
        if relaxation_infeasible(&relaxed, opts, left(&start)) != Some(true) {
            // Needed (or undecided): keep it.
            relaxed.users[k].deadline_s = deadline;
            kept.push(k);
        }
    }
    let named: Vec<String> = kept
        .iter()
        .map(|&k| {
            let u = &problem.users[k];
            format!("{} ({} s)", u.name, u.deadline_s.unwrap_or(f64::NAN))
        })
        .collect();
    lines.push(format!(
        "users {} cannot all meet their deadlines together{}; without any one of them the rest can \
         (by the MILP relaxation)",
        named.join(", "),
        if complete { "" } else { " (set not minimal: time budget spent)" }
    ));
    let unlimited = resources_that_help(&relaxed, opts, || left(&start));
    if !unlimited.is_empty() {
        lines.push(format!(
            "with 1000 times the {} they would fit",
            unlimited.join(", or 1000 times the ")
        ));
    }
    lines
}

/// The resources (radio bandwidth, server compute, server memory) that, made 1000 times larger
/// (memory: unlimited), make `relaxed` feasible by the relaxation; `left` gives the seconds
/// left for a test.
fn resources_that_help(
    relaxed: &AllocProblem,
    opts: &Options,
    left: impl Fn() -> f64,
) -> Vec<&'static str> {
    let mut unlimited = Vec::new();
    for (what, edit) in [
        ("radio bandwidth", 0usize),
        ("server compute", 1),
        ("server memory", 2),
    ] {
        if left() <= 0.0 {
            break;
        }
        let mut more = relaxed.clone();
        let mut opts_more = opts.clone();
        if edit == 2 {
            for srv in &mut more.servers {
                srv.memory_bytes = f64::INFINITY;
            }
        }
        for list in &mut opts_more.options {
            for o in list {
                match edit {
                    0 => o.airtime_rb_s /= 1000.0,
                    1 => o.server_s /= 1000.0,
                    _ => {}
                }
            }
        }
        if relaxation_infeasible(&more, &opts_more, left()) == Some(false) {
            unlimited.push(what);
        }
    }
    unlimited
}
