//! The cost model of the solvers: every mode of every user priced from the cost tables and the
//! radio, the options each user can take, and the scoring of a plan.
//!
//! Times of one request with `P` prompt and `T` output tokens. Decode steps are priced at the
//! mean context `P + T / 2` (exact while a step stays memory- or compute-bound, since both
//! roofline terms are linear in the context); a verification pass of `k + 1` tokens reads the
//! weights once ([`crate::costs::latency::verify_work`]). Airtime at one resource block is
//! `8 bytes / (B log2(1 + SNR))`, `1 / n` of it with `n` blocks. A request's latency is
//!
//! ```text
//! L(n) = max(D_pre, F_pre + A_pre / n + E_pre) + D + F + (A_up + A_down) / n + E
//! ```
//!
//! with device times `D`, fixed link times `F` (half a round trip per crossing), airtimes `A` at
//! one block and edge times `E` already inflated by `1 / (1 - rho_max)`; `_pre` is the prefill
//! phase where device and edge work in parallel (speculative decoding; zero elsewhere). The
//! device energy is its compute energy plus `(P_tx (A_pre + A_up) + P_rx A_down) / n`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::Serialize;

use crate::costs::latency::Cost;

use super::part::Part;
use super::UserChoice;
use super::{cascade_quality, CollabPlan, CollabProblem, CollabUser, Mode, ModeKind, Objective};

/// Relative tolerance of the latency and energy limits.
pub const LIMIT_TOL: f64 = 1e-9;

/// The expected times of one request of one user in one mode (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Device time of the prefill phase that runs beside the edge's, s.
    pub device_pre_s: f64,
    /// Fixed link time of that phase, s.
    pub fixed_pre_s: f64,
    /// Uplink airtime of that phase at one block, s.
    pub air_pre_s: f64,
    /// Edge time of that phase (inflated), s.
    pub edge_pre_s: f64,
    /// Device time after it, s.
    pub device_s: f64,
    /// Fixed link time after it, s.
    pub fixed_s: f64,
    /// Uplink airtime after it at one block, s.
    pub air_up_s: f64,
    /// Downlink airtime at one block, s.
    pub air_down_s: f64,
    /// Edge time after it (inflated), s.
    pub edge_s: f64,
    /// Device compute energy, J.
    pub device_energy_j: f64,
}

impl Timing {
    /// Whether the mode sends anything over the radio.
    pub fn uses_radio(&self) -> bool {
        self.air_pre_s + self.air_up_s + self.air_down_s > 0.0
    }

    /// Expected latency with `n` resource blocks (`n` is ignored without radio traffic).
    pub fn latency(&self, n: usize) -> f64 {
        let inv = if self.uses_radio() {
            1.0 / n.max(1) as f64
        } else {
            0.0
        };
        let pre = self
            .device_pre_s
            .max(self.fixed_pre_s + self.air_pre_s * inv + self.edge_pre_s);
        pre + self.device_s + self.fixed_s + (self.air_up_s + self.air_down_s) * inv + self.edge_s
    }

    /// Expected device energy with `n` blocks and the user's radio powers.
    pub fn energy(&self, n: usize, user: &CollabUser) -> f64 {
        if !self.uses_radio() {
            return self.device_energy_j;
        }
        let inv = 1.0 / n.max(1) as f64;
        self.device_energy_j
            + (user.tx_power_w * (self.air_pre_s + self.air_up_s)
                + user.rx_power_w * self.air_down_s)
                * inv
    }
}

