//! Expert placement (the `placement` task): which nodes of the star around the home hold each
//! routed expert, and which share of its activations each replica serves.
//!
//! - [`milp()`]: the exact MILP (HiGHS) for both objectives ([`model`] documents it).
//! - [`enumerate()`]: brute force, the oracle of the MILP on small instances ([`mod@enumerate`]).
//! - [`greedy`]: experts by decreasing activation frequency onto the node that costs least, a
//!   move/swap local search, and (throughput) replicas of the hottest experts.
//! - [`round_robin`] and [`layer_wise`]: the frequency-blind baselines (expert parallelism dealt
//!   in turn, and whole blocks per node as layer-wise splitting does).
//!
//! Every solver compares plans by [`score::objective`], the definition of the objective, and by
//! [`score::fits`] for memory; a node `n` takes one more expert of block `j` when its experts'
//! bytes plus `expert_bytes[j]` stay within `capacity[n]` with the same relative slack as
//! [`score::fits`].
//!
//! [`score::objective`]: super::score::objective
//! [`score::fits`]: super::score::fits

pub mod enumerate;
pub mod heuristics;
pub mod model;

pub use enumerate::{enumerate, ENUMERATE_LIMIT};
pub use heuristics::{greedy, greedy_within, layer_wise, round_robin, LOCAL_WORK, WORK_PER_S};
pub use model::milp;

use super::price::Prices;
use super::{MoePlan, MoeProblem, Objective, Replica};

/// The relative memory slack of [`score::fits`](super::score::fits).
const MEMORY_SLACK: f64 = 1e-9;

/// Shares at or below this are numerical noise: the replica is dropped.
const SHARE_EPS: f64 = 1e-9;

/// Whether the instance minimises the period (throughput) rather than the expected latency
/// (every other objective of the placement task is scored as latency by
/// [`score::objective`](super::score::objective)).
fn is_throughput(problem: &MoeProblem) -> bool {
    problem.objective == Objective::Throughput
}

/// The most bytes node `n` may hold: its capacity plus the slack of
/// [`score::fits`](super::score::fits).
fn limit(prices: &Prices, n: usize) -> f64 {
    let c = prices.capacity[n];
    c + MEMORY_SLACK * c.abs().max(1.0)
}

/// Whether node `n`, already holding `used` bytes of experts, takes `bytes` more.
fn has_room(prices: &Prices, used: &[f64], n: usize, bytes: f64) -> bool {
    used[n] + bytes <= limit(prices, n)
}

/// Whether every node holds its fixed part (an empty placement fits): otherwise no plan fits.
fn homes_fit(prices: &Prices) -> bool {
    (0..prices.capacity.len()).all(|n| 0.0 <= limit(prices, n))
}

/// Every `(block, expert)` pair, block-major: the global order of the solvers.
fn items(problem: &MoeProblem) -> Vec<(usize, usize)> {
    problem
        .routing
        .blocks
        .iter()
        .enumerate()
        .flat_map(|(j, b)| (0..b.experts).map(move |e| (j, e)))
        .collect()
}

/// A plan from per-expert `(node, share)` lists: shares clamped to `[0, 1]`, those at or below
/// [`SHARE_EPS`] dropped (the largest is always kept), the rest normalised so that they sum to 1
/// exactly (the primary takes `1 -` the others), largest share first (ties: lower node).
fn plan_from_shares(shares: &[Vec<Vec<(usize, f64)>>]) -> MoePlan {
    let experts = shares
        .iter()
        .map(|block| {
            block
                .iter()
                .map(|list| {
                    let mut kept: Vec<(usize, f64)> =
                        list.iter().map(|&(n, s)| (n, s.clamp(0.0, 1.0))).collect();
                    kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    kept.truncate(1.max(kept.iter().filter(|r| r.1 > SHARE_EPS).count()));
                    let total: f64 = kept.iter().map(|r| r.1).sum();
                    let mut replicas: Vec<Replica> = kept
                        .iter()
                        .map(|&(node, s)| Replica {
                            node,
                            share: if total > 0.0 { s / total } else { 1.0 },
                        })
                        .collect();
                    let others: f64 = replicas[1..].iter().map(|r| r.share).sum();
                    replicas[0].share = 1.0 - others;
                    replicas
                })
                .collect()
        })
        .collect();
    MoePlan {
        experts,
        choices: Vec::new(),
    }
}

