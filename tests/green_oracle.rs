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

/// The greedy (exact single-job placement, joint pair re-placement) is within 5% of the
/// optimum on every tiny instance where both have a schedule (issue 19's bar); on 300 seeds it
/// is at the optimum on all of them. Seeds where it finds none while a schedule exists are
/// counted and kept rare.
#[test]
fn greedy_is_within_5_percent_of_brute_force() {
    let (mut compared, mut missed) = (0, 0);
    for seed in 0..300 {
        let problem = tiny(seed);
        let Some(best) = green_brute_force(&problem) else {
            continue;
        };
        let report = solve(&problem, &preset("greedy")).unwrap();
        let Some(value) = report.stats.objective else {
            missed += 1;
            continue;
        };
        compared += 1;
        assert!(
            value <= best * 1.05 + 1e-9,
            "seed {seed}: greedy {value} vs optimum {best}"
        );
    }
    assert!(compared >= 120, "only {compared} instances compared");
    assert!(
        missed <= 3,
        "the greedy found no schedule on {missed} feasible instances"
    );
}

/// The pricing programme of the column generation is exact: with one job and zero slot
/// prices, its cheapest column plus the empty servers' cost is the brute-force optimum.
#[test]
fn pricing_equals_brute_force_for_one_job() {
    use edgeplan::problems::green::columns::{Costs, Pricing};
    use edgeplan::problems::green::model::objective_scale;
    let mut checked = 0;
    for seed in 0..80 {
        let mut problem = tiny(seed);
        problem.jobs.truncate(1);
        let optimum = green_brute_force(&problem);
        let costs = Costs::new(&problem);
        let pricing = Pricing::new(&problem, &costs);
        let zero = vec![vec![0.0; problem.slots()]; problem.servers.len()];
        let found = pricing
            .best_in(0, &zero, &|_, _| true, f64::INFINITY)
            .unwrap();
        let scale = objective_scale(&problem);
        match (optimum, found.first()) {
            (None, None) => {}
            (Some(best), Some((priced, column))) => {
                checked += 1;
                let value = (priced + costs.constant) * scale;
                assert!(
                    (value - best).abs() <= 1e-9 * best.abs().max(1e-9),
                    "seed {seed}: pricing {value} vs brute force {best}"
                );
                let schedule = edgeplan::problems::green::columns::schedule_of(&problem, &[column]);
                assert!(evaluate(&problem, &schedule).feasible(), "seed {seed}");
            }
            (a, b) => panic!(
                "seed {seed}: brute force {a:?} vs pricing {:?}",
                b.map(|f| f.0)
            ),
        }
    }
    assert!(checked >= 50, "only {checked} feasible");
}

/// Every column of job `j` of `problem`: per cell group (a server it fits, or all of them with
/// migration) every choice of a level or nothing per slot of its window that does its work.
fn every_column(
    problem: &GreenProblem,
    j: usize,
) -> Vec<edgeplan::problems::green::columns::Column> {
    use edgeplan::problems::green::columns::{Column, Costs};
    let costs = Costs::new(problem);
    let job = &problem.jobs[j];
    let window: Vec<usize> = (job.release..job.deadline.min(problem.slots())).collect();
    let hosts: Vec<usize> = (0..problem.servers.len())
        .filter(|&m| problem.fits(j, m))
        .collect();
    let groups: Vec<Vec<(usize, usize)>> = if problem.migration {
        vec![hosts
            .iter()
            .flat_map(|&m| window.iter().map(move |&t| (m, t)))
            .collect()]
    } else {
        hosts
            .iter()
            .map(|&m| window.iter().map(|&t| (m, t)).collect())
            .collect()
    };
    let mut out = Vec::new();
    for cells in groups {
        // Each cell: nothing (0) or level l (l + 1).
        let options: Vec<usize> = cells
            .iter()
            .map(|&(m, _)| problem.servers[m].levels.len() + 1)
            .collect();
        let total: usize = options.iter().product();
        for mut code in 0..total {
            let mut runs = Vec::new();
            for (k, &(m, t)) in cells.iter().enumerate() {
                let pick = code % options[k];
                code /= options[k];
                if pick > 0 {
                    runs.push((m, t, pick - 1));
                }
            }
            let work: f64 = runs
                .iter()
                .map(|&(m, _, l)| problem.slot_work(m, l) / job.work_flop)
                .sum();
            if work >= 1.0 - 1e-9 {
                let cost = runs.iter().map(|&(m, t, l)| costs.run[m][t][l]).sum();
                out.push(Column { job: j, runs, cost });
            }
        }
    }
    out
}

