//! Rank-1 cuts on the column generation's master: a stronger bound than Dantzig-Wolfe's.
//!
//! The master ([`super::columns`]) has a row per job (`sum lambda = 1`, read here as `<= 1`) and
//! one per server and slot (`<= 1`). For an odd set `S` of these rows, `2k + 1` of them, adding
//! the rows with multiplier 1/2 and rounding down gives the **{1/2}-Chvatal-Gomory cut**
//! `sum_p floor(a_p(S) / 2) lambda_p <= k`, where `a_p(S)` counts the rows of `S` that column
//! `p` is in (its job's row, the cells of its runs). Every integer master solution satisfies it;
//! the master LP's half columns do not. On three cells: at most one chosen column runs in two of
//! them. On a job and two cells: the job's columns that run in either cell and the other jobs'
//! columns that run in both take one of them at most.
//!
//! The Dantzig-Wolfe LP sets jobs to halves in cycles over contested clean slots (three jobs, each
//! of two slots, over three slots); these cuts cut such points off. On generated medium instances
//! they close most of the gap between the Dantzig-Wolfe bound and the optimum, all of it on some
//! (`tests/green_oracle.rs`, `docs/green.md`).
//!
//! **Pricing** with the cuts' duals `sigma_S <= 0`: a column pays `-sigma_S` each time its count
//! of rows in `S` reaches an even number, so the pricing programme ([`super::columns::Pricing`])
//! carries the parity of each cut's count in its state. Leaving a cut out of the pricing only
//! lowers the priced costs, so the Lagrangian bound stays valid with any subset of the cuts
//! priced.
//!
//! **Separation** ([`separate`]): on the master LP's solution, sets of three and five of the rows
//! around each fractional column and of each group of fractional columns linked by shared rows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::columns::{generate, Column, Costs, Fixed};
use super::GreenProblem;
use crate::solve::watch;

/// Rows around one fractional column the separation enumerates sets of, at most.
pub const MAX_ROWS: usize = 16;

/// Rows of a group of fractional columns linked by shared rows the separation enumerates sets
/// of, at most.
pub const MAX_GROUP_ROWS: usize = 22;

/// Cuts added per separation round, at most.
const CUTS_PER_ROUND: usize = 40;

/// New cuts of a round through one cell, at most (spreads the cuts over the fractional groups).
const CUTS_PER_CELL: usize = 2;

/// Violation below which a cut is not added.
const MIN_VIOLATION: f64 = 1e-3;

/// Separation rounds of [`strengthen`] at most.
const MAX_ROUNDS: usize = 30;

/// Master LPs of one round's column generation at most (it converges in 4-10 on 100 jobs x 96
/// slots x 10 servers; a guard, not a limit that binds).
const GENERATION_ROUNDS: usize = 500;

/// A {1/2}-Chvatal-Gomory cut on `jobs.len() + cells.len()` (odd) rows of the master.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cut {
    /// The job rows, sorted.
    pub jobs: Vec<usize>,
    /// The `(server, slot)` rows, sorted.
    pub cells: Vec<(usize, usize)>,
}

impl Cut {
    /// Its right-hand side: half the rows, rounded down.
    pub fn rhs(&self) -> usize {
        (self.jobs.len() + self.cells.len()) / 2
    }

    /// How many of its rows column `c` is in, before halving.
    pub fn count(&self, c: &Column) -> usize {
        let job = usize::from(self.jobs.binary_search(&c.job).is_ok());
        job + c
            .runs
            .iter()
            .filter(|&&(m, t, _)| self.cells.binary_search(&(m, t)).is_ok())
            .count()
    }

    /// Column `c`'s coefficient.
    pub fn coefficient(&self, c: &Column) -> usize {
        self.count(c) / 2
    }
}

/// Rounds of separation and column generation with the cuts found so far, from the master LP
/// solution `lp` (a value per column of `pool`) of a converged generation without cuts, until no
/// cut is violated, `time_limit_s` or [`MAX_ROUNDS`]. Returns the best Lagrangian bound of the
/// rounds (in the MILP's units with the empty servers' constant; a round stopped early still
/// gives a valid one) and the cuts, `None` for the bound when no round ran.
pub fn strengthen(
    problem: &GreenProblem,
    costs: &Costs,
    pool: &mut Vec<Column>,
    lp: &[f64],
    time_limit_s: Option<f64>,
) -> (Option<f64>, Vec<Cut>) {
    let clock = Instant::now();
    let mut cuts: Vec<Cut> = Vec::new();
    let mut seen: BTreeSet<Cut> = BTreeSet::new();
    let mut lp = lp.to_vec();
    let mut bound: Option<f64> = None;
    for _ in 0..MAX_ROUNDS {
        let left = time_limit_s.map(|l| l - clock.elapsed().as_secs_f64());
        if left.is_some_and(|l| l <= 0.0) || watch::stop_requested() {
            break;
        }
        let new = separate(pool, &lp, &seen);
        if new.is_empty() {
            break;
        }
        for cut in new {
            seen.insert(cut.clone());
            cuts.push(cut);
        }
        let fixed = Fixed::none(problem);
        let Some(generated) = generate(
            problem,
            costs,
            pool,
            &fixed,
            left,
            GENERATION_ROUNDS,
            &cuts,
            true,
        ) else {
            break;
        };
        bound = Some(bound.map_or(generated.bound, |b| b.max(generated.bound)));
        if !generated.converged {
            break;
        }
        lp = generated.lp;
    }
    (bound, cuts)
}

