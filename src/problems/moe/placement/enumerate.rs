//! Brute force over placements: the oracle of the MILP on small instances.
//!
//! - **Latency**: every assignment of each expert to one node (replicas cannot lower the latency,
//!   see [`super::model`]) that fits, scored by [`score::placement_latency`].
//! - **Throughput**: a replica never raises the period (its share may be 0), so some optimum
//!   holds a *maximal* replica set: no node could take one more expert. Memory is per node, so
//!   the maximal configurations are the products of each node's maximal sets of experts (a set
//!   that fits and to which no further expert fits), kept when every expert is somewhere. For each,
//!   the best shares are a linear program (the period `P` and the shares `phi`, the rows of the
//!   MILP with the replicas fixed), solved by HiGHS; the plan it gives is scored by
//!   [`score::placement_period`]. So the combinatorial part (which replicas) is enumerated and
//!   only the continuous shares come from a solver.
//!
//! [`score::placement_latency`]: super::super::score::placement_latency
//! [`score::placement_period`]: super::super::score::placement_period

use std::time::Instant;

use super::super::price::Prices;
use super::super::score;
use super::super::{Exact, MoePlan, MoeProblem, Task};
use super::{has_room, homes_fit, is_throughput, items, share_lp};
use crate::solve::report::Termination;

/// The most plans [`enumerate`] visits.
pub const ENUMERATE_LIMIT: f64 = 2e6;

/// The optimum of `problem` by brute force (see the module documentation); an error message when
/// it would visit more than [`ENUMERATE_LIMIT`] plans (assignments for latency, maximal replica
/// configurations for throughput).
pub fn enumerate(problem: &MoeProblem, prices: &Prices) -> std::result::Result<Exact, String> {
    if problem.task != Task::Placement {
        return Err("placement::enumerate needs a placement instance".into());
    }
    let t0 = Instant::now();
    let best = if !homes_fit(prices) {
        None
    } else if is_throughput(problem) {
        throughput(problem, prices)?
    } else {
        latency(problem, prices)?
    };
    Ok(Exact {
        termination: if best.is_some() {
            Termination::Optimal
        } else {
            Termination::Infeasible
        },
        bound: best.as_ref().map(|b| b.0),
        plan: best.map(|b| b.1),
        nodes: None,
        size: None,
        build_s: 0.0,
        solve_s: t0.elapsed().as_secs_f64(),
    })
}

/// The refusal when `count` plans exceed the limit.
fn too_many(count: f64) -> String {
    let n = if count < 1e15 {
        format!("{}", count as u64)
    } else {
        format!("{count:.3e}")
    };
    format!("enumerate would visit {n} plans (at most 2e6): use highs")
}

/// The best single-replica assignment by latency.
fn latency(
    problem: &MoeProblem,
    prices: &Prices,
) -> std::result::Result<Option<(f64, MoePlan)>, String> {
    let items = items(problem);
    let n_nodes = problem.node_count();
    let empty = vec![0.0; n_nodes];
    let allowed: Vec<Vec<usize>> = items
        .iter()
        .map(|&(j, _)| {
            (0..n_nodes)
                .filter(|&n| has_room(prices, &empty, n, prices.expert_bytes[j]))
                .collect()
        })
        .collect();
    let count: f64 = allowed.iter().map(|a| a.len() as f64).product();
    if count > ENUMERATE_LIMIT {
        return Err(too_many(count));
    }
    struct State<'a> {
        problem: &'a MoeProblem,
        prices: &'a Prices,
        items: Vec<(usize, usize)>,
        allowed: Vec<Vec<usize>>,
        used: Vec<f64>,
        assign: Vec<Vec<usize>>,
        best: Option<(f64, Vec<Vec<usize>>)>,
    }
    fn visit(s: &mut State<'_>, i: usize) {
        if i == s.items.len() {
            let v = score::placement_latency(s.prices, &s.problem.routing, &s.assign);
            if s.best.as_ref().is_none_or(|b| v < b.0) {
                s.best = Some((v, s.assign.clone()));
            }
            return;
        }
        let (j, e) = s.items[i];
        let bytes = s.prices.expert_bytes[j];
        for k in 0..s.allowed[i].len() {
            let n = s.allowed[i][k];
            if has_room(s.prices, &s.used, n, bytes) {
                let old = s.used[n];
                s.used[n] += bytes;
                s.assign[j][e] = n;
                visit(s, i + 1);
                s.used[n] = old;
            }
        }
    }
    let mut state = State {
        problem,
        prices,
        assign: problem
            .routing
            .blocks
            .iter()
            .map(|b| vec![0; b.experts])
            .collect(),
        items,
        allowed,
        used: vec![0.0; n_nodes],
        best: None,
    };
    visit(&mut state, 0);
    Ok(state.best.map(|(v, a)| (v, MoePlan::single(&a))))
}

