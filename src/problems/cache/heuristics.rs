//! The TrimCaching-style greedy and the baselines. All are deterministic (the random baseline
//! from its seed) and return a placement that respects every server's storage.
//!
//! - **Greedy** (sharing-aware): repeatedly caches the (server, model) pair with the largest
//!   marginal hit-ratio gain per marginal stored byte, where blocks the server already stores are
//!   free (a pair that needs no new bytes and gains goes first); stops when no pair that fits
//!   gains. Gains and marginal bytes are updated incrementally, so one step costs `O(M I)`.
//!   A single LoRA variant pays its whole backbone, so the rule alone is myopic about families:
//!   **family bundles** (a shared block not yet stored on the server with the variants holding
//!   it, taken while the bundle's gain per byte grows) compete as one candidate.
//!   Because a ratio rule alone can be poor when one large model beats many small ones (budgeted
//!   maximum coverage), [`greedy`] also runs the same loop ranking by gain alone and keeps the
//!   better placement (Khuller, Moss and Naor, Inf. Process. Lett. 70(1), 1999).
//! - **Local search**: from the greedy, drop-and-refill moves per server (drop one model or a
//!   whole family sharing a block, refill by the same rule without them, keep if the hit ratio
//!   grows); [`round_fractional`] starts it from a rounded LP relaxation instead.
//! - **Independent caching**: the same greedy when every model is priced and stored at its full
//!   size, as if no block were shared (the conventional baseline); its placement is then scored
//!   with sharing, so its storage is respected a fortiori.
//! - **Popularity**: each server on its own caches the models most requested by the users it
//!   can serve in time, in decreasing order, skipping those that do not fit (sharing-aware
//!   storage); servers do not coordinate.
//! - **Random**: pairs (server, model) in a seeded random order, each cached if it fits.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

use super::model::Demand;
use super::{CacheProblem, Placement, LIMIT_TOLERANCE};

/// How a greedy prices the storage of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Blocks already stored on the server are free.
    Aware,
    /// Every model costs its full size (no sharing).
    Ignored,
}

/// What a greedy step maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// Marginal gain per marginal byte.
    GainPerByte,
    /// Marginal gain.
    Gain,
}

/// The incremental state of a greedy or baseline: what is cached, stored and served.
struct State<'a> {
    problem: &'a CacheProblem,
    demands: &'a [Demand],
    /// Demands of model `i` that server `m` could serve: `demand_of[m][i]`.
    demand_of: Vec<Vec<Vec<usize>>>,
    /// Models containing each block.
    holders: Vec<Vec<usize>>,
    served: Vec<bool>,
    stored: Vec<Vec<bool>>,
    used: Vec<f64>,
    placed: Vec<Vec<bool>>,
    /// Unserved demand weight `(m, i)` would serve.
    gain: Vec<Vec<f64>>,
    /// Bytes caching `(m, i)` adds.
    cost: Vec<Vec<f64>>,
    sharing: Sharing,
}