/// One mode of one user, priced.
#[derive(Debug, Clone, Serialize)]
pub struct Priced {
    /// The mode.
    pub mode: Mode,
    /// Its quality.
    pub quality: f64,
    /// Its times.
    pub timing: Timing,
    /// Expected edge seconds per request with the whole server (not inflated).
    pub edge_service_s: f64,
    /// The user's share of the edge's utilisation: `rate * edge_service_s`.
    pub load: f64,
    /// The user's bytes on the edge (KV cache), beside the variant's weights.
    pub edge_private_bytes: f64,
    /// Bytes on the device (weights and KV cache).
    pub device_bytes: f64,
    /// The fewest resource blocks meeting the latency and energy limits (0 without radio
    /// traffic); `None` when no number of blocks does, or the mode does not fit in memory.
    pub min_blocks: Option<usize>,
}

impl Priced {
    /// Latency at its fewest blocks (infinite when infeasible).
    pub fn min_latency(&self) -> f64 {
        self.min_blocks
            .map_or(f64::INFINITY, |n| self.timing.latency(n))
    }

    /// The mode's variant held at the edge.
    pub fn edge_variant(&self) -> Option<usize> {
        self.mode.edge_variant()
    }
}

/// Expected number of speculative rounds to produce `tokens` tokens with acceptance `a` and
/// draft length `k`: `R(n) = 1 + sum_j P(j) R(n - j - 1)`, `R(n <= 0) = 0`, with
/// `P(j) = a^j (1 - a)` for `j < k` and `P(k) = a^k`. At least `tokens / E` with
/// `E = (1 - a^(k+1)) / (1 - a)` (the renewal approximation), by at most one round.
pub fn expected_rounds(a: f64, k: usize, tokens: usize) -> f64 {
    let probs = round_yield(a, k);
    let mut r = vec![0.0; tokens + 1];
    for n in 1..=tokens {
        let mut v = 1.0;
        for (j, p) in probs.iter().enumerate() {
            let rest = n.saturating_sub(j + 1);
            v += p * r[rest];
        }
        r[n] = v;
    }
    r[tokens]
}

/// `P(j)` drafted tokens accepted in one round, `j = 0..=k`.
pub fn round_yield(a: f64, k: usize) -> Vec<f64> {
    (0..=k)
        .map(|j| {
            if j < k {
                a.powi(j as i32) * (1.0 - a)
            } else {
                a.powi(k as i32)
            }
        })
        .collect()
}

/// Expected tokens per round `(1 - a^(k+1)) / (1 - a)` (`k + 1` at `a = 1`).
pub fn tokens_per_round(a: f64, k: usize) -> f64 {
    if a >= 1.0 {
        (k + 1) as f64
    } else {
        (1.0 - a.powi(k as i32 + 1)) / (1.0 - a)
    }
}

