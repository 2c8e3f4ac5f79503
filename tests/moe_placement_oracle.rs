//! The expert placement MILP against brute force (`placement::enumerate`) on seeded random small
//! instances, both objectives: the same optimum (relative 1e-6), plans that fit, the same verdict
//! on infeasible instances, and the heuristic and baselines never better than the optimum.
//!
//! Latency: enumerate visits every assignment of each expert to one node. Throughput: enumerate
//! visits every maximal replica configuration (a product of each node's maximal sets of experts)
//! and solves the share LP of each, so replication and shares are both exercised; instances are
//! kept to at most 6 experts in all so that the configurations stay few. Some instances copy a
//! node so that two nodes are interchangeable (the MILP's symmetry rows are then active), and a
//! third of the MILP solves start from the greedy plan.

use std::path::Path;

use edgeplan::costs::device::DeviceCatalog;
use edgeplan::problems::moe::placement::{enumerate, greedy, layer_wise, milp, round_robin};
use edgeplan::problems::moe::price::Prices;
use edgeplan::problems::moe::score;
use edgeplan::problems::moe::testing::{random_problem, Shape};
use edgeplan::problems::moe::{MoePlan, MoeProblem, Objective, Task};
use edgeplan::solve::{MipOptions, Termination};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INSTANCES: u64 = 600;

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

fn shares_ok(plan: &MoePlan) -> bool {
    plan.experts.iter().flatten().all(|replicas| {
        !replicas.is_empty()
            && replicas.iter().all(|r| r.share > 0.0 && r.share <= 1.0)
            && (replicas.iter().map(|r| r.share).sum::<f64>() - 1.0).abs() <= 1e-12
    })
}

/// A random small instance for `seed`, and whether two of its nodes are interchangeable.
fn instance(catalog: &DeviceCatalog, seed: u64) -> (MoeProblem, bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let objective = if seed.is_multiple_of(2) {
        Objective::Latency
    } else {
        Objective::Throughput
    };
    let layers = rng.gen_range(1..=2);
    let max_experts = match (objective, layers) {
        (Objective::Throughput, 2) => 3,
        _ => 5,
    };
    let experts = rng.gen_range(3..=max_experts);
    let shape = Shape {
        layers,
        experts,
        top_k: rng.gen_range(1..=2),
        nodes: rng.gen_range(2..=3),
        skew: [0.0, 0.8, 1.5, 3.0][rng.gen_range(0..4)],
        tokens: rng.gen_range(5..=200),
    };
    let mut problem = random_problem(catalog, Task::Placement, objective, shape, seed);
    let twin = shape.nodes == 3 && rng.gen_bool(0.3);
    if twin {
        let mut copy = problem.nodes[1].clone();
        copy.name = "n2".into();
        problem.nodes[2] = copy;
    }
    (problem, twin)
}

#[test]
fn milp_matches_enumeration_and_heuristics_never_beat_it() {
    let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
    let mut feasible = [0usize; 2];
    let mut infeasible = [0usize; 2];
    let mut twins = 0;
    let mut greedy_optimal = [0usize; 2];
    let mut replicated = 0;
    for seed in 0..INSTANCES {
        let (problem, twin) = instance(&catalog, seed);
        let k = usize::from(problem.objective == Objective::Throughput);
        let prices = Prices::new(&problem);
        let exact = enumerate(&problem, &prices).unwrap();
        let heuristic = greedy(&problem, &prices);
        let start = if seed.is_multiple_of(3) {
            heuristic.as_ref()
        } else {
            None
        };
        let solved = milp(&problem, &prices, &MipOptions::default(), start).unwrap();
        let baselines = [
            ("greedy", heuristic.clone()),
            ("round_robin", round_robin(&problem, &prices)),
            ("layer_wise", layer_wise(&problem, &prices)),
        ];
        let Some(best) = &exact.plan else {
            infeasible[k] += 1;
            assert_eq!(exact.termination, Termination::Infeasible, "seed {seed}");
            assert_eq!(solved.termination, Termination::Infeasible, "seed {seed}");
            assert!(solved.plan.is_none(), "seed {seed}");
            for (name, plan) in &baselines {
                assert!(
                    plan.is_none(),
                    "seed {seed}: {name} placed an infeasible instance"
                );
            }
            continue;
        };
        feasible[k] += 1;
        twins += usize::from(twin);
        assert!(score::fits(&problem, &prices, best), "seed {seed}");
        let optimum = score::objective(&problem, &prices, best);
        assert_eq!(solved.termination, Termination::Optimal, "seed {seed}");
        let plan = solved.plan.as_ref().unwrap();
        assert!(score::fits(&problem, &prices, plan), "seed {seed}");
        assert!(shares_ok(plan), "seed {seed}: {plan:?}");
        let value = score::objective(&problem, &prices, plan);
        assert!(
            rel_diff(value, optimum) <= 1e-6,
            "seed {seed} ({:?}): milp {value} vs enumerate {optimum}",
            problem.objective
        );
        let bound = solved.bound.unwrap();
        assert!(
            bound <= optimum * (1.0 + 1e-6),
            "seed {seed}: bound {bound} > {optimum}"
        );
        replicated += usize::from(plan.experts.iter().flatten().any(|r| r.len() > 1));
        assert!(heuristic.is_some(), "seed {seed}: greedy found nothing");
        for (name, plan) in &baselines {
            let Some(plan) = plan else { continue };
            assert!(score::fits(&problem, &prices, plan), "seed {seed}: {name}");
            assert!(shares_ok(plan), "seed {seed}: {name}");
            let v = score::objective(&problem, &prices, plan);
            assert!(
                v >= optimum * (1.0 - 1e-9),
                "seed {seed}: {name} {v} beats the optimum {optimum}"
            );
            if *name == "greedy" && rel_diff(v, optimum) <= 1e-6 {
                greedy_optimal[k] += 1;
            }
        }
    }
    eprintln!(
        "latency: {} feasible ({} greedy optimal), {} infeasible; throughput: {} feasible ({} \
         greedy optimal, {} optima replicated), {} infeasible; {twins} with twin nodes",
        feasible[0],
        greedy_optimal[0],
        infeasible[0],
        feasible[1],
        greedy_optimal[1],
        replicated,
        infeasible[1]
    );
    assert!(feasible[0] >= 100 && feasible[1] >= 100, "{feasible:?}");
    assert!(infeasible[0] + infeasible[1] >= 10, "{infeasible:?}");
    assert!(twins >= 20);
}