impl<'a> State<'a> {
    fn new(problem: &'a CacheProblem, demands: &'a [Demand], sharing: Sharing) -> State<'a> {
        let servers = problem.servers.len();
        let models = problem.models.len();
        let mut demand_of = vec![vec![Vec::new(); models]; servers];
        let mut gain = vec![vec![0.0; models]; servers];
        for (g, d) in demands.iter().enumerate() {
            for &m in &d.servers {
                demand_of[m][d.model].push(g);
                gain[m][d.model] += d.weight;
            }
        }
        let mut holders = vec![Vec::new(); problem.blocks.len()];
        for (i, model) in problem.models.iter().enumerate() {
            for &j in &model.blocks {
                holders[j].push(i);
            }
        }
        let sizes: Vec<f64> = problem.models.iter().map(|m| m.bytes).collect();
        State {
            problem,
            demands,
            demand_of,
            holders,
            served: vec![false; demands.len()],
            stored: vec![vec![false; problem.blocks.len()]; servers],
            used: vec![0.0; servers],
            placed: vec![vec![false; models]; servers],
            gain,
            cost: vec![sizes; servers],
            sharing,
        }
    }

    fn fits(&self, m: usize, i: usize) -> bool {
        self.used[m] + self.cost[m][i]
            <= self.problem.servers[m].storage_bytes * (1.0 + LIMIT_TOLERANCE)
    }

    /// Caches model `i` on server `m` and updates gains and costs.
    fn place(&mut self, m: usize, i: usize) {
        self.placed[m][i] = true;
        for idx in 0..self.demand_of[m][i].len() {
            let g = self.demand_of[m][i][idx];
            if self.served[g] {
                continue;
            }
            self.served[g] = true;
            let d = &self.demands[g];
            for &s in &d.servers {
                self.gain[s][i] -= d.weight;
            }
        }
        match self.sharing {
            Sharing::Ignored => self.used[m] += self.problem.models[i].bytes,
            Sharing::Aware => {
                for &j in &self.problem.models[i].blocks {
                    if self.stored[m][j] {
                        continue;
                    }
                    self.stored[m][j] = true;
                    let bytes = self.problem.blocks[j].bytes;
                    self.used[m] += bytes;
                    for &other in &self.holders[j] {
                        self.cost[m][other] -= bytes;
                    }
                }
            }
        }
    }

    fn placement(&self) -> Placement {
        self.placed
            .iter()
            .map(|row| (0..row.len()).filter(|&i| row[i]).collect())
            .collect()
    }
}

/// A family bundle on one server: a shared block not yet stored there with models holding it,
/// taken in decreasing gain per extra byte while the bundle's gain per byte grows. Returns the
/// bundle's gain per byte and its models, when it has at least two that fit in `room` bytes.
/// `members` yields `(model, gain, marginal bytes)`; the bytes of the bundle are estimated as the
/// block plus each member's marginal bytes beyond it, an overestimate when members share other
/// blocks, so a bundle that fits by the estimate fits.
fn family_bundle(
    block_bytes: f64,
    members: impl Iterator<Item = (usize, f64, f64)>,
    room: f64,
) -> Option<(f64, Vec<usize>)> {
    let mut list: Vec<(usize, f64, f64)> = members
        .map(|(i, gain, marginal)| (i, gain, (marginal - block_bytes).max(0.0)))
        .collect();
    let ratio = |gain: f64, extra: f64| {
        if extra > 0.0 {
            gain / extra
        } else {
            f64::INFINITY
        }
    };
    list.sort_by(|a, b| {
        ratio(b.1, b.2)
            .total_cmp(&ratio(a.1, a.2))
            .then(a.0.cmp(&b.0))
    });
    let (mut gain, mut bytes) = (0.0, block_bytes);
    let mut chosen = Vec::new();
    for (i, g, extra) in list {
        if bytes + extra > room {
            continue;
        }
        if !chosen.is_empty() && (gain + g) / (bytes + extra) < gain / bytes {
            break;
        }
        gain += g;
        bytes += extra;
        chosen.push(i);
    }
    (chosen.len() >= 2 && bytes > 0.0).then(|| (gain / bytes, chosen))
}

/// Gains below this are treated as zero (float drift of the incremental updates).
const MIN_GAIN: f64 = 1e-14;

