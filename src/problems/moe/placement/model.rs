//! The placement MILP (HiGHS), one model per objective. Items are the `(block j, expert e)`
//! pairs; `x[n][j] = expert_s[n][j]`, `rt[n] = rt_s[n]`, `f[j][e]` the activation frequency.
//! A pair `(j, e, n)` gets variables only when one expert of block `j` fits node `n` alone.
//!
//! **Latency** (the expected decode latency of [`score::placement_latency`]). Only primary
//! replicas enter the latency, and a replica only adds memory, so an optimal plan needs none:
//! every plan with replicas has a single-replica plan (its primaries) of the same latency that
//! fits whenever it fits. Binary `y[j][e][n]`: expert `e` of block `j` lives on `n`, with
//! `sum_n y[j][e][n] = 1`. For every pattern `S` of block `j` (probability `p_S`) a continuous
//! `T[j][S]`, the block's expert time for that pattern:
//!
//! - `T[j][S] >= x[n][j] * sum_{e' in S} y[j][e'][n] + rt[n] * y[j][e][n]` for every node `n`
//!   and `e in S` (one row per `(S, n, e)`; a single row per `(S, n)` when `rt[n] = 0`). With
//!   binary `y` the largest right-hand side is `rt[n] + count_n * x[n][j]` of the busiest node
//!   serving `S` (nodes serving none give 0), so at the optimum `T[j][S]` is exactly
//!   [`score::placement_block_s`].
//! - Valid inequalities: `T[j][S] >= sum_n (rt[n] + x[n][j]) y[j][e][n]` for every `e in S` (the
//!   node of `e` takes at least its round trip and `e`), and the bound `T[j][S] >= L[j][S]`, the
//!   least block time of `S` over all assignments regardless of memory: the `|S|`-th smallest of
//!   `{rt[n] + c x[n][j] : n, c = 1..|S|}` (assigning unit jobs one at a time to the node that
//!   would finish first is optimal, and it picks exactly those values).
//! - Pair rows, for every pattern of two experts `S = {e, f}` (top-2 routing, as in Mixtral;
//!   left out when they would take more than 250,000 columns): the linearisation of the pair's
//!   joint placement (Adams and Johnson's for quadratic assignment), continuous `w[n][m] >= 0`
//!   with `sum_m w[n][m] = y[j][e][n]`, `sum_n w[n][m] = y[j][f][m]` and `T[j][S] >= sum_{n,m}
//!   c(n, m) w[n][m]`, `c(n, n) = rt[n] + 2 x[n][j]`, `c(n, m) = max(rt[n] + x[n][j], rt[m] +
//!   x[m][j])`: the block time of `S` with `e` on `n` and `f` on `m`. With binary `y` the only
//!   such `w` is the product `y[j][e][n] y[j][f][m]`, so the row holds with equality at the
//!   plan's time; the relaxation is much stronger when memory forces co-activated experts apart
//!   (it prices the pair's co-location, which the rows above see only once `y` is integral).
//! - Objective `dense_s + sum_{j,S} p_S T[j][S]`, the terms of [`score::placement_latency`].
//!
//! **Throughput** (the period of [`score::placement_period`]). Binary `y[j][e][n]` (a replica on
//! `n`), continuous shares `0 <= phi[j][e][n] <= y[j][e][n]` with `sum_n phi[j][e][n] = 1`, and
//! the period `P`: `P >= [n = home] dense_s + sum_{j,e} f[j][e] x[n][j] phi[j][e][n]` per node
//! and `P >= max(send[n], recv[n]) sum_{j,e} f[j][e] phi[j][e][n]` per other node (both link
//! directions carry the same activations, so the dearer one bounds the other). Objective `P`.
//! Replicas cost memory only; the shares are free. HiGHS keeps rows only to its MIP feasibility
//! tolerance (1e-6 after scaling), which the incumbent's shares may use: the plan's shares come
//! from the linear program of these rows with the incumbent's replicas fixed (its simplex
//! solution is exact to rounding), kept when its period is no worse.
//!
//! **Memory** (both): `sum_{j,e} bytes[j] y[j][e][n] <= capacity[n]` per node, with the slack of
//! [`score::fits`] (when every block's experts have the same size: the whole number of experts
//! that fit, so the row is exact in integers).
//!
//! **Symmetry.** Nodes other than the home with identical prices and capacity (latency: expert
//! times, round trip, capacity; throughput: expert times, both airtimes, capacity) are
//! interchangeable: permuting them maps plans to plans of the same objective and memory. With the
//! items in a fixed order (block-major) and such nodes `a < b` consecutive in their class, every
//! optimum can be permuted so that the class's nodes are sorted by the first item they hold
//! (nodes holding none last): latency `y[i][b] <= sum_{i' < i} y[i'][a]` (a partition, so the
//! first items of two nodes differ), throughput `y[i][b] <= sum_{i' <= i} y[i'][a]` (replicas may
//! give two nodes the same first item). A MIP start is permuted the same way before it is passed.
//!
//! **Scaling.** HiGHS's tolerances are absolute, so the times are expressed in units of their own
//! size: `T[j][S] = L[j][S] T'` and `P = sigma P'` with `sigma = max(dense_s, (dense_s +
//! sum_i f_i min_n x[n][j]) / nodes)`, a lower bound of the period (every node's load summed is
//! at least the dense part and each expert's cheapest work), so `T' >= 1` and `P' >= 1`; every
//! time row is divided by its unit, so its coefficients are near 1. (With the rows in seconds,
//! coefficients around 1e-5, HiGHS 1.16's presolve returned a suboptimal throughput plan as
//! optimal on a 17-row model: the oracle test's seed 359.)
//!
//! [`score::placement_latency`]: super::super::score::placement_latency
//! [`score::placement_block_s`]: super::super::score::placement_block_s
//! [`score::placement_period`]: super::super::score::placement_period
//! [`score::fits`]: super::super::score::fits

