//! The carbon-aware greedy and the as-soon-as-possible baseline. Both are deterministic.
//!
//! - **Greedy**: jobs in earliest-deadline-first order (and again largest work first, keeping
//!   the cheaper schedule); each goes to its cheapest schedule in the free slots of its window
//!   (carbon, energy or cost of the extra grid energy over the empty server, given the
//!   renewable supply), found exactly by the column generation's pricing programme at zero slot
//!   prices ([`columns::Pricing`]); past the programme's state limit, the former rule: each
//!   (server, level) alone and a mix of levels chosen by cost per FLOP. A job that finds no room
//!   is moved to the front of the order and the schedule rebuilt (EDF repair), at most once per
//!   job; before that, one placed job may be ejected and placed again after it. Finally each
//!   job, and each pair of jobs with overlapping windows, is re-placed given the others (with
//!   up to [`MAX_JOINT_JOBS`] jobs and windows of up to [`MAX_JOINT_WINDOW`] slots a pair
//!   jointly, [`place_pair`]), and each job's runs are
//!   tuned (moved to free slots, dropped when not needed, levels shifted between them) while
//!   that lowers the objective. Without migration each job stays on one server.
//!   Then a **Lagrangian construction** ([`lagrangian`]): subgradient steps on prices of the
//!   one-run-per-slot rows (each job alone at its cheapest schedule at those prices, the
//!   pricing programme again), and every fifth round the relaxation's overlapping schedules
//!   repaired into a schedule (in EDF and largest-first order, a job keeps its priced schedule
//!   when its slots are free, the others go to their cheapest free slots at the prices); the
//!   cheapest repair is improved and tuned as above, and the cheaper of the two greedy results
//!   is returned. Prices make the first jobs leave a contested clean slot to the job that
//!   needs it most, which the myopic order cannot see (on generated 30-100-job instances the
//!   greedy went from 3.6-11% above the optimum to at most 3.6%).
//! - **ASAP**: jobs by release time, each at the fastest level on the server where it finishes
//!   first, in its earliest free slots; work left at the deadline stays undone (the evaluator
//!   flags it).

use super::columns::{self, Costs};
use super::evaluate::{evaluate, WORK_TOLERANCE};

/// The exact single-job placement ([`columns::Pricing`]) and the slot prices it places at
/// (zero but in the Lagrangian construction).
struct Pricing<'a> {
    pricing: columns::Pricing<'a>,
    prices: Vec<Vec<f64>>,
}

impl<'a> Pricing<'a> {
    fn new(problem: &'a GreenProblem, costs: &'a Costs) -> Pricing<'a> {
        Pricing::at(
            problem,
            costs,
            vec![vec![0.0; problem.slots()]; problem.servers.len()],
        )
    }

    /// Placement at slot prices `prices[m][t]` (<= 0: a run in slot (m, t) costs `-prices[m][t]`
    /// more).
    fn at(problem: &'a GreenProblem, costs: &'a Costs, prices: Vec<Vec<f64>>) -> Pricing<'a> {
        Pricing {
            pricing: columns::Pricing::new(problem, costs),
            prices,
        }
    }
}
use super::{GreenProblem, Run, Schedule};

/// Slots a job of `work` FLOP needs at `slot_work` FLOP per slot.
fn slots_needed(work: f64, slot_work: f64) -> usize {
    if work <= 0.0 {
        return 0;
    }
    ((work / slot_work) * (1.0 - WORK_TOLERANCE))
        .ceil()
        .max(1.0) as usize
}

/// A placement of one job: cost, level for ties (`usize::MAX`: mixed levels), server, and its
/// `(slot, level)` runs.
type Candidate = (f64, usize, usize, Vec<(usize, usize)>);