/// A master row: a job's or a cell's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RowId {
    Job(usize),
    Cell(usize, usize),
}

fn rows_of(c: &Column) -> impl Iterator<Item = RowId> + '_ {
    std::iter::once(RowId::Job(c.job)).chain(c.runs.iter().map(|&(m, t, _)| RowId::Cell(m, t)))
}

/// Finds the root of `a` in a union-find over row ids (a row not yet in it is its own root).
fn root(parent: &mut BTreeMap<RowId, RowId>, a: RowId) -> RowId {
    let mut r = a;
    while let Some(&p) = parent.get(&r) {
        if p == r {
            break;
        }
        r = p;
    }
    parent.insert(a, r);
    r
}

/// Violated cuts of the master LP solution `lp` (a value per column of `pool`), not in
/// `existing`, most violated first, at most [`CUTS_PER_ROUND`]. Every set of three and five of
/// the rows around each fractional column (those of it and of the columns sharing a row with
/// it, its own first, then those most of these columns are in; at most [`MAX_ROWS`]) and of
/// each group of fractional columns linked by shared rows (the rows two of them are in, those
/// most are in first; at most [`MAX_GROUP_ROWS`]).
pub fn separate(pool: &[Column], lp: &[f64], existing: &BTreeSet<Cut>) -> Vec<Cut> {
    let active: Vec<usize> = (0..pool.len().min(lp.len()))
        .filter(|&i| lp[i] > 1e-6)
        .collect();
    let mut columns_in: BTreeMap<RowId, Vec<usize>> = BTreeMap::new();
    for &i in &active {
        for r in rows_of(&pool[i]) {
            columns_in.entry(r).or_default().push(i);
        }
    }
    let fractional: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&i| lp[i] < 1.0 - 1e-6)
        .collect();
    let mut sets: Vec<Vec<RowId>> = Vec::new();
    // Around each fractional column.
    for &c in &fractional {
        let own: BTreeSet<RowId> = rows_of(&pool[c]).collect();
        // The columns sharing a row with c, c among them.
        let near: BTreeSet<usize> = own
            .iter()
            .flat_map(|r| columns_in[r].iter().copied())
            .collect();
        let mut shared: BTreeMap<RowId, usize> = BTreeMap::new();
        for &i in &near {
            for r in rows_of(&pool[i]) {
                *shared.entry(r).or_default() += 1;
            }
        }
        let mut rows: Vec<(bool, usize, RowId)> = shared
            .into_iter()
            .filter(|&(r, n)| own.contains(&r) || n >= 2)
            .map(|(r, n)| (!own.contains(&r), n, r))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        rows.truncate(MAX_ROWS);
        sets.push(rows.into_iter().map(|(_, _, r)| r).collect());
    }
    // Each group of fractional columns linked by shared rows: the rows two of them share, those
    // most share first.
    let mut parent: BTreeMap<RowId, RowId> = BTreeMap::new();
    for &i in &fractional {
        let first = root(&mut parent, RowId::Job(pool[i].job));
        for r in rows_of(&pool[i]).skip(1) {
            let other = root(&mut parent, r);
            if other != first {
                parent.insert(other, first);
            }
        }
    }
    let mut groups: BTreeMap<RowId, BTreeMap<RowId, usize>> = BTreeMap::new();
    for &i in &fractional {
        for r in rows_of(&pool[i]) {
            let g = root(&mut parent, r);
            *groups.entry(g).or_default().entry(r).or_default() += 1;
        }
    }
    for rows in groups.into_values() {
        let mut shared: Vec<(usize, RowId)> = rows
            .into_iter()
            .filter(|&(_, n)| n >= 2)
            .map(|(r, n)| (n, r))
            .collect();
        shared.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        shared.truncate(MAX_GROUP_ROWS);
        sets.push(shared.into_iter().map(|(_, r)| r).collect());
    }
    let mut found: BTreeMap<Cut, f64> = BTreeMap::new();
    for rows in sets {
        if rows.len() < 3 {
            continue;
        }
        // Every active column in two of these rows, its rows among them as a bit mask.
        let candidates: BTreeSet<usize> = rows
            .iter()
            .flat_map(|r| columns_in[r].iter().copied())
            .collect();
        let masks: Vec<(f64, u32)> = candidates
            .into_iter()
            .filter_map(|i| {
                let mut mask = 0u32;
                for r in rows_of(&pool[i]) {
                    if let Some(k) = rows.iter().position(|&x| x == r) {
                        mask |= 1 << k;
                    }
                }
                (mask.count_ones() >= 2).then_some((lp[i], mask))
            })
            .collect();
        for size in [3u32, 5] {
            for set in subsets(rows.len() as u32, size) {
                let lhs: f64 = masks
                    .iter()
                    .map(|&(x, m)| x * f64::from((m & set).count_ones() / 2))
                    .sum();
                let violation = lhs - f64::from(size / 2);
                if violation <= MIN_VIOLATION {
                    continue;
                }
                let mut cut = Cut {
                    jobs: Vec::new(),
                    cells: Vec::new(),
                };
                for (k, r) in rows.iter().enumerate() {
                    if set & (1 << k) != 0 {
                        match *r {
                            RowId::Job(j) => cut.jobs.push(j),
                            RowId::Cell(m, t) => cut.cells.push((m, t)),
                        }
                    }
                }
                // Sorted, as `Cut` keeps them (its counts search them).
                cut.jobs.sort_unstable();
                cut.cells.sort_unstable();
                if !existing.contains(&cut) {
                    found.insert(cut, violation);
                }
            }
        }
    }
    let mut found: Vec<(f64, Cut)> = found.into_iter().map(|(c, v)| (v, c)).collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut through: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, cut) in found {
        if out.len() >= CUTS_PER_ROUND {
            break;
        }
        if cut
            .cells
            .iter()
            .any(|c| through.get(c).copied().unwrap_or(0) >= CUTS_PER_CELL)
        {
            continue;
        }
        for &c in &cut.cells {
            *through.entry(c).or_default() += 1;
        }
        out.push(cut);
    }
    out
}

