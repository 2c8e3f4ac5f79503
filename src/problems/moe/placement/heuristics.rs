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
const LOCAL_WORK: u64 = 50_000_000;

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
        Throughput::new(problem, prices, &freq).run(&order)
    } else {
        latency_greedy(problem, prices, &order)
    }
}

/// Expected expert time of block `j` over its patterns, counting only the experts placed so far
/// (`node_of[e]`).
fn block_cost(prices: &Prices, routing: &BlockRouting, j: usize, node_of: &[Option<usize>]) -> f64 {
    let mut sub = Vec::with_capacity(routing.top_k);
    let mut total = 0.0;
    for p in &routing.patterns {
        sub.clear();
        sub.extend(p.experts.iter().copied().filter(|&e| node_of[e].is_some()));
        if !sub.is_empty() {
            total +=
                p.prob * score::placement_block_s(prices, j, &sub, |e| node_of[e].unwrap_or(0));
        }
    }
    total
}

fn latency_greedy(
    problem: &MoeProblem,
    prices: &Prices,
    order: &[(usize, usize)],
) -> Option<MoePlan> {
    let n_nodes = problem.node_count();
    let nodes = speed_order(prices);
    let blocks = &problem.routing.blocks;
    let mut node_of: Vec<Vec<Option<usize>>> =
        blocks.iter().map(|b| vec![None; b.experts]).collect();
    let mut used = vec![0.0; n_nodes];
    for &(j, e) in order {
        let bytes = prices.expert_bytes[j];
        let mut best: Option<(usize, f64)> = None;
        for &n in &nodes {
            if !has_room(prices, &used, n, bytes) {
                continue;
            }
            node_of[j][e] = Some(n);
            let c = block_cost(prices, &blocks[j], j, &node_of[j]);
            if best.is_none_or(|b| c < b.1) {
                best = Some((n, c));
            }
        }
        let (n, _) = best?;
        node_of[j][e] = Some(n);
        used[n] += bytes;
    }

    // Local search on the complete assignment.
    let items = items(problem);
    let mut cost: Vec<f64> = (0..blocks.len())
        .map(|j| block_cost(prices, &blocks[j], j, &node_of[j]))
        .collect();
    let mut assign: Vec<Vec<usize>> = node_of
        .iter()
        .map(|b| b.iter().map(|n| n.unwrap_or(0)).collect())
        .collect();
    let mut used = memory(prices, &assign, n_nodes);
    let mut work: u64 = 0;
    'search: for _ in 0..MAX_PASSES {
        let eps = REL_EPS * (prices.dense_s + cost.iter().sum::<f64>());
        let mut improved = false;
        for &(j, e) in &items {
            if work > LOCAL_WORK {
                break 'search;
            }
            let bytes = prices.expert_bytes[j];
            let cur = assign[j][e];
            let mut best: Option<(usize, f64)> = None;
            for &n in &nodes {
                if n == cur || !has_room(prices, &used, n, bytes) {
                    continue;
                }
                node_of[j][e] = Some(n);
                let c = block_cost(prices, &blocks[j], j, &node_of[j]);
                work += blocks[j].patterns.len() as u64;
                if c < cost[j] - eps && best.is_none_or(|b| c < b.1) {
                    best = Some((n, c));
                }
            }
            match best {
                Some((n, c)) => {
                    node_of[j][e] = Some(n);
                    assign[j][e] = n;
                    cost[j] = c;
                    used = memory(prices, &assign, n_nodes);
                    improved = true;
                }
                None => node_of[j][e] = Some(cur),
            }
        }
        for a in 0..items.len() {
            if work > LOCAL_WORK {
                break 'search;
            }
            for b in a + 1..items.len() {
                let ((j1, e1), (j2, e2)) = (items[a], items[b]);
                let (n1, n2) = (assign[j1][e1], assign[j2][e2]);
                if n1 == n2 {
                    continue;
                }
                let (b1, b2) = (prices.expert_bytes[j1], prices.expert_bytes[j2]);
                if b1 != b2 {
                    let mut trial = used.clone();
                    trial[n1] -= b1;
                    trial[n2] -= b2;
                    if !has_room(prices, &trial, n1, b2) || !has_room(prices, &trial, n2, b1) {
                        continue;
                    }
                }
                node_of[j1][e1] = Some(n2);
                node_of[j2][e2] = Some(n1);
                work += (blocks[j1].patterns.len() + blocks[j2].patterns.len()) as u64;
                let (c1, c2, delta) = if j1 == j2 {
                    let c = block_cost(prices, &blocks[j1], j1, &node_of[j1]);
                    (c, c, c - cost[j1])
                } else {
                    let c1 = block_cost(prices, &blocks[j1], j1, &node_of[j1]);
                    let c2 = block_cost(prices, &blocks[j2], j2, &node_of[j2]);
                    (c1, c2, c1 - cost[j1] + c2 - cost[j2])
                };
                if delta < -eps {
                    assign[j1][e1] = n2;
                    assign[j2][e2] = n1;
                    cost[j1] = c1;
                    cost[j2] = c2;
                    used = memory(prices, &assign, n_nodes);
                    improved = true;
                } else {
                    node_of[j1][e1] = Some(n1);
                    node_of[j2][e2] = Some(n2);
                }
            }
        }
        if !improved {
            break;
        }
    }
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
    /// Work done so far (expert visits), against [`LOCAL_WORK`].
    work: std::cell::Cell<u64>,
}

impl<'a> Throughput<'a> {
    fn new(problem: &'a MoeProblem, prices: &'a Prices, freq: &'a [Vec<f64>]) -> Throughput<'a> {
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
        }
    }

    /// Counts `amount` of work.
    fn charge(&self, amount: usize) {
        self.work.set(self.work.get().saturating_add(amount as u64));
    }

    /// Whether the work budget is spent: the searches stop.
    fn spent(&self) -> bool {
        self.work.get() > LOCAL_WORK
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
