//! The placement heuristic and baselines. All are deterministic and return `None` when they
//! cannot place every expert within memory.

use super::super::price::Prices;
use super::super::routing::BlockRouting;
use super::super::score;
use super::super::{MoePlan, MoeProblem, Task};
use super::{has_room, homes_fit, is_throughput, items, plan_from_shares};

/// Local search passes at most (each pass tries every move and swap once).
const MAX_PASSES: usize = 50;

/// The most work the local searches do, in pattern evaluations (latency) or expert visits
/// (throughput): a few seconds at most on large models, far above what Mixtral-sized instances
/// need (the search stops earlier when no move or swap improves).
pub const LOCAL_WORK: u64 = 50_000_000;

/// Work units the local searches do per second on the reference machine (a 2-core Xeon: 50M
/// pattern evaluations in about 3.7 s), to size the MIP start's search to a time limit.
pub const WORK_PER_S: f64 = 13.0e6;

/// Improvements below this relative amount are noise.
const REL_EPS: f64 = 1e-12;

/// The nodes from the fastest reachable: by round trip plus the mean expert time over the
/// blocks, ties by index.
fn speed_order(prices: &Prices) -> Vec<usize> {
    let key = |n: usize| {
        let x = &prices.expert_s[n];
        prices.rt_s[n] + x.iter().sum::<f64>() / x.len().max(1) as f64
    };
    let mut order: Vec<usize> = (0..prices.rt_s.len()).collect();
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    order
}

/// Whether the instance is a placement instance whose fixed parts fit.
fn applicable(problem: &MoeProblem, prices: &Prices) -> bool {
    problem.task == Task::Placement && homes_fit(prices)
}

/// Bytes each node holds under a single-replica assignment, summed in item order as
/// [`score::placement_memory`] does.
fn memory(prices: &Prices, assign: &[Vec<usize>], n_nodes: usize) -> Vec<f64> {
    let mut used = vec![0.0; n_nodes];
    for (j, block) in assign.iter().enumerate() {
        for &n in block {
            used[n] += prices.expert_bytes[j];
        }
    }
    used
}

/// Round robin: the experts of each block dealt to the nodes in turn, starting again at the home
/// for every block (the home first, then the others by index), a full node skipped. Blind to
/// routing frequencies and node speeds.
pub fn round_robin(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    if !applicable(problem, prices) {
        return None;
    }
    let n_nodes = problem.node_count();
    let mut order = vec![problem.home];
    order.extend((0..n_nodes).filter(|&n| n != problem.home));
    let mut used = vec![0.0; n_nodes];
    let mut assign = Vec::with_capacity(problem.routing.blocks.len());
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        let bytes = prices.expert_bytes[j];
        let mut cursor = 0;
        let mut nodes = Vec::with_capacity(block.experts);
        for _ in 0..block.experts {
            let k = (0..n_nodes)
                .find(|&k| has_room(prices, &used, order[(cursor + k) % n_nodes], bytes))?;
            let n = order[(cursor + k) % n_nodes];
            used[n] += bytes;
            nodes.push(n);
            cursor = (cursor + k + 1) % n_nodes;
        }
        assign.push(nodes);
    }
    Some(MoePlan::single(&assign))
}

/// Layer-wise splitting: every expert of a block on one node, the blocks in order filling the
/// nodes in order (the home first, then the others by round trip plus expert time), as many whole
/// blocks on a node as fit before moving to the next; `None` when the blocks do not fit so.
pub fn layer_wise(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    if !applicable(problem, prices) {
        return None;
    }
    let n_nodes = problem.node_count();
    let mut order = vec![problem.home];
    order.extend(
        speed_order(prices)
            .into_iter()
            .filter(|&n| n != problem.home),
    );
    let mut used = vec![0.0; n_nodes];
    let mut at = 0;
    let mut assign = Vec::with_capacity(problem.routing.blocks.len());
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        let bytes = prices.expert_bytes[j];
        loop {
            let n = *order.get(at)?;
            let mut trial = used.clone();
            let whole = (0..block.experts).all(|_| {
                let ok = has_room(prices, &trial, n, bytes);
                trial[n] += bytes;
                ok
            });
            if whole {
                used = trial;
                assign.push(vec![n; block.experts]);
                break;
            }
            at += 1;
        }
    }
    Some(MoePlan::single(&assign))
}

