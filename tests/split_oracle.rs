//! The split MILP against exhaustive enumeration on seeded random instances, the enumeration
//! against brute force over every assignment, and every plan through the independent evaluator.

use edgeplan::problems::split::evaluate::evaluate;
use edgeplan::problems::split::generate::{random_problem, GenParams};
use edgeplan::problems::split::heuristics::{cut_plans, enumerate};
use edgeplan::problems::split::solve::solve;
use edgeplan::problems::split::{Coefficients, SplitPlan, Tier};
use edgeplan::solve::RunOptions;
use edgeplan::solve::{PrimalStatus, SolverPreset, Termination};

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn milp_equals_enumeration_on_600_random_instances() {
    let preset = SolverPreset::builtin("highs").unwrap();
    let (mut feasible, mut infeasible, mut finetune) = (0, 0, 0);
    for seed in 0..600u64 {
        let problem = random_problem(seed, &GenParams::default());
        if matches!(
            problem.workload,
            edgeplan::problems::split::Workload::Finetune { .. }
        ) {
            finetune += 1;
        }
        let coef = Coefficients::new(&problem);
        let best = enumerate(&problem, &coef);
        let report = solve(&problem, &preset, &RunOptions::default()).unwrap();
        match best {
            None => {
                infeasible += 1;
                assert_eq!(
                    report.stats.termination,
                    Termination::Infeasible,
                    "seed {seed}: enumeration finds no feasible plan, HiGHS says {:?}",
                    report.stats
                );
                assert!(
                    !report.explanation.is_empty(),
                    "seed {seed}: no explanation"
                );
            }
            Some(best) => {
                feasible += 1;
                assert_eq!(
                    report.stats.termination,
                    Termination::Optimal,
                    "seed {seed}"
                );
                assert_eq!(
                    report.stats.primal_status,
                    PrimalStatus::Feasible,
                    "seed {seed}: {:?}",
                    report.evaluation.as_ref().map(|e| &e.violations)
                );
                let ev = report.evaluation.as_ref().unwrap();
                assert!(ev.feasible(), "seed {seed}: {:?}", ev.violations);
                // The MILP's own objective, the evaluator's and the enumeration's agree.
                let milp = report.stats.objective.unwrap();
                assert!(
                    rel_diff(milp, best.objective) <= 1e-6,
                    "seed {seed}: MILP {milp} vs enumeration {}",
                    best.objective
                );
                assert!(
                    milp >= best.objective * (1.0 - 1e-6) - 1e-12,
                    "seed {seed}: the MILP beats the exact enumeration"
                );
                assert!(
                    rel_diff(ev.objective, milp) <= 1e-6,
                    "seed {seed}: evaluator {} vs MILP {milp}",
                    ev.objective
                );
                // The enumeration's plan also passes the evaluator with the same objective.
                let plan = SplitPlan::from_cuts(problem.layers(), best.c1, best.c2);
                let ev2 = evaluate(&problem, &plan).unwrap();
                assert!(ev2.feasible(), "seed {seed}: {:?}", ev2.violations);
                assert!(
                    rel_diff(ev2.objective, best.objective) <= 1e-9,
                    "seed {seed}"
                );
            }
        }
    }
    eprintln!("{feasible} feasible, {infeasible} infeasible, {finetune} fine-tuning");
    // The generator must exercise both outcomes and both workloads for the test to mean much.
    assert!(feasible >= 300, "only {feasible} feasible instances");
    assert!(infeasible >= 20, "only {infeasible} infeasible instances");
    assert!(finetune >= 100, "only {finetune} fine-tuning instances");
}

/// Coefficient-based prices of every contiguous plan equal the evaluator's simulation.
#[test]
fn cut_prices_match_the_evaluator() {
    for seed in 1000..1200u64 {
        let problem = random_problem(seed, &GenParams::default());
        let coef = Coefficients::new(&problem);
        for p in cut_plans(&problem, &coef) {
            let plan = SplitPlan::from_cuts(problem.layers(), p.c1, p.c2);
            let ev = evaluate(&problem, &plan).unwrap();
            assert!(
                rel_diff(ev.latency_s, p.latency_s) <= 1e-9,
                "seed {seed} cuts {:?}",
                (p.c1, p.c2)
            );
            assert!(
                rel_diff(ev.energy_j, p.energy_j) <= 1e-9,
                "seed {seed} cuts {:?}",
                (p.c1, p.c2)
            );
            for t in 0..3 {
                assert!(
                    rel_diff(ev.memory_bytes[t], p.memory[t]) <= 1e-9,
                    "seed {seed} tier {t}"
                );
            }
        }
    }
}

/// Brute force over all 3^n assignments (contiguous or not), judged by the evaluator alone: the
/// best feasible one is contiguous and equals the enumeration.
#[test]
fn enumeration_equals_brute_force_over_all_assignments() {
    let params = GenParams {
        blocks: Some(4),
        ..GenParams::default()
    };
    let mut checked = 0;
    for seed in 2000..2080u64 {
        let problem = random_problem(seed, &params);
        let n = problem.layers();
        let coef = Coefficients::new(&problem);
        let best = enumerate(&problem, &coef);
        let mut brute: Option<f64> = None;
        for code in 0..3usize.pow(n as u32) {
            let mut c = code;
            let assignment = (0..n)
                .map(|_| {
                    let t = Tier::ALL[c % 3];
                    c /= 3;
                    t
                })
                .collect();
            let ev = evaluate(&problem, &SplitPlan { assignment }).unwrap();
            if ev.feasible() {
                brute = Some(brute.map_or(ev.objective, |b: f64| b.min(ev.objective)));
            }
        }
        match (best, brute) {
            (None, None) => {}
            (Some(b), Some(f)) => {
                assert!(
                    rel_diff(b.objective, f) <= 1e-9,
                    "seed {seed}: {} vs {f}",
                    b.objective
                );
                checked += 1;
            }
            other => panic!("seed {seed}: enumeration and brute force disagree: {other:?}"),
        }
    }
    assert!(checked >= 40, "only {checked} feasible instances checked");
}

#[test]
fn baselines_are_never_better_than_the_milp() {
    let highs = SolverPreset::builtin("highs").unwrap();
    for seed in 3000..3100u64 {
        let problem = random_problem(seed, &GenParams::default());
        let exact = solve(&problem, &highs, &RunOptions::default()).unwrap();
        for name in ["all-device", "all-edge", "all-cloud"] {
            let preset = SolverPreset::builtin(name).unwrap();
            let r = solve(&problem, &preset, &RunOptions::default()).unwrap();
            let ev = r.evaluation.unwrap();
            if ev.feasible() {
                let best = exact
                    .stats
                    .objective
                    .expect("a feasible baseline means the MILP is feasible");
                assert!(ev.objective >= best * (1.0 - 1e-6), "seed {seed} {name}");
            } else {
                assert_eq!(r.stats.primal_status, PrimalStatus::Infeasible);
            }
        }
    }
}