/// Places job `j` by the greedy rule into `schedule`; false when no (server, level) has room.
fn place_cheapest(
    problem: &GreenProblem,
    pricing: &Pricing,
    schedule: &mut Schedule,
    j: usize,
) -> bool {
    // Exact: the cheapest set of (free slot, level) runs that does the work, on one server
    // (or, with migration, on any), by the pricing programme of the column generation at zero
    // slot prices. Past its state limit, the rule below.
    let zero = &pricing.prices;
    let free = |m: usize, t: usize| schedule.runs[m][t].is_none();
    if let Ok(found) = pricing.pricing.best_in(j, zero, &free, f64::INFINITY) {
        let Some((_, column)) = found.into_iter().next() else {
            return false;
        };
        for &(m, t, level) in &column.runs {
            schedule.runs[m][t] = Some(Run { job: j, level });
        }
        return true;
    }
    let job = &problem.jobs[j];
    let end = job.deadline.min(problem.slots());
    // (cost, level, server, slots)
    let mut best: Option<Candidate> = None;
    let mut offer = |cost: f64, tie: usize, m: usize, runs: Vec<(usize, usize)>| {
        // Cheaper wins; on a tie the lower level (less energy), then the lower server.
        let better = best.as_ref().is_none_or(|(c, bl, bm, _)| {
            let eps = 1e-12 * c.abs().max(1.0);
            cost < *c - eps || (cost <= *c + eps && (tie, m) < (*bl, *bm))
        });
        if better {
            best = Some((cost, tie, m, runs));
        }
    };
    for (m, server) in problem.servers.iter().enumerate() {
        if !problem.fits(j, m) {
            continue;
        }
        let free: Vec<usize> = (job.release..end)
            .filter(|&t| schedule.runs[m][t].is_none())
            .collect();
        let empty = problem.empty_power_w(m);
        let price = |t: usize, l: usize| {
            let extra =
                problem.grid_kwh(m, t, server.levels[l].power_w) - problem.grid_kwh(m, t, empty);
            problem.weight_per_kwh(t) * extra
        };
        for l in 0..server.levels.len() {
            let n = slots_needed(job.work_flop, problem.slot_work(m, l));
            if n > free.len() {
                continue;
            }
            let mut priced: Vec<(f64, usize)> = free.iter().map(|&t| (price(t, l), t)).collect();
            priced.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let cost: f64 = priced[..n].iter().map(|p| p.0).sum();
            offer(cost, l, m, priced[..n].iter().map(|p| (p.1, l)).collect());
        }
        // Mixed levels: (slot, level) pairs by cost per FLOP (more work first on a tie), each
        // slot once, until the work is covered; then drop the dearest runs that are not needed.
        let mut options: Vec<(f64, f64, usize, usize)> = free
            .iter()
            .flat_map(|&t| (0..server.levels.len()).map(move |l| (t, l)))
            .map(|(t, l)| {
                let work = problem.slot_work(m, l);
                (price(t, l) / work, work, t, l)
            })
            .collect();
        options.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(b.1.total_cmp(&a.1))
                .then(a.2.cmp(&b.2))
        });
        let target = job.work_flop * (1.0 - WORK_TOLERANCE);
        let mut used = vec![false; problem.slots()];
        let mut chosen: Vec<(f64, f64, usize, usize)> = Vec::new();
        let mut work = 0.0;
        for option in options {
            if work >= target {
                break;
            }
            if !used[option.2] {
                used[option.2] = true;
                work += option.1;
                chosen.push(option);
            }
        }
        if work < target {
            continue;
        }
        chosen.sort_by(|a, b| (b.0 * b.1).total_cmp(&(a.0 * a.1)));
        let mut kept = Vec::with_capacity(chosen.len());
        for option in chosen {
            if work - option.1 >= target {
                work -= option.1;
            } else {
                kept.push(option);
            }
        }
        let cost: f64 = kept.iter().map(|o| o.0 * o.1).sum();
        offer(
            cost,
            usize::MAX,
            m,
            kept.iter().map(|o| (o.2, o.3)).collect(),
        );
    }
    match best {
        Some((_, _, m, runs)) => {
            for (t, level) in runs {
                schedule.runs[m][t] = Some(Run { job: j, level });
            }
            true
        }
        None => false,
    }
}

/// Removes job `j` from `schedule`.
fn remove(schedule: &mut Schedule, j: usize) {
    for row in &mut schedule.runs {
        for cell in row.iter_mut() {
            if cell.is_some_and(|r| r.job == j) {
                *cell = None;
            }
        }
    }
}

