//! Heuristics and baselines for the allocation problem.
//!
//! **Fixed cuts.** With every user's option fixed, the latency `r_k + S_k / n_k + w_k / phi_k` is
//! convex in the resources, and each resource alone has a closed-form optimum ([`divide`]):
//! min-sum gives each user a share proportional to `sqrt(weight_k * demand_k)` (KKT, with
//! deadline lower bounds by bisection on the multiplier); min-max finds by bisection the
//! smallest round time `T` with `sum_k demand_k / (min(T, deadline_k) - r_k) <= total`.
//! For the sums [`allocate`] alternates the two resources (block-coordinate descent on a smooth
//! convex problem); for min-max, where coordinate descent stalls (every user at the same round
//! time and neither resource alone can move), it solves both jointly: at a round time the
//! cheapest blocks and share of each user have a closed form given a block price, the price
//! that uses up the blocks is explicit, and a bisection on the round time finds the smallest
//! one whose compute fits (`joint_round_time`). The blocks are then rounded to integers (at
//! least one per offloading user, leftovers to the largest gain) and the shares re-optimised
//! exactly for those integers ([`optimal_shares`]).
//!
//! **Cuts.** [`local_search`] starts from the best of five starts (each user's best option
//! under an equal split, all on the device, all on the server, [`memory_aware_choice`] — a
//! greedy that admits offloading users in order of their gain while the server's memory and
//! blocks last — and [`threshold_choice`] — users fast enough alone stay local, the threshold
//! found by bisection) and moves one user at a time to the option that most improves the
//! objective, until no move helps or the pass limit is reached. A user's candidates are its
//! fastest options at its current resources, its fastest local option, its leanest option
//! within the round time, and the options that reach the round time at the least cost in
//! resources at the current block price (`cheapest_at`); a move that does not fit a full
//! server may first move others to leaner cuts (`make_room`). All deterministic.
//!
//! **Baselines.** Equal split (best option per user under equal resources, resources split
//! equally), all on the device, all on the server (the lowest allowed cut), and a fixed cut.

use super::{AllocObjective, AllocPlan, AllocProblem, Options, UserOption, UserPlan};

/// Bisection steps of [`divide`] (the bracket shrinks by 2^-60).
const BISECTION_STEPS: usize = 60;

/// Most block-coordinate rounds of [`allocate`]; it stops earlier when the continuous objective
/// improves by less than [`BCD_TOLERANCE`] (relative).
const BCD_ROUNDS: usize = 12;

/// See [`BCD_ROUNDS`].
const BCD_TOLERANCE: f64 = 1e-4;

/// Options tried per user and pass by [`local_search`]: the best ones by latency at the user's
/// current resources.
const CANDIDATES: usize = 4;

/// Options tried per user and pass by [`local_search`] besides those: the cheapest ones in
/// resources at the current round time and prices (`cheapest_at`).
const PRICED_CANDIDATES: usize = 2;

/// Of those, how many may make room in a full server by moving others (`make_room`).
const ROOM_CANDIDATES: usize = 2;

/// How one divisible resource is shared: `time_k = demand_k / amount_k`.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// Work that the resource divides (s at the whole resource).
    pub demand: f64,
    /// The rest of the user's latency, s.
    pub rest: f64,
    /// Latency limit, s (infinite when none).
    pub limit: f64,
    /// Objective weight (min-sum).
    pub weight: f64,
}