/// Prices `mode` for user `u` (any mode of the right shape; the escalation may be any fraction
/// in `[0, 1]`). The caller checks the variants exist and that a speculative pair has an
/// acceptance rate.
pub fn price(problem: &CollabProblem, u: usize, mode: Mode) -> Priced {
    let user = &problem.users[u];
    let edge = &problem.edge;
    let infl = edge.inflation();
    let (p, t) = (user.prompt_tokens, user.output_tokens);
    let tf = t as f64;
    let context = p as f64 + tf / 2.0;
    let b = edge.rb_bandwidth_hz;
    let up = |bytes: f64| 8.0 * bytes / (b * (1.0 + user.snr_up).log2());
    let down = |bytes: f64| 8.0 * bytes / (b * (1.0 + user.snr_down).log2());
    let tb = problem.token_bytes;
    let v = &problem.variants;
    let full = |run: &Part| -> Cost { run.answer(p, context, t) };
    let mut timing = Timing::default();
    let mut edge_service_s = 0.0;
    let mut edge_private_bytes = 0.0;
    let mut device_bytes = 0.0;
    let quality;
    match mode {
        Mode::Device { variant } => {
            let run = Part::whole(&v[variant], user.on(variant));
            let c = full(&run);
            timing.device_s = c.latency_s;
            timing.device_energy_j = c.energy_j;
            device_bytes = run.weight_bytes() + run.kv_bytes(p + t);
            quality = v[variant].quality;
        }
        Mode::Edge { variant } => {
            let run = Part::whole(&v[variant], edge.on(variant));
            let pre = run.prefill(p).latency_s;
            let dec = run.passes(context, 1, tf).latency_s;
            timing.fixed_pre_s = edge.rtt_s / 2.0;
            timing.air_pre_s = up(p as f64 * tb);
            timing.edge_pre_s = pre * infl;
            timing.edge_s = dec * infl;
            timing.air_down_s = down(tf * tb);
            timing.fixed_s = edge.rtt_s / 2.0;
            edge_service_s = pre + dec;
            edge_private_bytes = run.kv_bytes(p + t);
            quality = v[variant].quality;
        }
        Mode::Cascade {
            draft,
            target,
            escalation: q,
        } => {
            let dev = Part::whole(&v[draft], user.on(draft));
            let c = full(&dev);
            timing.device_s = c.latency_s;
            timing.device_energy_j = c.energy_j;
            device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            let run = Part::whole(&v[target], edge.on(target));
            let served = full(&run).latency_s;
            timing.fixed_s = q * edge.rtt_s;
            timing.air_up_s = q * up(p as f64 * tb);
            timing.air_down_s = q * down(tf * tb);
            timing.edge_s = q * served * infl;
            edge_service_s = q * served;
            edge_private_bytes = run.kv_bytes(p + t);
            quality = cascade_quality(
                v[draft].quality,
                v[target].quality,
                q,
                problem.router_sharpness,
            );
        }
        Mode::Speculative {
            draft,
            target,
            draft_length: k,
        } => {
            let a = problem.acceptance[draft][target].unwrap_or(0.0);
            let rounds = expected_rounds(a, k, t);
            let dev = Part::whole(&v[draft], user.on(draft));
            let pre = dev.prefill(p);
            let step = dev.passes(context, 1, k as f64 * rounds);
            timing.device_pre_s = pre.latency_s;
            timing.device_s = step.latency_s;
            timing.device_energy_j = pre.energy_j + step.energy_j;
            device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            let run = Part::whole(&v[target], edge.on(target));
            let epre = run.prefill(p).latency_s;
            let verify = run.passes(context, k + 1, rounds).latency_s;
            timing.fixed_pre_s = edge.rtt_s / 2.0;
            timing.air_pre_s = up(p as f64 * tb);
            timing.edge_pre_s = epre * infl;
            timing.fixed_s = rounds * edge.rtt_s;
            timing.air_up_s = rounds * up(k as f64 * problem.draft_token_bytes);
            timing.air_down_s = rounds * down(2.0 * tb);
            timing.edge_s = verify * infl;
            edge_service_s = epre + verify;
            edge_private_bytes = run.kv_bytes(p + t);
            quality = v[target].quality;
        }
        Mode::Split { variant, cut } => {
            let rows = v[variant].table.len();
            let dev = Part::new(&v[variant], user.on(variant), 0..cut);
            let c = full(&dev);
            timing.device_s = c.latency_s;
            timing.device_energy_j = c.energy_j;
            device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            let run = Part::new(&v[variant], edge.on(variant), cut..rows);
            let served = full(&run).latency_s;
            let act = v[variant].table.layers[cut - 1].out_bytes_per_token;
            timing.fixed_s = tf * edge.rtt_s;
            timing.air_up_s = up((p as f64 + tf) * act);
            timing.air_down_s = down(tf * tb);
            timing.edge_s = served * infl;
            edge_service_s = served;
            edge_private_bytes = run.kv_bytes(p + t);
            quality = v[variant].quality;
        }
    }
    let mut priced = Priced {
        mode,
        quality,
        timing,
        edge_service_s,
        load: user.rate_per_s * edge_service_s,
        edge_private_bytes,
        device_bytes,
        min_blocks: None,
    };
    priced.min_blocks = min_blocks(problem, user, &priced);
    priced
}