/// One greedy run: caches the best pair by `rank` until no pair that fits gains.
pub fn greedy_run(
    problem: &CacheProblem,
    demands: &[Demand],
    rank: Rank,
    sharing: Sharing,
) -> Placement {
    let mut state = State::new(problem, demands, sharing);
    let servers = problem.servers.len();
    let models = problem.models.len();
    // Family bundles only make sense when shared blocks are priced once.
    let bundles = sharing == Sharing::Aware && rank == Rank::GainPerByte;
    loop {
        // Pairs that need no new bytes win outright (by gain); otherwise the best score.
        let mut best: Option<(bool, f64, usize, Vec<usize>)> = None;
        for m in 0..servers {
            for i in 0..models {
                let gain = state.gain[m][i];
                if state.placed[m][i] || gain <= MIN_GAIN || !state.fits(m, i) {
                    continue;
                }
                let cost = state.cost[m][i];
                let free = cost <= 0.0;
                let score = match rank {
                    Rank::Gain => gain,
                    Rank::GainPerByte if free => gain,
                    Rank::GainPerByte => gain / cost,
                };
                if best
                    .as_ref()
                    .is_none_or(|(bfree, bscore, _, _)| (free, score) > (*bfree, *bscore))
                {
                    best = Some((free, score, m, vec![i]));
                }
            }
            if !bundles {
                continue;
            }
            let room = problem.servers[m].storage_bytes * (1.0 + LIMIT_TOLERANCE) - state.used[m];
            for (j, holders) in state.holders.iter().enumerate() {
                if holders.len() < 2 || state.stored[m][j] {
                    continue;
                }
                let members = holders
                    .iter()
                    .filter(|&&i| !state.placed[m][i] && state.gain[m][i] > MIN_GAIN)
                    .map(|&i| (i, state.gain[m][i], state.cost[m][i]));
                if let Some((score, chosen)) = family_bundle(problem.blocks[j].bytes, members, room)
                {
                    if best
                        .as_ref()
                        .is_none_or(|(bfree, bscore, _, _)| (false, score) > (*bfree, *bscore))
                    {
                        best = Some((false, score, m, chosen));
                    }
                }
            }
        }
        let Some((_, _, m, chosen)) = best else { break };
        for i in chosen {
            if !state.placed[m][i] && state.fits(m, i) {
                state.place(m, i);
            }
        }
    }
    state.placement()
}

/// Weight of the demands a placement serves (the hit ratio as the MILP counts it).
pub fn served_weight(problem: &CacheProblem, demands: &[Demand], placement: &Placement) -> f64 {
    let mut cached = vec![vec![false; problem.models.len()]; problem.servers.len()];
    for (m, models) in placement.iter().enumerate() {
        for &i in models {
            cached[m][i] = true;
        }
    }
    demands
        .iter()
        .filter(|d| d.servers.iter().any(|&m| cached[m][d.model]))
        .map(|d| d.weight)
        .sum()
}

/// The TrimCaching-style greedy: the better of the gain-per-byte and the gain-only runs.
pub fn greedy(problem: &CacheProblem, demands: &[Demand], sharing: Sharing) -> Placement {
    let by_ratio = greedy_run(problem, demands, Rank::GainPerByte, sharing);
    let by_gain = greedy_run(problem, demands, Rank::Gain, sharing);
    if served_weight(problem, demands, &by_gain) > served_weight(problem, demands, &by_ratio) {
        by_gain
    } else {
        by_ratio
    }
}

/// Each server caches the models most requested by the users it can serve in time.
pub fn popularity(problem: &CacheProblem, demands: &[Demand]) -> Placement {
    let mut state = State::new(problem, demands, Sharing::Aware);
    // Popularity before anything is cached: servers do not see each other's choices.
    let popularity_of = state.gain.clone();
    for (m, popularity) in popularity_of.iter().enumerate() {
        let mut order: Vec<usize> = (0..problem.models.len())
            .filter(|&i| popularity[i] > MIN_GAIN)
            .collect();
        order.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));
        for i in order {
            if state.fits(m, i) {
                state.place(m, i);
            }
        }
    }
    state.placement()
}

/// Pairs in a random order from `seed`, each cached if it fits.
pub fn random(problem: &CacheProblem, demands: &[Demand], seed: u64) -> Placement {
    let mut state = State::new(problem, demands, Sharing::Aware);
    let mut pairs: Vec<(usize, usize)> = (0..problem.servers.len())
        .flat_map(|m| (0..problem.models.len()).map(move |i| (m, i)))
        .collect();
    pairs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    for (m, i) in pairs {
        if state.fits(m, i) {
            state.place(m, i);
        }
    }
    state.placement()
}

