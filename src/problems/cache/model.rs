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
//! `y` and `z` need not be integer: for integer `x`, lowering `y_mj` to `max_i x_mi` and raising
//! `z_g` to `min(1, sum x)` keeps every constraint and the objective, so some optimum has them
//! integral, and the decoder reads the placement from `x` alone.
//!
//! **Strengthened form** ([`Formulation::default`], what the exact solve uses; the plain form
//! above is [`Formulation::PLAIN`], kept as the tests' reference). Per server, a block only one
//! candidate model holds is charged to that model's `x` (its `y` would equal `x`); a block that
//! two or more candidate models share (a backbone, the shared layers of top-layer variants) gets
//! a **binary** `y_mj`, so that HiGHS branches on whole families and separates knapsack covers
//! on the storage rows (it does so over integer columns only); a demand only one server can
//! serve is credited to that `x_mi` in the objective (no `z`, no row); the demands of a model
//! whose servers form a small overlap component are served through one column per subset of
//! those servers ([`Coverage`]) instead of a `z` each. Each step keeps the optimum: the same
//! argument as above gives an integral optimum of the plain form that satisfies them.

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

/// Which strengthening the MILP gets. [`Formulation::default`] is the one the exact solve
/// uses; [`Formulation::PLAIN`] is the original model (continuous `y` on every block, one `z` per
/// demand), kept as the reference the tests compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formulation {
    /// Blocks that two or more candidate models of a server share (a backbone) get a binary
    /// `y_mj`, so that branch and bound decides a family at once and HiGHS finds knapsack
    /// covers on the storage rows (it separates them over integer columns only).
    pub binary_shared: bool,
    /// A block that only one candidate model of a server holds is charged to that model's `x`
    /// (no `y`, no linking row).
    pub own_on_x: bool,
    /// A demand only one server can serve is credited to that server's `x` (no `z`, no row).
    pub single_on_x: bool,
    /// The demands of a model whose servers form a small overlap component (see
    /// [`SUBSET_SERVERS`]) are served through one column per subset of the component's servers
    /// ([`Coverage`]) instead of a `z` per demand: the LP then values each model's copies by
    /// the hit ratio of the best mix of whole subsets, which a fractional copy on each of two
    /// overlapping servers no longer inflates.
    pub coverage_subsets: bool,
}

impl Formulation {
    /// The original model.
    pub const PLAIN: Formulation = Formulation {
        binary_shared: false,
        own_on_x: false,
        single_on_x: false,
        coverage_subsets: false,
    };
}

impl Default for Formulation {
    fn default() -> Self {
        Formulation {
            binary_shared: true,
            own_on_x: true,
            single_on_x: true,
            coverage_subsets: true,
        }
    }
}

/// The MILP of a cache instance and the handles to decode it.
pub struct CacheMilp {
    /// The model.
    pub milp: Milp,
    /// The expected hit ratio times [`CacheMilp::scale`], to maximise.
    pub objective: Expression,
    /// Factor of the objective: `1 / max` of its coefficients, so that the largest is 1 (HiGHS
    /// warns about, and may drop, costs below 1e-5, and Zipf tails of small groups get there).
    pub scale: f64,
    /// `(server, model, x)` for every placement variable.
    pub x: Vec<(usize, usize, Variable)>,
    /// Every other variable (`y` and `z`) with the placement variables (indices into
    /// [`CacheMilp::x`]) it follows: it is 1 exactly when one of them is, in the completion of
    /// a placement.
    pub derived: Vec<(Variable, Vec<usize>)>,
    /// The subset columns of the components served that way ([`Formulation::coverage_subsets`]).
    pub coverage: Vec<Coverage>,
}

/// Largest overlap component served by subset columns: at most `2^SUBSET_SERVERS - 1` columns
/// each (1 023; fewer once the subsets with a server that serves nothing alone are left out).
pub const SUBSET_SERVERS: usize = 10;

/// Most subset columns in one MILP (before leaving out the dominated ones): components are taken
/// smallest first, and the rest keep a `z` per demand. The generator's 10 × 100 × 500 needs
/// 102 400 (100 components of 10 servers); past this the LP's columns cost more than the
/// tighter relaxation saves.
pub const SUBSET_COLUMNS: usize = 1 << 17;