/// Whether `n` blocks meet the user's latency and energy limits.
pub fn meets_limits(user: &CollabUser, timing: &Timing, n: usize) -> bool {
    let latency_ok = timing.latency(n) <= user.deadline_s * (1.0 + LIMIT_TOL);
    let energy_ok = user
        .energy_limit_j
        .is_none_or(|e| timing.energy(n, user) <= e * (1.0 + LIMIT_TOL));
    latency_ok && energy_ok
}

/// The fewest blocks meeting the limits, with the memory checks (see [`Priced::min_blocks`]).
fn min_blocks(problem: &CollabProblem, user: &CollabUser, p: &Priced) -> Option<usize> {
    if p.device_bytes > user.memory_bytes {
        return None;
    }
    if let Some(t) = p.edge_variant() {
        if problem.variants[t].weight_bytes() + p.edge_private_bytes > problem.edge.memory_bytes {
            return None;
        }
        if p.load > problem.edge.max_utilisation {
            return None;
        }
    }
    if !p.timing.uses_radio() {
        return meets_limits(user, &p.timing, 0).then_some(0);
    }
    let n_max = problem.edge.resource_blocks;
    if n_max == 0 || !meets_limits(user, &p.timing, n_max) {
        return None;
    }
    // Latency and energy fall with n: the first n that meets both.
    let (mut lo, mut hi) = (1, n_max);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if meets_limits(user, &p.timing, mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

/// The modes the instance offers, the same for every user.
pub fn candidate_modes(problem: &CollabProblem) -> Vec<Mode> {
    let nv = problem.variants.len();
    let mut modes = Vec::new();
    for kind in &problem.modes {
        match kind {
            ModeKind::Device => modes.extend((0..nv).map(|variant| Mode::Device { variant })),
            ModeKind::Edge => modes.extend((0..nv).map(|variant| Mode::Edge { variant })),
            ModeKind::Cascade => {
                for draft in 0..nv {
                    for target in 0..nv {
                        if problem.variants[target].quality <= problem.variants[draft].quality {
                            continue;
                        }
                        for &escalation in &problem.escalations {
                            modes.push(Mode::Cascade {
                                draft,
                                target,
                                escalation,
                            });
                        }
                    }
                }
            }
            ModeKind::Speculative => {
                for draft in 0..nv {
                    for target in 0..nv {
                        if problem.acceptance[draft][target].is_none() {
                            continue;
                        }
                        for &draft_length in &problem.draft_lengths {
                            modes.push(Mode::Speculative {
                                draft,
                                target,
                                draft_length,
                            });
                        }
                    }
                }
            }
            ModeKind::Split => {
                for variant in 0..nv {
                    for cut in 1..problem.variants[variant].table.len() {
                        modes.push(Mode::Split { variant, cut });
                    }
                }
            }
        }
    }
    modes
}

/// The feasible options of every user, before and after removing dominated ones.
#[derive(Debug, Clone)]
pub struct Options {
    /// `options[u]`: user `u`'s feasible options, none dominated by another (the solvers'
    /// columns).
    pub options: Vec<Vec<Priced>>,
    /// Feasible options per user before the dominance filter.
    pub feasible: Vec<usize>,
    /// Modes per user considered.
    pub candidates: usize,
}

impl Options {
    /// Prices every user's modes and keeps the feasible, undominated ones.
    pub fn build(problem: &CollabProblem) -> Options {
        let modes = candidate_modes(problem);
        let mut options = Vec::with_capacity(problem.users.len());
        let mut feasible = Vec::with_capacity(problem.users.len());
        for u in 0..problem.users.len() {
            let all: Vec<Priced> = modes
                .iter()
                .map(|&m| price(problem, u, m))
                .filter(|p| p.min_blocks.is_some())
                .collect();
            feasible.push(all.len());
            options.push(undominated(problem, u, all));
        }
        Options {
            options,
            feasible,
            candidates: modes.len(),
        }
    }

    /// Users with no feasible option.
    pub fn stranded(&self) -> Vec<usize> {
        (0..self.options.len())
            .filter(|&u| self.options[u].is_empty())
            .collect()
    }
}

/// The value of an option in the primary objective, per unit of user weight.
pub fn primary_value(problem: &CollabProblem, u: usize, quality: f64) -> f64 {
    match problem.objective {
        Objective::Quality => quality,
        Objective::Served => {
            let target = problem.users[u].quality_target.unwrap_or(0.0);
            if quality >= target - LIMIT_TOL {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// Keeps the options no other option dominates: `a` dominates `b` when it is at least as good
/// in the objective and in latency at its fewest blocks, and needs no more blocks, edge load or
/// edge memory, holding at the edge nothing or the same variant. Of equal options the first is
/// kept.
fn undominated(problem: &CollabProblem, u: usize, all: Vec<Priced>) -> Vec<Priced> {
    let key: Vec<(f64, f64, usize, f64, f64)> = all
        .iter()
        .map(|p| {
            (
                primary_value(problem, u, p.quality),
                p.min_latency(),
                p.min_blocks.unwrap_or(usize::MAX),
                p.load,
                p.edge_private_bytes,
            )
        })
        .collect();
    let dominates = |a: usize, b: usize| -> bool {
        let (ka, kb) = (&key[a], &key[b]);
        let edge_ok = match (all[a].edge_variant(), all[b].edge_variant()) {
            (None, _) => true,
            (Some(x), Some(y)) => x == y,
            (Some(_), None) => false,
        };
        edge_ok && ka.0 >= kb.0 && ka.1 <= kb.1 && ka.2 <= kb.2 && ka.3 <= kb.3 && ka.4 <= kb.4
    };
    let mut keep = Vec::new();
    'outer: for b in 0..all.len() {
        for a in 0..all.len() {
            if a == b || !dominates(a, b) {
                continue;
            }
            // Equal keys: the first survives.
            if !dominates(b, a) || a < b {
                continue 'outer;
            }
        }
        keep.push(b);
    }
    let mut all: Vec<Option<Priced>> = all.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| all[i].take()).collect()
}

/// The score of a set of chosen options: the primary objective (weighted mean over users) and
/// the tie-break, the weighted mean latency with every user at its fewest blocks (the blocks
/// handed out afterwards lower the plan's latency further; the evaluator reports that).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// Weighted mean quality, or weighted share of users served.
    pub primary: f64,
    /// Weighted mean expected latency at the fewest blocks, s.
    pub latency_s: f64,
}

impl Score {
    /// Lexicographic comparison: a higher primary value first (beyond `tol` relative), then a
    /// lower latency.
    pub fn better(&self, other: &Score, tol: f64) -> bool {
        let margin = tol * self.primary.abs().max(other.primary.abs()).max(1e-12);
        if self.primary > other.primary + margin {
            return true;
        }
        if self.primary < other.primary - margin {
            return false;
        }
        self.latency_s < other.latency_s * (1.0 - tol)
    }
}

/// Whether chosen options (one per user, with their blocks) fit the edge: blocks, utilisation
/// and memory (each variant's weights once).
pub fn fits(problem: &CollabProblem, chosen: &[(&Priced, usize)]) -> bool {
    let blocks: usize = chosen.iter().map(|(_, n)| n).sum();
    let load: f64 = chosen.iter().map(|(p, _)| p.load).sum();
    let mut held = vec![false; problem.variants.len()];
    let mut memory: f64 = 0.0;
    for (p, _) in chosen {
        memory += p.edge_private_bytes;
        if let Some(t) = p.edge_variant() {
            if !held[t] {
                held[t] = true;
                memory += problem.variants[t].weight_bytes();
            }
        }
    }
    blocks <= problem.edge.resource_blocks
        && load <= problem.edge.max_utilisation * (1.0 + LIMIT_TOL)
        && memory <= problem.edge.memory_bytes * (1.0 + LIMIT_TOL)
}

/// Hands the blocks left over (after every user's fewest) out one at a time to the user whose
/// weighted latency falls most (a separable convex allocation: greedy is optimal for the chosen
/// modes). Returns the blocks per user.
pub fn hand_out_blocks(problem: &CollabProblem, chosen: &[&Priced]) -> Vec<usize> {
    let mut blocks: Vec<usize> = chosen.iter().map(|p| p.min_blocks.unwrap_or(0)).collect();
    let used: usize = blocks.iter().sum();
    let mut spare = problem.edge.resource_blocks.saturating_sub(used);
    #[derive(PartialEq)]
    struct Gain(f64, usize);
    impl Eq for Gain {}
    impl PartialOrd for Gain {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Gain {
        fn cmp(&self, other: &Self) -> Ordering {
            self.0
                .total_cmp(&other.0)
                .then_with(|| other.1.cmp(&self.1))
        }
    }
    let gain = |u: usize, n: usize| -> f64 {
        let t = &chosen[u].timing;
        problem.users[u].weight * (t.latency(n) - t.latency(n + 1))
    };
    let mut heap = BinaryHeap::new();
    for (u, p) in chosen.iter().enumerate() {
        if p.timing.uses_radio() {
            let g = gain(u, blocks[u]);
            if g > 0.0 {
                heap.push(Gain(g, u));
            }
        }
    }
    while spare > 0 {
        let Some(Gain(_, u)) = heap.pop() else { break };
        blocks[u] += 1;
        spare -= 1;
        let g = gain(u, blocks[u]);
        if g > 0.0 {
            heap.push(Gain(g, u));
        }
    }
    blocks
}

/// The plan of chosen options: each user's mode and its blocks after the hand-out.
pub fn plan_of(problem: &CollabProblem, chosen: &[&Priced]) -> CollabPlan {
    let blocks = hand_out_blocks(problem, chosen);
    CollabPlan {
        users: chosen
            .iter()
            .zip(blocks)
            .map(|(p, resource_blocks)| UserChoice {
                mode: p.mode,
                resource_blocks,
            })
            .collect(),
    }
}

/// The score of chosen options (see [`Score`]).
pub fn score(problem: &CollabProblem, chosen: &[&Priced]) -> Score {
    let w = problem.total_weight();
    let mut primary = 0.0;
    let mut latency = 0.0;
    for (u, p) in chosen.iter().enumerate() {
        let weight = problem.users[u].weight;
        primary += weight * primary_value(problem, u, p.quality);
        latency += weight * p.min_latency();
    }
    Score {
        primary: primary / w,
        latency_s: latency / w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_rounds_lie_within_one_round_of_the_renewal_count() {
        for &a in &[0.0, 0.3, 0.6, 0.8, 0.95] {
            for k in 1..=8 {
                for t in [1usize, 2, 7, 50, 300] {
                    let r = expected_rounds(a, k, t);
                    let renewal = t as f64 / tokens_per_round(a, k);
                    assert!(
                        r >= renewal - 1e-9 && r <= renewal + 1.0,
                        "a={a} k={k} t={t}"
                    );
                }
            }
        }
        // a = 0: one token per round.
        assert!((expected_rounds(0.0, 4, 37) - 37.0).abs() < 1e-12);
        assert!((tokens_per_round(0.5, 2) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn round_yields_are_a_distribution() {
        for &a in &[0.0, 0.5, 0.9, 1.0] {
            for k in 0..6 {
                let p = round_yield(a, k);
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                let mean: f64 = p.iter().enumerate().map(|(j, p)| (j + 1) as f64 * p).sum();
                assert!((mean - tokens_per_round(a, k)).abs() < 1e-9);
            }
        }
    }
}
