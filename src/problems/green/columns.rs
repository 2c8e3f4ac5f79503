//! Column generation for the green MILP: a Dantzig-Wolfe bound and a restricted master MILP.
//!
//! The time-indexed MILP of [`super::model`] is weak where a job's work is a few slots: its LP
//! runs fractions of the cheapest (slot, level) pairs, while a schedule runs whole slots (a job
//! of 2.3 slots at full speed needs three slots, say three at 80%). Here each job's schedule is
//! a **column**: a set of (server, slot, level) runs in its window, on one server unless
//! migration is allowed, that does the job's work. The **master** chooses one column per job
//! (`sum_p lambda_jp = 1`) with at most one run per server and slot
//! (`sum_{p runs on (m, t)} lambda_p <= 1`), at least cost. Its LP relaxation is the
//! Dantzig-Wolfe bound: each job's own integrality (whole slots, one level per slot) is exact in
//! it, only the sharing of slots is relaxed.
//!
//! **Pricing** ([`Pricing::best_in`]): given the master LP's duals (`mu_j` of the job's row,
//! `pi_mt <= 0` of the slot rows), the least reduced cost `c_p - sum pi - mu_j` over a job's
//! columns is a multiple-choice covering knapsack (one level or none per slot, work at least
//! the job's), solved exactly by a dynamic programme over the slots whose states are the
//! Pareto-optimal (work done, cost) pairs; work is capped at the job's and states that cannot
//! beat the best column found (or `mu_j`) are pruned. Its size is bounded by the number of
//! distinct sums of level speeds; past [`MAX_STATES`] states the pricing gives up and the caller
//! falls back to the time-indexed MILP alone.
//!
//! **Bound.** After each master LP, `z_LP + sum_j min(0, least reduced cost of j)` is a lower
//! bound on the optimum (the Lagrangian bound of the convexity rows); it reaches the master LP's
//! value when no column prices out. The generation stops there, at the time it is given, or
//! when bound and master LP agree to [`BOUND_TOLERANCE`].
//!
//! A generation may keep one master LP, each round's columns added to it, so that HiGHS starts
//! from the last basis ([`generate`]'s `warm`). With rank-1 cuts in the master
//! ([`super::cuts`]) the pricing also charges their duals ([`CutPrices`]).
//!
//! **Restricted master MILP**: the master over the columns generated (and the heuristic's,
//! which keep it feasible) with binary `lambda`, solved by HiGHS: a schedule, not a bound.

use std::time::Instant;

use highs::{ColProblem, HighsModelStatus, Model, Row};

use super::cuts::Cut;
use super::evaluate::WORK_TOLERANCE;
use super::{GreenProblem, Run, Schedule};
use crate::solve::milp::{use_highs_threads, MipOptions};
use crate::solve::watch;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pareto states of one pricing beyond which it gives up (the levels' speeds then have too many
/// distinct sums for the dynamic programme).
pub const MAX_STATES: usize = 200_000;

/// Relative difference between the master LP and the Lagrangian bound at which the generation
/// stops.
pub const BOUND_TOLERANCE: f64 = 1e-7;

/// Master LPs per step of a dive at most.
const DIVE_ROUNDS: usize = 5;

/// LP value from which a dive fixes a column.
const DIVE_FIX: f64 = 0.9;

/// Columns added per job and round at most (its best ones, on different servers).
const COLUMNS_PER_JOB: usize = 3;

/// A pricing programme went past [`MAX_STATES`] states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStates;

/// One job's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The job.
    pub job: usize,
    /// `(server, slot, level)` runs.
    pub runs: Vec<(usize, usize, usize)>,
    /// Its cost in the units of the MILP's objective ([`Costs`]).
    pub cost: f64,
}

/// The objective's cost of a run over the empty server, per (server, slot, level), in the units
/// of the time-indexed MILP (multiply by its `objective_scale`), and the empty servers' constant.
#[derive(Debug, Clone)]
pub struct Costs {
    /// `run[m][t][l]`.
    pub run: Vec<Vec<Vec<f64>>>,
    /// Cost of every server empty in every slot.
    pub constant: f64,
}