/// The pricing programme with cuts' penalties ([`CutPrices`]: the parity of each cut's count in
/// its states) is exact: on one job of each tiny instance, with random slot prices and random
/// cuts on three or five rows (the job's row among them or not) with random penalties, its
/// cheapest priced column equals the least over every column of its cost, less its slots'
/// prices, plus each cut's penalty times its coefficient.
#[test]
fn pricing_with_cuts_equals_brute_force() {
    use edgeplan::problems::green::columns::{Costs, CutPrices, Pricing};
    use edgeplan::problems::green::cuts::Cut;
    let mut checked = 0;
    for seed in 0..80 {
        let problem = tiny(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
        let costs = Costs::new(&problem);
        let pricing = Pricing::new(&problem, &costs);
        let cells: Vec<(usize, usize)> = (0..problem.servers.len())
            .flat_map(|m| (0..problem.slots()).map(move |t| (m, t)))
            .collect();
        for j in 0..problem.jobs.len() {
            let columns = every_column(&problem, j);
            let pi: Vec<Vec<f64>> = (0..problem.servers.len())
                .map(|_| {
                    (0..problem.slots())
                        .map(|_| -rng.gen_range(0.0..0.5))
                        .collect()
                })
                .collect();
            let cuts: Vec<Cut> = (0..rng.gen_range(1..=6))
                .map(|_| {
                    let size = if rng.gen_bool(0.5) { 3 } else { 5 };
                    let with_job = rng.gen_bool(0.4);
                    let mut chosen: Vec<(usize, usize)> = Vec::new();
                    while chosen.len() + usize::from(with_job) < size.min(cells.len() + 1) {
                        let c = cells[rng.gen_range(0..cells.len())];
                        if !chosen.contains(&c) {
                            chosen.push(c);
                        }
                        if chosen.len() == cells.len() {
                            break;
                        }
                    }
                    chosen.sort_unstable();
                    Cut {
                        jobs: if with_job { vec![j] } else { Vec::new() },
                        cells: chosen,
                    }
                })
                .collect();
            let penalty: Vec<f64> = cuts.iter().map(|_| rng.gen_range(0.0..0.4)).collect();
            let priced = |c: &edgeplan::problems::green::columns::Column| {
                c.cost - c.runs.iter().map(|&(m, t, _)| pi[m][t]).sum::<f64>()
                    + cuts
                        .iter()
                        .zip(&penalty)
                        .map(|(cut, p)| p * cut.coefficient(c) as f64)
                        .sum::<f64>()
            };
            let brute = columns.iter().map(priced).fold(f64::INFINITY, f64::min);
            let prices = CutPrices {
                cuts: &cuts,
                penalty: &penalty,
            };
            let found = pricing
                .best_with_cuts(j, &pi, &|_, _| true, Some(prices), f64::INFINITY)
                .unwrap();
            match found.first() {
                None => assert!(brute.is_infinite(), "seed {seed} job {j}: no column found"),
                Some((value, column)) => {
                    checked += 1;
                    assert!(
                        (value - brute).abs() <= 1e-9 * brute.abs().max(1.0),
                        "seed {seed} job {j}: pricing {value} vs brute force {brute}"
                    );
                    assert!(
                        (priced(column) - value).abs() <= 1e-9 * brute.abs().max(1.0),
                        "seed {seed} job {j}: the column's priced cost is not the value"
                    );
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} jobs with a column");
}

/// The column generation over every job of `problem`, without a time or round limit, the costs
/// it priced and its columns.
fn full_generation(
    problem: &GreenProblem,
) -> (
    edgeplan::problems::green::columns::Costs,
    edgeplan::problems::green::columns::Generated,
    Vec<edgeplan::problems::green::columns::Column>,
) {
    use edgeplan::problems::green::columns::{generate, Costs, Fixed};
    let costs = Costs::new(problem);
    let mut pool = Vec::new();
    let generated = generate(
        problem,
        &costs,
        &mut pool,
        &Fixed::none(problem),
        None,
        usize::MAX,
        &[],
        false,
    )
    .unwrap();
    (costs, generated, pool)
}

/// The column generation's bound is valid and at least as strong as the time-indexed MILP's
/// LP relaxation: LP <= bound <= optimum on tiny instances.
#[test]
fn column_generation_bound_lies_between_lp_and_optimum() {
    use edgeplan::problems::green::model::build;
    use edgeplan::solve::milp::MipOptions;
    let mut stronger = 0;
    let mut checked = 0;
    for seed in 0..60 {
        let problem = tiny(seed);
        let Some(best) = green_brute_force(&problem) else {
            continue;
        };
        let (_, generated, _) = full_generation(&problem);
        assert!(generated.converged, "seed {seed}");
        let model = build(&problem);
        let scale = model.objective_scale;
        let lp = model
            .milp
            .minimise_relaxation(model.objective, &MipOptions::default())
            .unwrap()
            .objective
            .unwrap()
            * scale;
        let bound = generated.bound * scale;
        let tol = 1e-6 * best.abs().max(1e-9);
        assert!(
            bound <= best + tol,
            "seed {seed}: bound {bound} above optimum {best}"
        );
        assert!(
            bound >= lp - tol,
            "seed {seed}: bound {bound} below the LP's {lp}"
        );
        checked += 1;
        if bound > lp + tol {
            stronger += 1;
        }
    }
    assert!(checked >= 25);
    assert!(
        stronger >= 5,
        "the bound beat the LP on only {stronger} instances"
    );
}

/// A generated day-long instance at load 0.25 (the benchmark's shape).
fn day(jobs: usize, slots: usize, servers: usize, seed: u64) -> GreenProblem {
    use edgeplan::instance::green::generate::{generate, GenParams};
    let params = GenParams {
        jobs,
        servers,
        slots,
        slot_s: 86_400.0 / slots as f64,
        seed,
        load: 0.25,
        ..GenParams::default()
    };
    generate(&params, std::path::Path::new("instances")).unwrap()
}

/// The rank-1 cuts on the master (`problems::green::cuts`) give a valid bound at least the
/// Dantzig-Wolfe one: on the tiny instances it stays at most the brute-force optimum, and on
/// generated medium instances at most the optimum of the time-indexed MILP alone (solved by
/// HiGHS without the column generation), and above the Dantzig-Wolfe bound on some.
#[test]
fn cuts_raise_the_bound_but_never_past_the_optimum() {
    use edgeplan::problems::green::cuts::strengthen;
    use edgeplan::problems::green::model::{build, objective_scale};
    use edgeplan::solve::milp::MipOptions;
    // (name, problem, optimum)
    let mut cases: Vec<(String, GreenProblem, f64)> = Vec::new();
    for seed in 0..60 {
        let problem = tiny(seed);
        if let Some(best) = green_brute_force(&problem) {
            cases.push((format!("tiny {seed}"), problem, best));
        }
    }
    for (jobs, slots, servers, seed) in MEDIUM_CUT_CASES {
        let problem = day(jobs, slots, servers, seed);
        let model = build(&problem);
        let plain = model
            .milp
            .minimise(model.objective, &MipOptions::default())
            .unwrap();
        assert_eq!(plain.termination, Termination::Optimal, "seed {seed}");
        let optimum = plain.objective.unwrap() * model.objective_scale;
        cases.push((
            format!("{jobs}x{slots}x{servers} seed {seed}"),
            problem,
            optimum,
        ));
    }
    let mut raised = 0;
    for (name, problem, optimum) in &cases {
        let scale = objective_scale(problem);
        let (costs, generated, mut pool) = full_generation(problem);
        assert!(generated.converged, "{name}");
        let dw = generated.bound * scale;
        let (bound, cuts) = strengthen(problem, &costs, &mut pool, &generated.lp, None);
        let Some(bound) = bound.map(|b| b * scale) else {
            assert!(cuts.is_empty(), "{name}: cuts but no bound");
            continue;
        };
        let tol = 1e-6 * optimum.abs().max(1e-9);
        assert!(
            bound <= optimum + tol,
            "{name}: bound with {} cuts {bound} above the optimum {optimum}",
            cuts.len()
        );
        if !name.starts_with("tiny") {
            // The figures of docs/green.md (`-- --nocapture`).
            eprintln!(
                "{name}: Dantzig-Wolfe {dw:.3}, with {} cuts {bound:.3}, optimum {optimum:.3}",
                cuts.len()
            );
            if bound > dw + 1e-3 * (optimum - dw).abs().max(tol) {
                raised += 1;
            }
        }
    }
    // 2026-12-03: 245.90 -> 247.525 (optimum 247.525), 892.98 -> 973.10 (973.10), 353.88 ->
    // 354.46 (355.94), 1102.38 -> 1105.57 (1106.50).
    assert!(
        raised >= 3,
        "the cuts raised the bound of {raised} of {} medium instances",
        MEDIUM_CUT_CASES.len()
    );
}

/// Generated medium instances (jobs, slots, servers, seed) of the cut test, contended enough
/// for the Dantzig-Wolfe LP to be fractional, small enough for the time-indexed MILP alone.
const MEDIUM_CUT_CASES: [(usize, usize, usize, u64); 4] = [
    (20, 48, 2, 4),
    (25, 48, 3, 6),
    (30, 48, 3, 3),
    (30, 48, 5, 4),
];

/// Lagrangian fixing (`problems::green::fixing`) at the column generation's prices: on the tiny
/// instances, against a known schedule 5% or 50% above the optimum, no feasible schedule cheaper
/// than it uses a run the fixing removes (every schedule enumerated), its bound lies between the
/// column generation's and the optimum, and it removes runs on some instances.
#[test]
fn lagrangian_fixing_keeps_every_cheaper_schedule() {
    use edgeplan::problems::green::fixing::fixing;
    use edgeplan::problems::green::model::objective_scale;
    let (mut checked, mut removed) = (0, 0);
    for seed in 0..60 {
        let problem = tiny(seed);
        let Some(best) = green_brute_force(&problem) else {
            continue;
        };
        let (costs, generated, _) = full_generation(&problem);
        let scale = objective_scale(&problem);
        let tol = 1e-6 * best.abs().max(1e-9);
        for above in [1.05, 1.5] {
            let incumbent = best * above;
            let Some(fixed) = fixing(&problem, &costs, &generated.prices, incumbent / scale) else {
                continue;
            };
            let bound = fixed.bound * scale;
            assert!(
                bound <= best + tol,
                "seed {seed}: bound {bound} above {best}"
            );
            assert!(
                bound >= generated.bound * scale - tol,
                "seed {seed}: bound {bound} below the column generation's"
            );
            removed += fixed.removed.len();
            checked += 1;
            common::oracles::green_schedules(&problem, &mut |schedule, value| {
                if value >= incumbent - tol {
                    return;
                }
                for (m, row) in schedule.runs.iter().enumerate() {
                    for (t, run) in row.iter().enumerate() {
                        if let Some(run) = run {
                            assert!(
                                !fixed.removed.contains(&(run.job, m, t, run.level)),
                                "seed {seed}: a schedule of {value} (< {incumbent}) runs job {} \
                                 on server {m} in slot {t} at level {}, which was removed",
                                run.job,
                                run.level
                            );
                        }
                    }
                }
            });
        }
    }
    assert!(checked >= 50, "only {checked} fixings checked");
    assert!(
        removed >= 20,
        "the fixing removed only {removed} runs in all"
    );
}

/// On medium generated instances the exact solve (column generation, dive, restricted master,
/// then Lagrangian fixing and the time-indexed MILP) reaches the optimum of the time-indexed
/// MILP alone.
#[test]
fn exact_solve_equals_the_time_indexed_milp_on_medium_instances() {
    use edgeplan::instance::green::generate::{generate, GenParams};
    use edgeplan::problems::green::model::build;
    use edgeplan::solve::milp::MipOptions;
    for (jobs, slots, servers, seed) in [(8, 24, 2, 1), (10, 24, 2, 2), (12, 24, 3, 3)] {
        let params = GenParams {
            jobs,
            servers,
            slots,
            slot_s: 3600.0,
            seed,
            load: 0.4,
            ..GenParams::default()
        };
        let problem = generate(&params, std::path::Path::new("instances")).unwrap();
        let model = build(&problem);
        let scale = model.objective_scale;
        let plain = model
            .milp
            .minimise(model.objective, &MipOptions::default())
            .unwrap();
        assert_eq!(plain.termination, Termination::Optimal);
        let expected = plain.objective.unwrap() * scale;
        let report = solve(&problem, &preset("highs")).unwrap();
        assert_eq!(
            report.stats.termination,
            Termination::Optimal,
            "seed {seed}"
        );
        let value = report.stats.objective.unwrap();
        assert!(
            (value - expected).abs() <= 1e-6 * expected.abs().max(1e-9),
            "{jobs}x{slots}x{servers} seed {seed}: {value} vs time-indexed {expected}"
        );
    }
}

/// The greedy within 5% of the proven optimum on contended medium instances (jobs competing for
/// the clean slots of a few servers): the shipped day, and generated ones where the greedy
/// without Lagrangian prices was 3.6-11% above.
#[test]
fn greedy_is_within_5_percent_of_the_optimum_on_medium_instances() {
    let mut problems = vec![(
        "green-day".to_string(),
        edgeplan::instance::green::load("instances/green/green-day.toml".as_ref()).unwrap(),
    )];
    for (jobs, slots, servers, seed) in [(50, 48, 5, 2), (30, 48, 5, 4)] {
        let problem = day(jobs, slots, servers, seed);
        problems.push((format!("{jobs}x{slots}x{servers} seed {seed}"), problem));
    }
    for (name, problem) in problems {
        let exact = solve(&problem, &preset("highs")).unwrap();
        assert_eq!(exact.stats.termination, Termination::Optimal, "{name}");
        let optimum = exact.stats.objective.unwrap();
        let greedy = solve(&problem, &preset("greedy")).unwrap();
        let value = greedy.stats.objective.unwrap();
        assert!(greedy.evaluation.unwrap().feasible(), "{name}");
        assert!(
            value >= optimum * (1.0 - 1e-9),
            "{name}: {value} below {optimum}"
        );
        assert!(
            value <= 1.05 * optimum,
            "{name}: greedy {value} is {:.1}% above the optimum {optimum}",
            100.0 * (value / optimum - 1.0)
        );
    }
}

/// The neighbourhood search (`problems::green::neighbourhood`) from the greedy's schedule: on
/// the tiny instances it never returns a worse or infeasible schedule, nor one below brute
/// force; on a generated medium instance where the greedy is above the proven optimum it lowers
/// the carbon within 30 rounds, and stays at or above the optimum.
#[test]
fn neighbourhood_search_improves_the_greedy_and_never_passes_the_optimum() {
    use edgeplan::instance::green::generate::{generate, GenParams};
    use edgeplan::problems::green::columns::Costs;
    use edgeplan::problems::green::heuristics::greedy;
    use edgeplan::problems::green::neighbourhood::{search, Limits};
    use edgeplan::solve::milp::MipOptions;
    let run = |problem: &GreenProblem, start| {
        let objective = |s: &edgeplan::problems::green::Schedule| {
            let ev = evaluate(problem, s);
            if ev.feasible() {
                ev.objective
            } else {
                f64::INFINITY
            }
        };
        let limits = Limits {
            time_s: None,
            rounds: 30,
            stall: usize::MAX,
            done: &|_| false,
        };
        let costs = Costs::new(problem);
        let found = search(
            problem,
            &costs,
            &mut Vec::new(),
            start,
            &objective,
            limits,
            &MipOptions::default(),
        );
        let ev = evaluate(problem, &found);
        assert!(ev.feasible(), "{}", problem.name);
        ev.objective
    };
    let mut checked = 0;
    for seed in 0..60 {
        let problem = tiny(seed);
        let (Some(best), Some(start)) = (green_brute_force(&problem), greedy(&problem)) else {
            continue;
        };
        let from = evaluate(&problem, &start).objective;
        let value = run(&problem, start);
        let tol = 1e-6 * best.abs().max(1e-9);
        assert!(
            value <= from + tol,
            "seed {seed}: {value} above the start {from}"
        );
        assert!(
            value >= best - tol,
            "seed {seed}: {value} below brute force {best}"
        );
        checked += 1;
    }
    assert!(checked >= 25);
    let params = GenParams {
        jobs: 50,
        servers: 5,
        slots: 48,
        slot_s: 1800.0,
        seed: 1,
        load: 0.25,
        ..GenParams::default()
    };
    let problem = generate(&params, std::path::Path::new("instances")).unwrap();
    let start = greedy(&problem).unwrap();
    let from = evaluate(&problem, &start).objective;
    let value = run(&problem, start);
    let exact = solve(&problem, &preset("highs")).unwrap();
    assert_eq!(exact.stats.termination, Termination::Optimal);
    let optimum = exact.stats.objective.unwrap();
    assert!(
        value < from * (1.0 - 1e-4),
        "the search left the greedy's {from} at {value} (optimum {optimum})"
    );
    assert!(
        value >= optimum * (1.0 - 1e-9),
        "{value} below the optimum {optimum}"
    );
}