/// Splits `total` among the claims (claims with zero demand get nothing). Returns `None` when the
/// deadlines cannot all be met.
pub fn divide(claims: &[Claim], total: f64, objective: AllocObjective) -> Option<Vec<f64>> {
    let active: Vec<usize> = (0..claims.len())
        .filter(|&k| claims[k].demand > 0.0)
        .collect();
    let mut out = vec![0.0; claims.len()];
    if active.is_empty() {
        return Some(out);
    }
    // Deadline lower bounds.
    let mut lower = vec![0.0; claims.len()];
    for &k in &active {
        let c = &claims[k];
        if c.limit.is_finite() {
            if c.limit <= c.rest {
                return None;
            }
            lower[k] = c.demand / (c.limit - c.rest);
        }
    }
    if active.iter().map(|&k| lower[k]).sum::<f64>() > total * (1.0 + 1e-12) {
        return None;
    }
    match objective {
        AllocObjective::MinMax => {
            let need = |t: f64| -> f64 {
                active
                    .iter()
                    .map(|&k| {
                        let c = &claims[k];
                        let horizon = t.min(c.limit) - c.rest;
                        if horizon <= 0.0 {
                            f64::INFINITY
                        } else {
                            c.demand / horizon
                        }
                    })
                    .sum()
            };
            let lo0 = active.iter().map(|&k| claims[k].rest).fold(0.0, f64::max);
            let mut hi = lo0 + active.iter().map(|&k| claims[k].demand).sum::<f64>() / total;
            while need(hi) > total {
                hi = lo0 + 2.0 * (hi - lo0);
                if !hi.is_finite() {
                    return None;
                }
            }
            let mut lo = lo0;
            for _ in 0..BISECTION_STEPS {
                let mid = 0.5 * (lo + hi);
                if need(mid) > total {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let mut used = 0.0;
            for &k in &active {
                let c = &claims[k];
                out[k] = c.demand / (hi.min(c.limit) - c.rest);
                used += out[k];
            }
            // Hand out what is left in proportion: it only lowers latencies.
            let scale = total / used;
            for &k in &active {
                out[k] *= scale.max(1.0);
            }
        }
        AllocObjective::Sum | AllocObjective::WeightedSum => {
            let weight = |k: usize| {
                if objective == AllocObjective::Sum {
                    1.0
                } else {
                    claims[k].weight
                }
            };
            let root: Vec<f64> = (0..claims.len())
                .map(|k| (weight(k) * claims[k].demand).sqrt())
                .collect();
            let used =
                |nu: f64| -> f64 { active.iter().map(|&k| lower[k].max(root[k] * nu)).sum() };
            let (mut lo, mut hi) = (0.0, 1.0);
            while used(hi) < total {
                hi *= 2.0;
            }
            for _ in 0..BISECTION_STEPS {
                let mid = 0.5 * (lo + hi);
                if used(mid) > total {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            for &k in &active {
                out[k] = lower[k].max(root[k] * lo);
            }
        }
    }
    Some(out)
}

/// Resource blocks and compute shares for fixed options.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Integer resource blocks per user.
    pub resource_blocks: Vec<usize>,
    /// Compute share per user.
    pub compute_share: Vec<f64>,
    /// Latency per user, s.
    pub latency_s: Vec<f64>,
    /// Objective value.
    pub objective: f64,
}

fn weight_of(problem: &AllocProblem, k: usize) -> f64 {
    problem.users[k].weight
}

/// Divides `total` of server `s`'s resource among the users the options put there, with the
/// claim each makes, and writes their amounts into `out` (other users are left untouched).
fn divide_on_server(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    s: usize,
    total: f64,
    out: &mut [f64],
    claim: impl Fn(usize, &UserOption) -> Claim,
) -> Option<()> {
    let idle = Claim {
        demand: 0.0,
        rest: 0.0,
        limit: f64::INFINITY,
        weight: 0.0,
    };
    let claims: Vec<Claim> = choice
        .iter()
        .enumerate()
        .map(|(k, &o)| {
            let opt = &opts.options[k][o];
            if opt.server == Some(s) {
                claim(k, opt)
            } else {
                idle
            }
        })
        .collect();
    let part = divide(&claims, total, problem.objective)?;
    for (k, &o) in choice.iter().enumerate() {
        if opts.options[k][o].server == Some(s) {
            out[k] = part[k];
        }
    }
    Some(())
}

/// The optimal compute shares for fixed options and integer blocks (exact: the problem in the
/// shares alone is [`divide`]), or `None` when deadlines cannot be met.
pub fn optimal_shares(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    blocks: &[usize],
) -> Option<Allocation> {
    let users = problem.users.len();
    let mut share = vec![0.0; users];
    for s in 0..problem.servers.len() {
        divide_on_server(problem, opts, choice, s, 1.0, &mut share, |k, o| {
            let air = if o.airtime_rb_s > 0.0 {
                o.airtime_rb_s / blocks[k] as f64
            } else {
                0.0
            };
            Claim {
                demand: o.server_s,
                rest: o.device_s + o.fixed_s + air,
                limit: problem.users[k].deadline_s.unwrap_or(f64::INFINITY),
                weight: weight_of(problem, k),
            }
        })?;
    }
    let latency_s: Vec<f64> = (0..users)
        .map(|k| opts.options[k][choice[k]].latency(blocks[k] as f64, share[k]))
        .collect();
    if (0..users).any(|k| {
        problem.users[k]
            .deadline_s
            .is_some_and(|d| latency_s[k] > d * (1.0 + 1e-9))
    }) {
        return None;
    }
    Some(Allocation {
        resource_blocks: blocks.to_vec(),
        compute_share: share,
        objective: problem.objective.value(&problem.users, &latency_s),
        latency_s,
    })
}

/// The continuous blocks and shares on server `s` that minimise the round time (the slowest of
/// its users, deadlines respected) for fixed options, written into `blocks` and `share`.
///
/// For a round time `T` user `k` needs `S_k / n_k + w_k / phi_k <= R_k = min(T, d_k) - r_k`.
/// Pricing blocks at `lambda` (the whole compute at 1), the cheapest such pair is
/// `n_k = (S_k + sqrt(S_k w_k / lambda)) / R_k`, `phi_k = (w_k + sqrt(lambda S_k w_k)) / R_k`;
/// with `A = sum S/R`, `B = sum sqrt(S w)/R`, `C = sum w/R`, the blocks are used up at
/// `sqrt(lambda) = B / (N - A)`, which needs compute `C + B^2 / (N - A)`. That is decreasing
/// in `T`, so a bisection finds the smallest feasible round time. `None` when no `T` is.
fn joint_round_time(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    s: usize,
    blocks: &mut [f64],
    share: &mut [f64],
) -> Option<()> {
    let members: Vec<(usize, f64, f64, f64, f64)> = choice
        .iter()
        .enumerate()
        .filter_map(|(k, &o)| {
            let opt = &opts.options[k][o];
            (opt.server == Some(s) && (opt.airtime_rb_s > 0.0 || opt.server_s > 0.0)).then(|| {
                (
                    k,
                    opt.airtime_rb_s,
                    opt.server_s,
                    opt.device_s + opt.fixed_s,
                    problem.users[k].deadline_s.unwrap_or(f64::INFINITY),
                )
            })
        })
        .collect();
    if members.is_empty() {
        return Some(());
    }
    let total = problem.servers[s].resource_blocks as f64;
    // (A, B, C) at round time t, or None when some user has no room.
    let sums = |t: f64| -> Option<(f64, f64, f64)> {
        let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
        for &(_, big_s, w, r, d) in &members {
            let room = t.min(d) - r;
            if room <= 0.0 {
                return None;
            }
            a += big_s / room;
            b += (big_s * w).sqrt() / room;
            c += w / room;
        }
        Some((a, b, c))
    };
    let feasible = |t: f64| match sums(t) {
        None => false,
        Some((a, b, c)) => {
            if b == 0.0 {
                a <= total && c <= 1.0
            } else {
                a < total && c + b * b / (total - a) <= 1.0
            }
        }
    };
    let mut lo = members.iter().map(|m| m.3).fold(0.0, f64::max);
    let mut hi = lo.max(1e-9) * 2.0;
    while !feasible(hi) {
        hi *= 2.0;
        if !hi.is_finite() || hi > 1e15 {
            return None;
        }
    }
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (lo + hi);
        if feasible(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let (a, b, _) = sums(hi)?;
    let root_lambda = if b > 0.0 { b / (total - a) } else { 0.0 };
    for &(k, big_s, w, r, d) in &members {
        let room = hi.min(d) - r;
        let cross = (big_s * w).sqrt();
        blocks[k] = if big_s > 0.0 {
            (big_s
                + if root_lambda > 0.0 {
                    cross / root_lambda
                } else {
                    0.0
                })
                / room
        } else {
            0.0
        };
        share[k] = (w + root_lambda * cross) / room;
    }
    Some(())
}

/// Blocks and shares for fixed options: block-coordinate descent on the continuous problem,
/// integer rounding of the blocks, exact shares. `None` when no allocation meets the limits
/// (too many offloading users for the blocks, or deadlines).
pub fn allocate(problem: &AllocProblem, opts: &Options, choice: &[usize]) -> Option<Allocation> {
    let users = problem.users.len();
    let servers = problem.servers.len();
    let option = |k: usize| &opts.options[k][choice[k]];
    // Offloading users per server must fit one block each.
    let mut count = vec![0usize; servers];
    for k in 0..users {
        if let Some(s) = option(k).server {
            if option(k).airtime_rb_s > 0.0 {
                count[s] += 1;
            }
        }
    }
    if (0..servers).any(|s| count[s] > problem.servers[s].resource_blocks) {
        return None;
    }
    if !fits_memory(problem, opts, choice) {
        return None;
    }
    let mut blocks_c: Vec<f64> = (0..users)
        .map(|k| match option(k).server {
            Some(s) if option(k).airtime_rb_s > 0.0 => {
                problem.servers[s].resource_blocks as f64 / count[s] as f64
            }
            _ => 0.0,
        })
        .collect();
    let mut share: Vec<f64> = vec![0.0; users];
    if problem.objective == AllocObjective::MinMax {
        // Coordinate descent stalls on a max (every user at the same round time, neither
        // resource alone can be moved); the joint optimum has a closed form per round time.
        for s in 0..servers {
            joint_round_time(problem, opts, choice, s, &mut blocks_c, &mut share)?;
        }
    } else {
        coordinate_descent(problem, opts, choice, &mut blocks_c, &mut share)?;
    }
    let blocks = round_blocks(problem, opts, choice, &blocks_c, &share)?;
    optimal_shares(problem, opts, choice, &blocks)
}

/// Block-coordinate descent for the sums: at most [`BCD_ROUNDS`] rounds of shares given the
/// (continuous) blocks, then blocks given the shares, per server, until the objective improves
/// by less than [`BCD_TOLERANCE`]. `None` when a server cannot be divided.
fn coordinate_descent(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    blocks_c: &mut [f64],
    share: &mut [f64],
) -> Option<()> {
    let option = |k: usize| &opts.options[k][choice[k]];
    let mut previous = f64::INFINITY;
    for _ in 0..BCD_ROUNDS {
        for s in 0..problem.servers.len() {
            // Shares given blocks.
            divide_on_server(problem, opts, choice, s, 1.0, share, |k, o| {
                let air = if o.airtime_rb_s > 0.0 {
                    o.airtime_rb_s / blocks_c[k]
                } else {
                    0.0
                };
                Claim {
                    demand: o.server_s,
                    rest: o.device_s + o.fixed_s + air,
                    limit: f64::INFINITY,
                    weight: weight_of(problem, k),
                }
            })?;
            // Blocks given shares.
            let total = problem.servers[s].resource_blocks as f64;
            divide_on_server(problem, opts, choice, s, total, blocks_c, |k, o| {
                let comp = if o.server_s > 0.0 {
                    o.server_s / share[k]
                } else {
                    0.0
                };
                Claim {
                    demand: o.airtime_rb_s,
                    rest: o.device_s + o.fixed_s + comp,
                    limit: f64::INFINITY,
                    weight: weight_of(problem, k),
                }
            })?;
        }
        let latencies: Vec<f64> = (0..problem.users.len())
            .map(|k| option(k).latency(blocks_c[k], share[k]))
            .collect();
        let value = problem.objective.value(&problem.users, &latencies);
        if value >= previous * (1.0 - BCD_TOLERANCE) {
            break;
        }
        previous = value;
    }
    Some(())
}

/// Integer blocks from the continuous `blocks_c`: floor (at least 1 for a user with airtime),
/// then per server the excess taken back from the largest and the leftovers handed one by one
/// to the largest gain. `None` when a server cannot give every user a block.
fn round_blocks(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    blocks_c: &[f64],
    share: &[f64],
) -> Option<Vec<usize>> {
    let users = problem.users.len();
    let option = |k: usize| &opts.options[k][choice[k]];
    let mut blocks: Vec<usize> = (0..users)
        .map(|k| {
            if option(k).airtime_rb_s > 0.0 {
                (blocks_c[k].floor() as usize).max(1)
            } else {
                0
            }
        })
        .collect();
    for s in 0..problem.servers.len() {
        let members: Vec<usize> = (0..users)
            .filter(|&k| option(k).server == Some(s) && option(k).airtime_rb_s > 0.0)
            .collect();
        let cap = problem.servers[s].resource_blocks;
        // Too many after the max(1): take back from the largest.
        while members.iter().map(|&k| blocks[k]).sum::<usize>() > cap {
            let &k = members
                .iter()
                .filter(|&&k| blocks[k] > 1)
                .max_by_key(|&&k| blocks[k])?;
            blocks[k] -= 1;
        }
        let left = cap - members.iter().map(|&k| blocks[k]).sum::<usize>();
        hand_out_leftovers(problem, opts, choice, share, &members, left, &mut blocks);
    }
    Some(blocks)
}

/// Hands `left` blocks of one server one by one to the member with the largest gain: the
/// slowest user (seconds) for min-max, the largest (weighted) airtime saved for the sums.
fn hand_out_leftovers(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    share: &[f64],
    members: &[usize],
    mut left: usize,
    blocks: &mut [usize],
) {
    let option = |k: usize| &opts.options[k][choice[k]];
    while left > 0 && !members.is_empty() {
        let gain = |k: usize| {
            let o = option(k);
            let comp = if o.server_s > 0.0 {
                o.server_s / share[k].max(1e-12)
            } else {
                0.0
            };
            let now = o.device_s + o.fixed_s + comp + o.airtime_rb_s / blocks[k] as f64;
            let cut = o.airtime_rb_s / blocks[k] as f64 - o.airtime_rb_s / (blocks[k] + 1) as f64;
            match problem.objective {
                // Min-max: feed the slowest user.
                AllocObjective::MinMax => now,
                AllocObjective::Sum => cut,
                AllocObjective::WeightedSum => weight_of(problem, k) * cut,
            }
        };
        let Some(&best) = members
            .iter()
            .max_by(|&&a, &&b| gain(a).total_cmp(&gain(b)))
        else {
            break;
        };
        blocks[best] += 1;
        left -= 1;
    }
}

/// Whether the options fit every server's memory.
fn fits_memory(problem: &AllocProblem, opts: &Options, choice: &[usize]) -> bool {
    problem
        .server_memory(opts, choice)
        .iter()
        .zip(&problem.servers)
        .all(|(used, s)| *used <= s.memory_bytes * (1.0 + 1e-9))
}

/// Each user's best option if it got an equal split of its server.
fn equal_split_choice(problem: &AllocProblem, opts: &Options) -> Vec<usize> {
    opts.options
        .iter()
        .map(|options| {
            (0..options.len())
                .min_by(|&a, &b| {
                    equal_split_latency(problem, &options[a])
                        .total_cmp(&equal_split_latency(problem, &options[b]))
                })
                .unwrap_or(0)
        })
        .collect()
}

/// Latency of option `o` under an equal split of its server among all users (the estimate
/// starts are ranked by).
fn equal_split_latency(problem: &AllocProblem, o: &UserOption) -> f64 {
    let users = problem.users.len().max(1) as f64;
    match o.server {
        Some(s) => o.latency(
            (problem.servers[s].resource_blocks as f64 / users).max(1.0),
            1.0 / users,
        ),
        None => o.latency(0.0, 0.0),
    }
}

/// A start that respects server memory and blocks: every user begins on its fastest local
/// option (a user with none on the server option needing the least server memory); then, in
/// order of the latency they would save, users move to their best server options (the fastest
/// `CANDIDATES` under an equal split) when the server's
/// memory and blocks still allow.
/// `None` when the users that must offload do not fit.
pub fn memory_aware_choice(problem: &AllocProblem, opts: &Options) -> Option<Vec<usize>> {
    let users = problem.users.len();
    let estimate = |k: usize, o: usize| equal_split_latency(problem, &opts.options[k][o]);
    let fastest = |k: usize, pred: &dyn Fn(&UserOption) -> bool| {
        (0..opts.options[k].len())
            .filter(|&o| pred(&opts.options[k][o]))
            .min_by(|&a, &b| estimate(k, a).total_cmp(&estimate(k, b)))
    };
    let mut choice = Vec::with_capacity(users);
    for k in 0..users {
        let o = match fastest(k, &|o| o.server.is_none()) {
            Some(o) => o,
            None => {
                // Must offload: the option with the least server memory, then the fastest.
                let options = &opts.options[k];
                (0..options.len()).min_by(|&a, &b| {
                    let key = |o: usize| (footprint_bytes(opts, k, o), estimate(k, o));
                    let (x, y) = (key(a), key(b));
                    x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1))
                })?
            }
        };
        choice.push(o);
    }
    let offloaders = |choice: &[usize], s: usize| {
        choice
            .iter()
            .enumerate()
            .filter(|&(k, &o)| opts.options[k][o].server == Some(s))
            .count()
    };
    let fits = |choice: &[usize]| {
        fits_memory(problem, opts, choice)
            && (0..problem.servers.len())
                .all(|s| offloaders(choice, s) <= problem.servers[s].resource_blocks)
    };
    if !fits(&choice) {
        return None;
    }
    // Users by the latency an offload would save, largest first.
    let mut order: Vec<(f64, usize)> = (0..users)
        .filter_map(|k| {
            let best = fastest(k, &|o| o.server.is_some())?;
            let gain = estimate(k, choice[k]) - estimate(k, best);
            (gain > 0.0).then_some((gain * problem.users[k].weight, k))
        })
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, k) in order {
        let mut ranked: Vec<usize> = (0..opts.options[k].len())
            .filter(|&o| opts.options[k][o].server.is_some())
            .filter(|&o| estimate(k, o) < estimate(k, choice[k]))
            .collect();
        ranked.sort_by(|&a, &b| estimate(k, a).total_cmp(&estimate(k, b)));
        let keep = choice[k];
        for o in ranked.into_iter().take(CANDIDATES) {
            choice[k] = o;
            if fits(&choice) {
                break;
            }
            choice[k] = keep;
        }
    }
    Some(choice)
}

/// The choice when exactly the users whose local latency exceeds `t` (or their deadline, or who
/// have no local option) offload, each to its fastest server option at an equal split among
/// the offloading users.
fn offload_above(
    problem: &AllocProblem,
    opts: &Options,
    local: &[Option<(usize, f64)>],
    t: f64,
) -> Vec<usize> {
    let forced = local
        .iter()
        .enumerate()
        .filter(|&(k, l)| match l {
            None => true,
            Some((_, latency)) => {
                *latency > t || problem.users[k].deadline_s.is_some_and(|d| *latency > d)
            }
        })
        .count()
        .max(1) as f64;
    local
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let stays = l.is_some_and(|(_, latency)| {
                latency <= t && problem.users[k].deadline_s.is_none_or(|d| latency <= d)
            });
            let fastest_server = || {
                opts.options[k]
                    .iter()
                    .enumerate()
                    .filter_map(|(o, opt)| {
                        let s = opt.server?;
                        let n = (problem.servers[s].resource_blocks as f64 / forced).max(1.0);
                        Some((opt.latency(n, 1.0 / forced), o))
                    })
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, o)| o)
            };
            match (stays, l) {
                (true, Some((o, _))) => *o,
                _ => fastest_server().or(l.map(|(o, _)| o)).unwrap_or(0),
            }
        })
        .collect()
}