/// One model's overlap component (its servers, linked when a demand of the model can be served
/// by both, transitively) served by subset columns.
///
/// A column `lambda_X` for every subset `X` of the component's servers, valued at the weight of
/// the component's demands some server of `X` serves (`f(X)`); `sum_X lambda_X <= 1` and, for
/// every server `m` of the component, `sum_{X containing m} lambda_X <= x_mi`. For binary `x`
/// the best `lambda` puts 1 on the servers caching the model (or a subset of them that serves
/// as much), so the optimum is unchanged; the LP relaxation is the concave closure of the
/// component's coverage, at most the `z` rows' value. A subset with a server that serves no
/// demand alone (no demand meets `X` at that server only) is left out: the subset without it
/// is worth as much and asks less of `x`.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// Placement variables of the component (indices into [`CacheMilp::x`]); bit `b` of a mask
    /// is `members[b]`.
    pub members: Vec<usize>,
    /// The server mask and the weight of every demand of the component.
    demands: Vec<(u32, f64)>,
    /// The column of every subset kept.
    columns: Vec<(u32, Variable)>,
}

impl Coverage {
    /// A server of `mask` that serves no demand alone (its removal keeps `f`), if any.
    fn idle(&self, mask: u32) -> Option<usize> {
        (0..self.members.len())
            .find(|&b| mask >> b & 1 == 1 && !self.demands.iter().any(|&(d, _)| d & mask == 1 << b))
    }

    /// The kept subset worth as much as `mask`: servers that serve nothing alone dropped one at a
    /// time.
    fn reduce(&self, mut mask: u32) -> u32 {
        while let Some(b) = self.idle(mask) {
            mask &= !(1 << b);
        }
        mask
    }
}