/// Every maximal set of items node `n` can hold (item indices, ascending); `None` when there
/// are more than `cap`. They are counted first and stored only when within `cap` (storing two
/// million sets of a 256-expert model before refusing took 2.7 GB and 2 s).
fn maximal_sets(prices: &Prices, n: usize, bytes: &[f64], cap: f64) -> Option<Vec<Vec<usize>>> {
    // suffix[i]: bytes of items i.. (the most that can still be added).
    let mut suffix = vec![0.0; bytes.len() + 1];
    for i in (0..bytes.len()).rev() {
        suffix[i] = suffix[i + 1] + bytes[i];
    }
    struct Walk<'a> {
        prices: &'a Prices,
        n: usize,
        bytes: &'a [f64],
        suffix: Vec<f64>,
        chosen: Vec<usize>,
        /// Stores the sets when set, else only counts them.
        store: bool,
        cap: f64,
        count: usize,
        out: Vec<Vec<usize>>,
    }
    fn walk(w: &mut Walk<'_>, i: usize, used: f64, min_excluded: f64) -> bool {
        let limit = super::limit(w.prices, w.n);
        // A set with an excluded item that still fits is not maximal; even adding every later
        // item leaves at most `used + suffix[i]`.
        if min_excluded.is_finite() && used + w.suffix[i] + min_excluded <= limit {
            return true;
        }
        if i == w.bytes.len() {
            if used + min_excluded > limit {
                w.count += 1;
                if w.store {
                    w.out.push(w.chosen.clone());
                }
                if w.count as f64 > w.cap {
                    return false;
                }
            }
            return true;
        }
        if used + w.bytes[i] <= limit {
            w.chosen.push(i);
            let more = walk(w, i + 1, used + w.bytes[i], min_excluded);
            w.chosen.pop();
            if !more {
                return false;
            }
        }
        walk(w, i + 1, used, min_excluded.min(w.bytes[i]))
    }
    let mut w = Walk {
        prices,
        n,
        bytes,
        suffix,
        chosen: Vec::new(),
        store: false,
        cap,
        count: 0,
        out: Vec::new(),
    };
    if !walk(&mut w, 0, 0.0, f64::INFINITY) {
        return None;
    }
    w.store = true;
    w.count = 0;
    walk(&mut w, 0, 0.0, f64::INFINITY);
    Some(w.out)
}

/// The best replica configuration and shares by period.
fn throughput(
    problem: &MoeProblem,
    prices: &Prices,
) -> std::result::Result<Option<(f64, MoePlan)>, String> {
    let items = items(problem);
    let n_nodes = problem.node_count();
    let bytes: Vec<f64> = items.iter().map(|&(j, _)| prices.expert_bytes[j]).collect();
    // Each node has at least one maximal set, so node n may have at most the limit over the
    // product of the counts before it.
    let mut sets: Vec<Vec<Vec<usize>>> = Vec::with_capacity(n_nodes);
    let mut count = 1.0;
    for n in 0..n_nodes {
        let Some(node) = maximal_sets(prices, n, &bytes, ENUMERATE_LIMIT / count) else {
            let nodes = if n == 0 {
                "node 0".to_string()
            } else {
                format!("nodes 0-{n}")
            };
            return Err(format!(
                "enumerate would visit more than 2e6 plans (the maximal sets of experts of \
                 {nodes} alone): use highs"
            ));
        };
        count *= node.len() as f64;
        sets.push(node);
    }
    let mut best: Option<(f64, MoePlan)> = None;
    let mut pick = vec![0usize; n_nodes];
    loop {
        // Replica nodes of every item under this configuration.
        let mut replicas: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
        for (n, &k) in pick.iter().enumerate() {
            for &i in &sets[n][k] {
                replicas[i].push(n);
            }
        }
        if replicas.iter().all(|r| !r.is_empty()) {
            let mut nodes: Vec<Vec<Vec<usize>>> = problem
                .routing
                .blocks
                .iter()
                .map(|b| vec![Vec::new(); b.experts])
                .collect();
            for (i, &(j, e)) in items.iter().enumerate() {
                nodes[j][e] = std::mem::take(&mut replicas[i]);
            }
            let plan = share_lp(problem, prices, &nodes).map_err(|e| e.to_string())?;
            let v = score::placement_period(problem, prices, &plan);
            if best.as_ref().is_none_or(|b| v < b.0) {
                best = Some((v, plan));
            }
        }
        // Next configuration.
        let mut n = 0;
        loop {
            if n == n_nodes {
                return Ok(best);
            }
            pick[n] += 1;
            if pick[n] < sets[n].len() {
                break;
            }
            pick[n] = 0;
            n += 1;
        }
    }
}