/// A start for the round-time (min-max) structure: local computing uses no server resource, so
/// for a round time `t` every user that is fast enough alone stays local and only the others
/// offload. The objective is then the larger of the offloaders' allocated round time and the
/// slowest local user; the first falls and the second rises as `t` grows, so a bisection over
/// the users' local latencies finds the threshold where they cross. Returns the best choice
/// seen and its allocation (useful for the other objectives too, as one more start).
pub fn threshold_choice(
    problem: &AllocProblem,
    opts: &Options,
) -> Option<(Vec<usize>, Allocation)> {
    let local: Vec<Option<(usize, f64)>> = opts
        .options
        .iter()
        .map(|options| {
            options
                .iter()
                .enumerate()
                .filter(|(_, o)| o.server.is_none())
                .map(|(i, o)| (i, o.latency(1.0, 1.0)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
        })
        .collect();
    let mut thresholds: Vec<f64> = local.iter().flatten().map(|&(_, l)| l).collect();
    thresholds.push(0.0);
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let mut best: Option<(Vec<usize>, Allocation)> = None;
    let mut try_at = |t: f64| -> Option<f64> {
        let choice = offload_above(problem, opts, &local, t);
        let a = allocate(problem, opts, &choice)?;
        let value = a.objective;
        if best.as_ref().is_none_or(|b| value < b.1.objective) {
            best = Some((choice, a));
        }
        Some(value)
    };
    // Smallest threshold index whose allocation is no slower than the threshold itself.
    let (mut lo, mut hi) = (0usize, thresholds.len() - 1);
    try_at(thresholds[hi]);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match try_at(thresholds[mid]) {
            Some(v) if v <= thresholds[mid] * (1.0 + 1e-12) => hi = mid,
            _ => lo = mid + 1,
        }
    }
    if lo > 0 {
        try_at(thresholds[lo - 1]);
    }
    best
}

/// Turns choices and an allocation into a plan.
pub fn to_plan(opts: &Options, choice: &[usize], a: &Allocation) -> AllocPlan {
    AllocPlan {
        users: choice
            .iter()
            .enumerate()
            .map(|(k, &o)| {
                let opt = &opts.options[k][o];
                UserPlan {
                    server: opt.server,
                    cut: opt.cut,
                    resource_blocks: a.resource_blocks[k],
                    compute_share: a.compute_share[k],
                }
            })
            .collect(),
    }
}

/// Local search over options with [`allocate`] for the resources; at most `passes` sweeps over
/// the users. Returns the choices and their allocation, or `None` when no start is feasible.
pub fn local_search(
    problem: &AllocProblem,
    opts: &Options,
    passes: usize,
) -> Option<(Vec<usize>, Allocation)> {
    local_search_until(problem, opts, passes, None).map(|(found, _)| found)
}

/// [`local_search`] that stops at `deadline` (checked before each user's moves) with the best
/// choice so far; the flag says whether it stopped there.
pub fn local_search_until(
    problem: &AllocProblem,
    opts: &Options,
    passes: usize,
    deadline: Option<std::time::Instant>,
) -> Option<((Vec<usize>, Allocation), bool)> {
    let (mut choice, mut current) = best_start(problem, opts)?;
    for _ in 0..passes {
        let mut improved = false;
        let prices = block_prices(problem, opts, &choice, &current);
        for k in 0..problem.users.len() {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Some(((choice, current), true));
            }
            let mut best_option = choice[k];
            let (candidates, round) = move_candidates(problem, opts, &choice, &current, &prices, k);
            for (rank, o) in candidates.into_iter().enumerate() {
                choice[k] = o;
                let trial = try_move(problem, opts, &choice, k, rank, &current, round);
                if let Some((a, repaired)) = trial {
                    if a.objective < current.objective * (1.0 - 1e-12) {
                        current = a;
                        best_option = o;
                        improved = true;
                        if let Some(r) = repaired {
                            choice = r;
                        }
                    }
                }
                choice[k] = best_option;
            }
        }
        if !improved {
            break;
        }
    }
    Some(((choice, current), false))
}

