//! The green-scheduling MILP against brute force on tiny instances (every assignment of a job
//! and level, or nothing, to every server slot, scored by the independent evaluator), and the
//! greedy and ASAP baseline against the MILP.

use edgeplan::problems::green::evaluate::evaluate;
use edgeplan::problems::green::solve::solve;
use edgeplan::problems::green::{GreenObjective, GreenProblem, GreenServer, Job, Level, Run};
use edgeplan::solve::{PrimalStatus, Termination};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

use common::oracles::green_brute_force;

use common::preset;

fn tiny(seed: u64) -> GreenProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let servers = rng.gen_range(1..=2);
    let slots = if servers == 2 {
        4
    } else {
        rng.gen_range(3..=5)
    };
    let jobs = if servers == 2 {
        2
    } else {
        rng.gen_range(2..=3)
    };
    let slot_s = 900.0;
    let servers: Vec<GreenServer> = (0..servers)
        .map(|m| {
            let levels = rng.gen_range(1..=2);
            let base_speed = rng.gen_range(5e12..2e13);
            let base_power = rng.gen_range(60.0..200.0);
            GreenServer {
                name: format!("s{m}"),
                levels: (0..levels)
                    .map(|l| Level {
                        speed_flops: base_speed * (1.0 + 0.6 * l as f64),
                        // Faster levels cost superlinearly more power (DVFS).
                        power_w: base_power * (1.0 + 0.6 * l as f64).powf(2.2),
                    })
                    .collect(),
                idle_w: rng.gen_range(20.0..50.0),
                can_sleep: rng.gen_bool(0.5),
                memory_bytes: rng.gen_range(8e9..32e9),
                renewable_w: (0..slots)
                    .map(|_| {
                        if rng.gen_bool(0.5) {
                            rng.gen_range(0.0..300.0)
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let top = servers
        .iter()
        .map(|s| s.levels.last().unwrap().speed_flops)
        .fold(0.0, f64::max);
    let jobs = (0..jobs)
        .map(|j| {
            let release = rng.gen_range(0..slots - 2);
            let deadline = rng.gen_range((release + 2).min(slots)..=slots);
            Job {
                name: format!("j{j}"),
                work_flop: top * slot_s * rng.gen_range(0.3..1.6),
                memory_bytes: rng.gen_range(2e9..12e9),
                release,
                deadline,
            }
        })
        .collect();
    GreenProblem {
        name: format!("tiny-{seed}"),
        slot_s,
        carbon_g_per_kwh: (0..slots).map(|_| rng.gen_range(50.0..600.0)).collect(),
        price_per_kwh: (0..slots).map(|_| rng.gen_range(0.05..0.4)).collect(),
        servers,
        jobs,
        migration: rng.gen_bool(0.3),
        objective: [
            GreenObjective::Carbon,
            GreenObjective::Energy,
            GreenObjective::Cost,
        ][rng.gen_range(0..3)],
    }
}

/// 60 random tiny instances (1-2 servers with 1-2 DVFS levels, 2-3 jobs, 3-5 slots, renewable
/// supply, sleeping or idling servers, with and without migration, all three objectives): the
/// MILP's optimum equals brute force, infeasibility agrees, the greedy is never better and is
/// feasible whenever it returns a schedule, and so is ASAP when it meets every deadline.
#[test]
fn milp_equals_brute_force_on_tiny_instances() {
    let mut feasible = 0;
    for seed in 0..60 {
        let problem = tiny(seed);
        let optimum = green_brute_force(&problem);
        let exact = solve(&problem, &preset("highs")).unwrap();
        match optimum {
            None => {
                assert_eq!(
                    exact.stats.termination,
                    Termination::Infeasible,
                    "seed {seed}"
                );
                assert!(!exact.explanation.is_empty());
                continue;
            }
            Some(best) => {
                feasible += 1;
                assert_eq!(exact.stats.termination, Termination::Optimal, "seed {seed}");
                assert_eq!(
                    exact.stats.primal_status,
                    PrimalStatus::Feasible,
                    "seed {seed}"
                );
                let value = exact.stats.objective.unwrap();
                // The MILP's own optimum (its bound) is the evaluator's value of its schedule.
                let bound = exact.stats.bound.unwrap();
                assert!(
                    (bound - value).abs() <= 1e-6 * value.abs().max(1e-6),
                    "seed {seed}: MILP bound {bound} vs evaluated {value}"
                );
                assert!(
                    (value - best).abs() <= 1e-7 * best.abs().max(1e-9),
                    "seed {seed}: MILP {value} vs brute force {best}"
                );
                for name in ["greedy", "asap"] {
                    let report = solve(&problem, &preset(name)).unwrap();
                    if report.stats.primal_status == PrimalStatus::Feasible {
                        let v = report.stats.objective.unwrap();
                        assert!(
                            v >= best - 1e-7 * best.abs().max(1e-9),
                            "seed {seed} {name}"
                        );
                    }
                }
            }
        }
    }
    assert!(
        feasible >= 25,
        "only {feasible} feasible instances: the test is too easy to pass"
    );
}

/// A worked example: one server without renewables that may sleep, one level of 1e13 FLOP/s at
/// 200 W, 15-minute slots, carbon 500, 100, 300 gCO2/kWh, one job of 9e15 FLOP (one slot) due by
/// slot 3. One slot draws 200 W x 900 s = 0.05 kWh: 25 g in slot 0, 5 g in slot 1, 15 g in
/// slot 2. The MILP and the greedy pick slot 1 (5 g); ASAP runs in slot 0 (25 g).
#[test]
fn worked_example_runs_in_the_cleanest_slot() {
    let problem = GreenProblem {
        name: "worked".into(),
        slot_s: 900.0,
        carbon_g_per_kwh: vec![500.0, 100.0, 300.0],
        price_per_kwh: vec![0.1, 0.1, 0.1],
        servers: vec![GreenServer {
            name: "s0".into(),
            levels: vec![Level {
                speed_flops: 1e13,
                power_w: 200.0,
            }],
            idle_w: 50.0,
            can_sleep: true,
            memory_bytes: 16e9,
            renewable_w: vec![0.0; 3],
        }],
        jobs: vec![Job {
            name: "j".into(),
            work_flop: 9e15,
            memory_bytes: 1e9,
            release: 0,
            deadline: 3,
        }],
        migration: false,
        objective: GreenObjective::Carbon,
    };
    for (name, expected, slot) in [("highs", 5.0, 1), ("greedy", 5.0, 1), ("asap", 25.0, 0)] {
        let report = solve(&problem, &preset(name)).unwrap();
        let carbon = report.stats.objective.unwrap();
        assert!((carbon - expected).abs() < 1e-9, "{name}: {carbon}");
        let schedule = report.plan.unwrap();
        assert_eq!(
            schedule.runs[0][slot],
            Some(Run { job: 0, level: 0 }),
            "{name}"
        );
    }
    // Renewable supply of 200 W in slot 0 makes it free.
    let mut sunny = problem.clone();
    sunny.servers[0].renewable_w[0] = 200.0;
    let report = solve(&sunny, &preset("highs")).unwrap();
    assert!(report.stats.objective.unwrap().abs() < 1e-12);
    // A deadline of slot 1 with work for two slots is explained.
    let mut late = problem;
    late.jobs[0].work_flop = 1.8e16;
    late.jobs[0].deadline = 1;
    let report = solve(&late, &preset("highs")).unwrap();
    assert_eq!(report.stats.termination, Termination::Infeasible);
    assert!(
        report.explanation[0].starts_with("job j: needs 1.8000e16 FLOP"),
        "{:?}",
        report.explanation
    );
}

/// A problem built in code with a short renewable series is refused with a message, not a panic.
#[test]
fn malformed_problems_are_refused() {
    let mut problem = tiny(1);
    problem.servers[0].renewable_w.pop();
    let err = solve(&problem, &preset("greedy")).unwrap_err().to_string();
    assert!(err.contains("renewable values for"), "{err}");
}

/// Whenever the as-soon-as-possible schedule meets every deadline, the greedy returns a feasible
/// schedule too (it falls back to improving ASAP's when its own orders find no room), and then
/// never more carbon than ASAP. Generated day-long instances with tight to loose deadlines;
/// seed 6 at slack 1 is one where both greedy orders fail.
#[test]
fn greedy_finds_a_schedule_whenever_asap_meets_the_deadlines() {
    use edgeplan::instance::green::generate::{generate, GenParams};
    use edgeplan::problems::green::heuristics::{asap, greedy};
    let instances = common::instances();
    let mut asap_feasible = 0;
    for seed in 0..10 {
        for slack in [0.5, 0.75, 1.0] {
            let params = GenParams {
                jobs: 10,
                servers: 2,
                slots: 24,
                load: 0.25,
                deadline_slack: slack,
                seed,
                ..GenParams::default()
            };
            let problem = generate(&params, &instances).unwrap();
            let baseline = evaluate(&problem, &asap(&problem));
            if !baseline.feasible() {
                continue;
            }
            asap_feasible += 1;
            let schedule = greedy(&problem).unwrap_or_else(|| panic!("seed {seed} slack {slack}"));
            let ev = evaluate(&problem, &schedule);
            assert!(
                ev.feasible(),
                "seed {seed} slack {slack}: {:?}",
                ev.violations
            );
            assert!(
                ev.objective <= baseline.objective * (1.0 + 1e-9),
                "seed {seed} slack {slack}"
            );
        }
    }
    assert!(asap_feasible >= 15, "{asap_feasible}");
}