/// The primary node of every expert of a placement.
fn primaries(plan: &MoePlan) -> Vec<Vec<usize>> {
    plan.experts
        .iter()
        .map(|b| b.iter().map(|r| r[0].node).collect())
        .collect()
}

/// Whether `plan` is a placement of `problem`'s experts onto its nodes (shape, node indices,
/// non-empty replica lists with distinct nodes).
fn well_formed(problem: &MoeProblem, plan: &MoePlan) -> bool {
    let n = problem.node_count();
    plan.experts.len() == problem.routing.blocks.len()
        && plan
            .experts
            .iter()
            .zip(&problem.routing.blocks)
            .all(|(block, routing)| {
                block.len() == routing.experts
                    && block.iter().all(|replicas| {
                        !replicas.is_empty()
                            && replicas.iter().all(|r| r.node < n)
                            && replicas
                                .iter()
                                .enumerate()
                                .all(|(i, r)| replicas[..i].iter().all(|q| q.node != r.node))
                    })
            })
}

/// The shares that minimise the period when expert `e` of block `j` has replicas on
/// `replicas[j][e]` (each non-empty): the linear program of the throughput MILP with the replicas
/// fixed (the period `P` in units of a lower bound of it, as there), solved by HiGHS, its plan
/// cleaned by [`plan_from_shares`].
fn share_lp(
    problem: &MoeProblem,
    prices: &Prices,
    replicas: &[Vec<Vec<usize>>],
) -> crate::error::Result<MoePlan> {
    use crate::solve::milp::{Milp, MipOptions};
    use crate::solve::report::Termination;
    use good_lp::constraint::{eq, geq};
    use good_lp::{variable, Expression, Solution, Variable};

    let n_nodes = problem.node_count();
    let freq: Vec<Vec<f64>> = problem
        .routing
        .blocks
        .iter()
        .map(|b| b.frequency())
        .collect();
    let mut lp = Milp::new();
    let mut work = prices.dense_s;
    for (j, block) in replicas.iter().enumerate() {
        for (e, nodes) in block.iter().enumerate() {
            let cheapest = nodes
                .iter()
                .map(|&n| prices.expert_s[n][j])
                .fold(f64::INFINITY, f64::min);
            work += freq[j][e] * cheapest;
        }
    }
    let bound = prices.dense_s.max(work / n_nodes as f64);
    let sigma = if bound > 0.0 && bound.is_finite() {
        bound
    } else {
        1.0
    };
    let p = lp.add(variable().min(bound / sigma));
    let mut compute: Vec<Expression> = (0..n_nodes).map(|_| Expression::from(0.0)).collect();
    let mut mass: Vec<Expression> = (0..n_nodes).map(|_| Expression::from(0.0)).collect();
    let mut phi: Vec<Vec<Vec<(usize, Variable)>>> = Vec::with_capacity(replicas.len());
    for (j, block) in replicas.iter().enumerate() {
        let mut rows = Vec::with_capacity(block.len());
        for (e, nodes) in block.iter().enumerate() {
            let mut sum = Expression::from(0.0);
            let mut vars = Vec::with_capacity(nodes.len());
            for &n in nodes {
                let v = lp.add(variable().min(0.0).max(1.0));
                sum.add_mul(1.0, v);
                compute[n].add_mul(freq[j][e] * prices.expert_s[n][j] / sigma, v);
                mass[n].add_mul(freq[j][e], v);
                vars.push((n, v));
            }
            lp.constrain(eq(sum, 1.0));
            rows.push(vars);
        }
        phi.push(rows);
    }
    for n in 0..n_nodes {
        let fixed = if n == problem.home {
            prices.dense_s
        } else {
            0.0
        };
        lp.constrain(geq(p - compute[n].clone(), fixed / sigma));
        let air = prices.send_air_s[n].max(prices.recv_air_s[n]);
        if air > 0.0 {
            lp.constrain(geq(p - (air / sigma) * mass[n].clone(), 0.0));
        }
    }
    let result = lp.minimise(sigma * p, &MipOptions::default())?;
    let values = result
        .values
        .filter(|_| result.termination == Termination::Optimal)
        .ok_or_else(|| {
            crate::error::Error::Solver(format!("the share LP ended {}", result.termination))
        })?;
    let shares: Vec<Vec<Vec<(usize, f64)>>> = phi
        .iter()
        .map(|block| {
            block
                .iter()
                .map(|vars| vars.iter().map(|&(n, v)| (n, values.value(v))).collect())
                .collect()
        })
        .collect();
    Ok(plan_from_shares(&shares))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::super::routing::{Routing, Trace};
    use super::super::testing::{random_problem, Shape};
    use super::super::{score, Task};
    use super::*;
    use crate::costs::device::DeviceCatalog;
    use crate::solve::milp::MipOptions;
    use crate::solve::report::Termination;

    /// A placement instance of the given shape whose routing is exactly `tokens` (per token, per
    /// block, the experts); its prices come from [`toy_prices`].
    pub(crate) fn toy(
        objective: Objective,
        experts: usize,
        top_k: usize,
        nodes: usize,
        tokens: Vec<Vec<Vec<usize>>>,
    ) -> MoeProblem {
        let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
        let layers = tokens[0].len();
        let shape = Shape {
            layers,
            experts,
            top_k,
            nodes,
            skew: 0.0,
            tokens: 1,
        };
        let mut problem = random_problem(&catalog, Task::Placement, objective, shape, 1);
        let shape_of = vec![(experts, top_k); layers];
        problem.routing = Routing::from_trace(&shape_of, Trace { tokens }, "toy".into());
        problem
    }

    /// Hand-made prices: expert time `x[n]` in every block, round trip `rt[n]`, airtime `air[n]`
    /// each way, room for `slots[n]` experts of one byte.
    pub(crate) fn toy_prices(
        dense: f64,
        x: &[f64],
        rt: &[f64],
        air: &[f64],
        slots: &[f64],
        blocks: usize,
    ) -> Prices {
        let n = x.len();
        Prices {
            dense_s: dense,
            dense_j: 0.0,
            expert_s: x.iter().map(|&v| vec![v; blocks]).collect(),
            expert_j: vec![vec![0.0; blocks]; n],
            rt_s: rt.to_vec(),
            send_air_s: air.to_vec(),
            recv_air_s: air.to_vec(),
            expert_bytes: vec![1.0; blocks],
            capacity: slots.to_vec(),
            fetch_s: vec![0.0; blocks],
            fetch_j: vec![0.0; blocks],
            offload_j: 0.0,
        }
    }

    fn value(problem: &MoeProblem, prices: &Prices, plan: &MoePlan) -> f64 {
        assert!(score::fits(problem, prices, plan));
        score::objective(problem, prices, plan)
    }

    #[test]
    fn shares_are_cleaned_and_sum_to_one() {
        let plan = plan_from_shares(&[vec![
            vec![(2, 0.3), (0, 0.7 - 1e-12), (1, 1e-11)],
            vec![(1, 1.0 + 1e-12)],
            vec![(0, 1.0 / 3.0), (1, 1.0 / 3.0), (2, 1.0 / 3.0)],
        ]]);
        let b = &plan.experts[0];
        assert_eq!(b[0].len(), 2);
        assert_eq!(b[0][0].node, 0);
        assert_eq!(b[0][1].node, 2);
        assert_eq!(
            b[1],
            vec![Replica {
                node: 1,
                share: 1.0
            }]
        );
        for replicas in b {
            assert!((replicas.iter().map(|r| r.share).sum::<f64>() - 1.0).abs() <= 1e-15);
        }
        assert_eq!(b[2][0].node, 0);
    }

    /// Two experts always routed together; the home holds one: splitting them (1 on the home,
    /// 0.5 + 1 on the other node in parallel) beats both on the other node (0.5 + 2).
    #[test]
    fn latency_splits_a_co_activated_pair() {
        let problem = toy(Objective::Latency, 2, 2, 2, vec![vec![vec![0, 1]]; 4]);
        let prices = toy_prices(0.25, &[1.0, 1.0], &[0.0, 0.5], &[0.0, 0.1], &[1.0, 2.0], 1);
        let exact = enumerate(&problem, &prices).unwrap();
        let solved = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
        assert_eq!(solved.termination, Termination::Optimal);
        for plan in [
            exact.plan.as_ref().unwrap(),
            solved.plan.as_ref().unwrap(),
            &greedy(&problem, &prices).unwrap(),
        ] {
            assert!(
                (value(&problem, &prices, plan) - 1.75).abs() < 1e-9,
                "{plan:?}"
            );
        }
        let size = solved.size.unwrap();
        assert_eq!(size.binaries, 4);
        // Both experts on the other node: 0.5 + 2 after the dense part.
        let rr = round_robin(&problem, &prices).unwrap();
        assert_eq!(primaries(&rr), vec![vec![0, 1]]);
        let lw = layer_wise(&problem, &prices).unwrap();
        assert_eq!(primaries(&lw), vec![vec![1, 1]]);
        assert!((value(&problem, &prices, &lw) - 2.75).abs() < 1e-9);
    }

    /// One hot expert (the other never routed to), two equally fast nodes with room for it on
    /// both: replicated half and half, the period halves.
    #[test]
    fn throughput_replicates_a_hot_expert() {
        let problem = toy(Objective::Throughput, 2, 1, 2, vec![vec![vec![0]]; 4]);
        let prices = toy_prices(0.0, &[1.0, 1.0], &[0.0, 0.2], &[0.0, 0.1], &[2.0, 2.0], 1);
        let exact = enumerate(&problem, &prices).unwrap();
        let solved = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
        let heuristic = greedy(&problem, &prices).unwrap();
        for plan in [
            exact.plan.as_ref().unwrap(),
            solved.plan.as_ref().unwrap(),
            &heuristic,
        ] {
            assert!(
                (value(&problem, &prices, plan) - 0.5).abs() < 1e-9,
                "{plan:?}"
            );
            let hot = &plan.experts[0][0];
            assert_eq!(hot.len(), 2);
            assert!((hot[0].share - 0.5).abs() < 1e-9);
        }
        // Without the room for a replica the period is 1.
        let prices = toy_prices(0.0, &[1.0, 1.0], &[0.0, 0.2], &[0.0, 0.1], &[1.0, 1.0], 1);
        let exact = enumerate(&problem, &prices).unwrap();
        let solved = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
        for plan in [exact.plan.as_ref().unwrap(), solved.plan.as_ref().unwrap()] {
            assert!(
                (value(&problem, &prices, plan) - 1.0).abs() < 1e-9,
                "{plan:?}"
            );
        }
    }

    #[test]
    fn too_little_memory_is_infeasible_everywhere() {
        for objective in [Objective::Latency, Objective::Throughput] {
            let problem = toy(objective, 3, 1, 2, vec![vec![vec![0]], vec![vec![2]]]);
            let prices = toy_prices(0.1, &[1.0, 1.0], &[0.0, 0.2], &[0.0, 0.1], &[1.0, 1.5], 1);
            let exact = enumerate(&problem, &prices).unwrap();
            assert_eq!(exact.termination, Termination::Infeasible);
            assert!(exact.plan.is_none());
            let solved = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
            assert_eq!(solved.termination, Termination::Infeasible);
            assert!(solved.plan.is_none());
            assert!(greedy(&problem, &prices).is_none());
            assert!(round_robin(&problem, &prices).is_none());
            assert!(layer_wise(&problem, &prices).is_none());
            // A home that cannot hold its own dense part.
            let prices = toy_prices(0.1, &[1.0, 1.0], &[0.0, 0.2], &[0.0, 0.1], &[-1.0, 9.0], 1);
            let solved = milp(&problem, &prices, &MipOptions::default(), None).unwrap();
            assert_eq!(solved.termination, Termination::Infeasible);
            assert!(enumerate(&problem, &prices).unwrap().plan.is_none());
        }
    }

    #[test]
    fn enumerate_refuses_large_instances() {
        let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
        let shape = Shape {
            layers: 4,
            experts: 8,
            top_k: 2,
            nodes: 4,
            skew: 1.0,
            tokens: 64,
        };
        for objective in [Objective::Latency, Objective::Throughput] {
            let mut problem = random_problem(&catalog, Task::Placement, objective, shape, 3);
            for node in &mut problem.nodes {
                node.resource.memory_bytes *= 1e3;
            }
            let prices = Prices::new(&problem);
            if objective == Objective::Latency {
                let err = enumerate(&problem, &prices).unwrap_err();
                assert!(err.contains("at most 2e6"), "{err}");
                assert!(err.contains("use highs"), "{err}");
                assert!(err.contains(&format!("{:.3e}", 4f64.powi(32))), "{err}");
            } else {
                // Every node holds every expert: one maximal configuration.
                let exact = enumerate(&problem, &prices).unwrap();
                assert_eq!(exact.termination, Termination::Optimal);
            }
        }
    }

    #[test]
    fn round_robin_deals_in_turn_and_skips_full_nodes() {
        let problem = toy(Objective::Latency, 4, 1, 3, vec![vec![vec![0], vec![1]]]);
        let prices = toy_prices(
            0.0,
            &[1.0; 3],
            &[0.0, 0.1, 0.2],
            &[0.0; 3],
            &[8.0, 1.0, 8.0],
            2,
        );
        let plan = round_robin(&problem, &prices).unwrap();
        // Block 0: 0, 1, 2, 0; block 1: node 1 is full from then on.
        assert_eq!(primaries(&plan), vec![vec![0, 1, 2, 0], vec![0, 2, 0, 2]]);
    }

    #[test]
    fn layer_wise_keeps_blocks_whole_in_speed_order() {
        let problem = toy(Objective::Latency, 2, 1, 3, vec![vec![vec![0]; 3]]);
        // Node 2 is reached faster than node 1.
        let prices = toy_prices(
            0.0,
            &[1.0; 3],
            &[0.0, 0.5, 0.1],
            &[0.0; 3],
            &[3.0, 4.0, 2.0],
            3,
        );
        let plan = layer_wise(&problem, &prices).unwrap();
        assert_eq!(primaries(&plan), vec![vec![0, 0], vec![2, 2], vec![1, 1]]);
        let prices = toy_prices(
            0.0,
            &[1.0; 3],
            &[0.0, 0.5, 0.1],
            &[0.0; 3],
            &[3.0, 1.0, 2.0],
            3,
        );
        // Room for six experts, but not for three whole blocks in order.
        assert!(layer_wise(&problem, &prices).is_none());
        assert!(round_robin(&problem, &prices).is_some());
    }

    #[test]
    fn heuristics_are_deterministic() {
        let catalog = DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap();
        let shape = Shape {
            layers: 3,
            experts: 6,
            top_k: 2,
            nodes: 4,
            skew: 1.2,
            tokens: 200,
        };
        for objective in [Objective::Latency, Objective::Throughput] {
            for seed in 0..4 {
                let problem = random_problem(&catalog, Task::Placement, objective, shape, seed);
                let prices = Prices::new(&problem);
                let a = greedy(&problem, &prices);
                assert_eq!(a, greedy(&problem, &prices));
                if let Some(plan) = &a {
                    assert!(well_formed(&problem, plan));
                    assert!(score::fits(&problem, &prices, plan));
                }
            }
        }
    }
}