use std::time::Instant;

use good_lp::constraint::{eq, geq, leq};
use good_lp::{variable, Expression, Solution, Variable};

use super::super::price::Prices;
use super::super::score;
use super::super::{Exact, MoePlan, MoeProblem};
use super::{
    has_room, homes_fit, is_throughput, items, limit, plan_from_shares, primaries, share_lp,
    well_formed,
};
use crate::error::{Error, Result};
use crate::solve::milp::{Milp, MipOptions, Values};
use crate::solve::report::Termination;

/// The exact placement MILP of `problem` (the module documentation gives the model) solved with
/// HiGHS under `options`; `start` (e.g. [`super::greedy`]'s plan) is passed as a complete MIP
/// start when it is a well-formed plan that fits. The plan is read off the incumbent (latency: the
/// node of every expert; throughput: the replicas with `y` set and their best shares, see the
/// module documentation, replicas with a share above `1e-9`, the largest share first). A
/// trivially infeasible instance (a node that cannot hold its fixed part, an expert that fits no
/// node) ends `Infeasible` without a solve.
pub fn milp(
    problem: &MoeProblem,
    prices: &Prices,
    options: &MipOptions,
    start: Option<&MoePlan>,
) -> Result<Exact> {
    if problem.task != super::super::Task::Placement {
        return Err(Error::Internal(
            "placement::milp called on a cache instance".into(),
        ));
    }
    let t0 = Instant::now();
    let items = items(problem);
    let empty = vec![0.0; problem.node_count()];
    let allowed = |j: usize, n: usize| has_room(prices, &empty, n, prices.expert_bytes[j]);
    let infeasible = !homes_fit(prices)
        || items
            .iter()
            .any(|&(j, _)| !(0..problem.node_count()).any(|n| allowed(j, n)));
    if infeasible {
        return Ok(Exact {
            plan: None,
            termination: Termination::Infeasible,
            bound: None,
            nodes: None,
            size: None,
            build_s: t0.elapsed().as_secs_f64(),
            solve_s: 0.0,
        });
    }
    let mut model = Model::build(problem, prices);
    if let Some(plan) = start {
        if let Some(values) = model.start(problem, prices, plan) {
            model.milp.set_start(values);
        }
    }
    let size = model.milp.size();
    let build_s = t0.elapsed().as_secs_f64();
    let Model {
        milp,
        objective,
        columns,
        ..
    } = model;
    let result = milp.minimise(objective, options)?;
    let plan = result.values.as_ref().map(|v| {
        let plan = columns.decode(v);
        if !columns.throughput {
            return plan;
        }
        // The incumbent's shares may be off by HiGHS's MIP feasibility tolerance: the shares LP
        // over its replicas gives the best shares for them (kept unless it fails or is worse).
        match share_lp(problem, prices, &columns.replica_sets(v)) {
            Ok(polished)
                if score::placement_period(problem, prices, &polished)
                    <= score::placement_period(problem, prices, &plan) =>
            {
                polished
            }
            _ => plan,
        }
    });
    Ok(Exact {
        plan,
        termination: result.termination,
        bound: result.bound,
        nodes: result.nodes,
        size: Some(size),
        build_s,
        solve_s: result.solve_s,
    })
}