/// The best-allocated of the local search's starting choices (equal split, all local, all
/// offloaded, memory-aware, threshold), with its allocation.
fn best_start(problem: &AllocProblem, opts: &Options) -> Option<(Vec<usize>, Allocation)> {
    let starts = [
        Some(equal_split_choice(problem, opts)),
        fixed_choice(opts, |o| o.server.is_none()),
        fixed_choice(opts, |o| o.server.is_some()),
        memory_aware_choice(problem, opts),
        threshold_choice(problem, opts).map(|(choice, _)| choice),
    ];
    let mut best: Option<(Vec<usize>, Allocation)> = None;
    for start in starts.into_iter().flatten() {
        if let Some(a) = allocate(problem, opts, &start) {
            if best.as_ref().is_none_or(|b| a.objective < b.1.objective) {
                best = Some((start, a));
            }
        }
    }
    best
}

/// The options user `k` tries in a pass, in order: the [`CANDIDATES`] fastest by estimated
/// latency, then the fastest local one, the leanest not slower than the round time, and the
/// cheapest at the block `prices`; and the round time (seconds, the slowest user now).
fn move_candidates(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    current: &Allocation,
    prices: &[f64],
    k: usize,
) -> (Vec<usize>, f64) {
    let mut offloading = vec![0usize; problem.servers.len()];
    for (j, &o) in choice.iter().enumerate() {
        if let Some(s) = opts.options[j][o].server {
            offloading[s] += 1;
        }
    }
    // Rank the alternatives by latency at this user's current resources, or, when it
    // runs locally now, at the share it would get by joining the users on that server.
    let (n_now, phi_now) = match current.resource_blocks[k] {
        0 => (1.0, 1.0),
        n => (n as f64, current.compute_share[k].max(1e-9)),
    };
    let estimate = |opt: &UserOption| match opt.server {
        Some(s) if current.resource_blocks[k] == 0 => {
            let joined = (offloading[s] + 1) as f64;
            opt.latency(
                (problem.servers[s].resource_blocks as f64 / joined).max(1.0),
                1.0 / joined,
            )
        }
        _ => opt.latency(n_now, phi_now),
    };
    let mut ranked: Vec<(f64, usize)> = opts.options[k]
        .iter()
        .enumerate()
        .filter(|&(o, _)| o != choice[k])
        .map(|(o, opt)| (estimate(opt), o))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut candidates: Vec<usize> = ranked.iter().take(CANDIDATES).map(|&(_, o)| o).collect();
    // Moves that free resources for others: the fastest local option, and the option
    // with the least server work and airtime among those not slower than the current
    // round time.
    let local = ranked
        .iter()
        .find(|&&(_, o)| opts.options[k][o].server.is_none());
    let round = current.latency_s.iter().copied().fold(0.0, f64::max);
    let lean = ranked
        .iter()
        .filter(|&&(l, o)| l <= round && opts.options[k][o].server.is_some())
        .min_by(|a, b| {
            let footprint = |o: usize| {
                let opt = &opts.options[k][o];
                opt.server_s / phi_now + opt.airtime_rb_s / n_now
            };
            footprint(a.1).total_cmp(&footprint(b.1))
        });
    // And the options that reach the round time most cheaply at the current prices of
    // blocks and compute.
    let priced = cheapest_at(opts, k, round, prices, choice[k]);
    for o in local
        .map(|&(_, o)| o)
        .into_iter()
        .chain(lean.map(|&(_, o)| o))
        .chain(priced)
    {
        if !candidates.contains(&o) {
            candidates.push(o);
        }
    }
    (candidates, round)
}

