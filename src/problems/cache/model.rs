//! The exact cache-placement MILP.
//!
//! **Demands.** For every user `k` and requested model `i` the set `S_ki` of servers that could
//! deliver `i` to `k` in time ([`demands`]). Requests with the same model and the same set are
//! aggregated into one demand `g = (i, S)` of weight `w_g = (1/K) sum p_ki` over its requests;
//! this is exact (every request of `g` is served exactly when some server of `S` caches `i`) and
//! shrinks the model when users cluster around the same servers. Requests no server could serve
//! in time are misses whatever is cached and drop out.
//!
//! **Variables.** `x_mi` binary: server `m` caches model `i` (created only where `m` is in some
//! demand set of `i` and `i` alone fits `Q_m`); `y_mj in [0, 1]`: server `m` stores block `j`;
//! `z_g in [0, 1]`: demand `g` is served.
//!
//! **Constraints.** `y_mj >= x_mi` for every block `j` of `i`; storage
//! `sum_j (s_j / Q_m) y_mj <= 1` (each block once, scaled by the capacity for numerics);
//! `z_g <= sum_{m in S_g} x_mi`. **Objective**: maximise `sum_g w_g z_g`, the expected hit ratio.
//!
//! `y` and `z` need not be declared integer: for integer `x`, lowering `y_mj` to
//! `max_i x_mi` and raising `z_g` to `min(1, sum x)` keeps every constraint and the objective, so
//! some optimum has them integral, and the decoder reads the placement from `x` alone.

use std::collections::HashMap;

use good_lp::{constraint, variable, Expression, Solution, Variable};

use super::{CacheProblem, Placement, LIMIT_TOLERANCE};
use crate::solve::milp::{Milp, Values};

/// Requests of one model that the same servers could serve in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    /// The model.
    pub model: usize,
    /// Servers that could deliver it in time, increasing.
    pub servers: Vec<usize>,
    /// Its share of the hit ratio: `(1/K) sum p_ki` over its requests.
    pub weight: f64,
    /// Requests aggregated.
    pub requests: usize,
}

/// Servers that could deliver model `i` to user `k` within its latency limit, increasing
/// (empty when the model does not fit the device or no server is fast enough).
pub fn servable(problem: &CacheProblem, k: usize, i: usize) -> Vec<usize> {
    let user = &problem.users[k];
    let model = &problem.models[i];
    let Some(inference) = user.inference_s[model.base] else {
        return Vec::new();
    };
    let budget = user.latency_limit_s * (1.0 + LIMIT_TOLERANCE) - inference;
    if budget < 0.0 {
        return Vec::new();
    }
    let bits = 8.0 * model.bytes;
    let best_rate = user.rate_bps.iter().copied().fold(0.0, f64::max);
    let relayed = match problem.backhaul_bps {
        Some(b) if best_rate > 0.0 => bits / b + bits / best_rate,
        _ => f64::INFINITY,
    };
    (0..problem.servers.len())
        .filter(|&m| {
            let rate = user.rate_bps[m];
            let direct = if rate > 0.0 {
                bits / rate
            } else {
                f64::INFINITY
            };
            direct.min(relayed) <= budget
        })
        .collect()
}

/// The aggregated demands of an instance, in order of first appearance.
pub fn demands(problem: &CacheProblem) -> Vec<Demand> {
    let users = problem.users.len().max(1) as f64;
    let mut index: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
    let mut out: Vec<Demand> = Vec::new();
    for (k, user) in problem.users.iter().enumerate() {
        for &(i, p) in &user.requests {
            if p <= 0.0 {
                continue;
            }
            let servers = servable(problem, k, i);
            if servers.is_empty() {
                continue;
            }
            let g = *index.entry((i, servers.clone())).or_insert_with(|| {
                out.push(Demand {
                    model: i,
                    servers,
                    weight: 0.0,
                    requests: 0,
                });
                out.len() - 1
            });
            out[g].weight += p / users;
            out[g].requests += 1;
        }
    }
    out
}

