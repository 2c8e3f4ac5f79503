//! Dynamic baselines: an LRU or LFU expert cache replayed over a token sequence, and the static
//! plans replayed over the same tokens.
//!
//! **The cache.** [`cache_capacity`] slots (`min(expert_slots, floor(capacity / bytes))` with
//! the largest expert's bytes, so any that many experts fit the memory), shared by every MoE
//! block, initially empty. Per token, block after block: the block's routed experts that are
//! cached are hits (touched first: their recency and count are updated), the others misses;
//! each miss is then fetched (its weights downloaded, then run on the device) and inserted,
//! evicting when the cache is full the least recently used expert (LRU) or the least
//! frequently used one (LFU: accesses counted since the first token, whether cached or not;
//! ties: the least recently used). With no slot, nothing is inserted.
//!
//! **When fetching is not allowed** (offload only) the device cannot load weights, so misses
//! are offloaded to the edge and nothing is ever inserted: the cache stays empty and the
//! baseline is the all-offload plan. When neither policy is allowed, misses are still fetched
//! (the static problem then has only the all-resident plan).
//!
//! **Costs.** A token's block is priced by [`score::cache_block`] with its hits resident and its
//! misses fetched (or offloaded): `dense + sum_j` over the blocks of the hits' `x_dev` and the
//! misses' `fetch + x_dev` (latency), likewise for energy.
//!
//! **Statistics** ([`simulate`]): the warm variant: the first 10% of the tokens warm the cache
//! up and are left out; over the rest, mean latency and energy per token with 95% half-widths
//! `1.96 sd / sqrt(n)` (sample standard deviation; the half-width treats tokens as independent,
//! which a cache's state makes them not quite), and the hit ratio of the expert accesses.
//! [`simulate_from`] takes any warm-up (0: the cold cache).

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::problems::moe::price::Prices;
use crate::problems::moe::routing::Routing;
use crate::problems::moe::score;
use crate::problems::moe::{Choice, MoePlan, MoeProblem};

/// A dynamic cache's eviction policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Least recently used.
    Lru,
    /// Least frequently used (counts since the start; ties least recently used).
    Lfu,
}

impl Policy {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Lru => "lru",
            Policy::Lfu => "lfu",
        }
    }
}

/// One token's costs in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TokenCost {
    /// Decode latency, s.
    pub latency_s: f64,
    /// Device energy, J.
    pub energy_j: f64,
    /// Expert accesses served by the device's resident (cached) experts.
    pub hits: usize,
    /// Expert accesses.
    pub accesses: usize,
}

/// Summary of a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimStats {
    /// Mean latency per token, s.
    pub mean_latency_s: f64,
    /// 95% half-width of the mean latency, `1.96 sd / sqrt(n)` (NaN below 2 tokens).
    pub latency_half_width_s: f64,
    /// Mean device energy per token, J.
    pub mean_energy_j: f64,
    /// 95% half-width of the mean energy (NaN below 2 tokens).
    pub energy_half_width_j: f64,
    /// Hits over expert accesses (NaN without accesses).
    pub hit_ratio: f64,
    /// Tokens counted (after the warm-up).
    pub tokens: usize,
}

/// Slots of the dynamic cache: `min(expert_slots, floor(capacity / largest expert bytes))`.
pub fn cache_capacity(problem: &MoeProblem, prices: &Prices) -> usize {
    let largest = prices.expert_bytes.iter().copied().fold(0.0, f64::max);
    let cap = super::memory_cap(problem, prices);
    let by_memory = if largest > 0.0 {
        (cap / largest).floor().max(0.0)
    } else if cap >= 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    (problem.expert_slots as f64).min(by_memory) as usize
}

/// `n` tokens drawn independently from the routing statistics (blocks independent):
/// `tokens[t][j]` = the experts of the pattern drawn for block `j`.
pub fn sample_tokens(routing: &Routing, n: usize, seed: u64) -> Vec<Vec<Vec<usize>>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            routing
                .sample(&mut rng)
                .into_iter()
                .enumerate()
                .map(|(j, s)| routing.blocks[j].patterns[s].experts.clone())
                .collect()
        })
        .collect()
}

/// `(time, energy)` of one token's block `j` with `choice_of` telling hits (resident) from
/// misses (fetched or offloaded).
fn block_cost(
    problem: &MoeProblem,
    prices: &Prices,
    j: usize,
    experts: &[usize],
    choice_of: impl Fn(usize) -> Choice,
) -> (f64, f64) {
    let (local, remote, energy) = score::cache_block(problem, prices, j, experts, choice_of);
    (local.max(remote), energy)
}

/// Per-token costs of a static plan over `tokens` (its resident experts are the hits).
pub fn static_tokens(
    problem: &MoeProblem,
    prices: &Prices,
    plan: &MoePlan,
    tokens: &[Vec<Vec<usize>>],
) -> Vec<TokenCost> {
    tokens
        .iter()
        .map(|token| {
            let mut c = TokenCost {
                latency_s: prices.dense_s,
                energy_j: prices.dense_j,
                hits: 0,
                accesses: 0,
            };
            for (j, experts) in token.iter().enumerate() {
                let (l, e) = block_cost(problem, prices, j, experts, |x| plan.choices[j][x]);
                c.latency_s += l;
                c.energy_j += e;
                c.accesses += experts.len();
                c.hits += experts
                    .iter()
                    .filter(|&&x| plan.choices[j][x] == Choice::Resident)
                    .count();
            }
            c
        })
        .collect()
}