/// The most pair columns `w` the latency model gets (a Mixtral-sized instance with 8 nodes has
/// about 57,000); beyond, the pair rows are left out.
const MAX_PAIR_COLUMNS: usize = 250_000;

/// The variables of a built model.
struct Columns {
    /// Whether the model is the throughput one.
    throughput: bool,
    /// `y[j][e][n]` (`None`: one expert of block `j` does not fit node `n`).
    y: Vec<Vec<Vec<Option<Variable>>>>,
    /// Throughput: `phi[j][e][n]`, where `y` exists.
    phi: Vec<Vec<Vec<Option<Variable>>>>,
    /// Latency: `T'[j][S]` and its unit `L[j][S]`.
    t: Vec<Vec<(Variable, f64)>>,
    /// Throughput: `P'` and its unit `sigma`.
    period: Option<(Variable, f64)>,
    /// Latency: the pair columns of patterns of two experts.
    w: Vec<Pair>,
}

/// The pair columns of a pattern of two experts `e < f` of block `j`: `w[n][m]` as `(n, m,
/// column)`.
struct Pair {
    j: usize,
    e: usize,
    f: usize,
    cells: Vec<(usize, usize, Variable)>,
}

impl Columns {
    /// The replica nodes of every expert in a solution (`y` set; at least the largest `y`).
    fn replica_sets(&self, values: &Values) -> Vec<Vec<Vec<usize>>> {
        self.y
            .iter()
            .map(|block| {
                block
                    .iter()
                    .map(|row| {
                        let set: Vec<(usize, f64)> = row
                            .iter()
                            .enumerate()
                            .filter_map(|(n, v)| v.map(|v| (n, values.value(v))))
                            .collect();
                        let on: Vec<usize> =
                            set.iter().filter(|r| r.1 > 0.5).map(|r| r.0).collect();
                        if on.is_empty() {
                            set.iter()
                                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                                .map(|r| vec![r.0])
                                .unwrap_or_default()
                        } else {
                            on
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The plan of a solution.
    fn decode(&self, values: &Values) -> MoePlan {
        let shares: Vec<Vec<Vec<(usize, f64)>>> = self
            .y
            .iter()
            .enumerate()
            .map(|(j, block)| {
                block
                    .iter()
                    .enumerate()
                    .map(|(e, row)| {
                        let set: Vec<(usize, f64)> = row
                            .iter()
                            .enumerate()
                            .filter_map(|(n, v)| v.map(|v| (n, values.value(v))))
                            .collect();
                        if self.throughput {
                            let mut list: Vec<(usize, f64)> = set
                                .iter()
                                .filter(|&&(_, y)| y > 0.5)
                                .map(|&(n, _)| {
                                    (n, self.phi[j][e][n].map_or(0.0, |p| values.value(p)))
                                })
                                .collect();
                            if list.is_empty() {
                                // Cannot happen with an incumbent (sum phi = 1, phi <= y).
                                list = set;
                            }
                            list
                        } else {
                            let best = set
                                .iter()
                                .copied()
                                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                                .map_or(0, |(n, _)| n);
                            vec![(best, 1.0)]
                        }
                    })
                    .collect()
            })
            .collect();
        plan_from_shares(&shares)
    }
}

/// A built model.
struct Model {
    milp: Milp,
    objective: Expression,
    columns: Columns,
    /// Classes of interchangeable nodes (ascending, two or more each).
    classes: Vec<Vec<usize>>,
}

/// The least expert time of one block for a pattern of `k` experts, whatever the memory: the
/// `k`-th smallest of `rt[n] + c x[n][j]` over the nodes in `nodes` and `c = 1..k`.
fn least_block_s(prices: &Prices, j: usize, k: usize, nodes: &[usize]) -> f64 {
    let mut values: Vec<f64> = nodes
        .iter()
        .flat_map(|&n| (1..=k).map(move |c| prices.rt_s[n] + c as f64 * prices.expert_s[n][j]))
        .collect();
    values.sort_by(f64::total_cmp);
    values.get(k.max(1) - 1).copied().unwrap_or(0.0)
}

/// A positive unit for a time whose lower bound is `bound`.
fn unit(bound: f64) -> f64 {
    if bound > 0.0 && bound.is_finite() {
        bound
    } else {
        1.0
    }
}

/// Nodes other than the home that are interchangeable under the objective, as classes of two or
/// more (ascending).
fn node_classes(problem: &MoeProblem, prices: &Prices) -> Vec<Vec<usize>> {
    let key = |n: usize| -> Vec<u64> {
        let mut k: Vec<u64> = prices.expert_s[n].iter().map(|x| x.to_bits()).collect();
        k.push(prices.capacity[n].to_bits());
        if is_throughput(problem) {
            k.push(prices.send_air_s[n].to_bits());
            k.push(prices.recv_air_s[n].to_bits());
        } else {
            k.push(prices.rt_s[n].to_bits());
        }
        k
    };
    let mut classes: Vec<(Vec<u64>, Vec<usize>)> = Vec::new();
    for n in (0..problem.node_count()).filter(|&n| n != problem.home) {
        let k = key(n);
        match classes.iter_mut().find(|(c, _)| *c == k) {
            Some((_, members)) => members.push(n),
            None => classes.push((k, vec![n])),
        }
    }
    classes
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.len() > 1)
        .collect()
}

impl Model {
    fn build(problem: &MoeProblem, prices: &Prices) -> Model {
        let throughput = is_throughput(problem);
        let n_nodes = problem.node_count();
        let blocks = &problem.routing.blocks;
        let empty = vec![0.0; n_nodes];
        let fits_alone = |j: usize, n: usize| has_room(prices, &empty, n, prices.expert_bytes[j]);
        let mut milp = Milp::new();
        let y: Vec<Vec<Vec<Option<Variable>>>> = blocks
            .iter()
            .enumerate()
            .map(|(j, b)| {
                (0..b.experts)
                    .map(|e| {
                        (0..n_nodes)
                            .map(|n| {
                                fits_alone(j, n).then(|| {
                                    let name =
                                        format!("y[block{j},expert{e},{}]", problem.nodes[n].name);
                                    milp.add(variable().binary().name(name))
                                })
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut columns = Columns {
            throughput,
            y,
            phi: Vec::new(),
            t: Vec::new(),
            period: None,
            w: Vec::new(),
        };
        let mut objective = Expression::from(0.0);

        // Memory.
        let b_max = prices.expert_bytes.iter().copied().fold(0.0, f64::max);
        let uniform = prices.expert_bytes.iter().all(|&b| b == b_max);
        for n in 0..n_nodes {
            let mut lhs = Expression::with_capacity(0);
            let mut any = false;
            for (j, block) in columns.y.iter().enumerate() {
                let coef = if uniform {
                    1.0
                } else {
                    prices.expert_bytes[j] / b_max
                };
                for row in block {
                    if let Some(v) = row[n] {
                        lhs.add_mul(coef, v);
                        any = true;
                    }
                }
            }
            if !any {
                continue;
            }
            let rhs = if uniform {
                // The number of experts that fit: count * bytes within the limit.
                let lim = limit(prices, n);
                let mut c = (lim / b_max).floor().max(0.0);
                while c > 0.0 && c * b_max > lim {
                    c -= 1.0;
                }
                while (c + 1.0) * b_max <= lim {
                    c += 1.0;
                }
                c
            } else {
                limit(prices, n) / b_max
            };
            milp.constrain_named(format!("memory[{}]", problem.nodes[n].name), leq(lhs, rhs));
        }

        if throughput {
            Self::throughput_rows(problem, prices, &mut milp, &mut columns, &mut objective);
        } else {
            Self::latency_rows(problem, prices, &mut milp, &mut columns, &mut objective);
        }

        // Symmetry between interchangeable nodes.
        let classes = node_classes(problem, prices);
        let order = items(problem);
        for class in &classes {
            for pair in class.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let mut prefix = Expression::with_capacity(order.len());
                for &(j, e) in &order {
                    let (ya, yb) = (columns.y[j][e][a], columns.y[j][e][b]);
                    if throughput {
                        if let Some(v) = ya {
                            prefix.add_mul(1.0, v);
                        }
                    }
                    if let Some(vb) = yb {
                        let name = format!(
                            "symmetry[{},{},block{j},expert{e}]",
                            problem.nodes[a].name, problem.nodes[b].name
                        );
                        milp.constrain_named(name, leq(Expression::from(vb) - prefix.clone(), 0.0));
                    }
                    if !throughput {
                        if let Some(v) = ya {
                            prefix.add_mul(1.0, v);
                        }
                    }
                }
            }
        }

        Model {
            milp,
            objective,
            columns,
            classes,
        }
    }

    fn latency_rows(
        problem: &MoeProblem,
        prices: &Prices,
        milp: &mut Milp,
        columns: &mut Columns,
        objective: &mut Expression,
    ) {
        let n_nodes = problem.node_count();
        *objective += prices.dense_s;
        for (j, block) in columns.y.iter().enumerate() {
            for (e, row) in block.iter().enumerate() {
                let mut sum = Expression::with_capacity(n_nodes);
                for v in row.iter().flatten() {
                    sum.add_mul(1.0, *v);
                }
                milp.constrain_named(format!("one_node[block{j},expert{e}]"), eq(sum, 1.0));
            }
        }
        let pair_columns: usize = problem
            .routing
            .blocks
            .iter()
            .map(|b| b.patterns.iter().filter(|p| p.experts.len() == 2).count())
            .sum::<usize>()
            * n_nodes
            * n_nodes;
        let pairs = pair_columns <= MAX_PAIR_COLUMNS;
        for (j, routing) in problem.routing.blocks.iter().enumerate() {
            let y = &columns.y[j];
            let nodes: Vec<usize> = (0..n_nodes)
                .filter(|&n| y.first().is_some_and(|row| row[n].is_some()))
                .collect();
            let mut ts = Vec::with_capacity(routing.patterns.len());
            for (k, pattern) in routing.patterns.iter().enumerate() {
                let s = &pattern.experts;
                let bound = least_block_s(prices, j, s.len(), &nodes);
                let u = unit(bound);
                let label = format!("block{j},pattern{k}");
                let t = milp.add(
                    variable()
                        .min(bound / u)
                        .name(format!("block_time[{label}]")),
                );
                objective.add_mul(pattern.prob * u, t);
                for &n in &nodes {
                    let (x, rt) = (prices.expert_s[n][j], prices.rt_s[n]);
                    let mut count = Expression::with_capacity(s.len());
                    for &e in s {
                        count.add_mul(x / u, y[e][n].expect("node allowed for the block"));
                    }
                    let node = &problem.nodes[n].name;
                    if rt == 0.0 {
                        milp.constrain_named(format!("block_time[{label},{node}]"), geq(t, count));
                    } else {
                        for &e in s {
                            let mut rhs = count.clone();
                            rhs.add_mul(rt / u, y[e][n].expect("node allowed for the block"));
                            let name = format!("block_time[{label},{node},expert{e}]");
                            milp.constrain_named(name, geq(t, rhs));
                        }
                    }
                }
                for &e in s {
                    let mut own = Expression::with_capacity(nodes.len());
                    for &n in &nodes {
                        own.add_mul(
                            (prices.rt_s[n] + prices.expert_s[n][j]) / u,
                            y[e][n].expect("node allowed for the block"),
                        );
                    }
                    milp.constrain_named(format!("block_time[{label},expert{e}]"), geq(t, own));
                }
                if pairs && s.len() == 2 {
                    let (e, f) = (s[0], s[1]);
                    let mut cost = Expression::with_capacity(nodes.len() * nodes.len());
                    let mut of_e: Vec<Expression> =
                        nodes.iter().map(|_| Expression::from(0.0)).collect();
                    let mut of_f = of_e.clone();
                    let mut ws = Vec::with_capacity(nodes.len() * nodes.len());
                    for (a, &n) in nodes.iter().enumerate() {
                        for (b, &m) in nodes.iter().enumerate() {
                            let c = if n == m {
                                prices.rt_s[n] + 2.0 * prices.expert_s[n][j]
                            } else {
                                (prices.rt_s[n] + prices.expert_s[n][j])
                                    .max(prices.rt_s[m] + prices.expert_s[m][j])
                            };
                            let name = format!(
                                "pair[{label},{},{}]",
                                problem.nodes[n].name, problem.nodes[m].name
                            );
                            let w = milp.add(variable().min(0.0).name(name));
                            cost.add_mul(c / u, w);
                            of_e[a].add_mul(1.0, w);
                            of_f[b].add_mul(1.0, w);
                            ws.push((n, m, w));
                        }
                    }
                    for (a, &n) in nodes.iter().enumerate() {
                        let (ye, yf) = (y[e][n], y[f][n]);
                        let ye = ye.expect("node allowed for the block");
                        let yf = yf.expect("node allowed for the block");
                        let node = &problem.nodes[n].name;
                        let first = format!("pair_first[{label},{node}]");
                        milp.constrain_named(first, eq(of_e[a].clone() - ye, 0.0));
                        let second = format!("pair_second[{label},{node}]");
                        milp.constrain_named(second, eq(of_f[a].clone() - yf, 0.0));
                    }
                    milp.constrain_named(format!("block_time_pair[{label}]"), geq(t, cost));
                    columns.w.push(Pair { j, e, f, cells: ws });
                }
                ts.push((t, u));
            }
            columns.t.push(ts);
        }
    }

    fn throughput_rows(
        problem: &MoeProblem,
        prices: &Prices,
        milp: &mut Milp,
        columns: &mut Columns,
        objective: &mut Expression,
    ) {
        let n_nodes = problem.node_count();
        let home = problem.home;
        let freq: Vec<Vec<f64>> = problem
            .routing
            .blocks
            .iter()
            .map(|b| b.frequency())
            .collect();
        // sigma: a lower bound of the period.
        let mut work = prices.dense_s;
        for (j, f) in freq.iter().enumerate() {
            let cheapest = (0..n_nodes)
                .filter(|&n| columns.y[j].first().is_some_and(|row| row[n].is_some()))
                .map(|n| prices.expert_s[n][j])
                .fold(f64::INFINITY, f64::min);
            if cheapest.is_finite() {
                work += f.iter().sum::<f64>() * cheapest;
            }
        }
        let bound = prices.dense_s.max(work / n_nodes as f64);
        let sigma = unit(bound);
        let p = milp.add(variable().min(bound / sigma).name("period"));
        objective.add_mul(sigma, p);
        columns.period = Some((p, sigma));

        let mut phi = Vec::with_capacity(columns.y.len());
        for (j, block) in columns.y.iter().enumerate() {
            let mut rows = Vec::with_capacity(block.len());
            for (e, row) in block.iter().enumerate() {
                let mut sum = Expression::with_capacity(n_nodes);
                let mut vars = Vec::with_capacity(n_nodes);
                for (n, v) in row.iter().enumerate() {
                    vars.push(v.map(|y| {
                        let label = format!("block{j},expert{e},{}", problem.nodes[n].name);
                        let share =
                            milp.add(variable().min(0.0).max(1.0).name(format!("share[{label}]")));
                        milp.constrain_named(
                            format!("share_if_placed[{label}]"),
                            leq(Expression::from(share) - y, 0.0),
                        );
                        sum.add_mul(1.0, share);
                        share
                    }));
                }
                milp.constrain_named(format!("shares[block{j},expert{e}]"), eq(sum, 1.0));
                rows.push(vars);
            }
            phi.push(rows);
        }
        for n in 0..n_nodes {
            let mut compute = Expression::with_capacity(0);
            let mut mass = Expression::with_capacity(0);
            let mut any = false;
            for (j, block) in phi.iter().enumerate() {
                for (e, row) in block.iter().enumerate() {
                    if let Some(v) = row[n] {
                        let f = freq[j][e];
                        if f > 0.0 {
                            compute.add_mul(f * prices.expert_s[n][j] / sigma, v);
                            mass.add_mul(f, v);
                            any = true;
                        }
                    }
                }
            }
            if !any {
                continue;
            }
            let fixed = if n == home { prices.dense_s } else { 0.0 };
            let node = &problem.nodes[n].name;
            milp.constrain_named(
                format!("period_compute[{node}]"),
                geq(p - compute, fixed / sigma),
            );
            let air = prices.send_air_s[n].max(prices.recv_air_s[n]);
            if air > 0.0 {
                let name = format!("period_airtime[{node}]");
                milp.constrain_named(name, geq(p - (air / sigma) * mass, 0.0));
            }
        }
        columns.phi = phi;
    }

    /// A complete MIP start for `plan`: `None` when it is not a well-formed plan that fits or
    /// uses a pair without variables.
    fn start(
        &self,
        problem: &MoeProblem,
        prices: &Prices,
        plan: &MoePlan,
    ) -> Option<Vec<(Variable, f64)>> {
        if !well_formed(problem, plan) || !score::fits(problem, prices, plan) {
            return None;
        }
        let throughput = self.columns.throughput;
        // Latency: the primaries only (replicas add nothing but memory).
        let plan = if throughput {
            plan.clone()
        } else {
            MoePlan::single(&primaries(plan))
        };
        let plan = self.canonical(problem, &plan);
        let mut out = Vec::new();
        for (j, block) in self.columns.y.iter().enumerate() {
            for (e, row) in block.iter().enumerate() {
                let replicas = &plan.experts[j][e];
                for r in replicas {
                    row[r.node]?;
                }
                for (n, v) in row.iter().enumerate() {
                    let Some(v) = v else { continue };
                    let share = replicas
                        .iter()
                        .find(|r| r.node == n)
                        .map_or(0.0, |r| r.share);
                    let on = replicas.iter().any(|r| r.node == n);
                    out.push((*v, f64::from(u8::from(on))));
                    if let Some(p) = self.columns.phi.get(j).and_then(|b| b[e][n]) {
                        out.push((p, share));
                    }
                }
            }
        }
        if let Some((p, sigma)) = self.columns.period {
            let period = score::placement_period(problem, prices, &plan);
            out.push((p, (period / sigma).max(1.0)));
        }
        let primary = primaries(&plan);
        for pair in &self.columns.w {
            let (a, b) = (primary[pair.j][pair.e], primary[pair.j][pair.f]);
            for &(n, m, w) in &pair.cells {
                out.push((w, f64::from(u8::from(n == a && m == b))));
            }
        }
        for (j, ts) in self.columns.t.iter().enumerate() {
            for (pattern, &(t, u)) in problem.routing.blocks[j].patterns.iter().zip(ts) {
                let s = score::placement_block_s(prices, j, &pattern.experts, |e| primary[j][e]);
                let low = least_block_s_of(self, j, pattern.experts.len(), prices) / u;
                out.push((t, (s / u).max(low)));
            }
        }
        Some(out)
    }

    /// `plan` with every class of interchangeable nodes renumbered so that its nodes are in the
    /// order of the first item (block-major) they hold, nodes holding none last: the order the
    /// symmetry rows ask for.
    fn canonical(&self, problem: &MoeProblem, plan: &MoePlan) -> MoePlan {
        let order = items(problem);
        let mut map: Vec<usize> = (0..problem.node_count()).collect();
        for class in &self.classes {
            let first = |n: usize| {
                order
                    .iter()
                    .position(|&(j, e)| plan.experts[j][e].iter().any(|r| r.node == n))
                    .unwrap_or(usize::MAX)
            };
            let mut sorted = class.clone();
            sorted.sort_by_key(|&n| (first(n), n));
            // The node that held `sorted[k]`'s experts becomes `class[k]`.
            for (k, &old) in sorted.iter().enumerate() {
                map[old] = class[k];
            }
        }
        let mut out = plan.clone();
        for block in &mut out.experts {
            for replicas in block {
                for r in replicas {
                    r.node = map[r.node];
                }
            }
        }
        out
    }
}

/// The bound `L[j][S]` of a model's block `j` for patterns of `k` experts (the nodes with
/// variables for the block).
fn least_block_s_of(model: &Model, j: usize, k: usize, prices: &Prices) -> f64 {
    let nodes: Vec<usize> = model.columns.y[j]
        .first()
        .map(|row| {
            row.iter()
                .enumerate()
                .filter_map(|(n, v)| v.map(|_| n))
                .collect()
        })
        .unwrap_or_default();
    least_block_s(prices, j, k, &nodes)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{toy, toy_prices};
    use super::*;
    use crate::problems::moe::Objective;

    #[test]
    fn least_block_time_assigns_unit_jobs_greedily() {
        let prices = toy_prices(0.0, &[1.0, 0.5], &[0.0, 1.0], &[0.0, 0.1], &[9.0, 9.0], 1);
        // {1, 2} at home, {1.5, 2} on node 1: the second smallest is 1.5.
        assert_eq!(least_block_s(&prices, 0, 2, &[0, 1]), 1.5);
        assert_eq!(least_block_s(&prices, 0, 3, &[0, 1]), 2.0);
        assert_eq!(least_block_s(&prices, 0, 1, &[1]), 1.5);
    }

    /// Nodes 1 and 2 are twins: the start is renumbered so that node 1 holds the earlier item,
    /// and it sets every column of the model.
    #[test]
    fn starts_are_complete_and_canonical() {
        for objective in [Objective::Latency, Objective::Throughput] {
            let problem = toy(objective, 3, 2, 3, vec![vec![vec![0, 1]], vec![vec![1, 2]]]);
            let prices = toy_prices(
                0.1,
                &[1.0, 0.5, 0.5],
                &[0.0, 1.0, 1.0],
                &[0.0, 0.1, 0.1],
                &[1.0, 2.0, 2.0],
                1,
            );
            let model = Model::build(&problem, &prices);
            assert_eq!(model.classes, vec![vec![1, 2]]);
            let plan = MoePlan::single(&[vec![2, 1, 0]]);
            let canonical = model.canonical(&problem, &plan);
            assert_eq!(primaries(&canonical), vec![vec![1, 2, 0]]);
            let start = model.start(&problem, &prices, &plan).unwrap();
            let columns: std::collections::HashSet<Variable> = start.iter().map(|c| c.0).collect();
            assert_eq!(columns.len(), start.len());
            assert_eq!(start.len(), model.milp.num_vars());
            // A plan that does not fit is no start.
            let crowded = MoePlan::single(&[vec![0, 0, 1]]);
            assert!(model.start(&problem, &prices, &crowded).is_none());
            // The solve from the start reaches the optimum of the enumeration.
            let exact = super::super::enumerate(&problem, &prices).unwrap();
            let solved = milp(&problem, &prices, &MipOptions::default(), Some(&plan)).unwrap();
            let v = |p: &MoePlan| score::objective(&problem, &prices, p);
            assert!(
                (v(solved.plan.as_ref().unwrap()) - v(exact.plan.as_ref().unwrap())).abs() < 1e-9
            );
        }
    }
}
