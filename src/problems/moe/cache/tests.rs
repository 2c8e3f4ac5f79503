//! Worked examples whose answers are derived by hand (hand-made prices and routing on the
//! shape of a random instance), and the dynamic caches on a hand-traced sequence.

use std::path::Path;

use super::*;
use crate::costs::device::DeviceCatalog;
use crate::problems::moe::routing::{Routing, Trace};
use crate::problems::moe::testing::{random_problem, Shape};
use crate::problems::moe::{Objective, Task};
use crate::solve::milp::MipOptions;
use crate::solve::report::Termination;

/// An instance of one block of `experts` experts, routed as `sets` (one per token), with hand
/// prices: on the device an expert takes 1 s and 1 J; a fetch adds 3 s and 2 J; an offload visit
/// takes a 0.5 s round trip plus 1 s per expert on the edge and 0.3 J of radio; the dense part
/// 0.1 s and 0.2 J; every expert 1 byte, 10 bytes of memory.
fn hand(
    experts: usize,
    top_k: usize,
    sets: &[Vec<usize>],
    objective: Objective,
) -> (MoeProblem, Prices) {
    let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
    let shape = Shape {
        layers: 1,
        experts,
        top_k,
        nodes: 2,
        skew: 0.0,
        tokens: 10,
    };
    let mut problem = random_problem(&catalog, Task::Cache, objective, shape, 1);
    let trace = Trace {
        tokens: sets.iter().map(|s| vec![s.clone()]).collect(),
    };
    problem.routing = Routing::from_trace(&[(experts, top_k)], trace, "hand".into());
    problem.allow_fetch = true;
    problem.allow_offload = true;
    let prices = Prices {
        dense_s: 0.1,
        dense_j: 0.2,
        expert_s: vec![vec![1.0], vec![1.0]],
        expert_j: vec![vec![1.0], vec![5.0]],
        rt_s: vec![0.0, 0.5],
        send_air_s: vec![0.0, 0.1],
        recv_air_s: vec![0.0, 0.1],
        expert_bytes: vec![1.0],
        capacity: vec![10.0, 1e12],
        fetch_s: vec![3.0],
        fetch_j: vec![2.0],
        offload_j: 0.3,
    };
    (problem, prices)
}

/// Tokens routed to expert 0 half the time, 1 for 30%, 2 for 20%.
fn skewed() -> Vec<Vec<usize>> {
    let mut sets = vec![vec![0]; 5];
    sets.extend(vec![vec![1]; 3]);
    sets.extend(vec![vec![2]; 2]);
    sets
}