/// The cache: per expert (global index) its key in the eviction order while cached.
struct Cache {
    policy: Policy,
    capacity: usize,
    /// `(count for LFU or 0, last use, expert)` of the cached experts, the victim first.
    order: BTreeSet<(u64, u64, usize)>,
    cached: Vec<Option<(u64, u64)>>,
    count: Vec<u64>,
    clock: u64,
}

impl Cache {
    fn key(&self, expert: usize) -> (u64, u64) {
        let count = match self.policy {
            Policy::Lru => 0,
            Policy::Lfu => self.count[expert],
        };
        (count, self.clock)
    }

    /// Counts an access of `expert`; a hit refreshes its place. Whether it was cached.
    fn access(&mut self, expert: usize) -> bool {
        self.clock += 1;
        self.count[expert] += 1;
        match self.cached[expert] {
            Some(old) => {
                self.order.remove(&(old.0, old.1, expert));
                let key = self.key(expert);
                self.order.insert((key.0, key.1, expert));
                self.cached[expert] = Some(key);
                true
            }
            None => false,
        }
    }

    /// Inserts a missed `expert`, evicting the victim when full.
    fn insert(&mut self, expert: usize) {
        if self.capacity == 0 || self.cached[expert].is_some() {
            return;
        }
        if self.order.len() >= self.capacity {
            if let Some(victim) = self.order.pop_first() {
                self.cached[victim.2] = None;
            }
        }
        self.clock += 1;
        let key = self.key(expert);
        self.order.insert((key.0, key.1, expert));
        self.cached[expert] = Some(key);
    }
}

/// Per-token costs of a dynamic cache over `tokens` (every token, warm-up included).
pub fn token_costs(
    problem: &MoeProblem,
    prices: &Prices,
    policy: Policy,
    tokens: &[Vec<Vec<usize>>],
) -> Vec<TokenCost> {
    let sizes = super::block_sizes(problem);
    let mut offset = Vec::with_capacity(sizes.len());
    let mut total = 0;
    for &n in &sizes {
        offset.push(total);
        total += n;
    }
    let fetch = problem.allow_fetch || !problem.allow_offload;
    let miss = if fetch {
        Choice::Fetch
    } else {
        Choice::Offload
    };
    let mut cache = Cache {
        policy,
        capacity: cache_capacity(problem, prices),
        order: BTreeSet::new(),
        cached: vec![None; total],
        count: vec![0; total],
        clock: 0,
    };
    let mut hit = Vec::new();
    tokens
        .iter()
        .map(|token| {
            let mut c = TokenCost {
                latency_s: prices.dense_s,
                energy_j: prices.dense_j,
                hits: 0,
                accesses: 0,
            };
            for (j, experts) in token.iter().enumerate() {
                hit.clear();
                hit.extend(experts.iter().map(|&e| cache.access(offset[j] + e)));
                let choice_of = |e: usize| {
                    let i = experts.iter().position(|&x| x == e).unwrap_or(0);
                    if hit[i] {
                        Choice::Resident
                    } else {
                        miss
                    }
                };
                let (l, en) = block_cost(problem, prices, j, experts, choice_of);
                c.latency_s += l;
                c.energy_j += en;
                c.accesses += experts.len();
                c.hits += hit.iter().filter(|&&h| h).count();
                if fetch {
                    for (i, &e) in experts.iter().enumerate() {
                        if !hit[i] {
                            cache.insert(offset[j] + e);
                        }
                    }
                }
            }
            c
        })
        .collect()
}

/// Mean, and 95% half-width of the mean, of `x` (NaN half-width below 2 values).
fn mean_half_width(x: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = x.clone().count();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = x.clone().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let var = x.map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, 1.96 * var.sqrt() / (n as f64).sqrt())
}

/// The statistics of per-token costs.
pub fn stats(costs: &[TokenCost]) -> SimStats {
    let (mean_latency_s, latency_half_width_s) = mean_half_width(costs.iter().map(|c| c.latency_s));
    let (mean_energy_j, energy_half_width_j) = mean_half_width(costs.iter().map(|c| c.energy_j));
    let hits: usize = costs.iter().map(|c| c.hits).sum();
    let accesses: usize = costs.iter().map(|c| c.accesses).sum();
    SimStats {
        mean_latency_s,
        latency_half_width_s,
        mean_energy_j,
        energy_half_width_j,
        hit_ratio: if accesses > 0 {
            hits as f64 / accesses as f64
        } else {
            f64::NAN
        },
        tokens: costs.len(),
    }
}

/// A dynamic cache over `tokens`, the first `warmup` tokens left out of the statistics.
pub fn simulate_from(
    problem: &MoeProblem,
    prices: &Prices,
    policy: Policy,
    tokens: &[Vec<Vec<usize>>],
    warmup: usize,
) -> SimStats {
    let costs = token_costs(problem, prices, policy, tokens);
    stats(&costs[warmup.min(costs.len())..])
}

/// A dynamic cache over `tokens` (`tokens[t][j]`: the experts token `t` is routed to in the
/// `j`-th MoE block), warm: the first 10% of the tokens are left out of the statistics.
pub fn simulate(
    problem: &MoeProblem,
    prices: &Prices,
    policy: Policy,
    tokens: &[Vec<Vec<usize>>],
) -> SimStats {
    simulate_from(problem, prices, policy, tokens, tokens.len() / 10)
}