/// The carbon-aware greedy with repair; `None` when it finds no room for some job.
///
/// Jobs go in EDF order, and separately largest work first (the bigger jobs then get the most
/// efficient server's clean slots); the cheaper result is kept. A job that finds no room first tries an ejection: some placed job is
/// taken out, the new job placed, and the ejected one placed again (both by the cheapest-slots
/// rule); when no single ejection works the job moves to the front of the order and the
/// schedule is rebuilt, at most once per job. When both orders fail but the as-soon-as-possible
/// schedule meets every deadline, that schedule is improved by the same re-placement and tuning
/// moves and returned.
pub fn greedy(problem: &GreenProblem) -> Option<Schedule> {
    let costs = Costs::new(problem);
    let pricing = Pricing::new(problem, &costs);
    let mut edf: Vec<usize> = (0..problem.jobs.len()).collect();
    edf.sort_by_key(|&j| (problem.jobs[j].deadline, problem.jobs[j].release, j));
    let mut largest: Vec<usize> = (0..problem.jobs.len()).collect();
    largest.sort_by(|&a, &b| {
        problem.jobs[b]
            .work_flop
            .total_cmp(&problem.jobs[a].work_flop)
            .then(a.cmp(&b))
    });
    let plain = [edf.clone(), largest.clone()]
        .into_iter()
        .filter_map(|order| greedy_in_order(problem, &pricing, order))
        .min_by(|a, b| cost_of(problem, a).total_cmp(&cost_of(problem, b)));
    let priced = plain.as_ref().and_then(|s| {
        // The schedule's cost in the pricing's units.
        let upper = priced_cost(problem, &costs, s);
        // Deterministic budget: a multiple of the plain greedy's pricing work so far.
        let budget = (WORK_FACTOR * pricing.pricing.work()).max(MIN_WORK);
        lagrangian(problem, &costs, &pricing, upper, &[&edf, &largest], budget)
    });
    [plain, priced]
        .into_iter()
        .flatten()
        .min_by(|a, b| cost_of(problem, a).total_cmp(&cost_of(problem, b)))
        .or_else(|| {
            let start = asap(problem);
            evaluate(problem, &start).feasible().then(|| {
                let better = tune(problem, improve(problem, &pricing, start.clone()));
                if evaluate(problem, &better).feasible() {
                    better
                } else {
                    start
                }
            })
        })
}

/// Completes a partial schedule: the jobs without a run go in earliest-deadline-first order to
/// their cheapest free slots (or an ejection makes room, as in the greedy), then the greedy's
/// improvement and tuning moves run over the whole schedule. `None` when some job finds no
/// room.
pub fn complete(problem: &GreenProblem, mut schedule: Schedule) -> Option<Schedule> {
    let costs = Costs::new(problem);
    let pricing = Pricing::new(problem, &costs);
    let mut has_run = vec![false; problem.jobs.len()];
    for run in schedule.runs.iter().flatten().flatten() {
        has_run[run.job] = true;
    }
    let mut placed: Vec<usize> = (0..problem.jobs.len()).filter(|&j| has_run[j]).collect();
    let mut missing: Vec<usize> = (0..problem.jobs.len())
        .filter(|&j| !has_run[j] && problem.jobs[j].work_flop > 0.0)
        .collect();
    missing.sort_by_key(|&j| (problem.jobs[j].deadline, problem.jobs[j].release, j));
    for j in missing {
        if !(place_cheapest(problem, &pricing, &mut schedule, j)
            || eject_one(problem, &pricing, &mut schedule, &placed, j))
        {
            return None;
        }
        placed.push(j);
    }
    let schedule = tune(problem, improve(problem, &pricing, schedule));
    evaluate(problem, &schedule).feasible().then_some(schedule)
}

/// Constructions at Lagrangian prices improved and tuned (the cheapest first).
const POLISHED: usize = 1;

/// The Lagrangian construction's pricing work (states created, [`columns::Pricing::work`]) is
/// at most this many times the plain greedy's (on generated 30-100-job instances it took 2-5
/// times; on 10 jobs over 2,400 slots, long windows, 200 rounds took minutes), ...
const WORK_FACTOR: u64 = 5;

/// ... or this many states where the plain greedy's work was small.
const MIN_WORK: u64 = 2_000_000;

/// Rounds without a better bound after which the subgradient step halves.
const STALL: usize = 10;

/// Most subgradient rounds of the Lagrangian slot prices.
const PRICE_ROUNDS: usize = 200;

/// Most single-job pricing programmes of all the subgradient rounds together (a round prices
/// every job): fewer rounds for more jobs.
const PRICE_BUDGET: usize = 20_000;