/// The allocation of `choice` (user `k` just moved to its `rank`-th candidate) and, when
/// others had to move to make room in memory, their new choice: the move's allocation, or
/// for the first [`ROOM_CANDIDATES`] candidates that overflow a server's memory the best of
/// [`make_room`] (within the round time, seconds) and [`shrink_largest`].
fn try_move(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    k: usize,
    rank: usize,
    current: &Allocation,
    round: f64,
) -> Option<(Allocation, Option<Vec<usize>>)> {
    let mut trial = allocate(problem, opts, choice).map(|a| (a, None));
    if trial.is_none() && rank < ROOM_CANDIDATES && !fits_memory(problem, opts, choice) {
        // Make room: others move to leaner options that keep them within the
        // round time.
        let mut repaired = choice.to_vec();
        if make_room(problem, opts, &mut repaired, k, current, round) {
            trial = allocate(problem, opts, &repaired).map(|a| (a, Some(repaired)));
        }
        // Or the largest user there moves to whichever of its cuts that make room
        // allocates best.
        for alternative in shrink_largest(problem, opts, choice, k) {
            if let Some(a) = allocate(problem, opts, &alternative) {
                if trial.as_ref().is_none_or(|t| a.objective < t.0.objective) {
                    trial = Some((a, Some(alternative)));
                }
            }
        }
    }
    trial
}