/// Every subset of `size` of `n` (at most 32) items, as bit masks, in increasing order.
fn subsets(n: u32, size: u32) -> impl Iterator<Item = u32> {
    let first: u64 = (1u64 << size) - 1;
    let end = 1u64 << n;
    std::iter::successors((size <= n).then_some(first), move |&s| {
        // Gosper's hack: the next larger number with as many bits set.
        let c = s & s.wrapping_neg();
        let r = s + c;
        let next = (((r ^ s) >> 2) / c) | r;
        (next < end).then_some(next)
    })
    .map(|s| s as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_every_combination_once() {
        for n in 0..8u32 {
            for k in 1..=n.min(5) {
                let all: Vec<u32> = subsets(n, k).collect();
                let expected = (0..1u32 << n).filter(|s| s.count_ones() == k).count();
                assert_eq!(all.len(), expected, "n {n} k {k}");
                assert!(all.iter().all(|s| s.count_ones() == k && *s < 1 << n));
                assert!(all.windows(2).all(|w| w[0] < w[1]));
            }
        }
        assert_eq!(subsets(2, 3).count(), 0);
    }

    #[test]
    fn a_half_cycle_of_three_jobs_is_cut() {
        // Three jobs of two slots over three cells of one server, each half on two schedules:
        // every cell is full, the cut on the three cells takes 3/2.
        let col = |job, a, b| Column {
            job,
            runs: vec![(0, a, 0), (0, b, 0)],
            cost: 0.0,
        };
        let pool = vec![
            col(0, 0, 1),
            col(0, 5, 6),
            col(1, 1, 2),
            col(1, 7, 8),
            col(2, 0, 2),
            col(2, 9, 10),
        ];
        let lp = vec![0.5; 6];
        let cuts = separate(&pool, &lp, &BTreeSet::new());
        let three = Cut {
            jobs: vec![],
            cells: vec![(0, 0), (0, 1), (0, 2)],
        };
        assert!(cuts.contains(&three), "{cuts:?}");
        for cut in &cuts {
            let lhs: f64 = pool
                .iter()
                .zip(&lp)
                .map(|(c, x)| x * cut.coefficient(c) as f64)
                .sum();
            assert!(lhs > cut.rhs() as f64 + MIN_VIOLATION);
        }
        // An integer point violates none.
        let integer = vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        assert!(separate(&pool, &integer, &BTreeSet::new()).is_empty());
    }
}