/// The Lagrangian construction: slot prices from subgradient steps on the relaxation of the
/// one-run-per-slot rows (each job then takes its cheapest schedule at those prices, alone), and
/// at every tenth round the greedy's construction at those prices (a contested clean slot costs
/// more, so the first jobs leave it to those that need it most); the cheapest construction is
/// then improved and tuned at zero prices. `upper` is a schedule's cost (the step size).
fn lagrangian(
    problem: &GreenProblem,
    costs: &Costs,
    zero: &Pricing,
    mut upper: f64,
    orders: &[&[usize]],
    budget: u64,
) -> Option<Schedule> {
    let (servers, slots) = (problem.servers.len(), problem.slots());
    let mut prices = vec![vec![0.0f64; slots]; servers];
    let mut theta = 2.0;
    let mut best_bound = f64::NEG_INFINITY;
    let mut stall = 0;
    let mut built: Vec<Schedule> = Vec::new();
    let mut work = 0u64;
    let rounds = PRICE_ROUNDS
        .min(PRICE_BUDGET / problem.jobs.len().max(1))
        .max(10);
    for round in 1..=rounds {
        let priced = Pricing::at(problem, costs, prices.clone());
        let mut usage = vec![vec![0.0f64; slots]; servers];
        let mut bound: f64 = costs.constant + prices.iter().flatten().sum::<f64>();
        let mut relaxed = Vec::with_capacity(problem.jobs.len());
        for j in 0..problem.jobs.len() {
            let found = priced
                .pricing
                .best_in(j, &prices, &|_, _| true, f64::INFINITY)
                .ok()?;
            let (cost, column) = found.into_iter().next()?;
            bound += cost;
            for &(m, t, _) in &column.runs {
                usage[m][t] += 1.0;
            }
            relaxed.push(column);
        }
        if best_bound == f64::NEG_INFINITY || bound > best_bound + 1e-9 * best_bound.abs().max(1.0)
        {
            best_bound = bound;
            stall = 0;
        } else {
            stall += 1;
            if stall >= STALL {
                theta /= 2.0;
                stall = 0;
            }
        }
        if round % 5 == 0 {
            for order in orders {
                if let Some(s) = repair(problem, &priced, &relaxed, order) {
                    upper = upper.min(priced_cost(problem, costs, &s));
                    built.push(s);
                }
            }
        }
        work += priced.pricing.work();
        let norm: f64 = usage.iter().flatten().map(|&u| (u - 1.0).powi(2)).sum();
        let gap = upper - bound;
        if norm <= 0.0 || gap <= 0.0 || work > budget {
            break;
        }
        let step = theta * gap / norm;
        for m in 0..servers {
            for t in 0..slots {
                prices[m][t] = (prices[m][t] - step * (usage[m][t] - 1.0)).min(0.0);
            }
        }
    }
    built.sort_by(|a, b| cost_of(problem, a).total_cmp(&cost_of(problem, b)));
    built
        .into_iter()
        .take(POLISHED)
        .map(|s| tune(problem, improve(problem, zero, s)))
        .filter(|s| evaluate(problem, s).feasible())
        .min_by(|a, b| cost_of(problem, a).total_cmp(&cost_of(problem, b)))
}

/// A schedule's cost in the pricing's units (with the constant).
fn priced_cost(problem: &GreenProblem, costs: &Costs, schedule: &Schedule) -> f64 {
    costs.constant
        + columns::columns_of(problem, costs, schedule)
            .iter()
            .map(|c| c.cost)
            .sum::<f64>()
}

/// A schedule from the Lagrangian relaxation's columns (one per job, overlapping): in `order`,
/// each job keeps its column when its slots are still free; the others go to their cheapest
/// free slots at the same prices (or an ejection makes room). `None` when some job finds no
/// room.
fn repair(
    problem: &GreenProblem,
    priced: &Pricing,
    relaxed: &[columns::Column],
    order: &[usize],
) -> Option<Schedule> {
    let mut schedule = problem.empty_schedule();
    let mut placed = Vec::with_capacity(order.len());
    let mut deferred = Vec::new();
    for &j in order {
        let column = &relaxed[j];
        if column
            .runs
            .iter()
            .all(|&(m, t, _)| schedule.runs[m][t].is_none())
        {
            for &(m, t, level) in &column.runs {
                schedule.runs[m][t] = Some(Run { job: j, level });
            }
            placed.push(j);
        } else {
            deferred.push(j);
        }
    }
    for j in deferred {
        if !(place_cheapest(problem, priced, &mut schedule, j)
            || eject_one(problem, priced, &mut schedule, &placed, j))
        {
            return None;
        }
        placed.push(j);
    }
    Some(schedule)
}

