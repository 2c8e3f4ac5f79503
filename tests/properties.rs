//! Property tests of the evaluators (and the exact solvers), through the library API on the
//! shipped instances:
//!
//! - split: scaling every time by a constant `c` (compute speeds and link rates divided by `c`,
//!   round trips multiplied by it) scales the latency of any plan by `c`;
//! - every problem: a plan keeps meeting its constraints when a limit is loosened (deadline,
//!   memory, energy budget, resource blocks, storage, job windows), and loosening never adds a
//!   violation; a cache plan's hit ratio does not fall when the users' latency limits grow;
//! - alloc, cache, green: reordering users (jobs) or servers does not change the optimum that
//!   HiGHS proves on small instances, and loosening a limit never worsens that optimum.
//!
//! Case counts are small so that the file runs in well under a minute in release.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use edgeplan::chain::{SplitPlan, SplitProblem, Tier};
use edgeplan::formulation::Formulation;
use edgeplan::instance::{alloc::Alloc, cache::Cache, green::Green, split::Split};
use edgeplan::problems::alloc::{AllocPlan, AllocProblem};
use edgeplan::problems::cache::CacheProblem;
use edgeplan::problems::green::{GreenProblem, Run, Schedule};
use edgeplan::solve::{RunOptions, SolverPreset, Termination};
use proptest::prelude::*;
use proptest::sample::Index;

/// Relative tolerance of value comparisons.
const TOL: f64 = 1e-9;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

fn load<F: Formulation>(problem: &str, name: &str) -> F::Problem {
    let path = common::shipped_path(problem, name);
    F::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped split instances, with profiled tables dropped (a measured latency does not
/// scale with the device's speed) so that every time follows the roofline.
fn split_instances() -> &'static [SplitProblem] {
    static CELL: OnceLock<Vec<SplitProblem>> = OnceLock::new();
    CELL.get_or_init(|| {
        common::shipped_files("split", &["toml"])
            .iter()
            .map(|p| {
                let mut problem = Split::load(Path::new(p)).unwrap();
                for tier in problem.tiers.iter_mut().flatten() {
                    tier.profile = None;
                    tier.profile_path = None;
                }
                problem
            })
            .collect()
    })
}

/// A plan of `problem`: one available tier per layer, from `picks`.
fn split_plan(problem: &SplitProblem, picks: &[Index]) -> SplitPlan {
    let tiers: Vec<Tier> = Tier::ALL
        .into_iter()
        .filter(|t| problem.has_tier(*t))
        .collect();
    SplitPlan {
        assignment: (0..problem.layers())
            .map(|l| *picks[l % picks.len()].get(&tiers))
            .collect(),
    }
}

/// `problem` with every time multiplied by `c`.
fn scale_times(problem: &SplitProblem, c: f64) -> SplitProblem {
    let mut p = problem.clone();
    for tier in p.tiers.iter_mut().flatten() {
        tier.device.peak_flops /= c;
        tier.device.mem_bw_bytes_per_s /= c;
    }
    for link in [&mut p.wireless, &mut p.backhaul].into_iter().flatten() {
        link.uplink_bps /= c;
        link.downlink_bps /= c;
        link.rtt_s *= c;
    }
    p
}

fn preset(name: &str) -> SolverPreset {
    common::preset(name)
}

/// The exact preset with tight gaps and no time limit, for the optimum comparisons.
fn exact() -> SolverPreset {
    let mut p = preset("highs");
    p.time_limit_s = None;
    p.mip_rel_gap = 1e-9;
    p.mip_abs_gap = 1e-12;
    p.threads = 1;
    p
}

/// The objective HiGHS proves optimal for `problem`.
fn optimum<F: Formulation>(problem: &F::Problem) -> f64 {
    let report = F::solve(problem, &exact(), &RunOptions::default()).unwrap();
    assert_eq!(
        report.stats.termination,
        Termination::Optimal,
        "{}: {:?}",
        F::NAME,
        report.stats
    );
    report.stats.objective.expect("an optimal objective")
}

/// The permutation of `0..n` that `keys` sorts.
fn permutation(keys: &[u32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (keys.get(i).copied().unwrap_or(0), i));
    order
}

fn permute<T: Clone>(items: &[T], order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| items[i].clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Small instances for the exact comparisons.

fn alloc_small() -> &'static (AllocProblem, f64) {
    static CELL: OnceLock<(AllocProblem, f64)> = OnceLock::new();
    CELL.get_or_init(|| {
        let p: AllocProblem = load::<Alloc>("alloc", "alloc-5-users");
        let v = optimum::<Alloc>(&p);
        (p, v)
    })
}

/// Four users of the two-server instance.
fn alloc_two_servers() -> &'static (AllocProblem, f64) {
    static CELL: OnceLock<(AllocProblem, f64)> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut p: AllocProblem = load::<Alloc>("alloc", "alloc-20-users-2-servers");
        p.users.truncate(4);
        let v = optimum::<Alloc>(&p);
        (p, v)
    })
}

