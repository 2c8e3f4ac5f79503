//! Heuristic and baseline cache plans: [`greedy`] (frequency per byte and a local search) and
//! the frequency-blind static baselines [`round_robin`] and [`layer_wise`]. Each returns a plan
//! that fits the slots and memory, or `None` when none of its kind does (an expert that is not
//! resident needs an allowed miss policy).

use super::{block_sizes, if_fits, memory_cap, miss_policies, BlockCost};
use crate::problems::moe::price::Prices;
use crate::problems::moe::{Choice, MoePlan, MoeProblem};

/// Resident slots and bytes in use, and their limits.
struct Budget {
    used: usize,
    bytes: f64,
    slots: usize,
    cap: f64,
}

impl Budget {
    fn new(problem: &MoeProblem, prices: &Prices) -> Budget {
        Budget {
            used: 0,
            bytes: 0.0,
            slots: problem.expert_slots,
            cap: memory_cap(problem, prices),
        }
    }

    /// Whether one more resident of `bytes` fits, after `freed` bytes (one slot) are freed.
    fn fits(&self, bytes: f64, freed: Option<f64>) -> bool {
        match freed {
            None => self.used < self.slots && self.bytes + bytes <= self.cap,
            Some(f) => self.bytes - f + bytes <= self.cap,
        }
    }
}

/// Per block, the non-resident experts take the one allowed miss policy that makes the block's
/// expected cost lowest (ties: fetch). `None` when some expert is not resident and no miss
/// policy is allowed.
fn misses_per_block(
    cost: &BlockCost<'_>,
    misses: &[Choice],
    choices: &mut [Vec<Choice>],
) -> Option<()> {
    for (j, block) in choices.iter_mut().enumerate() {
        if block.iter().all(|&c| c == Choice::Resident) {
            continue;
        }
        let mut best: Option<(f64, Vec<Choice>)> = None;
        for &m in misses {
            let trial: Vec<Choice> = block
                .iter()
                .map(|&c| if c == Choice::Resident { c } else { m })
                .collect();
            let v = cost.block(j, &trial);
            if best.as_ref().is_none_or(|b| v < b.0) {
                best = Some((v, trial));
            }
        }
        *block = best?.1;
    }
    Some(())
}