/// The greedy heuristic: the experts of every block in decreasing activation frequency (ties:
/// block, then expert), each onto the node with memory left that raises the objective least
/// (ties: the fastest reachable node); then a local search of moves (one expert to another node)
/// and swaps (two experts on different nodes) while one improves the objective (at most
/// 50 passes and a fixed work budget, so large models stay within seconds). Throughput then adds
/// replicas: while it lowers the period, the hottest expert on the busiest node gets one more
/// replica (the best node with memory left), its shares spread so that its replicas' resources
/// level out, every replicated expert's shares levelled again.
pub fn greedy(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    greedy_within(problem, prices, LOCAL_WORK)
}

/// [`greedy`] with its local searches stopped after `work` units (pattern evaluations or
/// expert visits) instead of [`LOCAL_WORK`]: the MIP start under a short time limit.
pub fn greedy_within(problem: &MoeProblem, prices: &Prices, work: u64) -> Option<MoePlan> {
    if !applicable(problem, prices) {
        return None;
    }
    let freq: Vec<Vec<f64>> = problem
        .routing
        .blocks
        .iter()
        .map(|b| b.frequency())
        .collect();
    let mut order = items(problem);
    order.sort_by(|a, b| freq[b.0][b.1].total_cmp(&freq[a.0][a.1]).then(a.cmp(b)));
    if is_throughput(problem) {
        Throughput::new(problem, prices, &freq, work).run(&order)
    } else {
        latency_greedy(problem, prices, &order, &freq, work)
    }
}

/// The latency search's state: the (partial) assignment, each pattern's cost under it, and for
/// every expert the patterns it is in, so that moving an expert re-prices only those patterns
/// (a block of 64 experts and top-8 routing: an eighth of its patterns).
struct LatencyState<'a> {
    prices: &'a Prices,
    blocks: &'a [BlockRouting],
    /// `node_of[j][e]`: the expert's node, `None` while unplaced (its patterns skip it).
    node_of: Vec<Vec<Option<usize>>>,
    /// `cost[j][s]`: probability times expert time of pattern `s` of block `j`.
    cost: Vec<Vec<f64>>,
    /// `patterns_of[j][e]`: the patterns of block `j` that contain expert `e`.
    patterns_of: Vec<Vec<Vec<usize>>>,
    /// Pattern evaluations so far (the work budget).
    work: u64,
    scratch: Vec<usize>,
}