impl Costs {
    /// The costs of `problem`, as [`super::model::build`] prices them.
    pub fn new(problem: &GreenProblem) -> Costs {
        let (unit_w, weight_unit) = super::model::units(problem);
        let cost = |m: usize, t: usize, power_w: f64| {
            let above = (power_w - problem.servers[m].renewable_w[t]).max(0.0) / unit_w;
            above * problem.weight_per_kwh(t) / weight_unit
        };
        let mut constant = 0.0;
        let run = problem
            .servers
            .iter()
            .enumerate()
            .map(|(m, server)| {
                (0..problem.slots())
                    .map(|t| {
                        let empty = cost(m, t, problem.empty_power_w(m));
                        constant += empty;
                        server
                            .levels
                            .iter()
                            .map(|level| cost(m, t, level.power_w) - empty)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Costs { run, constant }
    }
}

/// The pricing problems of an instance.
pub struct Pricing<'a> {
    problem: &'a GreenProblem,
    costs: &'a Costs,
    /// States created by the programmes so far ([`Pricing::work`]).
    work: AtomicU64,
}

/// A state of the pricing programme: work share done, cost, the parity of its count of rows in
/// each cut priced (a bit per cut, [`CutPrices`]), and its runs (a node of a tree).
#[derive(Debug, Clone, Copy)]
struct State {
    work: f64,
    cost: f64,
    parity: u64,
    node: usize,
}

/// Cuts of the master ([`super::cuts`]) and their penalties, minus their duals (`>= 0`): a column
/// pays a cut's penalty for each unit of its coefficient.
#[derive(Debug, Clone, Copy)]
pub struct CutPrices<'a> {
    /// The cuts.
    pub cuts: &'a [Cut],
    /// Per cut, its penalty.
    pub penalty: &'a [f64],
}

/// Cuts one pricing programme carries (at most 64, a bit each), from [`CutPrices`].
struct Carried {
    /// Per cell of the programme: the bits of the cuts it is in.
    bits: Vec<u64>,
    /// Per bit: the cut's penalty.
    penalty: Vec<f64>,
    /// The parity the job's own row gives each cut (bits of the cuts with the job's row).
    start: u64,
}

impl Carried {
    /// The cuts with a positive penalty and a cell among `cells`; past 64, the dearest (a cut
    /// left out only lowers priced costs, so bounds stay valid).
    fn new(j: usize, cells: &[(usize, usize)], prices: Option<CutPrices>) -> Carried {
        let mut carried = Carried {
            bits: vec![0; cells.len()],
            penalty: Vec::new(),
            start: 0,
        };
        let Some(prices) = prices else {
            return carried;
        };
        let mut active: Vec<(f64, usize)> = prices
            .cuts
            .iter()
            .enumerate()
            .filter(|&(k, cut)| {
                prices.penalty[k] > 0.0 && cut.cells.iter().any(|c| cells.binary_search(c).is_ok())
            })
            .map(|(k, _)| (prices.penalty[k], k))
            .collect();
        active.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        active.truncate(64);
        for (bit, &(penalty, k)) in active.iter().enumerate() {
            let cut = &prices.cuts[k];
            carried.penalty.push(penalty);
            if cut.jobs.binary_search(&j).is_ok() {
                carried.start |= 1 << bit;
            }
            for c in &cut.cells {
                if let Ok(i) = cells.binary_search(c) {
                    carried.bits[i] |= 1 << bit;
                }
            }
        }
        carried
    }

    /// The penalties of the cuts in `bits`.
    fn sum(&self, mut bits: u64) -> f64 {
        let mut total = 0.0;
        while bits != 0 {
            total += self.penalty[bits.trailing_zeros() as usize];
            bits &= bits - 1;
        }
        total
    }
}

impl<'a> Pricing<'a> {
    /// The pricing of `problem` with `costs`.
    pub fn new(problem: &'a GreenProblem, costs: &'a Costs) -> Pricing<'a> {
        Pricing {
            problem,
            costs,
            work: AtomicU64::new(0),
        }
    }

    /// The states the programmes of this pricing have created so far: a deterministic measure
    /// of their work (their time grows with it), for budgets that must not depend on the clock.
    pub fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    /// The cell groups a column of job `j` may use: each server it fits alone, or (with
    /// migration) all of them together.
    pub(super) fn groups(
        &self,
        j: usize,
        open: &dyn Fn(usize, usize) -> bool,
    ) -> Vec<Vec<(usize, usize)>> {
        let p = self.problem;
        let job = &p.jobs[j];
        let window = job.release..job.deadline.min(p.slots());
        let cells = |m: usize| {
            window
                .clone()
                .filter(move |&t| open(m, t))
                .map(move |t| (m, t))
        };
        let hosts = (0..p.servers.len()).filter(|&m| p.fits(j, m));
        if p.migration {
            vec![hosts.flat_map(cells).collect()]
        } else {
            hosts.map(|m| cells(m).collect()).collect()
        }
    }

    /// The cheapest columns of job `j` at slot prices `pi[m][t]` (subtracted from a run's
    /// cost), in the slots where `open(server, slot)` holds, best first, one per cell group, each
    /// with its priced cost `cost - sum pi`; only columns priced below `below` are returned.
    /// `Err(TooManyStates)` when a programme exceeds [`MAX_STATES`] ([`TooManyStates`]).
    pub fn best_in(
        &self,
        j: usize,
        pi: &[Vec<f64>],
        open: &dyn Fn(usize, usize) -> bool,
        below: f64,
    ) -> Result<Vec<(f64, Column)>, TooManyStates> {
        self.best_with_cuts(j, pi, open, None, below)
    }

    /// [`Pricing::best_in`] with the penalties of `cuts` ([`CutPrices`]) in the priced costs.
    pub fn best_with_cuts(
        &self,
        j: usize,
        pi: &[Vec<f64>],
        open: &dyn Fn(usize, usize) -> bool,
        cuts: Option<CutPrices>,
        below: f64,
    ) -> Result<Vec<(f64, Column)>, TooManyStates> {
        let mut out = Vec::new();
        for cells in self.groups(j, open) {
            if let Some(found) = self.price(j, &cells, pi, cuts, below)? {
                out.push(found);
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(out)
    }

    /// Per cell of `cells`, per level: job `j`'s (work share, priced cost) of a run there.
    pub(super) fn items(
        &self,
        j: usize,
        cells: &[(usize, usize)],
        pi: &[Vec<f64>],
    ) -> Vec<Vec<(f64, f64)>> {
        let p = self.problem;
        let work = p.jobs[j].work_flop;
        cells
            .iter()
            .map(|&(m, t)| {
                (0..p.servers[m].levels.len())
                    .map(|l| {
                        let share = (p.slot_work(m, l) / work).min(1.0);
                        (share, self.costs.run[m][t][l] - pi[m][t])
                    })
                    .collect()
            })
            .collect()
    }

    /// The exact programme over `cells` (see the module header).
    fn price(
        &self,
        j: usize,
        cells: &[(usize, usize)],
        pi: &[Vec<f64>],
        cuts: Option<CutPrices>,
        below: f64,
    ) -> Result<Option<(f64, Column)>, TooManyStates> {
        let p = self.problem;
        let job = &p.jobs[j];
        let target = 1.0 - WORK_TOLERANCE;
        if job.work_flop <= 0.0 {
            let column = Column {
                job: j,
                runs: Vec::new(),
                cost: 0.0,
            };
            return Ok((0.0 < below).then_some((0.0, column)));
        }
        let items = self.items(j, cells, pi);
        let carried = Carried::new(j, cells, cuts);
        // Least cost still reachable from cell i on (negative items only), for pruning.
        let mut negative_after = vec![0.0; items.len() + 1];
        for i in (0..items.len()).rev() {
            let least = items[i].iter().map(|x| x.1).fold(0.0, f64::min);
            negative_after[i] = negative_after[i + 1] + least;
        }
        // Tree of runs: (parent, cell, level).
        let mut tree: Vec<(usize, usize, usize)> = vec![(usize::MAX, usize::MAX, usize::MAX)];
        let mut frontier = vec![State {
            work: 0.0,
            cost: 0.0,
            parity: carried.start,
            node: 0,
        }];
        // Per parity seen: the cheapest state kept with at least the work of the one at hand.
        let mut kept: Vec<(u64, f64)> = Vec::new();
        let mut best: Option<State> = None;
        let mut next: Vec<State> = Vec::new();
        for (i, options) in items.iter().enumerate() {
            let limit = best.map_or(below, |b| b.cost.min(below));
            next.clear();
            next.extend(frontier.iter().copied());
            let bits = carried.bits[i];
            for s in &frontier {
                // A run here pays the cuts whose count it makes even.
                let penalty = carried.sum(s.parity & bits);
                let parity = s.parity ^ bits;
                for (l, &(share, cost)) in options.iter().enumerate() {
                    let (work, cost) = ((s.work + share).min(1.0), s.cost + cost + penalty);
                    // A state that cannot end below the limit is dropped.
                    if cost + negative_after[i + 1] >= limit {
                        continue;
                    }
                    tree.push((s.node, i, l));
                    let state = State {
                        work,
                        cost,
                        parity,
                        node: tree.len() - 1,
                    };
                    if state.work >= target && best.is_none_or(|b| state.cost < b.cost) {
                        best = Some(state);
                    }
                    next.push(state);
                }
            }
            // Pareto filter: by work descending, keep a state only when it is cheaper than
            // every state with at least its work, counting for each cut that state's parity
            // may make it pay once more later (at most one penalty per cut; none when the
            // parities agree, the only case without cuts).
            next.sort_by(|a, b| {
                b.work
                    .total_cmp(&a.work)
                    .then(a.cost.total_cmp(&b.cost))
                    .then(a.parity.cmp(&b.parity))
            });
            frontier.clear();
            kept.clear();
            let limit = best.map_or(below, |b| b.cost.min(below));
            for s in &next {
                if s.cost + negative_after[i + 1] >= limit {
                    continue;
                }
                let dominated = kept
                    .iter()
                    .any(|&(p, c)| c + carried.sum(p & !s.parity) <= s.cost);
                if dominated {
                    continue;
                }
                match kept.iter_mut().find(|(p, _)| *p == s.parity) {
                    Some(k) => k.1 = s.cost,
                    None => kept.push((s.parity, s.cost)),
                }
                frontier.push(*s);
            }
            if frontier.len() > MAX_STATES || tree.len() > 20 * MAX_STATES {
                self.work.fetch_add(tree.len() as u64, Ordering::Relaxed);
                return Err(TooManyStates);
            }
        }
        self.work.fetch_add(tree.len() as u64, Ordering::Relaxed);
        let Some(found) = best.filter(|b| b.cost < below) else {
            return Ok(None);
        };
        let mut runs = Vec::new();
        let mut node = found.node;
        while node != 0 {
            let (parent, i, l) = tree[node];
            runs.push((cells[i].0, cells[i].1, l));
            node = parent;
        }
        runs.reverse();
        let cost = runs.iter().map(|&(m, t, l)| self.costs.run[m][t][l]).sum();
        Ok(Some((found.cost, Column { job: j, runs, cost })))
    }
}

/// Each job's column in `schedule` (its runs, in slot order).
pub fn columns_of(problem: &GreenProblem, costs: &Costs, schedule: &Schedule) -> Vec<Column> {
    let mut columns: Vec<Column> = (0..problem.jobs.len())
        .map(|job| Column {
            job,
            runs: Vec::new(),
            cost: 0.0,
        })
        .collect();
    for (m, row) in schedule.runs.iter().enumerate() {
        for (t, run) in row.iter().enumerate() {
            if let Some(run) = run {
                let column = &mut columns[run.job];
                column.runs.push((m, t, run.level));
                column.cost += costs.run[m][t][run.level];
            }
        }
    }
    columns
}

/// The schedule of one column per job.
pub fn schedule_of(problem: &GreenProblem, chosen: &[&Column]) -> Schedule {
    let mut schedule = problem.empty_schedule();
    for column in chosen {
        for &(m, t, level) in &column.runs {
            schedule.runs[m][t] = Some(Run {
                job: column.job,
                level,
            });
        }
    }
    schedule
}

/// Jobs whose column is fixed, and the slots their runs take, during a dive.
#[derive(Debug, Clone)]
pub struct Fixed {
    /// Per job: its column's index in the pool once fixed.
    pub column: Vec<Option<usize>>,
    /// Per server and slot: taken by a fixed column.
    pub blocked: Vec<Vec<bool>>,
}

impl Fixed {
    /// Nothing fixed.
    pub fn none(problem: &GreenProblem) -> Fixed {
        Fixed {
            column: vec![None; problem.jobs.len()],
            blocked: vec![vec![false; problem.slots()]; problem.servers.len()],
        }
    }

    /// Fixes column `i` of `pool`.
    pub fn fix(&mut self, pool: &[Column], i: usize) {
        self.column[pool[i].job] = Some(i);
        for &(m, t, _) in &pool[i].runs {
            self.blocked[m][t] = true;
        }
    }

    /// Whether column `c` of a job not yet fixed avoids every blocked slot.
    pub fn open(&self, c: &Column) -> bool {
        self.column[c.job].is_none() && c.runs.iter().all(|&(m, t, _)| !self.blocked[m][t])
    }
}

/// The master problem's rows and columns: one row per job of the master (`= 1`), one per
/// server and slot (`<= 1`), one per cut (`<= rhs`), a column per job schedule.
struct Master<'a> {
    columns: ColProblem,
    /// Per job: its row, `None` for a job outside this master.
    job_rows: Vec<Option<Row>>,
    cell_rows: Vec<Vec<Row>>,
    cuts: &'a [Cut],
    cut_rows: Vec<Row>,
}

impl<'a> Master<'a> {
    /// The rows of a master over `jobs`, with `cuts` (valid only when every job is in it).
    fn new(problem: &GreenProblem, jobs: &[usize], cuts: &'a [Cut]) -> Master<'a> {
        let mut columns = ColProblem::new();
        let mut job_rows = vec![None; problem.jobs.len()];
        for &j in jobs {
            job_rows[j] = Some(columns.add_row(1.0..=1.0));
        }
        let cell_rows = (0..problem.servers.len())
            .map(|_| {
                (0..problem.slots())
                    .map(|_| columns.add_row(..=1.0))
                    .collect()
            })
            .collect();
        let cut_rows = cuts
            .iter()
            .map(|cut| columns.add_row(..=cut.rhs() as f64))
            .collect();
        Master {
            columns,
            job_rows,
            cell_rows,
            cuts,
            cut_rows,
        }
    }

    /// Adds `column` (binary when `integer`, else in `[0, inf)`); its job has a row.
    fn add(&mut self, column: &Column, integer: bool) {
        let factors = self.factors(column);
        if integer {
            self.columns
                .add_integer_column(column.cost, 0.0..=1.0, factors);
        } else {
            self.columns.add_column(column.cost, 0.0.., factors);
        }
    }

    /// `column`'s coefficients in the rows (its job's row must be in the master).
    fn factors(&self, column: &Column) -> Vec<(Row, f64)> {
        let job = self.job_rows[column.job].expect("a column of a job in the master");
        std::iter::once((job, 1.0))
            .chain(
                column
                    .runs
                    .iter()
                    .map(|&(m, t, _)| (self.cell_rows[m][t], 1.0)),
            )
            .chain(
                self.cuts
                    .iter()
                    .zip(&self.cut_rows)
                    .map(|(cut, &row)| (row, cut.coefficient(column) as f64))
                    .filter(|&(_, a)| a > 0.0),
            )
            .collect()
    }

    /// Adds job `j`'s artificial column: no runs, cost `cost`.
    fn add_artificial(&mut self, j: usize, cost: f64) {
        let row = self.job_rows[j].expect("an artificial column of a job in the master");
        self.columns.add_column(cost, 0.0.., [(row, 1.0)]);
    }
}

/// What the column generation ends with.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Best Lagrangian lower bound over the jobs not fixed, in MILP units with the constant
    /// (the fixed columns' cost not included).
    pub bound: f64,
    /// The last master LP's value of each pool column (0 for those not in it).
    pub lp: Vec<f64>,
    /// Whether an artificial column is in the last master LP's solution (the jobs not fixed
    /// may have no schedule in the slots left).
    pub artificial: bool,
    /// Whether the generation converged (no column prices out).
    pub converged: bool,
    /// The slot prices `pi[m][t]` (`<= 0`) of the round whose Lagrangian bound is `bound`.
    pub prices: Vec<Vec<f64>>,
}

/// Column generation over the jobs not `fixed`, adding columns to `pool`, until convergence,
/// `time_limit_s` or `max_rounds` master LPs (at least one), with `cuts` in the master (only when
/// nothing is fixed: a cut's rows assume every job in the master). `warm`: one master LP for the
/// whole generation, each round's columns added to it, so HiGHS starts from the last basis (on
/// 100 x 96 x 10 a master LP then takes 0.03-0.06 s, 0.2 s from scratch); otherwise the master
/// is built and solved from scratch each round. Both reach the same bound, usually with other
/// (equally optimal) duals and columns. `None` when a pricing programme exceeds [`MAX_STATES`]
/// or HiGHS fails on a master LP.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    problem: &GreenProblem,
    costs: &Costs,
    pool: &mut Vec<Column>,
    fixed: &Fixed,
    time_limit_s: Option<f64>,
    max_rounds: usize,
    cuts: &[Cut],
    warm: bool,
) -> Option<Generated> {
    let clock = Instant::now();
    let jobs = problem.jobs.len();
    let servers = problem.servers.len();
    let slots = problem.slots();
    let pricing = Pricing::new(problem, costs);
    // An artificial column per job (no runs, a cost above any schedule's) keeps the master
    // feasible before it has columns.
    let artificial = 1.0
        + costs
            .run
            .iter()
            .flatten()
            .flatten()
            .fold(0.0f64, |a, &c| a + c.abs());
    let free: Vec<usize> = (0..jobs).filter(|&j| fixed.column[j].is_none()).collect();
    let cuts = if free.len() == jobs { cuts } else { &[] };
    let mut rounds = 0;
    let mut bound = f64::NEG_INFINITY;
    let mut prices = vec![vec![0.0; slots]; servers];
    let mut in_lp: Vec<usize> = (0..pool.len()).filter(|&i| fixed.open(&pool[i])).collect();
    let (master, mut model) = master_lp(problem, &free, cuts, artificial, pool, &in_lp)?;
    // Kept alive until the last solve of the model returns (the callback stays on it).
    let mut _watch = watch::interruptible(&mut model);
    loop {
        rounds += 1;
        use_highs_threads(1);
        let solved = model.try_solve().ok()?;
        if solved.status() != HighsModelStatus::Optimal {
            return None;
        }
        let value = solved.objective_value();
        let solution = solved.get_solution();
        let duals = solution.dual_rows();
        let x = solution.columns();
        let artificial_used = x[..free.len()].iter().any(|&v| v > 1e-9);
        let mut lp = vec![0.0; pool.len()];
        for (k, &i) in in_lp.iter().enumerate() {
            lp[i] = x[free.len() + k];
        }
        let mu = &duals[..free.len()];
        // Slot prices clamped to their sign (a <= row of a minimisation): the bound below is
        // valid for any such prices, whatever the LP's tolerances.
        let base = free.len();
        let pi: Vec<Vec<f64>> = (0..servers)
            .map(|m| {
                duals[base + m * slots..base + (m + 1) * slots]
                    .iter()
                    .map(|&d| d.min(0.0))
                    .collect()
            })
            .collect();
        // The cuts' duals, clamped likewise, as penalties.
        let penalty: Vec<f64> = duals[base + servers * slots..]
            .iter()
            .map(|&d| (-d).max(0.0))
            .collect();
        let cut_prices = CutPrices {
            cuts,
            penalty: &penalty,
        };
        // The Lagrangian bound of the slot and cut rows at prices pi and the penalties:
        // sum_j (least priced cost of a column of j, the artificial one included) + sum pi
        // - sum penalty x rhs. The programme only looks below mu_j: when it finds nothing, mu_j
        // is a lower bound on j's least priced cost.
        let mut lagrangian: f64 = pi.iter().flatten().sum::<f64>()
            - cuts
                .iter()
                .zip(&penalty)
                .map(|(cut, p)| p * cut.rhs() as f64)
                .sum::<f64>();
        let first_new = pool.len();
        let mut added = 0;
        for (r, &j) in free.iter().enumerate() {
            let below = mu[r] - 1e-9 * mu[r].abs().max(1.0);
            let open = |m: usize, t: usize| !fixed.blocked[m][t];
            let found = pricing
                .best_with_cuts(j, &pi, &open, Some(cut_prices), below)
                .ok()?;
            let least = found.first().map_or(below, |f| f.0);
            lagrangian += least.min(artificial);
            for (_, column) in found.into_iter().take(COLUMNS_PER_JOB) {
                pool.push(column);
                added += 1;
            }
        }
        let lagrangian = lagrangian + costs.constant;
        if lagrangian > bound {
            bound = lagrangian;
            prices = pi;
        }
        let value = value + costs.constant;
        let close = value - lagrangian <= BOUND_TOLERANCE * value.abs().max(1.0);
        let out_of_time = watch::stop_requested()
            || time_limit_s.is_some_and(|limit| clock.elapsed().as_secs_f64() >= limit);
        if added == 0 || close || out_of_time || rounds >= max_rounds {
            lp.resize(pool.len(), 0.0);
            return Some(Generated {
                bound,
                lp,
                artificial: artificial_used,
                converged: added == 0 || close,
                prices,
            });
        }
        in_lp.extend(first_new..pool.len());
        if warm {
            // The same LP with the new columns, nonbasic at zero: HiGHS starts from its basis.
            model = Model::from(solved);
            for column in &pool[first_new..] {
                model
                    .try_add_column(column.cost, 0.0.., master.factors(column))
                    .ok()?;
            }
        } else {
            model = master_lp(problem, &free, cuts, artificial, pool, &in_lp)?.1;
            _watch = watch::interruptible(&mut model);
        }
    }
}

/// The master LP over the jobs `free` with `cuts`, an artificial column of cost `artificial`
/// per job and the columns `in_lp` of `pool`, ready to solve (quiet, one thread).
fn master_lp<'a>(
    problem: &GreenProblem,
    free: &[usize],
    cuts: &'a [Cut],
    artificial: f64,
    pool: &[Column],
    in_lp: &[usize],
) -> Option<(Master<'a>, Model)> {
    let mut master = Master::new(problem, free, cuts);
    for &j in free {
        master.add_artificial(j, artificial);
    }
    for &i in in_lp {
        master.add(&pool[i], false);
    }
    let mut model = Model::try_new(std::mem::take(&mut master.columns)).ok()?;
    model.make_quiet();
    model.try_set_option("threads", 1).ok()?;
    Some((master, model))
}