fn cache_small() -> &'static (CacheProblem, f64) {
    static CELL: OnceLock<(CacheProblem, f64)> = OnceLock::new();
    CELL.get_or_init(|| {
        let p: CacheProblem = load::<Cache>("cache", "cache-small");
        let v = optimum::<Cache>(&p);
        (p, v)
    })
}

fn green_small() -> &'static (GreenProblem, f64) {
    static CELL: OnceLock<(GreenProblem, f64)> = OnceLock::new();
    CELL.get_or_init(|| {
        let p: GreenProblem = load::<Green>("green", "green-10j-2s-24t");
        let v = optimum::<Green>(&p);
        (p, v)
    })
}

/// Plans of `F` on `problem` from its fast presets.
fn preset_plans<F: Formulation>(problem: &F::Problem, presets: &[&str]) -> Vec<F::Plan> {
    presets
        .iter()
        .filter_map(|name| {
            F::solve(problem, &preset(name), &RunOptions::default())
                .ok()
                .and_then(|r| r.plan)
        })
        .collect()
}

fn alloc_plans() -> &'static [AllocPlan] {
    static CELL: OnceLock<Vec<AllocPlan>> = OnceLock::new();
    CELL.get_or_init(|| {
        let p = &alloc_small().0;
        preset_plans::<Alloc>(
            p,
            &[
                "local-search",
                "equal-split",
                "all-edge",
                "all-device",
                "fixed-cut",
            ],
        )
    })
}

fn green_plans() -> &'static [Schedule] {
    static CELL: OnceLock<Vec<Schedule>> = OnceLock::new();
    CELL.get_or_init(|| preset_plans::<Green>(&green_small().0, &["greedy", "asap"]))
}

/// A random schedule of `problem`: each server-slot idle or running a job at a level.
fn random_schedule(problem: &GreenProblem, picks: &[(bool, Index, Index)]) -> Schedule {
    let mut k = 0;
    let runs = problem
        .servers
        .iter()
        .map(|server| {
            (0..problem.slots())
                .map(|_| {
                    let (busy, job, level) = &picks[k % picks.len()];
                    k += 1;
                    busy.then(|| Run {
                        job: job.index(problem.jobs.len()),
                        level: level.index(server.levels.len()),
                    })
                })
                .collect()
        })
        .collect();
    Schedule { runs }
}