fn objective_of(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> f64 {
    assert!(score::fits(problem, prices, plan), "{plan:?}");
    score::objective(problem, prices, plan)
}

/// Every exact solver and the greedy on an instance, against the hand optimum.
/// `choices`: the unique optimal plan's, when it is unique.
fn all_find(problem: &MoeProblem, prices: &Prices, optimum: f64, choices: Option<&[Choice]>) {
    let exact = milp(problem, prices, &MipOptions::default(), None).unwrap();
    assert_eq!(exact.termination, Termination::Optimal);
    let plan = exact.plan.unwrap();
    assert!((objective_of(problem, prices, &plan) - optimum).abs() < 1e-9);
    if let Some(c) = choices {
        assert_eq!(plan.choices[0], c);
    }
    assert!(exact.bound.unwrap() <= optimum + 1e-9);
    let brute = enumerate(problem, prices).unwrap();
    if let Some(c) = choices {
        assert_eq!(brute.plan.unwrap().choices[0], c);
    }
    assert!((brute.bound.unwrap() - optimum).abs() < 1e-9);
    let g = greedy(problem, prices).unwrap();
    assert!(
        (objective_of(problem, prices, &g) - optimum).abs() < 1e-9,
        "{g:?}"
    );
}

#[test]
fn one_slot_for_the_most_frequent_expert_the_others_offloaded() {
    use Choice::*;
    // Per activation: resident 1 s, fetched 4 s, offloaded 1.5 s.
    let (mut problem, prices) = hand(3, 1, &skewed(), Objective::Latency);
    problem.expert_slots = 1;
    all_find(
        &problem,
        &prices,
        0.1 + 0.5 * 1.0 + 0.5 * 1.5,
        Some(&[Resident, Offload, Offload]),
    );
    // Without offload, misses are fetched.
    problem.allow_offload = false;
    all_find(
        &problem,
        &prices,
        0.1 + 0.5 * 1.0 + 0.5 * 4.0,
        Some(&[Resident, Fetch, Fetch]),
    );
    // Energy: an offload visit costs the device 0.3 J against 1 J resident: nothing resident.
    let (mut problem, prices) = hand(3, 1, &skewed(), Objective::Energy);
    problem.expert_slots = 3;
    all_find(
        &problem,
        &prices,
        0.2 + 0.3,
        Some(&[Offload, Offload, Offload]),
    );
    // Energy, fetch only: resident 1 J against 3 J fetched.
    problem.allow_offload = false;
    all_find(
        &problem,
        &prices,
        0.2 + 1.0,
        Some(&[Resident, Resident, Resident]),
    );
    problem.expert_slots = 2;
    all_find(
        &problem,
        &prices,
        0.2 + 0.8 + 0.2 * 3.0,
        Some(&[Resident, Resident, Fetch]),
    );
}

#[test]
fn the_edge_in_parallel_beats_a_second_resident() {
    use Choice::*;
    // Every token routed to both experts: two resident take 2 s in sequence, one resident and
    // one offloaded max(1, 0.5 + 1) = 1.5 s, both offloaded 0.5 + 2 = 2.5 s.
    let (mut problem, prices) = hand(2, 2, &[vec![0, 1]], Objective::Latency);
    for slots in [1, 2] {
        problem.expert_slots = slots;
        all_find(&problem, &prices, 0.1 + 1.5, None);
    }
    problem.expert_slots = 0;
    all_find(&problem, &prices, 0.1 + 2.5, Some(&[Offload, Offload]));
    // Energy: one offload visit per token whatever the number offloaded (0.3 J).
    let (mut problem, prices) = hand(2, 2, &[vec![0, 1]], Objective::Energy);
    problem.expert_slots = 2;
    all_find(&problem, &prices, 0.2 + 0.3, Some(&[Offload, Offload]));
}

#[test]
fn no_miss_policy_and_too_few_slots_is_infeasible() {
    let (mut problem, prices) = hand(3, 1, &skewed(), Objective::Latency);
    problem.allow_fetch = false;
    problem.allow_offload = false;
    problem.expert_slots = 2;
    let exact = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
    assert_eq!(exact.termination, Termination::Infeasible);
    assert!(exact.plan.is_none());
    let brute = enumerate(&problem, &prices).unwrap();
    assert_eq!(brute.termination, Termination::Infeasible);
    assert!(brute.plan.is_none() && brute.bound.is_none());
    assert!(greedy(&problem, &prices).is_none());
    assert!(round_robin(&problem, &prices).is_none());
    assert!(layer_wise(&problem, &prices).is_none());
    // Memory is the limit too: three slots, two bytes.
    problem.expert_slots = 3;
    let mut small = prices.clone();
    small.capacity[0] = 2.0;
    let exact = milp(&problem, &small, &MipOptions::default(), None).unwrap();
    assert_eq!(exact.termination, Termination::Infeasible);
    assert!(greedy(&problem, &small).is_none());
    // With the memory, all resident.
    let exact = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
    assert_eq!(exact.termination, Termination::Optimal);
    assert_eq!(exact.plan.unwrap().choices[0], [Choice::Resident; 3]);
    // A negative capacity (the dense part does not fit): nothing does.
    let mut none = prices.clone();
    none.capacity[0] = -1.0;
    problem.allow_fetch = true;
    let exact = milp(&problem, &none, &MipOptions::default(), None).unwrap();
    assert_eq!(exact.termination, Termination::Infeasible);
    assert_eq!(
        enumerate(&problem, &none).unwrap().termination,
        Termination::Infeasible
    );
    assert!(greedy(&problem, &none).is_none() && round_robin(&problem, &none).is_none());
}

#[test]
fn baselines_are_blind_to_frequencies() {
    use Choice::*;
    // Expert 2 is the most frequent; round robin keeps expert 0.
    let sets: Vec<Vec<usize>> = skewed().into_iter().map(|s| vec![2 - s[0]]).collect();
    let (mut problem, prices) = hand(3, 1, &sets, Objective::Latency);
    problem.expert_slots = 1;
    let rr = round_robin(&problem, &prices).unwrap();
    assert_eq!(rr.choices[0], [Resident, Offload, Offload]);
    // Layer-wise: one slot does not hold the whole block.
    let lw = layer_wise(&problem, &prices).unwrap();
    assert_eq!(lw.choices[0], [Offload, Offload, Offload]);
    problem.expert_slots = 3;
    let lw = layer_wise(&problem, &prices).unwrap();
    assert_eq!(lw.choices[0], [Resident; 3]);
    let g = greedy(&problem, &prices).unwrap();
    assert_eq!(g.choices[0], [Resident; 3]);
}

#[test]
fn enumerate_refuses_large_instances() {
    let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
    let shape = Shape {
        layers: 3,
        experts: 8,
        top_k: 2,
        nodes: 2,
        skew: 1.0,
        tokens: 50,
    };
    let mut problem = random_problem(&catalog, Task::Cache, Objective::Latency, shape, 4);
    problem.expert_slots = 24;
    let prices = Prices::new(&problem);
    let err = enumerate(&problem, &prices).unwrap_err();
    assert!(err.starts_with("enumerate would visit "), "{err}");
    assert!(err.ends_with("plans (at most 2e6): use highs"), "{err}");
    // Without slots and with one miss policy there is one plan.
    problem.expert_slots = 0;
    problem.allow_offload = false;
    let one = enumerate(&problem, &prices).unwrap();
    assert_eq!(one.plan.unwrap().choices, vec![vec![Choice::Fetch; 8]; 3]);
}

#[test]
fn a_mip_start_changes_nothing_but_the_search() {
    let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
    for (seed, objective) in [(2, Objective::Latency), (3, Objective::Energy)] {
        let shape = Shape {
            layers: 4,
            experts: 6,
            top_k: 2,
            nodes: 2,
            skew: 1.2,
            tokens: 200,
        };
        let mut problem = random_problem(&catalog, Task::Cache, objective, shape, seed);
        problem.expert_slots = 9;
        let prices = Prices::new(&problem);
        let start = greedy(&problem, &prices).unwrap();
        let options = MipOptions::default();
        let a = milp(&problem, &prices, &options, None).unwrap();
        let b = milp(&problem, &prices, &options, Some(&start)).unwrap();
        let va = objective_of(&problem, &prices, a.plan.as_ref().unwrap());
        let vb = objective_of(&problem, &prices, b.plan.as_ref().unwrap());
        assert!((va - vb).abs() <= 1e-9 * va, "{va} {vb}");
        assert!(vb <= objective_of(&problem, &prices, &start) * (1.0 + 1e-9));
        // Fetching may be dominated (no columns): two or three binaries per expert.
        let size = b.size.unwrap();
        assert!((2 * 24..=3 * 24).contains(&size.binaries), "{size:?}");
        assert!(b.bound.unwrap() <= vb * (1.0 + 1e-9));
    }
}

#[test]
fn lru_and_lfu_on_a_hand_trace() {
    // Slots 2, tokens 0 0 1 2 0. LRU: miss, hit, miss, miss (evicts 0, used before 1), miss.
    // LFU: miss, hit, miss, miss (evicts 1: one access against 0's two), hit.
    let sets = vec![vec![0], vec![0], vec![1], vec![2], vec![0]];
    let (mut problem, prices) = hand(4, 1, &sets, Objective::Latency);
    problem.expert_slots = 2;
    let tokens: Vec<Vec<Vec<usize>>> = sets.iter().map(|s| vec![s.clone()]).collect();
    assert_eq!(cache_capacity(&problem, &prices), 2);
    let lru = simulate_from(&problem, &prices, Policy::Lru, &tokens, 0);
    assert_eq!(lru.tokens, 5);
    assert!((lru.hit_ratio - 0.2).abs() < 1e-12);
    // One hit (1 s) and four misses (4 s each), plus the dense part.
    assert!((lru.mean_latency_s - (0.1 + 17.0 / 5.0)).abs() < 1e-12);
    assert!((lru.mean_energy_j - (0.2 + (1.0 + 4.0 * 3.0) / 5.0)).abs() < 1e-12);
    let lfu = simulate_from(&problem, &prices, Policy::Lfu, &tokens, 0);
    assert!((lfu.hit_ratio - 0.4).abs() < 1e-12);
    assert!((lfu.mean_latency_s - (0.1 + 14.0 / 5.0)).abs() < 1e-12);
    // The warm variant leaves out the first 10%: none of 5 tokens.
    assert_eq!(simulate(&problem, &prices, Policy::Lfu, &tokens).tokens, 5);
    // Half-width: latencies 4 1 4 4 4 (+ 0.1): mean 3.4, sample variance 1.8.
    let hw = 1.96 * (1.8f64).sqrt() / 5f64.sqrt();
    assert!((lru.latency_half_width_s - hw).abs() < 1e-12);
    // Offload only: nothing is ever cached, every access offloaded (1.5 s).
    problem.allow_fetch = false;
    let off = simulate_from(&problem, &prices, Policy::Lru, &tokens, 0);
    assert_eq!(off.hit_ratio, 0.0);
    assert!((off.mean_latency_s - 1.6).abs() < 1e-12);
    // No slot: every access fetched.
    problem.allow_fetch = true;
    problem.expert_slots = 0;
    let cold = simulate_from(&problem, &prices, Policy::Lfu, &tokens, 0);
    assert_eq!(cold.hit_ratio, 0.0);
    assert!((cold.mean_latency_s - 4.1).abs() < 1e-12);
}

#[test]
fn static_replay_matches_the_expectation_on_the_trace() {
    // Replaying a static plan over the very tokens the statistics came from gives the objective.
    let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
    let shape = Shape {
        layers: 3,
        experts: 5,
        top_k: 2,
        nodes: 2,
        skew: 1.0,
        tokens: 300,
    };
    let problem = random_problem(&catalog, Task::Cache, Objective::Latency, shape, 9);
    let prices = Prices::new(&problem);
    let plan = greedy(&problem, &prices).unwrap();
    let costs = static_tokens(&problem, &prices, &plan, &problem.routing.trace.tokens);
    let s = stats(&costs);
    let (latency, energy) = score::cache_expectation(&problem, &prices, &plan.choices);
    assert!((s.mean_latency_s - latency).abs() < 1e-9 * latency);
    assert!((s.mean_energy_j - energy).abs() < 1e-9 * energy);
}

/// The MILP against brute force on random hand prices: every path of the formulation (fetch
/// dominated or not, envelopes exact or not, one or two dimensions) on tiny instances.
#[test]
fn milp_matches_enumerate_on_random_prices() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut fetched = 0;
    for i in 0..150 {
        let experts = rng.gen_range(3..=4);
        let top_k = rng.gen_range(1..=3);
        let sets: Vec<Vec<usize>> = (0..rng.gen_range(1..=12))
            .map(|_| {
                let mut s: Vec<usize> = (0..experts).collect();
                for a in (1..experts).rev() {
                    s.swap(a, rng.gen_range(0..=a));
                }
                s.truncate(top_k);
                s
            })
            .collect();
        let objective = if i % 2 == 0 {
            Objective::Latency
        } else {
            Objective::Energy
        };
        let (mut problem, mut prices) = hand(experts, top_k, &sets, objective);
        let mut draw = |lo: f64, hi: f64| 10f64.powf(rng.gen_range(lo..hi));
        prices.expert_s = vec![vec![draw(-2.0, 0.0)], vec![draw(-2.0, 0.0)]];
        prices.expert_j = vec![vec![draw(-2.0, 0.0)], vec![0.0]];
        prices.rt_s = vec![0.0, draw(-3.0, 0.5)];
        prices.fetch_s = vec![draw(-2.5, 0.5)];
        prices.fetch_j = vec![draw(-2.5, 0.5)];
        prices.offload_j = draw(-2.5, 0.5);
        problem.expert_slots = rng.gen_range(0..=experts);
        problem.allow_fetch = rng.gen_bool(0.8);
        problem.allow_offload = rng.gen_bool(0.8);
        let brute = enumerate(&problem, &prices).unwrap();
        let exact = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
        let Some(best) = brute.plan else {
            assert_eq!(exact.termination, Termination::Infeasible);
            continue;
        };
        let opt = objective_of(&problem, &prices, &best);
        let v = objective_of(&problem, &prices, exact.plan.as_ref().unwrap());
        assert!((v - opt).abs() <= 1e-7 * opt, "{i}: milp {v} brute {opt}");
        fetched += usize::from(best.choices[0].contains(&Choice::Fetch));
        // A start with every miss fetched (where allowed), as HiGHS gets it.
        if problem.allow_fetch {
            let start = MoePlan::cache(vec![vec![Choice::Fetch; experts]]);
            let s = milp(&problem, &prices, &MipOptions::default(), Some(&start)).unwrap();
            let sv = objective_of(&problem, &prices, s.plan.as_ref().unwrap());
            assert!(
                (sv - opt).abs() <= 1e-7 * opt,
                "{i}: started {sv} brute {opt}"
            );
        }
    }
    assert!(
        fetched >= 10,
        "fetching optimal in {fetched} instances only"
    );
}