impl CacheMilp {
    /// Starts HiGHS from `placement`, complete: its `x` and the `y` and `z` it implies (HiGHS
    /// 1.16 has returned wrong optima from partial starts it had to complete itself). Pairs
    /// without a variable (useless to cache) are left out.
    pub fn set_start(&mut self, placement: &Placement) {
        let on: Vec<bool> = self
            .x
            .iter()
            .map(|&(m, i, _)| {
                placement
                    .get(m)
                    .is_some_and(|list| list.binary_search(&i).is_ok())
            })
            .collect();
        let bit = |b: bool| if b { 1.0 } else { 0.0 };
        let mut start: Vec<(Variable, f64)> = self
            .x
            .iter()
            .zip(&on)
            .map(|(&(_, _, v), &b)| (v, bit(b)))
            .collect();
        start.extend(
            self.derived
                .iter()
                .map(|(v, of)| (*v, bit(of.iter().any(|&k| on[k])))),
        );
        for cover in &self.coverage {
            let on_mask = cover
                .members
                .iter()
                .enumerate()
                .filter(|&(_, &k)| on[k])
                .fold(0u32, |mask, (b, _)| mask | 1 << b);
            let chosen = cover.reduce(on_mask);
            start.extend(
                cover
                    .columns
                    .iter()
                    .map(|&(mask, v)| (v, bit(chosen != 0 && mask == chosen))),
            );
        }
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

/// Builds the MILP over `demands` (from [`demands`]) in the default [`Formulation`].
pub fn build(problem: &CacheProblem, demands: &[Demand]) -> CacheMilp {
    build_with(problem, demands, Formulation::default())
}

/// Builds the MILP over `demands` in formulation `form`.
pub fn build_with(problem: &CacheProblem, demands: &[Demand], form: Formulation) -> CacheMilp {
    let servers = problem.servers.len();
    let models = problem.models.len();
    let mut milp = Milp::new();
    let mut useful = vec![vec![false; models]; servers];
    for d in demands {
        for &m in &d.servers {
            useful[m][d.model] = true;
        }
    }
    // Objective weight of every x (single-server demands) and of every demand row.
    let mut x_weight = vec![vec![0.0; models]; servers];
    let mut rows: Vec<&Demand> = Vec::new();
    for d in demands {
        if form.single_on_x && d.servers.len() == 1 {
            x_weight[d.servers[0]][d.model] += d.weight;
        } else {
            rows.push(d);
        }
    }
    // x[m][i], index into `handles`.
    let mut x: Vec<Vec<Option<usize>>> = vec![vec![None; models]; servers];
    let mut handles: Vec<(usize, usize, Variable)> = Vec::new();
    let mut derived: Vec<(Variable, Vec<usize>)> = Vec::new();
    for m in 0..servers {
        let capacity = problem.servers[m].storage_bytes;
        let server = &problem.servers[m].name;
        let candidates: Vec<usize> = (0..models)
            .filter(|&i| {
                useful[m][i] && problem.models[i].bytes <= capacity * (1.0 + LIMIT_TOLERANCE)
            })
            .collect();
        // Candidate models holding each block, in increasing order.
        let mut holders: Vec<Vec<usize>> = vec![Vec::new(); problem.blocks.len()];
        for &i in &candidates {
            x[m][i] = Some(handles.len());
            let name = format!("x[{server},{}]", problem.models[i].name);
            handles.push((m, i, milp.add(variable().binary().name(name))));
            for &j in &problem.models[i].blocks {
                holders[j].push(i);
            }
        }
        let mut storage = Expression::with_capacity(problem.blocks.len() + candidates.len());
        for (j, held) in holders.iter().enumerate() {
            let share = problem.blocks[j].bytes / capacity;
            match held.len() {
                0 => {}
                1 if form.own_on_x => {
                    let k = x[m][held[0]].expect("candidate");
                    storage.add_mul(share, handles[k].2);
                }
                n => {
                    let block = &problem.blocks[j].name;
                    let def = variable()
                        .min(0.0)
                        .max(1.0)
                        .name(format!("y[{server},{block}]"));
                    let yv = milp.add(if form.binary_shared && n >= 2 {
                        def.binary()
                    } else {
                        def
                    });
                    storage.add_mul(share, yv);
                    let mut of = Vec::with_capacity(n);
                    for &i in held {
                        let k = x[m][i].expect("candidate");
                        let xv = handles[k].2;
                        let name = format!("holds[{server},{block},{}]", problem.models[i].name);
                        milp.constrain_named(name, constraint!(yv >= xv));
                        of.push(k);
                    }
                    derived.push((yv, of));
                }
            }
        }
        if !candidates.is_empty() {
            milp.constrain_named(
                format!("storage[{server}]"),
                constraint!(storage <= 1.0 + LIMIT_TOLERANCE),
            );
        }
    }
    let mut terms: Vec<(f64, Variable)> = Vec::new();
    for &(m, i, v) in &handles {
        if x_weight[m][i] > 0.0 {
            terms.push((x_weight[m][i], v));
        }
    }
    // Each demand row with the placement variables that serve it.
    let rows: Vec<(&Demand, Vec<usize>)> = rows
        .into_iter()
        .map(|d| {
            let of: Vec<usize> = d.servers.iter().filter_map(|&m| x[m][d.model]).collect();
            (d, of)
        })
        .filter(|(_, of)| !of.is_empty())
        .collect();
    let subset_rows = if form.coverage_subsets {
        subset_components(&rows, handles.len())
    } else {
        vec![None; rows.len()]
    };
    let mut coverage: Vec<Coverage> = Vec::new();
    let mut component_of: HashMap<usize, usize> = HashMap::new();
    for (g, ((d, of), component)) in rows.iter().zip(&subset_rows).enumerate() {
        if let Some(members) = component {
            let c = *component_of.entry(members[0]).or_insert_with(|| {
                coverage.push(Coverage {
                    members: members.clone(),
                    demands: Vec::new(),
                    columns: Vec::new(),
                });
                coverage.len() - 1
            });
            let bits = &coverage[c].members;
            let mask = of.iter().fold(0u32, |mask, k| {
                mask | 1 << bits.binary_search(k).expect("member of its component")
            });
            coverage[c].demands.push((mask, d.weight));
            continue;
        }
        let name = format!("served[{},demand{g}]", problem.models[d.model].name);
        let z = milp.add(variable().min(0.0).max(1.0).name(name.clone()));
        let served: Expression = of.iter().map(|&k| handles[k].2).sum();
        milp.constrain_named(
            name.replace("served[", "served_by["),
            constraint!(z <= served),
        );
        terms.push((d.weight, z));
        derived.push((z, of.clone()));
    }
    for cover in &mut coverage {
        let (_, model, _) = handles[cover.members[0]];
        let model_name = &problem.models[model].name;
        let mut copies = Expression::with_capacity(1 << cover.members.len());
        let mut at: Vec<Expression> = vec![Expression::default(); cover.members.len()];
        for mask in 1u32..1 << cover.members.len() {
            if cover.idle(mask).is_some() {
                continue;
            }
            let worth: f64 = cover
                .demands
                .iter()
                .filter(|&&(d, _)| d & mask != 0)
                .map(|&(_, w)| w)
                .sum();
            let servers: Vec<&str> = (0..cover.members.len())
                .filter(|&b| mask >> b & 1 == 1)
                .map(|b| problem.servers[handles[cover.members[b]].0].name.as_str())
                .collect();
            let name = format!("covers[{model_name},{}]", servers.join("+"));
            let lambda = milp.add(variable().min(0.0).max(1.0).name(name));
            copies.add_mul(1.0, lambda);
            for (b, expr) in at.iter_mut().enumerate() {
                if mask >> b & 1 == 1 {
                    expr.add_mul(1.0, lambda);
                }
            }
            terms.push((worth, lambda));
            cover.columns.push((mask, lambda));
        }
        milp.constrain_named(
            format!(
                "subsets[{model_name},{}]",
                problem.servers[handles[cover.members[0]].0].name
            ),
            constraint!(copies <= 1.0),
        );
        for (&k, expr) in cover.members.iter().zip(at) {
            let (m, _, xv) = handles[k];
            let name = format!("covered_by[{},{model_name}]", problem.servers[m].name);
            milp.constrain_named(name, constraint!(expr <= xv));
        }
    }
    let largest = terms.iter().map(|t| t.0).fold(0.0, f64::max);
    let scale = if largest > 0.0 { 1.0 / largest } else { 1.0 };
    let mut objective = Expression::with_capacity(terms.len());
    for (w, v) in terms {
        objective.add_mul(w * scale, v);
    }
    CacheMilp {
        milp,
        objective,
        scale,
        x: handles,
        derived,
        coverage,
    }
}

/// For every demand row (its placement variables `of`, indices below `handles`), the members of
/// its model's overlap component when that component is served by subset columns: components of
/// at most [`SUBSET_SERVERS`] servers, smallest first, while the columns they need stay within
/// [`SUBSET_COLUMNS`].
fn subset_components(rows: &[(&Demand, Vec<usize>)], handles: usize) -> Vec<Option<Vec<usize>>> {
    // Union-find over the placement variables: a demand links the servers that can serve it.
    let mut parent: Vec<usize> = (0..handles).collect();
    fn root(parent: &mut [usize], mut k: usize) -> usize {
        while parent[k] != k {
            parent[k] = parent[parent[k]];
            k = parent[k];
        }
        k
    }
    for (_, of) in rows {
        for &k in &of[1..] {
            let (a, b) = (root(&mut parent, of[0]), root(&mut parent, k));
            parent[a] = b;
        }
    }
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (_, of) in rows {
        for &k in of {
            let r = root(&mut parent, k);
            members.entry(r).or_default().push(k);
        }
    }
    for list in members.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    let mut order: Vec<(usize, usize)> = members
        .iter()
        .filter(|(_, list)| list.len() <= SUBSET_SERVERS)
        .map(|(&r, list)| (list.len(), r))
        .collect();
    order.sort_unstable();
    let mut columns = 0usize;
    let mut chosen: HashMap<usize, Vec<usize>> = HashMap::new();
    for (n, r) in order {
        columns += 1 << n;
        if columns > SUBSET_COLUMNS {
            break;
        }
        chosen.insert(r, members[&r].clone());
    }
    rows.iter()
        .map(|(_, of)| chosen.get(&root(&mut parent, of[0])).cloned())
        .collect()
}
