//! Routing statistics of an MoE model: per MoE block, the distinct expert sets tokens were routed
//! to and their probabilities, from a routing trace (generated or measured).
//!
//! **Generated traces** ([`zipf_trace`]): in each MoE block the experts get weights
//! `w_e = 1 / rank(e)^skew` over a random permutation of ranks (seeded, independently per block),
//! and each token picks its `k` experts by successive sampling without replacement in proportion
//! to `w` (the Plackett-Luce model of a softmax router; implemented as the Gumbel top-k trick:
//! the `k` largest `ln w_e + G_e` with `G_e` standard Gumbel). `skew = 0` is uniform routing;
//! around 1 matches the imbalance measured in Mixtral's routers (a few experts take about twice
//! their share, Jiang et al. 2024, section 5), larger values are more skewed.
//!
//! **Measured traces** (CSV, [`read_trace`]): `token,layer,experts` with `layer` the 0-based
//! transformer block (as Hugging Face's `router_logits` are numbered) and `experts` the routed
//! experts separated by spaces, e.g. `17,3,2 5`. Every token lists every MoE block once.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};

/// One distinct expert set and its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    /// The experts, sorted.
    pub experts: Vec<usize>,
    /// Probability that a token is routed to exactly this set.
    pub prob: f64,
}

/// The routing distribution of one MoE block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockRouting {
    /// Routed experts of the block.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
    /// Distinct sets, most probable first (ties: lexicographic).
    pub patterns: Vec<Pattern>,
    /// Cumulative probabilities of `patterns` (for sampling).
    #[serde(skip)]
    cumulative: Vec<f64>,
}

impl BlockRouting {
    /// The distribution of the given sets (each a token's experts in this block).
    pub fn from_sets(experts: usize, top_k: usize, sets: &[Vec<usize>]) -> BlockRouting {
        let mut counts: std::collections::BTreeMap<Vec<usize>, usize> = Default::default();
        for set in sets {
            let mut s = set.clone();
            s.sort_unstable();
            *counts.entry(s).or_insert(0) += 1;
        }
        let n = sets.len().max(1) as f64;
        let mut patterns: Vec<Pattern> = counts
            .into_iter()
            .map(|(experts, c)| Pattern {
                experts,
                prob: c as f64 / n,
            })
            .collect();
        patterns.sort_by(|a, b| b.prob.total_cmp(&a.prob).then(a.experts.cmp(&b.experts)));
        let mut acc = 0.0;
        let cumulative = patterns
            .iter()
            .map(|p| {
                acc += p.prob;
                acc
            })
            .collect();
        BlockRouting {
            experts,
            top_k,
            patterns,
            cumulative,
        }
    }

    /// Activation frequency of each expert: the probability that a token is routed to it (the
    /// frequencies sum to `top_k`).
    pub fn frequency(&self) -> Vec<f64> {
        let mut f = vec![0.0; self.experts];
        for p in &self.patterns {
            for &e in &p.experts {
                f[e] += p.prob;
            }
        }
        f
    }

    /// Co-activation: `c[e][f]` = probability that a token is routed to both `e` and `f`
    /// (`c[e][e]` = frequency of `e`).
    pub fn coactivation(&self) -> Vec<Vec<f64>> {
        let mut c = vec![vec![0.0; self.experts]; self.experts];
        for p in &self.patterns {
            for &e in &p.experts {
                for &f in &p.experts {
                    c[e][f] += p.prob;
                }
            }
        }
        c
    }

    /// A pattern index drawn from the distribution.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen::<f64>() * self.cumulative.last().copied().unwrap_or(1.0);
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.patterns.len() - 1)
    }
}

/// A routing trace: `tokens[t][j]` = the experts token `t` was routed to in the `j`-th MoE block.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    /// Per token, per MoE block, the routed experts (in router order).
    pub tokens: Vec<Vec<Vec<usize>>>,
}

/// The routing statistics of every MoE block, and the trace they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routing {
    /// One entry per MoE block, in model order.
    pub blocks: Vec<BlockRouting>,
    /// The tokens the statistics were computed from, in order (LRU/LFU replay).
    #[serde(skip)]
    pub trace: Trace,
    /// Where the statistics come from (`zipf skew=1.2 tokens=512 seed=7` or the CSV path).
    pub origin: String,
    /// Whether the trace was read from a file (the LRU and LFU baselines then replay it in
    /// order, keeping its temporal locality; a generated trace is i.i.d., so they run on tokens
    /// sampled from the statistics).
    pub measured: bool,
}