/// The greedy with repair from one initial order.
fn greedy_in_order(
    problem: &GreenProblem,
    pricing: &Pricing,
    order: Vec<usize>,
) -> Option<Schedule> {
    construct_in_order(problem, pricing, order)
        .map(|schedule| tune(problem, improve(problem, pricing, schedule)))
}

/// The greedy's construction with repair from one initial order, before improvement.
fn construct_in_order(
    problem: &GreenProblem,
    pricing: &Pricing,
    mut order: Vec<usize>,
) -> Option<Schedule> {
    for _ in 0..=problem.jobs.len() {
        let mut schedule = problem.empty_schedule();
        let mut placed: Vec<usize> = Vec::new();
        let mut failed = None;
        for &j in &order {
            if place_cheapest(problem, pricing, &mut schedule, j)
                || eject_one(problem, pricing, &mut schedule, &placed, j)
            {
                placed.push(j);
            } else {
                failed = Some(j);
                break;
            }
        }
        match failed {
            None => return Some(schedule),
            Some(j) => {
                if order.first() == Some(&j) {
                    return None;
                }
                order.retain(|&k| k != j);
                order.insert(0, j);
            }
        }
    }
    None
}

/// Makes room for job `j` by taking one placed job out and placing it again after `j`.
fn eject_one(
    problem: &GreenProblem,
    pricing: &Pricing,
    schedule: &mut Schedule,
    placed: &[usize],
    j: usize,
) -> bool {
    for &k in placed.iter().rev() {
        let mut trial = schedule.clone();
        remove(&mut trial, k);
        if place_cheapest(problem, pricing, &mut trial, j)
            && place_cheapest(problem, pricing, &mut trial, k)
        {
            *schedule = trial;
            return true;
        }
    }
    false
}

/// Most jobs for which [`improve`] re-places pairs of jobs: 200 jobs make up to 39,800 pairs
/// per pass (a second on two cores); 1,000 jobs took 70 s.
const MAX_PAIR_JOBS: usize = 200;

/// Most jobs for which [`improve`] places pairs jointly ([`place_pair`]) rather than one after
/// the other.
const MAX_JOINT_JOBS: usize = 30;

/// Longest window (slots) of a job placed jointly with another: each slot of its candidate
/// schedules costs one more pricing programme.
const MAX_JOINT_WINDOW: usize = 96;

/// Places jobs `a` and `b` (both out of `schedule`) jointly: each of `a`'s candidate schedules
/// (its cheapest on each server, and the cheapest with one slot of those taken away, so that
/// `a` can leave `b` the slot it needs most) followed by `b`'s cheapest given it; the cheapest
/// pair wins. False when no candidate leaves `b` room.
fn place_pair(pricing: &Pricing, schedule: &mut Schedule, a: usize, b: usize) -> bool {
    let zero = &pricing.prices;
    let free = |s: &Schedule, m: usize, t: usize| s.runs[m][t].is_none();
    let Ok(first) = pricing
        .pricing
        .best_in(a, zero, &|m, t| free(schedule, m, t), f64::INFINITY)
    else {
        return false;
    };
    let mut candidates: Vec<columns::Column> = Vec::new();
    for (_, column) in first {
        for &(m0, t0, _) in &column.runs {
            let open = |m: usize, t: usize| free(schedule, m, t) && (m, t) != (m0, t0);
            if let Ok(found) = pricing.pricing.best_in(a, zero, &open, f64::INFINITY) {
                candidates.extend(found.into_iter().map(|f| f.1));
            }
        }
        candidates.push(column);
    }
    let mut best: Option<(f64, Schedule)> = None;
    for column in candidates {
        let mut trial = schedule.clone();
        for &(m, t, level) in &column.runs {
            trial.runs[m][t] = Some(Run { job: a, level });
        }
        let Ok(found) = pricing
            .pricing
            .best_in(b, zero, &|m, t| free(&trial, m, t), f64::INFINITY)
        else {
            continue;
        };
        let Some((cost_b, next)) = found.into_iter().next() else {
            continue;
        };
        let cost = column.cost + cost_b;
        if best
            .as_ref()
            .is_none_or(|(c, _)| cost < *c - 1e-12 * c.abs().max(1.0))
        {
            for &(m, t, level) in &next.runs {
                trial.runs[m][t] = Some(Run { job: b, level });
            }
            best = Some((cost, trial));
        }
    }
    match best {
        Some((_, placed)) => {
            *schedule = placed;
            true
        }
        None => false,
    }
}