/// Price of one resource block in units of the whole compute of its server, per server: where
/// the allocation is optimal for fixed cuts, each offloading user's marginal rates balance,
/// `lambda_n / lambda_phi = (S / n^2) / (w / phi^2)`; the median over the server's users.
fn block_prices(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    current: &Allocation,
) -> Vec<f64> {
    (0..problem.servers.len())
        .map(|s| {
            let mut ratios: Vec<f64> = choice
                .iter()
                .enumerate()
                .filter_map(|(k, &o)| {
                    let opt = &opts.options[k][o];
                    let (n, phi) = (current.resource_blocks[k] as f64, current.compute_share[k]);
                    (opt.server == Some(s)
                        && opt.airtime_rb_s > 0.0
                        && opt.server_s > 0.0
                        && n > 0.0
                        && phi > 0.0)
                        .then(|| (opt.airtime_rb_s / (n * n)) / (opt.server_s / (phi * phi)))
                })
                .collect();
            if ratios.is_empty() {
                return 1.0 / problem.servers[s].resource_blocks as f64;
            }
            ratios.sort_by(f64::total_cmp);
            ratios[ratios.len() / 2]
        })
        .collect()
}

/// The [`PRICED_CANDIDATES`] options of user `k` (other than `except`) that reach latency
/// `round` at the least cost in resources priced by `prices` (blocks) and 1 (the whole
/// compute): `min lambda n + phi` subject to `S / n + w / phi <= round - r` costs
/// `(sqrt(lambda S) + sqrt(w))^2 / (round - r)`; a local option that meets `round` costs 0.
fn cheapest_at(opts: &Options, k: usize, round: f64, prices: &[f64], except: usize) -> Vec<usize> {
    let mut costs: Vec<(f64, usize)> = opts.options[k]
        .iter()
        .enumerate()
        .filter(|&(o, _)| o != except)
        .filter_map(|(o, opt)| {
            let room = round - opt.device_s - opt.fixed_s;
            if room <= 0.0 {
                return None;
            }
            let cost = match opt.server {
                None => 0.0,
                Some(s) => (prices[s] * opt.airtime_rb_s).sqrt() + opt.server_s.sqrt(),
            };
            Some((cost * cost / room, o))
        })
        .collect();
    costs.sort_by(|a, b| a.0.total_cmp(&b.0));
    costs
        .into_iter()
        .take(PRICED_CANDIDATES)
        .map(|(_, o)| o)
        .collect()
}