/// The sets of models a drop move of [`local_search`] removes from a server: each cached model
/// alone, then, for every stored block that two or more cached models share, all of them.
fn drop_sets(problem: &CacheProblem, fill: &ServerFill) -> Vec<Vec<usize>> {
    let cached = fill.models();
    let mut sets: Vec<Vec<usize>> = cached.iter().map(|&i| vec![i]).collect();
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); problem.blocks.len()];
    for &i in &cached {
        for &j in &problem.models[i].blocks {
            holders[j].push(i);
        }
    }
    for group in holders {
        if group.len() >= 2 && !sets.contains(&group) {
            sets.push(group);
        }
    }
    sets
}

/// The placement of one server during [`local_search`]: cached models, stored blocks and bytes.
struct ServerFill {
    cached: Vec<bool>,
    stored: Vec<bool>,
    used: f64,
}

impl ServerFill {
    fn new(problem: &CacheProblem, models: &[usize]) -> ServerFill {
        let mut fill = ServerFill {
            cached: vec![false; problem.models.len()],
            stored: vec![false; problem.blocks.len()],
            used: 0.0,
        };
        for &i in models {
            fill.add(problem, i);
        }
        fill
    }

    fn add(&mut self, problem: &CacheProblem, i: usize) {
        self.cached[i] = true;
        for &j in &problem.models[i].blocks {
            if !self.stored[j] {
                self.stored[j] = true;
                self.used += problem.blocks[j].bytes;
            }
        }
    }

    fn marginal_bytes(&self, problem: &CacheProblem, i: usize) -> f64 {
        problem.models[i]
            .blocks
            .iter()
            .filter(|&&j| !self.stored[j])
            .map(|&j| problem.blocks[j].bytes)
            .sum()
    }

    fn models(&self) -> Vec<usize> {
        (0..self.cached.len()).filter(|&i| self.cached[i]).collect()
    }
}

/// Improves `start` by drop-and-refill moves until none helps or `max_passes` passes over the
/// servers are done: on server `m`, drop one cached model, or every cached model that holds one
/// shared block (a whole family of variants, freeing its backbone), refill `m` by the
/// sharing-aware gain-per-byte rule (blocks already stored are free) without the dropped models,
/// and keep the change when the served weight grows. Every placement it visits respects storage; the result is never worse than
/// `start`.
pub fn local_search(
    problem: &CacheProblem,
    demands: &[Demand],
    start: &Placement,
    max_passes: usize,
) -> Placement {
    local_search_until(problem, demands, start, max_passes, None)
}

/// [`local_search`] that begins no pass after `deadline` (the refill of `start` still runs).
pub fn local_search_until(
    problem: &CacheProblem,
    demands: &[Demand],
    start: &Placement,
    max_passes: usize,
    deadline: Option<Instant>,
) -> Placement {
    let servers = problem.servers.len();
    let search = DropRefill::new(problem, demands);
    let mut fills: Vec<ServerFill> = (0..servers)
        .map(|m| ServerFill::new(problem, start.get(m).map_or(&[][..], Vec::as_slice)))
        .collect();
    // Servers of each demand's set that cache its model.
    let mut count = vec![0usize; demands.len()];
    for (g, d) in demands.iter().enumerate() {
        count[g] = d
            .servers
            .iter()
            .filter(|&&m| fills[m].cached[d.model])
            .count();
    }
    for (m, fill) in fills.iter_mut().enumerate() {
        search.refill(m, fill, &mut count, &vec![false; problem.models.len()]);
    }
    for _ in 0..max_passes {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let mut improved = false;
        for (m, fill) in fills.iter_mut().enumerate() {
            improved |= search.improve_server(m, fill, &mut count);
        }
        if !improved {
            break;
        }
    }
    fills.iter().map(ServerFill::models).collect()
}