impl<'a> LatencyState<'a> {
    fn new(prices: &'a Prices, blocks: &'a [BlockRouting]) -> LatencyState<'a> {
        let patterns_of = blocks
            .iter()
            .map(|b| {
                let mut of = vec![Vec::new(); b.experts];
                for (s, p) in b.patterns.iter().enumerate() {
                    for &e in &p.experts {
                        of[e].push(s);
                    }
                }
                of
            })
            .collect();
        LatencyState {
            prices,
            blocks,
            node_of: blocks.iter().map(|b| vec![None; b.experts]).collect(),
            cost: blocks.iter().map(|b| vec![0.0; b.patterns.len()]).collect(),
            patterns_of,
            work: 0,
            scratch: Vec::new(),
        }
    }

    /// Probability times expert time of pattern `s` of block `j` under the current assignment.
    fn pattern_cost(&mut self, j: usize, s: usize) -> f64 {
        self.work += 1;
        let p = &self.blocks[j].patterns[s];
        self.scratch.clear();
        let node_of = &self.node_of[j];
        self.scratch
            .extend(p.experts.iter().copied().filter(|&e| node_of[e].is_some()));
        if self.scratch.is_empty() {
            return 0.0;
        }
        p.prob
            * score::placement_block_s(self.prices, j, &self.scratch, |e| node_of[e].unwrap_or(0))
    }

    /// The patterns of block `j` that contain `e1` or `e2`.
    fn touched(&self, j: usize, e1: usize, e2: Option<usize>) -> Vec<usize> {
        let mut list = self.patterns_of[j][e1].clone();
        if let Some(e2) = e2 {
            list.extend(&self.patterns_of[j][e2]);
            list.sort_unstable();
            list.dedup();
        }
        list
    }

    /// Sets the nodes of experts `changes` (all of block `j`) and returns the change of the
    /// expected latency; `keep = false` undoes it.
    fn try_set(&mut self, j: usize, changes: &[(usize, Option<usize>)], keep: bool) -> f64 {
        let touched = self.touched(j, changes[0].0, changes.get(1).map(|c| c.0));
        let old: Vec<Option<usize>> = changes.iter().map(|&(e, _)| self.node_of[j][e]).collect();
        for &(e, n) in changes {
            self.node_of[j][e] = n;
        }
        let mut delta = 0.0;
        let mut fresh = Vec::with_capacity(touched.len());
        for &s in &touched {
            let c = self.pattern_cost(j, s);
            delta += c - self.cost[j][s];
            fresh.push(c);
        }
        if keep {
            for (&s, c) in touched.iter().zip(fresh) {
                self.cost[j][s] = c;
            }
        } else {
            for (&(e, _), n) in changes.iter().zip(old) {
                self.node_of[j][e] = n;
            }
        }
        delta
    }

    fn total(&self) -> f64 {
        self.cost.iter().flatten().sum()
    }
}