/// Bytes a server would hold for user `k`'s option `o` alone (its shared layers, as if no other
/// user of the model were there, and its private state).
fn footprint_bytes(opts: &Options, k: usize, o: usize) -> f64 {
    let opt = &opts.options[k][o];
    if opt.server.is_none() {
        return 0.0;
    }
    let shared: f64 = opts.shared[opts.user_model[k]][opt.cut..].iter().sum();
    shared + opt.server_private_bytes
}

/// Frees server memory for user `k`'s new option in `choice`: while some server is over its
/// memory, the other user there with the leanest alternative (least footprint, latency at its
/// current resources within `round`) moves to it. `false` when nobody can move.
fn make_room(
    problem: &AllocProblem,
    opts: &Options,
    choice: &mut [usize],
    k: usize,
    current: &Allocation,
    round: f64,
) -> bool {
    for _ in 0..problem.users.len() {
        let used = problem.server_memory(opts, choice);
        let Some(s) = (0..problem.servers.len())
            .find(|&s| used[s] > problem.servers[s].memory_bytes * (1.0 + 1e-9))
        else {
            return true;
        };
        let excess = used[s] - problem.servers[s].memory_bytes;
        // (covers the excess, latency at current resources, -freed, user, option): the fastest
        // move that frees enough, else the one that frees most.
        let mut best: Option<(bool, f64, f64, usize, usize)> = None;
        for (j, &oj) in choice.iter().enumerate() {
            if j == k || opts.options[j][oj].server != Some(s) {
                continue;
            }
            let now = footprint_bytes(opts, j, oj);
            let (n, phi) = (
                current.resource_blocks[j].max(1) as f64,
                current.compute_share[j].max(1e-9),
            );
            for (o, opt) in opts.options[j].iter().enumerate() {
                let freed = now - footprint_bytes(opts, j, o);
                let latency = opt.latency(n, phi);
                // Within the round time at its resources, or staying on the server (the
                // re-allocation may give it more).
                let lean = latency <= round || opt.server == Some(s);
                if freed <= 0.0 || !lean || opt.server.is_some_and(|t| t != s) {
                    continue;
                }
                let key = (freed >= excess, latency, -freed, j, o);
                let better = |b: &(bool, f64, f64, usize, usize)| match (key.0, b.0) {
                    (true, false) => true,
                    (false, true) => false,
                    (true, true) => key.1 < b.1,
                    (false, false) => key.2 < b.2,
                };
                if best.as_ref().is_none_or(better) {
                    best = Some(key);
                }
            }
        }
        let Some((_, _, _, j, o)) = best else {
            return false;
        };
        choice[j] = o;
    }
    false
}