/// The MILP of a cache instance and the handles to decode it.
pub struct CacheMilp {
    /// The model.
    pub milp: Milp,
    /// The expected hit ratio times [`CacheMilp::scale`], to maximise.
    pub objective: Expression,
    /// Factor of the objective: `1 / max_g w_g`, so that the largest coefficient is 1 (HiGHS
    /// warns about, and may drop, costs below 1e-5, and Zipf tails of small groups get there).
    pub scale: f64,
    /// `(server, model, x)` for every placement variable.
    pub x: Vec<(usize, usize, Variable)>,
}

impl CacheMilp {
    /// Starts HiGHS from `placement` (its `x`; HiGHS completes `y` and `z`). Pairs without a
    /// variable (useless to cache) are left out.
    pub fn set_start(&mut self, placement: &Placement) {
        let start = self
            .x
            .iter()
            .map(|&(m, i, v)| {
                let on = placement
                    .get(m)
                    .is_some_and(|list| list.binary_search(&i).is_ok());
                (v, if on { 1.0 } else { 0.0 })
            })
            .collect();
        self.milp.set_start(start);
    }

    /// The placement of a solution.
    pub fn decode(x: &[(usize, usize, Variable)], servers: usize, values: &Values) -> Placement {
        let mut placement = vec![Vec::new(); servers];
        for &(m, i, v) in x {
            if values.value(v) > 0.5 {
                placement[m].push(i);
            }
        }
        for models in &mut placement {
            models.sort_unstable();
        }
        placement
    }
}

/// Builds the MILP over `demands` (from [`demands`]).
pub fn build(problem: &CacheProblem, demands: &[Demand]) -> CacheMilp {
    let servers = problem.servers.len();
    let models = problem.models.len();
    let mut milp = Milp::new();
    // x[m][i], created on first use.
    let mut x: Vec<Vec<Option<Variable>>> = vec![vec![None; models]; servers];
    let mut useful = vec![vec![false; models]; servers];
    for d in demands {
        for &m in &d.servers {
            useful[m][d.model] = true;
        }
    }
    let mut handles = Vec::new();
    for m in 0..servers {
        let capacity = problem.servers[m].storage_bytes;
        let mut y: Vec<Option<Variable>> = vec![None; problem.blocks.len()];
        let mut storage = Expression::with_capacity(problem.blocks.len());
        for i in 0..models {
            let model = &problem.models[i];
            if !useful[m][i] || model.bytes > capacity * (1.0 + LIMIT_TOLERANCE) {
                continue;
            }
            let xv = milp.add(variable().binary());
            x[m][i] = Some(xv);
            handles.push((m, i, xv));
            for &j in &model.blocks {
                let yv = *y[j].get_or_insert_with(|| {
                    let v = milp.add(variable().min(0.0).max(1.0));
                    storage.add_mul(problem.blocks[j].bytes / capacity, v);
                    v
                });
                milp.constrain(constraint!(yv >= xv));
            }
        }
        milp.constrain(constraint!(storage <= 1.0 + LIMIT_TOLERANCE));
    }
    let largest = demands.iter().map(|d| d.weight).fold(0.0, f64::max);
    let scale = if largest > 0.0 { 1.0 / largest } else { 1.0 };
    let mut objective = Expression::with_capacity(demands.len());
    for d in demands {
        let mut served = Expression::with_capacity(d.servers.len());
        let mut any = false;
        for &m in &d.servers {
            if let Some(v) = x[m][d.model] {
                served.add_mul(1.0, v);
                any = true;
            }
        }
        if !any {
            continue;
        }
        let z = milp.add(variable().min(0.0).max(1.0));
        milp.constrain(constraint!(z <= served));
        objective.add_mul(d.weight * scale, z);
    }
    CacheMilp {
        milp,
        objective,
        scale,
        x: handles,
    }
}
