//! Large-neighbourhood search for the exact solve's incumbent (docs/green.md, "Exact solve").
//!
//! Each round frees a **neighbourhood** of jobs and keeps every other job's schedule:
//! - the jobs on a few servers (alternately `k` and `k + 1` of them, `k` about a third of the
//!   servers), so that a server's slots are re-divided among its jobs and its neighbours';
//! - or the jobs that run in a window of a sixth of the day on half of the servers, so that
//!   jobs competing for the same clean hours are re-timed together.
//!
//! The free jobs get columns by the column generation of [`super::columns`] in the slots the
//! fixed jobs leave, until it converges; its Lagrangian bound plus the fixed columns' cost bounds
//! every schedule of the neighbourhood, and when it is not below the incumbent the round ends
//! there (nothing better exists in it). Otherwise the restricted master MILP over the free jobs'
//! columns, started from their current ones, gives the neighbourhood's new schedule, which is
//! kept when the evaluator finds it cheaper. A round never makes the schedule worse, and every
//! schedule it returns is checked by the evaluator.
//!
//! The search ends at its time limit, after its round limit, after a number of rounds in a row
//! without a cheaper schedule, once the caller's test of the objective holds (the gap to its
//! bound is closed), or on Ctrl-C. Neighbourhoods are drawn from a seeded generator, so a run
//! with a round limit and no time limit is reproducible.

use std::collections::HashMap;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::columns::{columns_of, generate, restricted_master, schedule_of, Column, Costs, Fixed};
use super::{GreenProblem, Schedule};
use crate::solve::milp::MipOptions;
use crate::solve::watch;

/// Longest column generation of one round, s (it usually converges in well under a second).
const ROUND_COLUMNS_S: f64 = 5.0;
/// Longest restricted master MILP of one round, s.
const ROUND_MASTER_S: f64 = 10.0;

/// When the search stops.
#[derive(Clone, Copy)]
pub struct Limits<'a> {
    /// Wall-clock limit, s.
    pub time_s: Option<f64>,
    /// Rounds at most.
    pub rounds: usize,
    /// Consecutive rounds without a cheaper schedule after which the search stops (it is then
    /// in a local optimum of its neighbourhoods, and the time left is better spent on a bound).
    pub stall: usize,
    /// Stop once this holds for the schedule's objective (the evaluator's).
    pub done: &'a dyn Fn(f64) -> bool,
}

/// A column's job and runs: what makes it the same column.
type Key = (usize, Vec<(usize, usize, usize)>);

/// A pool of columns with an index, so that a schedule's columns are added once.
struct Pool<'a> {
    columns: &'a mut Vec<Column>,
    index: HashMap<Key, usize>,
}

