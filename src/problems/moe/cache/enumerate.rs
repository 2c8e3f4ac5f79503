//! Brute force: every choice vector within the slots, the MILP's oracle on small instances.
//!
//! The objective is a sum over blocks, so each block's choice vectors are priced once
//! ([`BlockCost::block`], i.e. [`score::cache_block`] pattern by pattern); the search then visits
//! every combination of them whose residents fit the slots (and, pruning as it goes, the
//! memory), adding up the block costs. The best plan's bound is its [`score::objective`].

use std::time::Instant;

use super::{block_sizes, memory_cap, miss_policies, BlockCost};
use crate::problems::moe::price::Prices;
use crate::problems::moe::score;
use crate::problems::moe::{Choice, Exact, MoePlan, MoeProblem};
use crate::solve::report::Termination;

/// The most plans [`enumerate`] visits.
pub const ENUMERATE_LIMIT: f64 = 2e6;

/// One block's choice vector: its choices, residents and cost.
struct Vector {
    choices: Vec<Choice>,
    residents: usize,
    cost: f64,
}

/// `n` choose `k` as a float.
fn choose(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Plans within the slots: per block the vectors with `r` residents number `C(E, r) m^(E - r)`
/// (`m` allowed miss policies); blocks combine by a convolution over the resident count.
fn plan_count(sizes: &[usize], misses: usize, slots: usize) -> f64 {
    let mut count = vec![0.0; slots + 1];
    count[0] = 1.0;
    for &n in sizes {
        let mut next = vec![0.0; slots + 1];
        for (used, &c) in count.iter().enumerate().filter(|(_, &c)| c > 0.0) {
            for r in 0..=n.min(slots - used) {
                next[used + r] += c * choose(n, r) * (misses as f64).powi((n - r) as i32);
            }
        }
        count = next;
    }
    count.iter().sum()
}

/// Every choice vector of a block of `n` experts with at most `slots` residents.
fn vectors(n: usize, options: &[Choice], slots: usize) -> Vec<Vec<Choice>> {
    let mut out = vec![Vec::with_capacity(n)];
    for _ in 0..n {
        let mut next = Vec::with_capacity(out.len() * options.len());
        for v in &out {
            for &c in options {
                let residents = v.iter().filter(|&&x| x == Choice::Resident).count();
                if c == Choice::Resident && residents >= slots {
                    continue;
                }
                let mut w = v.clone();
                w.push(c);
                next.push(w);
            }
        }
        out = next;
    }
    out
}

/// Brute force over every choice vector (at most [`ENUMERATE_LIMIT`] plans within the slots,
/// else an error saying how many).
pub fn enumerate(problem: &MoeProblem, prices: &Prices) -> std::result::Result<Exact, String> {
    let t0 = Instant::now();
    let sizes = block_sizes(problem);
    let misses = miss_policies(problem);
    let total: usize = sizes.iter().sum();
    let slots = problem.expert_slots.min(total);
    let count = plan_count(&sizes, misses.len(), slots);
    if count > ENUMERATE_LIMIT {
        let n = if count < 1e15 {
            format!("{count:.0}")
        } else {
            format!("{count:.3e}")
        };
        return Err(format!(
            "enumerate would visit {n} plans (at most 2e6): use highs"
        ));
    }
    let cost = BlockCost::new(problem, prices);
    let mut options = vec![Choice::Resident];
    options.extend(&misses);
    let blocks: Vec<Vec<Vector>> = sizes
        .iter()
        .enumerate()
        .map(|(j, &n)| {
            vectors(n, &options, slots)
                .into_iter()
                .map(|choices| Vector {
                    residents: choices.iter().filter(|&&c| c == Choice::Resident).count(),
                    cost: cost.block(j, &choices),
                    choices,
                })
                .collect()
        })
        .collect();
    let mut search = Search {
        blocks: &blocks,
        bytes: &prices.expert_bytes,
        slots,
        cap: memory_cap(problem, prices),
        pick: vec![0; sizes.len()],
        best: None,
    };
    search.visit(0, 0, 0.0, 0.0);
    let plan = search.best.map(|(_, pick)| {
        MoePlan::cache(
            pick.iter()
                .enumerate()
                .map(|(j, &i)| blocks[j][i].choices.clone())
                .collect(),
        )
    });
    // Memory with a negative capacity: not even the plan without residents fits.
    let plan = plan.filter(|p| score::fits(problem, prices, p));
    let bound = plan.as_ref().map(|p| score::objective(problem, prices, p));
    Ok(Exact {
        termination: if plan.is_some() {
            Termination::Optimal
        } else {
            Termination::Infeasible
        },
        plan,
        bound,
        nodes: None,
        size: None,
        build_s: 0.0,
        solve_s: t0.elapsed().as_secs_f64(),
    })
}

/// The depth-first search over blocks.
struct Search<'a> {
    blocks: &'a [Vec<Vector>],
    bytes: &'a [f64],
    slots: usize,
    cap: f64,
    pick: Vec<usize>,
    /// The best total of the block costs and its vectors.
    best: Option<(f64, Vec<usize>)>,
}

impl Search<'_> {
    fn visit(&mut self, j: usize, residents: usize, bytes: f64, cost: f64) {
        if j == self.blocks.len() {
            if self.best.as_ref().is_none_or(|b| cost < b.0) {
                self.best = Some((cost, self.pick.clone()));
            }
            return;
        }
        for i in 0..self.blocks[j].len() {
            let v = &self.blocks[j][i];
            let r = residents + v.residents;
            let b = bytes + v.residents as f64 * self.bytes[j];
            if r > self.slots || (v.residents > 0 && b > self.cap) {
                continue;
            }
            self.pick[j] = i;
            self.visit(j + 1, r, b, cost + v.cost);
        }
    }
}