fn latency_greedy(
    problem: &MoeProblem,
    prices: &Prices,
    order: &[(usize, usize)],
    freq: &[Vec<f64>],
    budget: u64,
) -> Option<MoePlan> {
    let n_nodes = problem.node_count();
    let nodes = speed_order(prices);
    let mut st = LatencyState::new(prices, &problem.routing.blocks);
    let mut used = vec![0.0; n_nodes];
    for &(j, e) in order {
        let bytes = prices.expert_bytes[j];
        let mut best: Option<(usize, f64)> = None;
        for &n in &nodes {
            if !has_room(prices, &used, n, bytes) {
                continue;
            }
            let d = st.try_set(j, &[(e, Some(n))], false);
            if best.is_none_or(|b| d < b.1) {
                best = Some((n, d));
            }
        }
        let (n, _) = best?;
        st.try_set(j, &[(e, Some(n))], true);
        used[n] += bytes;
    }

    // Local search on the complete assignment: moves, swaps within a block, swaps across blocks.
    let items = items(problem);
    let at = |st: &LatencyState<'_>, (j, e): (usize, usize)| st.node_of[j][e].unwrap_or(0);
    'search: for _ in 0..MAX_PASSES {
        let eps = REL_EPS * (prices.dense_s + st.total());
        let mut improved = false;
        for &(j, e) in &items {
            if st.work > budget {
                break 'search;
            }
            let bytes = prices.expert_bytes[j];
            let cur = at(&st, (j, e));
            let mut best: Option<(usize, f64)> = None;
            for &n in &nodes {
                if n == cur || !has_room(prices, &used, n, bytes) {
                    continue;
                }
                let d = st.try_set(j, &[(e, Some(n))], false);
                if d < -eps && best.is_none_or(|b| d < b.1) {
                    best = Some((n, d));
                }
            }
            if let Some((n, _)) = best {
                st.try_set(j, &[(e, Some(n))], true);
                used[cur] -= bytes;
                used[n] += bytes;
                improved = true;
            }
        }
        // Swaps within a block: two of its experts on different nodes trade places.
        for (j, block) in problem.routing.blocks.iter().enumerate() {
            for e1 in 0..block.experts {
                for e2 in e1 + 1..block.experts {
                    if st.work > budget {
                        break 'search;
                    }
                    let (n1, n2) = (at(&st, (j, e1)), at(&st, (j, e2)));
                    if n1 == n2 {
                        continue;
                    }
                    let changes = [(e1, Some(n2)), (e2, Some(n1))];
                    if st.try_set(j, &changes, false) < -eps {
                        st.try_set(j, &changes, true);
                        improved = true;
                    }
                }
            }
        }
        // Swaps across blocks, which only memory makes useful: an expert that would gain on a
        // full node trades places with an expert of another block there (of the same size) when
        // the pair gains.
        for &(j1, e1) in &items {
            let n1 = at(&st, (j1, e1));
            let b1 = prices.expert_bytes[j1];
            for &n2 in &nodes {
                if st.work > budget {
                    break 'search;
                }
                if n2 == n1 || has_room(prices, &used, n2, b1) {
                    continue;
                }
                let d1 = st.try_set(j1, &[(e1, Some(n2))], false);
                if d1 >= -eps {
                    continue;
                }
                // Every expert of another block on the full node is a candidate, least frequently
                // used first; the one that gains most is taken.
                let mut partners: Vec<(usize, usize)> = items
                    .iter()
                    .copied()
                    .filter(|&(j2, e2)| {
                        j2 != j1 && at(&st, (j2, e2)) == n2 && prices.expert_bytes[j2] == b1
                    })
                    .collect();
                partners.sort_by(|&(ja, ea), &(jb, eb)| {
                    freq[ja][ea]
                        .total_cmp(&freq[jb][eb])
                        .then((ja, ea).cmp(&(jb, eb)))
                });
                let mut best: Option<((usize, usize), f64)> = None;
                for (j2, e2) in partners {
                    let d2 = st.try_set(j2, &[(e2, Some(n1))], false);
                    if d1 + d2 < -eps && best.is_none_or(|b| d2 < b.1) {
                        best = Some(((j2, e2), d2));
                    }
                }
                if let Some(((j2, e2), _)) = best {
                    st.try_set(j1, &[(e1, Some(n2))], true);
                    st.try_set(j2, &[(e2, Some(n1))], true);
                    improved = true;
                    break;
                }
            }
        }
        if !improved {
            break;
        }
    }
    let assign: Vec<Vec<usize>> = st
        .node_of
        .iter()
        .map(|b| b.iter().map(|n| n.unwrap_or(0)).collect())
        .collect();
    debug_assert!(memory(prices, &assign, n_nodes)
        .iter()
        .enumerate()
        .all(|(n, &u)| u <= super::limit(prices, n) * (1.0 + 1e-9) + 1e-9));
    Some(MoePlan::single(&assign))
}

/// Expected busy time per token of every node and link direction (as
/// [`score::placement_loads`]).
#[derive(Debug, Clone)]
struct Loads {
    node: Vec<f64>,
    send: Vec<f64>,
    recv: Vec<f64>,
}

impl Loads {
    fn period(&self) -> f64 {
        self.node
            .iter()
            .chain(&self.send)
            .chain(&self.recv)
            .copied()
            .fold(0.0, f64::max)
    }

    /// Sum of squared loads: the tie-break between plans of the same period (flatter is better).
    fn spread(&self) -> f64 {
        self.node
            .iter()
            .chain(&self.send)
            .chain(&self.recv)
            .map(|x| x * x)
            .sum()
    }

    /// The largest load of node `n`'s resources.
    fn of(&self, n: usize) -> f64 {
        self.node[n].max(self.send[n]).max(self.recv[n])
    }
}

/// A replica addition: the period after it, the expert `(j, e)` and its new shares.
type Addition = (f64, usize, usize, Vec<(usize, f64)>);