/// Round robin, blind to frequencies: the slots are spread evenly over the blocks, one per block
/// per round, each block's lowest-numbered experts first (while slots and memory allow); the
/// other experts take the miss policy with the lower expected cost of their block, one policy
/// per block.
pub fn round_robin(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    let cost = BlockCost::new(problem, prices);
    let sizes = block_sizes(problem);
    let mut budget = Budget::new(problem, prices);
    let mut choices: Vec<Vec<Choice>> = sizes.iter().map(|&n| vec![Choice::Fetch; n]).collect();
    let mut next = vec![0usize; sizes.len()];
    loop {
        let mut added = false;
        for (j, &n) in sizes.iter().enumerate() {
            if next[j] < n && budget.fits(prices.expert_bytes[j], None) {
                choices[j][next[j]] = Choice::Resident;
                next[j] += 1;
                budget.used += 1;
                budget.bytes += prices.expert_bytes[j];
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    misses_per_block(&cost, &miss_policies(problem), &mut choices)?;
    if_fits(problem, prices, choices)
}

/// Layer-wise, blind to frequencies: the first blocks' experts all resident, as many whole
/// blocks (from the first, in order) as the slots and memory hold; the other blocks' experts
/// take the miss policy with the lower expected cost of their block.
pub fn layer_wise(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    let cost = BlockCost::new(problem, prices);
    let sizes = block_sizes(problem);
    let mut budget = Budget::new(problem, prices);
    let mut choices: Vec<Vec<Choice>> = sizes.iter().map(|&n| vec![Choice::Fetch; n]).collect();
    for (j, &n) in sizes.iter().enumerate() {
        let bytes = n as f64 * prices.expert_bytes[j];
        if budget.used + n > budget.slots || budget.bytes + bytes > budget.cap {
            break;
        }
        choices[j].fill(Choice::Resident);
        budget.used += n;
        budget.bytes += bytes;
    }
    misses_per_block(&cost, &miss_policies(problem), &mut choices)?;
    if_fits(problem, prices, choices)
}

/// The state of the greedy and its local search.
struct Greedy<'a> {
    cost: BlockCost<'a>,
    prices: &'a Prices,
    misses: Vec<Choice>,
    choices: Vec<Vec<Choice>>,
    budget: Budget,
    /// Improvements below this are noise.
    tol: f64,
}

/// A local search move.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// One expert takes another choice.
    One(usize, usize, Choice),
    /// Resident `(j1, e1)` becomes a miss of the given policy, `(j2, e2)` resident.
    Swap(usize, usize, Choice, usize, usize),
}

impl Greedy<'_> {
    fn delta(&self, j: usize, changes: &[(usize, Choice)]) -> f64 {
        self.cost.delta(j, &self.choices[j], changes)
    }

    /// Flips misses of block `j` between fetch and offload, the best flip first, while one
    /// lowers the block's cost.
    fn improve_misses(&mut self, j: usize) {
        if self.misses.len() < 2 {
            return;
        }
        loop {
            let mut best: Option<(f64, usize, Choice)> = None;
            for e in 0..self.choices[j].len() {
                let alt = match self.choices[j][e] {
                    Choice::Resident => continue,
                    Choice::Fetch => Choice::Offload,
                    Choice::Offload => Choice::Fetch,
                };
                let d = self.delta(j, &[(e, alt)]);
                if d < -self.tol && best.is_none_or(|b| d < b.0) {
                    best = Some((d, e, alt));
                }
            }
            match best {
                Some((_, e, alt)) => self.choices[j][e] = alt,
                None => break,
            }
        }
    }

    /// The best miss policy for resident `(j, e)` and the change of the block's cost.
    fn best_drop(&self, j: usize, e: usize) -> (f64, Choice) {
        self.misses
            .iter()
            .map(|&m| (self.delta(j, &[(e, m)]), m))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("misses are allowed")
    }

    /// Best improving moves until none improves, at most `2 N + 100` (`N` experts).
    fn local_search(&mut self) {
        let total: usize = self.choices.iter().map(Vec::len).sum();
        for _ in 0..2 * total + 100 {
            match self.best_move() {
                Some(mv) => self.apply(mv),
                None => break,
            }
        }
    }

    fn apply(&mut self, mv: Move) {
        let bytes = &self.prices.expert_bytes;
        match mv {
            Move::One(j, e, c) => {
                let was = self.choices[j][e];
                if was == Choice::Resident {
                    self.budget.used -= 1;
                    self.budget.bytes -= bytes[j];
                }
                if c == Choice::Resident {
                    self.budget.used += 1;
                    self.budget.bytes += bytes[j];
                }
                self.choices[j][e] = c;
            }
            Move::Swap(j1, e1, c1, j2, e2) => {
                self.choices[j1][e1] = c1;
                self.choices[j2][e2] = Choice::Resident;
                self.budget.bytes += bytes[j2] - bytes[j1];
            }
        }
    }

    /// The best improving move, if any: one expert's choice changed (a miss policy flipped, a
    /// resident added within the budget or dropped), or a resident swapped for a non-resident.
    /// Swaps across blocks are priced as the sum of the two blocks' changes (exact: the
    /// blocks are independent); swaps within a block are priced jointly among the block's
    /// `SAME_BLOCK` best drops and adds.
    fn best_move(&self) -> Option<Move> {
        const SAME_BLOCK: usize = 6;
        let bytes = &self.prices.expert_bytes;
        let mut best: Option<(f64, Move)> = None;
        let mut consider = |d: f64, mv: Move| {
            if d < -self.tol && best.is_none_or(|b| d < b.0) {
                best = Some((d, mv));
            }
        };
        // (delta, j, e, policy) of every resident made a miss; (delta, j, e) of every miss made
        // resident.
        let mut drops: Vec<(f64, usize, usize, Choice)> = Vec::new();
        let mut adds: Vec<(f64, usize, usize)> = Vec::new();
        for (j, block) in self.choices.iter().enumerate() {
            for (e, &c) in block.iter().enumerate() {
                if c == Choice::Resident {
                    let (d, m) = self.best_drop(j, e);
                    drops.push((d, j, e, m));
                    consider(d, Move::One(j, e, m));
                } else {
                    for &m in &self.misses {
                        if m != c {
                            consider(self.delta(j, &[(e, m)]), Move::One(j, e, m));
                        }
                    }
                    let d = self.delta(j, &[(e, Choice::Resident)]);
                    adds.push((d, j, e));
                    if self.budget.fits(bytes[j], None) {
                        consider(d, Move::One(j, e, Choice::Resident));
                    }
                }
            }
        }
        drops.sort_by(|a, b| a.0.total_cmp(&b.0));
        adds.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Across blocks: for each drop, the best add of another block that fits.
        for &(d1, j1, e1, m1) in &drops {
            if let Some(&(d2, j2, e2)) = adds
                .iter()
                .find(|a| a.1 != j1 && self.budget.fits(bytes[a.1], Some(bytes[j1])))
            {
                consider(d1 + d2, Move::Swap(j1, e1, m1, j2, e2));
            }
        }
        // Within a block: jointly, among its best few drops and adds.
        for j in 0..self.choices.len() {
            let block_drops = drops.iter().filter(|d| d.1 == j).take(SAME_BLOCK);
            for &(_, _, e1, _) in block_drops {
                for &(_, _, e2) in adds.iter().filter(|a| a.1 == j).take(SAME_BLOCK) {
                    for &m in &self.misses {
                        let d = self.delta(j, &[(e1, m), (e2, Choice::Resident)]);
                        consider(d, Move::Swap(j, e1, m, j, e2));
                    }
                }
            }
        }
        best.map(|b| b.1)
    }
}