/// Objective of a complete schedule, as the greedy prices it.
fn cost_of(problem: &GreenProblem, schedule: &Schedule) -> f64 {
    let mut total = 0.0;
    for (m, row) in schedule.runs.iter().enumerate() {
        for (t, &cell) in row.iter().enumerate() {
            total += slot_cost(problem, m, t, cell);
        }
    }
    total
}

/// Re-places each job, then each pair of jobs with overlapping windows (in both orders), by the
/// cheapest-slots rule given all the others, while that lowers the objective (at most ten
/// passes). Pairs let two jobs that compete for the same clean slots trade them, e.g. both at a
/// slow, efficient level instead of one fast and one slow. Pairs are tried for up to
/// [`MAX_PAIR_JOBS`] jobs only (their number grows with the square of the jobs).
fn improve(problem: &GreenProblem, pricing: &Pricing, mut schedule: Schedule) -> Schedule {
    let mut current = cost_of(problem, &schedule);
    let jobs = problem.jobs.len();
    let overlap = |a: usize, b: usize| {
        let (x, y) = (&problem.jobs[a], &problem.jobs[b]);
        x.release < y.deadline && y.release < x.deadline
    };
    let mut groups: Vec<Vec<usize>> = (0..jobs).map(|j| vec![j]).collect();
    let pairs = if jobs <= MAX_PAIR_JOBS { jobs } else { 0 };
    for a in 0..pairs {
        for b in a + 1..jobs {
            if overlap(a, b) {
                groups.push(vec![a, b]);
                groups.push(vec![b, a]);
            }
        }
    }
    for _ in 0..10 {
        let mut better = false;
        for group in &groups {
            let mut trial = schedule.clone();
            for &j in group {
                remove(&mut trial, j);
            }
            let joint = jobs <= MAX_JOINT_JOBS
                && group.iter().all(|&j| {
                    let job = &problem.jobs[j];
                    job.deadline.min(problem.slots()) - job.release <= MAX_JOINT_WINDOW
                });
            let placed = if group.len() == 2 && joint {
                place_pair(pricing, &mut trial, group[0], group[1])
            } else {
                group
                    .iter()
                    .all(|&j| place_cheapest(problem, pricing, &mut trial, j))
            };
            if !placed {
                continue;
            }
            let cost = cost_of(problem, &trial);
            if cost < current - 1e-12 * current.abs().max(1.0) {
                schedule = trial;
                current = cost;
                better = true;
            }
        }
        if !better {
            break;
        }
    }
    schedule
}

/// Work job `j` gets in `schedule`, FLOP.
fn work_of(problem: &GreenProblem, schedule: &Schedule, j: usize) -> f64 {
    let mut work = 0.0;
    for (m, row) in schedule.runs.iter().enumerate() {
        for r in row.iter().flatten() {
            if r.job == j {
                work += problem.slot_work(m, r.level);
            }
        }
    }
    work
}