impl Routing {
    /// The statistics of `trace` for blocks with the given `(experts, top_k)`.
    pub fn from_trace(shape: &[(usize, usize)], trace: Trace, origin: String) -> Routing {
        let blocks = shape
            .iter()
            .enumerate()
            .map(|(j, &(experts, top_k))| {
                let sets: Vec<Vec<usize>> = trace.tokens.iter().map(|t| t[j].clone()).collect();
                BlockRouting::from_sets(experts, top_k, &sets)
            })
            .collect();
        Routing {
            blocks,
            trace,
            origin,
            measured: false,
        }
    }

    /// One token drawn from the statistics: a pattern index per block (blocks independent).
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<usize> {
        self.blocks.iter().map(|b| b.sample(rng)).collect()
    }

    /// `(hottest, pair)`: averaged over the blocks, the activation frequency of the most often
    /// used expert and the probability of the most often co-activated pair of experts (0 for
    /// top-1 routing). Uniform routing gives `k / E` and `k (k - 1) / (E (E - 1))`.
    pub fn skew_summary(&self) -> (f64, f64) {
        let n = self.blocks.len().max(1) as f64;
        let mut hottest = 0.0;
        let mut pair = 0.0;
        for b in &self.blocks {
            hottest += b.frequency().into_iter().fold(0.0, f64::max);
            let c = b.coactivation();
            let mut best: f64 = 0.0;
            for (e, row) in c.iter().enumerate() {
                for &x in &row[e + 1..] {
                    best = best.max(x);
                }
            }
            pair += best;
        }
        (hottest / n, pair / n)
    }

    /// Total distinct patterns over all blocks.
    pub fn pattern_count(&self) -> usize {
        self.blocks.iter().map(|b| b.patterns.len()).sum()
    }
}

/// The Zipf weights of one block: `1 / rank^skew` over a random permutation of the experts.
pub fn zipf_weights(experts: usize, skew: f64, rng: &mut impl Rng) -> Vec<f64> {
    let mut ranks: Vec<usize> = (1..=experts).collect();
    for i in (1..experts).rev() {
        let j = rng.gen_range(0..=i);
        ranks.swap(i, j);
    }
    ranks.iter().map(|&r| (r as f64).powf(-skew)).collect()
}