/// A diving heuristic: generate columns, fix the columns the master LP (nearly) takes whole
/// and the one it takes most of among the others, and again over the jobs left, until every
/// job has a column or the slots left hold no schedule for some job. Returns each job's fixed
/// column (its index in `pool`), `None` for the jobs left (all fixed when the dive succeeds);
/// `None` when the column generation fails. Each step gets the time left of `time_limit_s`
/// (at least one master LP).
pub fn dive(
    problem: &GreenProblem,
    costs: &Costs,
    pool: &mut Vec<Column>,
    time_limit_s: Option<f64>,
    warm: bool,
) -> Option<Vec<Option<usize>>> {
    let clock = Instant::now();
    let mut fixed = Fixed::none(problem);
    while fixed.column.iter().any(Option::is_none) {
        let left = time_limit_s.map(|l| (l - clock.elapsed().as_secs_f64()).max(0.0));
        if left == Some(0.0) || watch::stop_requested() {
            break;
        }
        let generated = generate(problem, costs, pool, &fixed, left, DIVE_ROUNDS, &[], warm)?;
        if generated.artificial {
            break;
        }
        let lp = &generated.lp;
        // The columns the LP (nearly) takes whole, and the one it takes most of among the others.
        let mut chosen: Vec<usize> = (0..lp.len()).filter(|&i| lp[i] >= DIVE_FIX).collect();
        let most = (0..lp.len())
            .filter(|&i| lp[i] < DIVE_FIX)
            .max_by(|&a, &b| lp[a].total_cmp(&lp[b]));
        if let Some(most) = most.filter(|&i| lp[i] > 0.0) {
            chosen.push(most);
        }
        if chosen.is_empty() {
            break;
        }
        chosen.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]));
        for i in chosen {
            if fixed.open(&pool[i]) {
                fixed.fix(pool, i);
            }
        }
    }
    Some(fixed.column)
}

