//! The on-device expert cache (task `cache`, docs/moe.md): per MoE block `j` and expert `e`,
//! whether the expert stays resident on the device or, when a token is routed to it, is fetched
//! from the edge or offloaded to it ([`Choice`]).
//!
//! Every solver here minimises the objective of [`score::objective`] (exact over the routing
//! statistics) within the slots and memory of [`score::fits`]:
//!
//! - [`milp`]: the exact MILP (HiGHS), both objectives;
//! - [`enumerate`]: brute force over every choice vector, the MILP's oracle on small instances;
//! - [`greedy`]: frequency per byte, then a short local search;
//! - [`round_robin`] and [`layer_wise`]: static baselines blind to the routing frequencies;
//! - [`simulate`]: dynamic LRU and LFU caches replayed over a token sequence.
//!
//! The objective is a sum over MoE blocks (`dense + sum_j E_S[block_j]`): blocks interact only
//! through the shared slots and memory. `BlockCost` prices one block's choice vector and the
//! change of a few choices (only the patterns that contain a changed expert are re-priced).

mod enumerate;
mod heuristics;
mod milp;
mod simulate;

pub use enumerate::{enumerate, ENUMERATE_LIMIT};
pub use heuristics::{greedy, layer_wise, round_robin};
pub use milp::milp;
pub use simulate::{
    cache_capacity, sample_tokens, simulate, simulate_from, static_tokens, stats, token_costs,
    Policy, SimStats, TokenCost,
};

use super::price::Prices;
use super::score;
use super::{Choice, MoePlan, MoeProblem, Objective};

/// The miss policies `problem` allows, fetch first.
pub fn miss_policies(problem: &MoeProblem) -> Vec<Choice> {
    let mut out = Vec::with_capacity(2);
    if problem.allow_fetch {
        out.push(Choice::Fetch);
    }
    if problem.allow_offload {
        out.push(Choice::Offload);
    }
    out
}

/// Whether `choice` is allowed (residency always is, within the slots and memory).
pub fn allowed(problem: &MoeProblem, choice: Choice) -> bool {
    match choice {
        Choice::Resident => true,
        Choice::Fetch => problem.allow_fetch,
        Choice::Offload => problem.allow_offload,
    }
}

/// The device's memory for resident experts with the slack of [`score::fits`], bytes.
pub fn memory_cap(problem: &MoeProblem, prices: &Prices) -> f64 {
    let cap = prices.capacity[problem.home];
    cap + 1e-9 * cap.abs().max(1.0)
}

/// Experts of each MoE block.
pub(crate) fn block_sizes(problem: &MoeProblem) -> Vec<usize> {
    problem.routing.blocks.iter().map(|b| b.experts).collect()
}

/// Prices blocks of a cache plan with the instance's objective, pattern by pattern through
/// [`score::cache_block`] (the definition of the objective).
pub(crate) struct BlockCost<'a> {
    problem: &'a MoeProblem,
    prices: &'a Prices,
    energy: bool,
    /// `touching[j][e]`: the patterns of block `j` that contain expert `e`.
    touching: Vec<Vec<Vec<usize>>>,
}

impl<'a> BlockCost<'a> {
    pub(crate) fn new(problem: &'a MoeProblem, prices: &'a Prices) -> BlockCost<'a> {
        let touching = problem
            .routing
            .blocks
            .iter()
            .map(|b| {
                let mut t = vec![Vec::new(); b.experts];
                for (s, p) in b.patterns.iter().enumerate() {
                    for &e in &p.experts {
                        t[e].push(s);
                    }
                }
                t
            })
            .collect();
        BlockCost {
            problem,
            prices,
            energy: problem.objective == Objective::Energy,
            touching,
        }
    }

    /// The objective's constant: the dense part.
    pub(crate) fn dense(&self) -> f64 {
        if self.energy {
            self.prices.dense_j
        } else {
            self.prices.dense_s
        }
    }

    /// The cost of one token routed to pattern `s` of block `j` (not weighted).
    fn pattern(&self, j: usize, s: usize, choice_of: impl Fn(usize) -> Choice) -> f64 {
        let experts = &self.problem.routing.blocks[j].patterns[s].experts;
        let (local, remote, energy) =
            score::cache_block(self.problem, self.prices, j, experts, choice_of);
        if self.energy {
            energy
        } else {
            local.max(remote)
        }
    }

    /// The expected cost of block `j` under `choices` (the block's choice per expert).
    pub(crate) fn block(&self, j: usize, choices: &[Choice]) -> f64 {
        let patterns = &self.problem.routing.blocks[j].patterns;
        (0..patterns.len())
            .map(|s| patterns[s].prob * self.pattern(j, s, |e| choices[e]))
            .sum()
    }

    /// The change of block `j`'s cost when the experts of `changes` take their new choices.
    pub(crate) fn delta(&self, j: usize, choices: &[Choice], changes: &[(usize, Choice)]) -> f64 {
        let patterns = &self.problem.routing.blocks[j].patterns;
        let new = |e: usize| {
            changes
                .iter()
                .find(|c| c.0 == e)
                .map_or(choices[e], |c| c.1)
        };
        let mut total = 0.0;
        for (i, &(e, _)) in changes.iter().enumerate() {
            for &s in &self.touching[j][e] {
                // A pattern with an earlier changed expert was priced with that one.
                let experts = &patterns[s].experts;
                if changes[..i].iter().any(|c| experts.contains(&c.0)) {
                    continue;
                }
                total += patterns[s].prob
                    * (self.pattern(j, s, new) - self.pattern(j, s, |x| choices[x]));
            }
        }
        total
    }

    /// The objective of a whole plan (the sum of its blocks).
    pub(crate) fn total(&self, choices: &[Vec<Choice>]) -> f64 {
        self.dense()
            + choices
                .iter()
                .enumerate()
                .map(|(j, c)| self.block(j, c))
                .sum::<f64>()
    }
}

/// The plan if it fits the slots and memory.
pub(crate) fn if_fits(
    problem: &MoeProblem,
    prices: &Prices,
    choices: Vec<Vec<Choice>>,
) -> Option<MoePlan> {
    let plan = MoePlan::cache(choices);
    score::fits(problem, prices, &plan).then_some(plan)
}

#[cfg(test)]
pub(crate) mod tests;