/// The throughput greedy's state: per expert its replicas and shares.
struct Throughput<'a> {
    problem: &'a MoeProblem,
    prices: &'a Prices,
    freq: &'a [Vec<f64>],
    nodes: Vec<usize>,
    /// `replicas[j][e]`: `(node, share)`.
    replicas: Vec<Vec<Vec<(usize, f64)>>>,
    /// Work done so far (expert visits), against `budget`.
    work: std::cell::Cell<u64>,
    /// The most work the searches do.
    budget: u64,
}

impl<'a> Throughput<'a> {
    fn new(
        problem: &'a MoeProblem,
        prices: &'a Prices,
        freq: &'a [Vec<f64>],
        budget: u64,
    ) -> Throughput<'a> {
        Throughput {
            problem,
            prices,
            freq,
            nodes: speed_order(prices),
            replicas: problem
                .routing
                .blocks
                .iter()
                .map(|b| vec![Vec::new(); b.experts])
                .collect(),
            work: std::cell::Cell::new(0),
            budget,
        }
    }

    /// Counts `amount` of work.
    fn charge(&self, amount: usize) {
        self.work.set(self.work.get().saturating_add(amount as u64));
    }

    /// Whether the work budget is spent: the searches stop.
    fn spent(&self) -> bool {
        self.work.get() > self.budget
    }

    /// Adds `mass` activations of block `j`'s experts on node `n` to `loads`.
    fn add(&self, loads: &mut Loads, j: usize, n: usize, mass: f64) {
        loads.node[n] += mass * self.prices.expert_s[n][j];
        loads.send[n] += mass * self.prices.send_air_s[n];
        loads.recv[n] += mass * self.prices.recv_air_s[n];
    }

    /// The loads of the current replicas, from scratch.
    fn loads(&self) -> Loads {
        let n = self.problem.node_count();
        let mut loads = Loads {
            node: vec![0.0; n],
            send: vec![0.0; n],
            recv: vec![0.0; n],
        };
        loads.node[self.problem.home] = self.prices.dense_s;
        self.charge(self.replicas.iter().map(Vec::len).sum());
        for (j, block) in self.replicas.iter().enumerate() {
            for (e, list) in block.iter().enumerate() {
                for &(n, s) in list {
                    self.add(&mut loads, j, n, self.freq[j][e] * s);
                }
            }
        }
        loads
    }

    /// Bytes on every node (every replica counts), in item order.
    fn memory(&self) -> Vec<f64> {
        let mut used = vec![0.0; self.problem.node_count()];
        self.charge(self.replicas.iter().map(Vec::len).sum());
        for (j, block) in self.replicas.iter().enumerate() {
            for list in block {
                for &(n, _) in list {
                    used[n] += self.prices.expert_bytes[j];
                }
            }
        }
        used
    }

    fn run(mut self, order: &[(usize, usize)]) -> Option<MoePlan> {
        // Construction: one replica each, where the period (then the node's own load) grows least.
        let mut loads = self.loads();
        let mut used = vec![0.0; self.problem.node_count()];
        for &(j, e) in order {
            let bytes = self.prices.expert_bytes[j];
            let f = self.freq[j][e];
            let mut best: Option<(usize, f64, f64)> = None;
            for &n in &self.nodes {
                if !has_room(self.prices, &used, n, bytes) {
                    continue;
                }
                let mut trial = loads.clone();
                self.add(&mut trial, j, n, f);
                let key = (trial.period(), trial.of(n));
                if best.is_none_or(|b| key.0 < b.1 || (key.0 == b.1 && key.1 < b.2)) {
                    best = Some((n, key.0, key.1));
                }
            }
            let (n, _, _) = best?;
            self.add(&mut loads, j, n, f);
            used[n] += bytes;
            self.replicas[j][e] = vec![(n, 1.0)];
        }
        self.single_replica_search();
        self.replicate();
        Some(plan_from_shares(&self.replicas))
    }

    /// Moves and swaps of single-replica experts while the period, then the sum of squared
    /// loads, drops.
    fn single_replica_search(&mut self) {
        let items = items(self.problem);
        let key = |l: &Loads| (l.period(), l.spread());
        let better = |a: (f64, f64), b: (f64, f64)| {
            a.0 < b.0 * (1.0 - REL_EPS) || (a.0 <= b.0 && a.1 < b.1 * (1.0 - REL_EPS))
        };
        for _ in 0..MAX_PASSES {
            let mut improved = false;
            for &(j, e) in &items {
                if self.spent() {
                    return;
                }
                let cur = self.replicas[j][e][0].0;
                let f = self.freq[j][e];
                let bytes = self.prices.expert_bytes[j];
                let loads = self.loads();
                let used = self.memory();
                let mut best: Option<(usize, (f64, f64))> = None;
                for &n in &self.nodes {
                    if n == cur || !has_room(self.prices, &used, n, bytes) {
                        continue;
                    }
                    let mut trial = loads.clone();
                    self.add(&mut trial, j, cur, -f);
                    self.add(&mut trial, j, n, f);
                    let k = key(&trial);
                    if better(k, key(&loads)) && best.is_none_or(|b| better(k, b.1)) {
                        best = Some((n, k));
                    }
                }
                if let Some((n, _)) = best {
                    self.replicas[j][e] = vec![(n, 1.0)];
                    improved = true;
                }
            }
            let mut loads = self.loads();
            let mut used = self.memory();
            for a in 0..items.len() {
                if self.spent() {
                    return;
                }
                self.charge(items.len() - a);
                for b in a + 1..items.len() {
                    let ((j1, e1), (j2, e2)) = (items[a], items[b]);
                    let (n1, n2) = (self.replicas[j1][e1][0].0, self.replicas[j2][e2][0].0);
                    if n1 == n2 {
                        continue;
                    }
                    let (b1, b2) = (self.prices.expert_bytes[j1], self.prices.expert_bytes[j2]);
                    if b1 != b2 {
                        let mut trial = used.clone();
                        trial[n1] -= b1;
                        trial[n2] -= b2;
                        if !has_room(self.prices, &trial, n1, b2)
                            || !has_room(self.prices, &trial, n2, b1)
                        {
                            continue;
                        }
                    }
                    let (f1, f2) = (self.freq[j1][e1], self.freq[j2][e2]);
                    let mut trial = loads.clone();
                    self.add(&mut trial, j1, n1, -f1);
                    self.add(&mut trial, j1, n2, f1);
                    self.add(&mut trial, j2, n2, -f2);
                    self.add(&mut trial, j2, n1, f2);
                    if better(key(&trial), key(&loads)) {
                        self.replicas[j1][e1] = vec![(n2, 1.0)];
                        self.replicas[j2][e2] = vec![(n1, 1.0)];
                        loads = self.loads();
                        used = self.memory();
                        improved = true;
                    }
                }
            }
            if !improved {
                break;
            }
        }
    }

    /// The shares of expert `(j, e)` over `nodes` that level its replicas' resources, the other
    /// experts' loads `base` (without this expert) fixed: the least level `L` at which the
    /// replicas together take all of it, node `n` taking up to `min_r (L - base_r) / c_r` over
    /// its resources `r` (bisection on `L`).
    fn level(&self, base: &Loads, j: usize, e: usize, nodes: &[usize]) -> Vec<(usize, f64)> {
        let f = self.freq[j][e];
        let p = self.prices;
        let coef = |n: usize| {
            [
                (base.node[n], f * p.expert_s[n][j]),
                (base.send[n], f * p.send_air_s[n]),
                (base.recv[n], f * p.recv_air_s[n]),
            ]
        };
        let take = |n: usize, level: f64| {
            coef(n)
                .iter()
                .filter(|(_, c)| *c > 0.0)
                .map(|(b, c)| ((level - b) / c).max(0.0))
                .fold(f64::INFINITY, f64::min)
        };
        if f <= 0.0 {
            return vec![(nodes[0], 1.0)];
        }
        if let Some(&n) = nodes.iter().find(|&&n| take(n, 0.0).is_infinite()) {
            return vec![(n, 1.0)];
        }
        let mut lo = base.period();
        let mut hi = nodes
            .iter()
            .map(|&n| coef(n).iter().map(|(b, c)| b + c).fold(lo, f64::max))
            .fold(f64::INFINITY, f64::min);
        let total = |level: f64| nodes.iter().map(|&n| take(n, level)).sum::<f64>();
        self.charge(200 * nodes.len());
        if total(lo) >= 1.0 {
            hi = lo;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if total(mid) >= 1.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let t = total(hi);
        nodes.iter().map(|&n| (n, take(n, hi) / t)).collect()
    }

    /// The loads without expert `(j, e)`.
    fn without(&self, j: usize, e: usize) -> Loads {
        let mut loads = self.loads();
        for &(n, s) in &self.replicas[j][e] {
            self.add(&mut loads, j, n, -self.freq[j][e] * s);
        }
        loads
    }

    /// Levels the shares of every replicated expert once.
    fn relevel(&mut self) {
        for j in 0..self.replicas.len() {
            for e in 0..self.replicas[j].len() {
                if self.replicas[j][e].len() > 1 && !self.spent() {
                    let nodes: Vec<usize> = self.replicas[j][e].iter().map(|r| r.0).collect();
                    let base = self.without(j, e);
                    let shares = self.level(&base, j, e, &nodes);
                    let before = self.loads().period();
                    let old = std::mem::replace(&mut self.replicas[j][e], shares);
                    if self.loads().period() > before {
                        self.replicas[j][e] = old;
                    }
                }
            }
        }
    }

    /// Adds replicas of the hottest experts on the busiest node while the period drops.
    fn replicate(&mut self) {
        let n_nodes = self.problem.node_count();
        let max_rounds = items(self.problem).len() * n_nodes;
        for _ in 0..max_rounds {
            if self.spent() {
                return;
            }
            let loads = self.loads();
            let period = loads.period();
            let used = self.memory();
            let Some(busiest) =
                (0..n_nodes).max_by(|&a, &b| loads.of(a).total_cmp(&loads.of(b)).then(b.cmp(&a)))
            else {
                return;
            };
            let mut hot: Vec<(usize, usize)> = items(self.problem)
                .into_iter()
                .filter(|&(j, e)| self.replicas[j][e].iter().any(|r| r.0 == busiest))
                .filter(|&(j, e)| self.freq[j][e] > 0.0)
                .collect();
            hot.sort_by(|a, b| {
                self.freq[b.0][b.1]
                    .total_cmp(&self.freq[a.0][a.1])
                    .then(a.cmp(b))
            });
            let mut best: Option<Addition> = None;
            for &(j, e) in &hot {
                let base = self.without(j, e);
                for &m in &self.nodes {
                    if self.replicas[j][e].iter().any(|r| r.0 == m)
                        || !has_room(self.prices, &used, m, self.prices.expert_bytes[j])
                    {
                        continue;
                    }
                    let mut nodes: Vec<usize> = self.replicas[j][e].iter().map(|r| r.0).collect();
                    nodes.push(m);
                    let shares = self.level(&base, j, e, &nodes);
                    let mut trial = base.clone();
                    for &(n, s) in &shares {
                        self.add(&mut trial, j, n, self.freq[j][e] * s);
                    }
                    let p = trial.period();
                    if p < period * (1.0 - 1e-9) && best.as_ref().is_none_or(|b| p < b.0) {
                        best = Some((p, j, e, shares));
                    }
                }
            }
            let Some((_, j, e, shares)) = best else {
                return;
            };
            self.replicas[j][e] = shares;
            self.relevel();
        }
    }
}