/// The drop-and-refill moves of [`local_search`]. `count[g]` is the number of servers of
/// demand `g`'s set that cache its model; the moves keep it up to date.
struct DropRefill<'a> {
    problem: &'a CacheProblem,
    demands: &'a [Demand],
    /// `demand_of[m][i]`: the demands server `m` can serve with model `i`.
    demand_of: Vec<Vec<Vec<usize>>>,
    /// Per block, the models that hold it.
    holders: Vec<Vec<usize>>,
}

impl<'a> DropRefill<'a> {
    /// The demand and block indexes of `problem`.
    fn new(problem: &'a CacheProblem, demands: &'a [Demand]) -> DropRefill<'a> {
        let mut demand_of = vec![vec![Vec::new(); problem.models.len()]; problem.servers.len()];
        for (g, d) in demands.iter().enumerate() {
            for &m in &d.servers {
                demand_of[m][d.model].push(g);
            }
        }
        let mut holders: Vec<Vec<usize>> = vec![Vec::new(); problem.blocks.len()];
        for (i, model) in problem.models.iter().enumerate() {
            for &j in &model.blocks {
                holders[j].push(i);
            }
        }
        DropRefill {
            problem,
            demands,
            demand_of,
            holders,
        }
    }

    /// Storage of server `m` with the tolerance, bytes.
    fn capacity(&self, m: usize) -> f64 {
        self.problem.servers[m].storage_bytes * (1.0 + LIMIT_TOLERANCE)
    }

    /// Weight (request probability) that caching model `i` on server `m` newly serves.
    fn gain(&self, m: usize, i: usize, count: &[usize]) -> f64 {
        self.demand_of[m][i]
            .iter()
            .filter(|&&g| count[g] == 0)
            .map(|&g| self.demands[g].weight)
            .sum()
    }

    /// Greedy refill of server `m` (never re-adding `banned`); returns the weight gained and
    /// the models added.
    fn refill(
        &self,
        m: usize,
        fill: &mut ServerFill,
        count: &mut [usize],
        banned: &[bool],
    ) -> (f64, Vec<usize>) {
        let mut gained = 0.0;
        let mut added = Vec::new();
        while let Some(chosen) = self.next_models(m, fill, count, banned) {
            for i in chosen {
                let gain = self.gain(m, i, count);
                if fill.cached[i]
                    || fill.used + fill.marginal_bytes(self.problem, i) > self.capacity(m)
                {
                    continue;
                }
                fill.add(self.problem, i);
                for &g in &self.demand_of[m][i] {
                    count[g] += 1;
                }
                gained += gain;
                added.push(i);
            }
        }
        (gained, added)
    }

    /// The refill's next step on server `m`: the single model with the best gain per marginal
    /// byte (a free one first), or a family bundle that beats it; `None` when nothing that
    /// fits gains.
    fn next_models(
        &self,
        m: usize,
        fill: &ServerFill,
        count: &[usize],
        banned: &[bool],
    ) -> Option<Vec<usize>> {
        let mut best: Option<(bool, f64, f64, usize)> = None;
        for (i, of_model) in self.demand_of[m].iter().enumerate() {
            if fill.cached[i] || banned[i] {
                continue;
            }
            let gain: f64 = of_model
                .iter()
                .filter(|&&g| count[g] == 0)
                .map(|&g| self.demands[g].weight)
                .sum();
            if gain <= MIN_GAIN {
                continue;
            }
            let bytes = fill.marginal_bytes(self.problem, i);
            if fill.used + bytes > self.capacity(m) {
                continue;
            }
            let free = bytes <= 0.0;
            let score = if free { gain } else { gain / bytes };
            if best.is_none_or(|(bf, bs, _, _)| (free, score) > (bf, bs)) {
                best = Some((free, score, gain, i));
            }
        }
        let bundle = self.best_bundle(m, fill, count, banned);
        match (best, bundle) {
            (Some((free, score, _, i)), Some((bscore, members))) => {
                if !free && bscore > score {
                    Some(members)
                } else {
                    Some(vec![i])
                }
            }
            (Some((_, _, _, i)), None) => Some(vec![i]),
            (None, Some((_, members))) => Some(members),
            (None, None) => None,
        }
    }

    /// The best family bundle on server `m` (a shared block not yet stored and the models that
    /// hold it), which may beat every single model: its gain per byte and its models.
    fn best_bundle(
        &self,
        m: usize,
        fill: &ServerFill,
        count: &[usize],
        banned: &[bool],
    ) -> Option<(f64, Vec<usize>)> {
        let mut bundle: Option<(f64, Vec<usize>)> = None;
        for (j, family) in self.holders.iter().enumerate() {
            if family.len() < 2 || fill.stored[j] {
                continue;
            }
            let members = family
                .iter()
                .filter(|&&i| !fill.cached[i] && !banned[i])
                .map(|&i| {
                    (
                        i,
                        self.gain(m, i, count),
                        fill.marginal_bytes(self.problem, i),
                    )
                })
                .filter(|&(_, g, _)| g > MIN_GAIN);
            if let Some((score, chosen)) = family_bundle(
                self.problem.blocks[j].bytes,
                members,
                self.capacity(m) - fill.used,
            ) {
                if bundle.as_ref().is_none_or(|b| score > b.0) {
                    bundle = Some((score, chosen));
                }
            }
        }
        bundle
    }

    /// One pass of moves on server `m`: at most one improvement per cached model (and one
    /// more), so a pass ends. Returns whether `fill` improved.
    fn improve_server(&self, m: usize, fill: &mut ServerFill, count: &mut [usize]) -> bool {
        let mut improved = false;
        let mut budget = fill.models().len() + 1;
        'moves: while budget > 0 {
            for drop in drop_sets(self.problem, fill) {
                if let Some(trial) = self.try_drop(m, fill, count, &drop) {
                    *fill = trial;
                    improved = true;
                    budget -= 1;
                    continue 'moves;
                }
            }
            break;
        }
        improved
    }

    /// Drops models `drop` from server `m` and refills it without them: the new fill when the
    /// weight gained beats the weight lost, else `None` with `count` restored.
    fn try_drop(
        &self,
        m: usize,
        fill: &ServerFill,
        count: &mut [usize],
        drop: &[usize],
    ) -> Option<ServerFill> {
        let loss: f64 = drop
            .iter()
            .flat_map(|&r| &self.demand_of[m][r])
            .filter(|&&g| count[g] == 1)
            .map(|&g| self.demands[g].weight)
            .sum();
        let mut banned = vec![false; self.problem.models.len()];
        for &r in drop {
            banned[r] = true;
            for &g in &self.demand_of[m][r] {
                count[g] -= 1;
            }
        }
        let kept: Vec<usize> = fill.models().into_iter().filter(|&i| !banned[i]).collect();
        let mut trial = ServerFill::new(self.problem, &kept);
        let (gained, added) = self.refill(m, &mut trial, count, &banned);
        if gained > loss * (1.0 + 1e-12) + MIN_GAIN {
            return Some(trial);
        }
        for &i in &added {
            for &g in &self.demand_of[m][i] {
                count[g] -= 1;
            }
        }
        for &r in drop {
            for &g in &self.demand_of[m][r] {
                count[g] += 1;
            }
        }
        None
    }
}

/// Rounds a fractional placement (e.g. the MILP's LP relaxation): pairs `(m, i, value)` in
/// decreasing value, each cached if it still gains and fits; the local search then refills and
/// improves it.
pub fn round_fractional(
    problem: &CacheProblem,
    demands: &[Demand],
    values: &[(usize, usize, f64)],
    max_passes: usize,
) -> Placement {
    let mut state = State::new(problem, demands, Sharing::Aware);
    let mut order: Vec<(usize, usize, f64)> = values
        .iter()
        .copied()
        .filter(|&(_, _, v)| v > 1e-6)
        .collect();
    order.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    for (m, i, _) in order {
        if !state.placed[m][i] && state.gain[m][i] > MIN_GAIN && state.fits(m, i) {
            state.place(m, i);
        }
    }
    local_search(problem, demands, &state.placement(), max_passes)
}