/// Greedy "frequency per byte": every expert starts as a miss (all fetched, then experts
/// switched to offload one at a time, the best switch first, while that lowers the block's
/// cost); experts in decreasing activation frequency per byte become resident while the slots
/// and memory allow, each only where that lowers the objective (then its block's miss policies
/// are improved again); last, a deterministic local search on the exact objective (best
/// improving move of: one expert's choice changed, a resident swapped for a non-resident)
/// until no move improves or after `2 N + 100` moves (`N` experts). The same local search also
/// runs from the [`layer_wise`] plan (misses improved expert by expert first), and the better
/// of the two plans is returned (ties: the first): with a round trip longer than the device's
/// work a pattern saves only when all its experts are resident, which whole resident blocks
/// capture and frequencies alone do not.
///
/// `None` when no plan of this kind fits: every expert must be resident (no miss policy
/// allowed) and they do not all fit.
pub fn greedy(problem: &MoeProblem, prices: &Prices) -> Option<MoePlan> {
    let sizes = block_sizes(problem);
    let misses = miss_policies(problem);
    if misses.is_empty() {
        let all = sizes.iter().map(|&n| vec![Choice::Resident; n]).collect();
        return if_fits(problem, prices, all);
    }
    let cost = BlockCost::new(problem, prices);
    let choices: Vec<Vec<Choice>> = sizes.iter().map(|&n| vec![misses[0]; n]).collect();
    let start = cost.total(&choices);
    let mut g = Greedy {
        tol: 1e-12 * start.abs().max(f64::MIN_POSITIVE),
        cost,
        prices,
        misses,
        choices,
        budget: Budget::new(problem, prices),
    };
    for j in 0..sizes.len() {
        g.improve_misses(j);
    }
    // Candidates by frequency per byte, ties by block and expert.
    let mut order: Vec<(f64, usize, usize)> = Vec::new();
    for (j, block) in problem.routing.blocks.iter().enumerate() {
        let bytes = prices.expert_bytes[j].max(f64::MIN_POSITIVE);
        for (e, f) in block.frequency().into_iter().enumerate() {
            order.push((f / bytes, j, e));
        }
    }
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    for &(_, j, e) in &order {
        if g.budget.used >= g.budget.slots {
            break;
        }
        if !g.budget.fits(prices.expert_bytes[j], None) {
            continue;
        }
        if g.delta(j, &[(e, Choice::Resident)]) < -g.tol {
            g.apply(Move::One(j, e, Choice::Resident));
            g.improve_misses(j);
        }
    }
    g.local_search();
    // The same local search from the layer-wise plan: frequencies miss that a pattern saves
    // its round trip only when every one of its experts is resident.
    let mut best = (g.cost.total(&g.choices), g.choices);
    if let Some(plan) = layer_wise(problem, prices) {
        let mut budget = Budget::new(problem, prices);
        for (j, block) in plan.choices.iter().enumerate() {
            let n = block.iter().filter(|&&c| c == Choice::Resident).count();
            budget.used += n;
            budget.bytes += n as f64 * prices.expert_bytes[j];
        }
        let mut h = Greedy {
            cost: BlockCost::new(problem, prices),
            prices,
            misses: miss_policies(problem),
            choices: plan.choices,
            budget,
            tol: g.tol,
        };
        for j in 0..sizes.len() {
            h.improve_misses(j);
        }
        h.local_search();
        let v = h.cost.total(&h.choices);
        if v < best.0 - h.tol {
            best = (v, h.choices);
        }
    }
    if_fits(problem, prices, best.1)
}