/// `k` distinct experts drawn by successive sampling in proportion to `weights` (Gumbel top-k).
pub fn draw_top_k(weights: &[f64], k: usize, rng: &mut impl Rng) -> Vec<usize> {
    let mut keys: Vec<(f64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(e, &w)| {
            let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
            (w.ln() - (-u.ln()).ln(), e)
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    keys.into_iter().take(k).map(|(_, e)| e).collect()
}

/// A generated trace of `tokens` tokens over blocks of the given `(experts, top_k)`.
pub fn zipf_trace(shape: &[(usize, usize)], skew: f64, tokens: usize, seed: u64) -> Trace {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weights: Vec<Vec<f64>> = shape
        .iter()
        .map(|&(e, _)| zipf_weights(e, skew, &mut rng))
        .collect();
    let tokens = (0..tokens)
        .map(|_| {
            shape
                .iter()
                .zip(&weights)
                .map(|(&(_, k), w)| draw_top_k(w, k, &mut rng))
                .collect()
        })
        .collect();
    Trace { tokens }
}

/// Reads a routing trace CSV (`token,layer,experts`). `moe_layers` are the 0-based block numbers
/// of the MoE blocks and `shape` their `(experts, top_k)`, in the same order.
pub fn read_trace(path: &Path, moe_layers: &[usize], shape: &[(usize, usize)]) -> Result<Trace> {
    let text = crate::files::read_text(path)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let bad = |line: usize, msg: String| Error::field(path, format!("line {}", line + 1), msg);
    match lines.next() {
        Some((_, h))
            if h.split(',')
                .map(str::trim)
                .eq(["token", "layer", "experts"]) => {}
        Some((i, h)) => {
            return Err(bad(
                i,
                format!("expected the header `token,layer,experts`, got `{h}`"),
            ))
        }
        None => return Err(Error::field(path, "header", "the file is empty")),
    }
    let mut order: Vec<i64> = Vec::new();
    let mut index: std::collections::HashMap<i64, usize> = Default::default();
    let mut tokens: Vec<Vec<Option<Vec<usize>>>> = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != 3 {
            return Err(bad(i, format!("expected 3 cells, got {}", cells.len())));
        }
        let token: i64 = cells[0]
            .parse()
            .map_err(|_| bad(i, format!("token: expected an integer, got `{}`", cells[0])))?;
        let layer: usize = cells[1].parse().map_err(|_| {
            bad(
                i,
                format!("layer: expected a block number, got `{}`", cells[1]),
            )
        })?;
        let Some(j) = moe_layers.iter().position(|&l| l == layer) else {
            return Err(bad(
                i,
                format!(
                    "layer {layer} is not an MoE block of the model (MoE blocks: {moe_layers:?})"
                ),
            ));
        };
        let (experts, top_k) = shape[j];
        let mut set = Vec::with_capacity(top_k);
        for cell in cells[2].split_whitespace() {
            let e: usize = cell.parse().ok().filter(|&e| e < experts).ok_or_else(|| {
                bad(
                    i,
                    format!("experts: expected expert numbers below {experts}, got `{cell}`"),
                )
            })?;
            if set.contains(&e) {
                return Err(bad(i, format!("experts: expert {e} is listed twice")));
            }
            set.push(e);
        }
        if set.len() != top_k {
            return Err(bad(
                i,
                format!(
                    "experts: block {layer} routes each token to {top_k} experts, got {}",
                    set.len()
                ),
            ));
        }
        let t = *index.entry(token).or_insert_with(|| {
            order.push(token);
            tokens.push(vec![None; moe_layers.len()]);
            tokens.len() - 1
        });
        if tokens[t][j].replace(set).is_some() {
            return Err(bad(i, format!("token {token} lists layer {layer} twice")));
        }
    }
    if tokens.is_empty() {
        return Err(Error::field(path, "rows", "the trace has no tokens"));
    }
    let mut complete = Vec::with_capacity(tokens.len());
    for (t, blocks) in tokens.into_iter().enumerate() {
        if let Some(j) = blocks.iter().position(Option::is_none) {
            return Err(Error::field(
                path,
                "rows",
                format!("token {} has no row for layer {}", order[t], moe_layers[j]),
            ));
        }
        complete.push(blocks.into_iter().flatten().collect());
    }
    Ok(Trace { tokens: complete })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_sum_to_top_k_and_skew_orders_them() {
        let shape = [(8, 2), (8, 2)];
        let trace = zipf_trace(&shape, 1.5, 4000, 3);
        let r = Routing::from_trace(&shape, trace, "test".into());
        for b in &r.blocks {
            let f = b.frequency();
            assert!((f.iter().sum::<f64>() - 2.0).abs() < 1e-9);
            let max = f.iter().cloned().fold(0.0, f64::max);
            let min = f.iter().cloned().fold(1.0, f64::min);
            assert!(max > 3.0 * min, "skew 1.5 should be uneven: {f:?}");
            let total: f64 = b.patterns.iter().map(|p| p.prob).sum();
            assert!((total - 1.0).abs() < 1e-9);
            assert!(b.patterns.len() <= 28);
        }
        let uniform = Routing::from_trace(&shape, zipf_trace(&shape, 0.0, 4000, 3), "u".into());
        let f = uniform.blocks[0].frequency();
        assert!(f.iter().all(|&x| (x - 0.25).abs() < 0.05), "{f:?}");
    }

    #[test]
    fn coactivation_is_symmetric_with_the_frequencies_on_its_diagonal() {
        let shape = [(6, 3)];
        let r = Routing::from_trace(&shape, zipf_trace(&shape, 1.0, 500, 5), "t".into());
        let b = &r.blocks[0];
        let (f, c) = (b.frequency(), b.coactivation());
        for e in 0..6 {
            assert!((c[e][e] - f[e]).abs() < 1e-12);
            // A token routed to `e` is routed to k - 1 others.
            let others: f64 = (0..6).filter(|&x| x != e).map(|x| c[e][x]).sum();
            assert!((others - 2.0 * f[e]).abs() < 1e-9, "{others} vs {}", f[e]);
            for (x, row) in c.iter().enumerate() {
                assert_eq!(c[e][x], row[e]);
            }
        }
        let (hottest, pair) = r.skew_summary();
        assert!((0.5..=1.0).contains(&hottest), "{hottest}");
        assert!(pair > 0.0 && pair <= hottest, "{pair}");
    }

    #[test]
    fn sampling_follows_the_probabilities() {
        let b = BlockRouting::from_sets(4, 1, &[vec![0], vec![0], vec![0], vec![1]]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20000;
        let zeros = (0..n)
            .filter(|_| b.patterns[b.sample(&mut rng)].experts == [0])
            .count();
        assert!((zeros as f64 / n as f64 - 0.75).abs() < 0.02);
    }
}