/// Choices that make room for user `k`'s option in `choice` by moving one user: the user other
/// than `k` with the largest footprint on the first server over its memory, to each of its
/// options on that server (or local) after which every server fits.
fn shrink_largest(
    problem: &AllocProblem,
    opts: &Options,
    choice: &[usize],
    k: usize,
) -> Vec<Vec<usize>> {
    let used = problem.server_memory(opts, choice);
    let Some(s) = (0..problem.servers.len())
        .find(|&s| used[s] > problem.servers[s].memory_bytes * (1.0 + 1e-9))
    else {
        return Vec::new();
    };
    let largest = choice
        .iter()
        .enumerate()
        .filter(|&(j, &o)| j != k && opts.options[j][o].server == Some(s))
        .max_by(|a, b| {
            footprint_bytes(opts, a.0, *a.1).total_cmp(&footprint_bytes(opts, b.0, *b.1))
        })
        .map(|(j, _)| j);
    let Some(j) = largest else {
        return Vec::new();
    };
    (0..opts.options[j].len())
        .filter(|&o| o != choice[j] && opts.options[j][o].server.is_none_or(|t| t == s))
        .filter_map(|o| {
            let mut moved = choice.to_vec();
            moved[j] = o;
            fits_memory(problem, opts, &moved).then_some(moved)
        })
        .collect()
}

/// For every user, the first option satisfying `pred` (None when a user has none).
fn fixed_choice(opts: &Options, pred: impl Fn(&UserOption) -> bool) -> Option<Vec<usize>> {
    opts.options
        .iter()
        .map(|options| options.iter().position(&pred))
        .collect()
}

/// A named baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// Best option per user under an equal split; resources split equally.
    EqualSplit,
    /// Everything on the device.
    AllDevice,
    /// Everything on the (first reachable) server, at the lowest allowed cut.
    AllEdge,
    /// The cut closest to the middle of the model, resources allocated optimally.
    FixedCut,
}

/// Runs a baseline; `None` when it has no plan for some user or no allocation meets the limits.
pub fn baseline(
    problem: &AllocProblem,
    opts: &Options,
    which: Baseline,
) -> Option<(Vec<usize>, Allocation)> {
    let choice = match which {
        Baseline::EqualSplit => equal_split_choice(problem, opts),
        Baseline::AllDevice => fixed_choice(opts, |o| o.server.is_none())?,
        Baseline::AllEdge => fixed_choice(opts, |o| o.server.is_some())?,
        Baseline::FixedCut => opts
            .options
            .iter()
            .enumerate()
            .map(|(k, options)| {
                let mid = problem.users[k].table.len() / 2;
                options
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.server.is_some())
                    .min_by_key(|(_, o)| o.cut.abs_diff(mid))
                    .map(|(i, _)| i)
            })
            .collect::<Option<Vec<_>>>()?,
    };
    if which != Baseline::EqualSplit {
        let a = allocate(problem, opts, &choice)?;
        return Some((choice, a));
    }
    // Equal split: blocks and shares divided equally among each server's offloading users.
    let users = problem.users.len();
    let mut count = vec![0usize; problem.servers.len()];
    for (options, &o) in opts.options.iter().zip(&choice) {
        if let Some(s) = options[o].server {
            count[s] += 1;
        }
    }
    let mut blocks = vec![0usize; users];
    let mut share = vec![0.0; users];
    for k in 0..users {
        let o = &opts.options[k][choice[k]];
        if let Some(s) = o.server {
            blocks[k] = problem.servers[s].resource_blocks / count[s];
            if blocks[k] == 0 {
                return None;
            }
            share[k] = 1.0 / count[s] as f64;
        }
    }
    if !fits_memory(problem, opts, &choice) {
        return None;
    }
    let latency_s: Vec<f64> = (0..users)
        .map(|k| opts.options[k][choice[k]].latency(blocks[k] as f64, share[k]))
        .collect();
    if (0..users).any(|k| {
        problem.users[k]
            .deadline_s
            .is_some_and(|d| latency_s[k] > d)
    }) {
        return None;
    }
    Some((
        choice,
        Allocation {
            resource_blocks: blocks,
            compute_share: share,
            objective: problem.objective.value(&problem.users, &latency_s),
            latency_s,
        },
    ))
}