/// The restricted master MILP over `columns`, started from the columns `start` (indices, one
/// per job) when given. Returns the chosen column of each job, or `None` when HiGHS found no
/// solution. HiGHS 1.16 can declare a start optimal with the objective it has in presolve's
/// reduced space, which lost the fixed columns' cost (the log says "MIP start solution is
/// feasible in the reduced space" with a lower objective, then "optimal" at once): when the
/// reported objective is not the chosen columns' cost, it solves again without the start.
pub fn restricted_master(
    problem: &GreenProblem,
    columns: &[Column],
    start: Option<&[usize]>,
    constant: f64,
    options: &MipOptions,
) -> Option<Vec<usize>> {
    let clock = Instant::now();
    let solved = solve_master(problem, columns, start, constant, options)?;
    match solved {
        Ok(chosen) => Some(chosen),
        Err(()) => {
            let left = options
                .time_limit_s
                .map(|l| (l - clock.elapsed().as_secs_f64()).max(0.01));
            let again = MipOptions {
                time_limit_s: left,
                ..options.clone()
            };
            solve_master(problem, columns, None, constant, &again)?.ok()
        }
    }
}

/// One solve of the restricted master: `Err(())` when HiGHS's objective is not the chosen
/// columns' cost.
fn solve_master(
    problem: &GreenProblem,
    columns: &[Column],
    start: Option<&[usize]>,
    constant: f64,
    options: &MipOptions,
) -> Option<Result<Vec<usize>, ()>> {
    let jobs = problem.jobs.len();
    let all: Vec<usize> = (0..jobs).collect();
    let mut master = Master::new(problem, &all, &[]);
    for c in columns {
        master.add(c, true);
    }
    let mut model = Model::try_new(master.columns).ok()?;
    model.make_quiet();
    model
        .try_set_option("threads", options.threads.max(1) as i32)
        .ok()?;
    model
        .try_set_option("mip_rel_gap", options.mip_rel_gap)
        .ok()?;
    model
        .try_set_option("random_seed", (options.seed % (i32::MAX as u64)) as i32)
        .ok()?;
    if let Some(limit) = options.time_limit_s {
        model.try_set_option("time_limit", limit.max(0.01)).ok()?;
    }
    if let Some(start) = start {
        let mut values = vec![0.0; columns.len()];
        for &i in start {
            values[i] = 1.0;
        }
        model
            .try_set_solution(Some(&values), None, None, None)
            .ok()?;
    }
    // Progress in the report's units: (columns' cost + constant) x the objective scale.
    let units = watch::Units {
        scale: 1.0 / options.report_scale,
        offset: constant * options.report_scale,
        sign: 1.0,
    };
    let _watch = watch::watched(&mut model, units, "restricted master");
    use_highs_threads(options.threads.max(1));
    let solved = model.try_solve().ok()?;
    // `primal_solution_status` panics when HiGHS leaves the info unset (a model presolve
    // solves outright): read it as an integer (2: feasible), an optimal status also counts.
    let feasible = solved.int_info_value(c"primal_solution_status") == Ok(2)
        || solved.status() == HighsModelStatus::Optimal;
    if !feasible {
        return None;
    }
    let x = solved.get_solution().columns().to_vec();
    if x.len() != columns.len() {
        return None;
    }
    let mut chosen = vec![usize::MAX; jobs];
    let mut cost = 0.0;
    for (i, c) in columns.iter().enumerate() {
        if x[i] > 0.5 {
            if chosen[c.job] != usize::MAX {
                return None;
            }
            chosen[c.job] = i;
            cost += c.cost;
        }
    }
    if chosen.contains(&usize::MAX) {
        return None;
    }
    let reported = solved.objective_value();
    if (reported - cost).abs() > 1e-6 * cost.abs().max(1.0) {
        return Some(Err(()));
    }
    Some(Ok(chosen))
}