fn violations<F: Formulation>(problem: &F::Problem, plan: &F::Plan) -> usize {
    F::violations(&F::evaluate(problem, plan).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Scaling every time by `c` scales the latency of any plan (and a latency objective) by
    /// `c`.
    #[test]
    fn split_latency_scales_with_time(
        which in any::<Index>(),
        picks in prop::collection::vec(any::<Index>(), 1..8),
        log_c in -3.0f64..3.0,
    ) {
        let problem = which.get(split_instances());
        let plan = split_plan(problem, &picks);
        let c = 10f64.powf(log_c);
        let base = Split::evaluate(problem, &plan).unwrap();
        let scaled_problem = scale_times(problem, c);
        let scaled = Split::evaluate(&scaled_problem, &plan).unwrap();
        prop_assert!(
            close(scaled.latency_s, c * base.latency_s, TOL),
            "{}: latency {} x {c} = {}, scaled instance gives {}",
            problem.name, base.latency_s, c * base.latency_s, scaled.latency_s
        );
        let mut latency_problem = problem.clone();
        latency_problem.objective = edgeplan::chain::Objective::Latency;
        let mut latency_scaled = scaled_problem.clone();
        latency_scaled.objective = edgeplan::chain::Objective::Latency;
        let a = Split::objective(&Split::evaluate(&latency_problem, &plan).unwrap());
        let b = Split::objective(&Split::evaluate(&latency_scaled, &plan).unwrap());
        prop_assert!(close(b, c * a, TOL), "{}: objective {a} x {c} != {b}", problem.name);
    }

    /// Alloc: scaling every time by `c` (user and server devices and resource-block bandwidth
    /// slowed by `c`, round trips multiplied by it) scales every user's latency, and the
    /// latency objective, of any plan by `c`.
    #[test]
    fn alloc_latency_scales_with_time(
        which in any::<Index>(),
        log_c in -3.0f64..3.0,
    ) {
        let problem = &alloc_small().0;
        let plans = alloc_plans();
        prop_assume!(!plans.is_empty());
        let plan = which.get(plans);
        let c = 10f64.powf(log_c);
        let mut scaled = problem.clone();
        for u in scaled.users.iter_mut() {
            u.device.profile = None;
            u.device.device.peak_flops /= c;
            u.device.device.mem_bw_bytes_per_s /= c;
        }
        for s in scaled.servers.iter_mut() {
            s.device.peak_flops /= c;
            s.device.mem_bw_bytes_per_s /= c;
            s.rb_bandwidth_hz /= c;
            s.rtt_s *= c;
        }
        let mut base_problem = problem.clone();
        for u in base_problem.users.iter_mut() {
            u.device.profile = None;
        }
        let base = Alloc::evaluate(&base_problem, plan).unwrap();
        let ev = Alloc::evaluate(&scaled, plan).unwrap();
        for (k, (a, b)) in base.users.iter().zip(&ev.users).enumerate() {
            prop_assert!(
                close(b.latency_s, c * a.latency_s, TOL),
                "user {k}: latency {} x {c} = {}, scaled instance gives {}",
                a.latency_s, c * a.latency_s, b.latency_s
            );
        }
        prop_assert!(
            close(ev.objective, c * base.objective, TOL),
            "objective {} x {c} != {}", base.objective, ev.objective
        );
    }

    /// Cache: scaling every time by `c` (rates divided by it, on-device inference times and
    /// latency limits multiplied by it) leaves the hit ratio of any placement unchanged.
    #[test]
    fn cache_hit_ratio_ignores_time_unit(
        chosen in prop::collection::vec(prop::collection::vec(any::<bool>(), 6), 2),
        log_c in -3.0f64..3.0,
    ) {
        let problem = &cache_small().0;
        let placement: Vec<Vec<usize>> = (0..problem.servers.len())
            .map(|s| {
                (0..problem.models.len())
                    .filter(|&m| chosen[s % chosen.len()][m % 6])
                    .collect()
            })
            .collect();
        let plan = problem.plan(&placement);
        let c = 10f64.powf(log_c);
        let mut scaled = problem.clone();
        scaled.backhaul_bps = scaled.backhaul_bps.map(|b| b / c);
        for u in scaled.users.iter_mut() {
            for r in u.rate_bps.iter_mut() {
                *r /= c;
            }
            for t in u.inference_s.iter_mut().flatten() {
                *t *= c;
            }
            u.latency_limit_s *= c;
        }
        let a = Cache::evaluate(problem, &plan).unwrap().hit_ratio;
        let b = Cache::evaluate(&scaled, &plan).unwrap().hit_ratio;
        prop_assert!(close(a, b, 1e-9), "hit ratio {a} became {b} with times x{c}");
    }

    /// Split: tightening the deadline, energy budget and memories around a plan's use and then
    /// loosening them never adds a violation, and a feasible plan stays feasible.
    #[test]
    fn split_loosening_keeps_feasible(
        which in any::<Index>(),
        picks in prop::collection::vec(any::<Index>(), 1..8),
        contiguous in any::<Option<(Index, Index)>>(),
        tight in prop::array::uniform3(0.7f64..1.6),
        loose in prop::array::uniform3(1.0f64..10.0),
        drop_deadline in any::<bool>(),
    ) {
        let problem = which.get(split_instances());
        // A contiguous plan (cuts c1 <= c2) or any assignment.
        let plan = match contiguous {
            Some((a, b)) => {
                let n = problem.layers();
                let (c1, c2) = (a.index(n + 1), b.index(n + 1));
                SplitPlan::from_cuts(n, c1.min(c2), c1.max(c2))
            }
            None => split_plan(problem, &picks),
        };
        let ev = Split::evaluate(problem, &plan).unwrap();
        let mut tightened = problem.clone();
        tightened.deadline_s = Some(tight[0] * ev.latency_s);
        tightened.device_energy_budget_j = Some(tight[1] * ev.energy_j);
        for (i, tier) in tightened.tiers.iter_mut().enumerate() {
            if let Some(t) = tier {
                t.memory_bytes = tight[2] * ev.memory_bytes[i];
            }
        }
        let before = violations::<Split>(&tightened, &plan);
        let mut loosened = tightened.clone();
        loosened.deadline_s = if drop_deadline { None } else { Some(loose[0] * tight[0] * ev.latency_s) };
        loosened.device_energy_budget_j = Some(loose[1] * tight[1] * ev.energy_j);
        for t in loosened.tiers.iter_mut().flatten() {
            t.memory_bytes *= loose[2];
        }
        let after = violations::<Split>(&loosened, &plan);
        prop_assert!(after <= before, "{}: {before} violations became {after}", problem.name);
    }

    /// Alloc: deadlines, server memory, resource blocks and device memory, tightened around a
    /// plan's use and then loosened: never more violations.
    #[test]
    fn alloc_loosening_keeps_feasible(
        which in any::<Index>(),
        tight in prop::array::uniform4(0.5f64..1.5),
        loose in prop::array::uniform4(1.0f64..10.0),
    ) {
        let problem = &alloc_small().0;
        let plans = alloc_plans();
        prop_assume!(!plans.is_empty());
        let plan = which.get(plans);
        let ev = Alloc::evaluate(problem, plan).unwrap();
        let mut tightened = problem.clone();
        for (u, e) in tightened.users.iter_mut().zip(&ev.users) {
            u.deadline_s = Some(tight[0] * e.latency_s);
            u.device.memory_bytes *= tight[3];
        }
        for (s, used) in tightened.servers.iter_mut().zip(&ev.servers) {
            s.memory_bytes = tight[1] * used.memory_bytes;
            s.resource_blocks = (tight[2] * used.resource_blocks as f64).round() as usize;
        }
        let before = violations::<Alloc>(&tightened, plan);
        let mut loosened = tightened.clone();
        for u in loosened.users.iter_mut() {
            u.deadline_s = u.deadline_s.map(|d| d * loose[0]);
            u.device.memory_bytes *= loose[3];
        }
        for s in loosened.servers.iter_mut() {
            s.memory_bytes *= loose[1];
            s.resource_blocks = (loose[2] * s.resource_blocks as f64).ceil() as usize;
        }
        let after = violations::<Alloc>(&loosened, plan);
        prop_assert!(after <= before, "{before} violations became {after}");
    }

    /// Cache: a random placement within storage stays within it when storage grows, and its hit
    /// ratio does not fall when the users' latency limits grow.
    #[test]
    fn cache_loosening_keeps_feasible(
        chosen in prop::collection::vec(prop::collection::vec(any::<bool>(), 6), 2),
        tight in 0.3f64..1.5,
        loose in 1.0f64..10.0,
        limit in 1.0f64..10.0,
    ) {
        let problem = &cache_small().0;
        let placement: Vec<Vec<usize>> = problem
            .servers
            .iter()
            .enumerate()
            .map(|(s, _)| {
                (0..problem.models.len())
                    .filter(|&m| chosen[s % chosen.len()][m % 6])
                    .collect()
            })
            .collect();
        let plan = problem.plan(&placement);
        let mut tightened = problem.clone();
        for (s, server) in tightened.servers.iter_mut().enumerate() {
            server.storage_bytes = tight * problem.stored_bytes(&placement[s]).max(1.0);
        }
        let before = Cache::evaluate(&tightened, &plan).unwrap();
        let mut loosened = tightened.clone();
        for server in loosened.servers.iter_mut() {
            server.storage_bytes *= loose;
        }
        let after = Cache::evaluate(&loosened, &plan).unwrap();
        prop_assert!(
            Cache::violations(&after) <= Cache::violations(&before),
            "{:?} became {:?}", before.violations, after.violations
        );
        let mut relaxed = loosened.clone();
        for u in relaxed.users.iter_mut() {
            u.latency_limit_s *= limit;
        }
        let hits = Cache::evaluate(&relaxed, &plan).unwrap();
        prop_assert!(
            hits.hit_ratio >= after.hit_ratio - 1e-12,
            "hit ratio {} fell to {} with latency limits x{limit}", after.hit_ratio, hits.hit_ratio
        );
    }

    /// Green: later deadlines and more server memory never add a violation (plans of the
    /// heuristics and random schedules).
    #[test]
    fn green_loosening_keeps_feasible(
        which in any::<Index>(),
        random in any::<bool>(),
        picks in prop::collection::vec((any::<bool>(), any::<Index>(), any::<Index>()), 1..16),
        later in 0usize..6,
        memory in 1.0f64..4.0,
    ) {
        let problem = &green_small().0;
        let plans = green_plans();
        let schedule = if random || plans.is_empty() {
            random_schedule(problem, &picks)
        } else {
            which.get(plans).clone()
        };
        let before = violations::<Green>(problem, &schedule);
        let mut loosened = problem.clone();
        let slots = problem.slots();
        for j in loosened.jobs.iter_mut() {
            j.deadline = (j.deadline + later).min(slots);
        }
        for s in loosened.servers.iter_mut() {
            s.memory_bytes *= memory;
        }
        let after = violations::<Green>(&loosened, &schedule);
        prop_assert!(after <= before, "{before} violations became {after}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Alloc: reordering the users, or the servers (with every user's per-server channel), does
    /// not change the optimum.
    #[test]
    fn alloc_optimum_ignores_order(
        user_keys in prop::collection::vec(any::<u32>(), 5),
        server_keys in prop::collection::vec(any::<u32>(), 2),
    ) {
        let (problem, best) = alloc_small();
        let order = permutation(&user_keys, problem.users.len());
        let mut p = problem.clone();
        p.users = permute(&problem.users, &order);
        let v = optimum::<Alloc>(&p);
        prop_assert!(close(v, *best, 1e-6), "users {order:?}: optimum {v}, in file order {best}");

        let (problem, best) = alloc_two_servers();
        let order = permutation(&server_keys, problem.servers.len());
        let mut p = problem.clone();
        p.servers = permute(&problem.servers, &order);
        for u in p.users.iter_mut() {
            u.snr_up = permute(&u.snr_up, &order);
            u.snr_down = permute(&u.snr_down, &order);
        }
        let v = optimum::<Alloc>(&p);
        prop_assert!(close(v, *best, 1e-6), "servers {order:?}: optimum {v}, in file order {best}");
    }

    /// Cache: reordering the users, or the servers (with every user's per-server rate), does
    /// not change the optimal hit ratio.
    #[test]
    fn cache_optimum_ignores_order(
        user_keys in prop::collection::vec(any::<u32>(), 12),
        server_keys in prop::collection::vec(any::<u32>(), 2),
    ) {
        let (problem, best) = cache_small();
        let users = permutation(&user_keys, problem.users.len());
        let servers = permutation(&server_keys, problem.servers.len());
        let mut p = problem.clone();
        p.users = permute(&problem.users, &users);
        p.servers = permute(&problem.servers, &servers);
        for u in p.users.iter_mut() {
            u.rate_bps = permute(&u.rate_bps, &servers);
        }
        let v = optimum::<Cache>(&p);
        prop_assert!(
            close(v, *best, 1e-6),
            "users {users:?}, servers {servers:?}: optimum {v}, in file order {best}"
        );
    }

    /// Green: reordering the jobs or the servers does not change the optimum.
    #[test]
    fn green_optimum_ignores_order(
        job_keys in prop::collection::vec(any::<u32>(), 10),
        server_keys in prop::collection::vec(any::<u32>(), 2),
    ) {
        let (problem, best) = green_small();
        let jobs = permutation(&job_keys, problem.jobs.len());
        let servers = permutation(&server_keys, problem.servers.len());
        let mut p = problem.clone();
        p.jobs = permute(&problem.jobs, &jobs);
        p.servers = permute(&problem.servers, &servers);
        let v = optimum::<Green>(&p);
        prop_assert!(
            close(v, *best, 1e-6),
            "jobs {jobs:?}, servers {servers:?}: optimum {v}, in file order {best}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Loosening a limit never worsens the optimum HiGHS proves: more resource blocks (alloc),
    /// more storage (cache), later deadlines and more memory (green).
    #[test]
    fn loosening_never_worsens_the_optimum(
        blocks in 1.0f64..3.0,
        storage in 1.0f64..3.0,
        later in 1usize..4,
    ) {
        let (problem, best) = alloc_small();
        let mut p = problem.clone();
        for s in p.servers.iter_mut() {
            s.resource_blocks = (s.resource_blocks as f64 * blocks).ceil() as usize;
        }
        let v = optimum::<Alloc>(&p);
        prop_assert!(v <= best + 1e-6 * best.abs().max(1.0), "alloc: blocks x{blocks}: {best} -> {v}");

        let (problem, best) = cache_small();
        let mut p = problem.clone();
        for s in p.servers.iter_mut() {
            s.storage_bytes *= storage;
        }
        let v = optimum::<Cache>(&p);
        prop_assert!(v >= best - 1e-6, "cache: storage x{storage}: {best} -> {v}");

        let (problem, best) = green_small();
        let mut p = problem.clone();
        let slots = p.slots();
        for j in p.jobs.iter_mut() {
            j.deadline = (j.deadline + later).min(slots);
        }
        for s in p.servers.iter_mut() {
            s.memory_bytes *= 2.0;
        }
        let v = optimum::<Green>(&p);
        prop_assert!(v <= best + 1e-6 * best.abs().max(1.0), "green: deadlines +{later}: {best} -> {v}");
    }
}
