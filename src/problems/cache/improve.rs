//! Exact re-optimisation of a few servers at a time, the others fixed: a large-neighbourhood
//! search over the MILP of [`super::model`] that polishes the heuristic start of the exact solve.
//!
//! With every server outside a neighbourhood `N` fixed, a demand `g = (i, S)` that one of them
//! already serves stays served whatever `N` caches, and a demand with `S` disjoint from `N`
//! cannot change. What `N` can still win is the **residual** demands: `(i, S ∩ N)` with the
//! weight of `g`, for every `g` with `S ∩ N` non-empty that no fixed server serves. Their MILP is
//! the cache MILP of the same problem over the residual demands (the same [`build_with`]; only
//! servers of `N` get variables). Its optimum, with `N`'s current contents as a complete start,
//! is never worse than those contents, so every move keeps the hit ratio or raises it; a move
//! is taken only when its plan fits storage counted exactly (the MILP's rows hold within
//! HiGHS's tolerance only). Neighbourhoods are the
//! single servers (an exact best response, which subsumes the local search's drop-and-refill
//! moves) and then the pairs of servers with overlapping coverage, most overlap first (a family
//! moved from one server to its neighbour, which the single-server moves cannot see).

use std::collections::HashMap;
use std::time::Instant;

use super::heuristics::served_weight;
use super::model::{build_with, CacheMilp, Demand, Formulation};
use super::{CacheProblem, Placement, LIMIT_TOLERANCE};
use crate::error::Result;
use crate::solve::milp::MipOptions;
use crate::solve::report::Termination;

/// Time limit of one neighbourhood's MILP, s.
const MOVE_LIMIT_S: f64 = 5.0;

/// The residual demands of neighbourhood `servers` (increasing) given `cached[m][i]`,
/// aggregated by (model, server set).
pub fn residual(demands: &[Demand], servers: &[usize], cached: &[Vec<bool>]) -> Vec<Demand> {
    let mut index: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
    let mut out: Vec<Demand> = Vec::new();
    for d in demands {
        let inside: Vec<usize> = d
            .servers
            .iter()
            .copied()
            .filter(|m| servers.binary_search(m).is_ok())
            .collect();
        if inside.is_empty()
            || d.servers
                .iter()
                .any(|&m| servers.binary_search(&m).is_err() && cached[m][d.model])
        {
            continue;
        }
        let g = *index.entry((d.model, inside.clone())).or_insert_with(|| {
            out.push(Demand {
                model: d.model,
                servers: inside,
                weight: 0.0,
                requests: 0,
            });
            out.len() - 1
        });
        out[g].weight += d.weight;
        out[g].requests += d.requests;
    }
    out
}

/// Neighbourhoods: every server alone, then every pair whose coverage overlaps (some demand
/// can be served by both), in decreasing weight of the demands they share.
fn neighbourhoods(servers: usize, demands: &[Demand]) -> Vec<Vec<usize>> {
    let mut overlap = vec![vec![0.0; servers]; servers];
    for d in demands {
        for (k, &a) in d.servers.iter().enumerate() {
            for &b in &d.servers[k + 1..] {
                overlap[a][b] += d.weight;
            }
        }
    }
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (a, row) in overlap.iter().enumerate() {
        for (b, &w) in row.iter().enumerate().skip(a + 1) {
            if w > 0.0 {
                pairs.push((w, a, b));
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0).then((p.1, p.2).cmp(&(q.1, q.2))));
    (0..servers)
        .map(|m| vec![m])
        .chain(pairs.into_iter().map(|(_, a, b)| vec![a, b]))
        .collect()
}

/// Improves `start` by exact re-optimisation of single servers and overlapping pairs until a
/// full round improves nothing, `deadline` passes or the hit ratio reaches `target`; never worse
/// than `start`, and storage is respected throughout. Deterministic for a given number of completed moves (each MILP runs
/// on one thread with a fixed seed; a move cut short by its time limit keeps the better of its
/// incumbent and the current contents).
pub fn reoptimise(
    problem: &CacheProblem,
    demands: &[Demand],
    start: &Placement,
    deadline: Instant,
    target: f64,
) -> Result<Placement> {
    let servers = problem.servers.len();
    let models = problem.models.len();
    let mut cached = vec![vec![false; models]; servers];
    for (m, list) in start.iter().enumerate().take(servers) {
        for &i in list {
            cached[m][i] = true;
        }
    }
    let moves = neighbourhoods(servers, demands);
    let placement = |cached: &[Vec<bool>]| -> Placement {
        cached
            .iter()
            .map(|row| (0..models).filter(|&i| row[i]).collect())
            .collect()
    };
    // The current plan's hit ratio, updated at each move taken.
    let mut total = served_weight(problem, demands, start);
    if total >= target {
        return Ok(placement(&cached));
    }
    // Moves since the last improvement: a full round of them ends the search.
    let mut idle = 0;
    let mut k = 0;
    while idle < moves.len() {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        if left <= 0.0 {
            break;
        }
        let group = &moves[k % moves.len()];
        k += 1;
        idle += 1;
        let sub = residual(demands, group, &cached);
        if sub.is_empty() {
            continue;
        }
        let current: Placement = (0..servers)
            .map(|m| {
                if group.contains(&m) {
                    (0..models).filter(|&i| cached[m][i]).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let before = served_weight(problem, &sub, &current);
        let mut milp = build_with(problem, &sub, Formulation::default());
        if milp.x.is_empty() {
            continue;
        }
        milp.set_start(&current);
        let CacheMilp {
            milp: model,
            objective,
            x,
            scale,
            ..
        } = milp;
        // What the fixed servers serve, as a constant: the progress lines then show the whole
        // plan's hit ratio rather than the neighbourhood's share of it.
        let fixed = total - before;
        let options = MipOptions {
            time_limit_s: Some(left.min(MOVE_LIMIT_S)),
            mip_rel_gap: 1e-9,
            threads: 1,
            report_scale: 1.0 / scale,
            progress_label: "re-optimising one neighbourhood",
            ..MipOptions::default()
        };
        let objective = objective + fixed.max(0.0) * scale;
        let result = model.maximise(objective, &options)?;
        let Some(values) = result.values.as_ref() else {
            continue;
        };
        if !matches!(
            result.termination,
            Termination::Optimal | Termination::LimitReached
        ) {
            continue;
        }
        let found = CacheMilp::decode(&x, servers, values);
        let after = served_weight(problem, &sub, &found);
        // The storage rows hold within HiGHS's feasibility tolerance only: check them exactly.
        let fit = group.iter().all(|&m| fits(problem, m, &found[m]));
        if fit && after > before * (1.0 + 1e-12) + 1e-15 {
            for &m in group {
                cached[m] = vec![false; models];
                for &i in &found[m] {
                    cached[m][i] = true;
                }
            }
            idle = 0;
            total = served_weight(problem, demands, &placement(&cached));
            if total >= target {
                break;
            }
        }
    }
    Ok(placement(&cached))
}

/// Whether `models` fit server `m`'s storage, each block counted once (with the limits'
/// tolerance, as the evaluator counts them).
pub fn fits(problem: &CacheProblem, m: usize, models: &[usize]) -> bool {
    problem.stored_bytes(models) <= problem.servers[m].storage_bytes * (1.0 + LIMIT_TOLERANCE)
}