impl<'a> Pool<'a> {
    fn new(columns: &'a mut Vec<Column>) -> Pool<'a> {
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.job, c.runs.clone()), i))
            .collect();
        Pool { columns, index }
    }

    /// The index of `column`, added when new.
    fn add(&mut self, column: Column) -> usize {
        let key = (column.job, column.runs.clone());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.columns.push(column);
        self.index.insert(key, self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Indexes the columns from `first` on (added by the column generation).
    fn index_from(&mut self, first: usize) {
        for i in first..self.columns.len() {
            let c = &self.columns[i];
            self.index.entry((c.job, c.runs.clone())).or_insert(i);
        }
    }
}

/// Improves `start` by neighbourhood rounds until `limits`; `objective` is the evaluator's
/// (infinite for an infeasible schedule). Returns the best schedule, never worse than `start`.
/// Columns generated are added to `columns`.
pub fn search(
    problem: &GreenProblem,
    costs: &Costs,
    columns: &mut Vec<Column>,
    start: Schedule,
    objective: &dyn Fn(&Schedule) -> f64,
    limits: Limits<'_>,
    options: &MipOptions,
) -> Schedule {
    let clock = Instant::now();
    let left = || limits.time_s.map(|l| l - clock.elapsed().as_secs_f64());
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut pool = Pool::new(columns);
    let mut best = start;
    let mut value = objective(&best);
    let jobs = problem.jobs.len();
    let mut improved = 0;
    for round in 0..limits.rounds {
        if (limits.done)(value)
            || left().is_some_and(|l| l <= 0.0)
            || round - improved >= limits.stall
            || watch::stop_requested()
        {
            break;
        }
        let current: Vec<usize> = columns_of(problem, costs, &best)
            .into_iter()
            .map(|c| pool.add(c))
            .collect();
        let free = neighbourhood(problem, &best, round, &mut rng);
        let mut fixed = Fixed::none(problem);
        for j in (0..jobs).filter(|&j| !free[j]) {
            fixed.fix(pool.columns, current[j]);
        }
        let first = pool.columns.len();
        let generated = generate(
            problem,
            costs,
            pool.columns,
            &fixed,
            Some(left().map_or(ROUND_COLUMNS_S, |l| l.min(ROUND_COLUMNS_S))),
            usize::MAX,
            &[],
            true,
        );
        pool.index_from(first);
        let Some(generated) = generated else {
            continue;
        };
        // Nothing in the neighbourhood is cheaper than its present schedule.
        let fixed_cost: f64 = (0..jobs)
            .filter(|&j| !free[j])
            .map(|j| pool.columns[current[j]].cost)
            .sum();
        let present: f64 =
            costs.constant + current.iter().map(|&i| pool.columns[i].cost).sum::<f64>();
        if generated.bound + fixed_cost >= present - 1e-9 * present.abs().max(1.0) {
            continue;
        }
        // The restricted master over the fixed jobs' columns (one each) and the free jobs' open
        // ones, started from the present schedule.
        let mut sub: Vec<Column> = Vec::new();
        let mut chosen_now = Vec::with_capacity(jobs);
        for j in (0..jobs).filter(|&j| !free[j]) {
            chosen_now.push(sub.len());
            sub.push(pool.columns[current[j]].clone());
        }
        for (i, c) in pool.columns.iter().enumerate() {
            if free[c.job] && fixed.open(c) {
                if current[c.job] == i {
                    chosen_now.push(sub.len());
                }
                sub.push(c.clone());
            }
        }
        let master = MipOptions {
            time_limit_s: Some(left().map_or(ROUND_MASTER_S, |l| l.clamp(0.01, ROUND_MASTER_S))),
            ..options.clone()
        };
        let Some(chosen) =
            restricted_master(problem, &sub, Some(&chosen_now), costs.constant, &master)
        else {
            continue;
        };
        let picked: Vec<&Column> = chosen.iter().map(|&i| &sub[i]).collect();
        let found = schedule_of(problem, &picked);
        let v = objective(&found);
        if v < value {
            value = v;
            best = found;
            improved = round + 1;
        }
    }
    best
}

/// The jobs round `round` frees (see the module header).
fn neighbourhood(
    problem: &GreenProblem,
    schedule: &Schedule,
    round: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<bool> {
    let servers = problem.servers.len();
    let slots = problem.slots();
    let mut free = vec![false; problem.jobs.len()];
    let mut order: Vec<usize> = (0..servers).collect();
    order.shuffle(rng);
    let k = (servers as f64 / 3.0).round().max(1.0) as usize;
    match round % 3 {
        0 | 1 => {
            let take = if round.is_multiple_of(3) { k } else { k + 1 };
            for &m in order.iter().take(take.min(servers)) {
                for run in schedule.runs[m].iter().flatten() {
                    free[run.job] = true;
                }
            }
        }
        _ => {
            let width = (slots / 6).max(1);
            let from = rng.gen_range(0..=slots - width);
            for &m in order.iter().take(servers.div_ceil(2)) {
                for run in schedule.runs[m][from..from + width].iter().flatten() {
                    free[run.job] = true;
                }
            }
        }
    }
    free
}