/// Moves within one job's runs, kept while they lower the objective and the job keeps its
/// work: move a run to a free slot of its window on the same server (any level), drop a run
/// the job does not need, or shift one level from one of its runs to another (faster where the
/// grid is clean or the sun shines, slower elsewhere). At most 20 passes.
///
/// A move changes a few slots of one server, so it is priced by the change of those slots'
/// cost and work alone (the schedule is not copied per move: on a long horizon the moves of one
/// job number millions).
fn tune(problem: &GreenProblem, mut schedule: Schedule) -> Schedule {
    let slots = problem.slots();
    for _ in 0..20 {
        let mut better = false;
        for (j, job) in problem.jobs.iter().enumerate() {
            let need = job.work_flop * (1.0 - WORK_TOLERANCE);
            let end = job.deadline.min(slots);
            let Some(m) = schedule
                .runs
                .iter()
                .position(|row| row.iter().flatten().any(|r| r.job == j))
            else {
                continue;
            };
            let current = cost_of(problem, &schedule);
            let work = work_of(problem, &schedule, j);
            let levels = problem.servers[m].levels.len();
            let mine: Vec<usize> = (job.release..end)
                .filter(|&t| schedule.runs[m][t].is_some_and(|r| r.job == j))
                .collect();
            let run = |level: usize| Some(Run { job: j, level });
            // The first move, in a fixed order, that keeps the work and lowers the cost.
            let mut accepted: Option<[(usize, Option<Run>); 2]> = None;
            let mut consider = |edits: [(usize, Option<Run>); 2], len: usize| {
                if accepted.is_some() {
                    return;
                }
                let (mut cost, mut work_after) = (current, work);
                for &(t, cell) in &edits[..len] {
                    let before = schedule.runs[m][t];
                    cost += slot_cost(problem, m, t, cell) - slot_cost(problem, m, t, before);
                    work_after += run_work(problem, m, cell) - run_work(problem, m, before);
                }
                if work_after >= need && cost < current - 1e-12 * current.abs().max(1.0) {
                    accepted = Some(edits);
                }
            };
            for &t in &mine {
                let level = schedule.runs[m][t].map_or(0, |r| r.level);
                // Drop it, or move it to a free slot at any level.
                consider([(t, None), (t, None)], 1);
                for u in job.release..end {
                    if schedule.runs[m][u].is_none() && u != t {
                        for l in 0..levels {
                            consider([(t, None), (u, run(l))], 2);
                        }
                    }
                }
                // Shift one level from this run to another of the job's runs.
                if level > 0 {
                    for &u in &mine {
                        let other = schedule.runs[m][u].map_or(0, |r| r.level);
                        if u != t && other + 1 < levels {
                            consider([(t, run(level - 1)), (u, run(other + 1))], 2);
                        }
                    }
                }
            }
            if let Some(edits) = accepted {
                for (t, cell) in edits {
                    schedule.runs[m][t] = cell;
                }
                better = true;
            }
        }
        if !better {
            break;
        }
    }
    schedule
}

/// Cost of server `m`'s slot `t` holding `cell` (a run or nothing), as [`cost_of`] prices it.
fn slot_cost(problem: &GreenProblem, m: usize, t: usize, cell: Option<Run>) -> f64 {
    let power = match cell {
        Some(r) => problem.servers[m].levels[r.level].power_w,
        None => problem.empty_power_w(m),
    };
    problem.weight_per_kwh(t) * problem.grid_kwh(m, t, power)
}

/// Work a slot of server `m` holding `cell` gives its job, FLOP.
fn run_work(problem: &GreenProblem, m: usize, cell: Option<Run>) -> f64 {
    cell.map_or(0.0, |r| problem.slot_work(m, r.level))
}

/// As soon as possible at full speed.
pub fn asap(problem: &GreenProblem) -> Schedule {
    let mut order: Vec<usize> = (0..problem.jobs.len()).collect();
    order.sort_by_key(|&j| (problem.jobs[j].release, problem.jobs[j].deadline, j));
    let mut schedule = problem.empty_schedule();
    for j in order {
        let job = &problem.jobs[j];
        let end = job.deadline.min(problem.slots());
        // (completion slot, slots, server, level)
        let mut best: Option<(usize, Vec<usize>, usize, usize)> = None;
        for (m, server) in problem.servers.iter().enumerate() {
            if !problem.fits(j, m) || server.levels.is_empty() {
                continue;
            }
            let top = server.levels.len() - 1;
            let n = slots_needed(job.work_flop, problem.slot_work(m, top));
            let chosen: Vec<usize> = (job.release..end)
                .filter(|&t| schedule.runs[m][t].is_none())
                .take(n)
                .collect();
            let completion = if chosen.len() == n {
                chosen.last().map_or(job.release, |t| t + 1)
            } else {
                usize::MAX - (chosen.len())
            };
            if best.as_ref().is_none_or(|b| completion < b.0) {
                best = Some((completion, chosen, m, top));
            }
        }
        if let Some((_, chosen, m, level)) = best {
            for t in chosen {
                schedule.runs[m][t] = Some(Run { job: j, level });
            }
        }
    }
    schedule
}
