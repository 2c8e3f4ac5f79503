//! A lower bound on the min-max objective from the resources the slow users need.
//!
//! The LP relaxation of the MILP in [`super::model`] is the convex hull of each user's options,
//! which is weak for min-max: a user whose local latency is just above the objective `T` may run
//! partly locally and partly on the server, and so claims only a fraction of the resources a
//! whole offload needs. Because `T` is one scalar, the non-convex need can be handled exactly by
//! a search over `T` instead:
//!
//! For a candidate `T`, every user whose local latency (and deadline) does not allow `T` must
//! offload and needs, for some server option `o` with `a_o = device + fixed < T`, blocks `n` and
//! a share `phi` with `S_o / n + w_o / phi <= min(T, deadline) - a_o`, `1 <= n <= N_m`,
//! `phi <= 1`. Summing `lambda n / N_m + (1 - lambda) phi` over those users (any fixed
//! `lambda in [0, 1]`) gives at most `M` (the number of servers) in any feasible plan, so if the
//! sum of each user's least such cost exceeds `M` for some `lambda`, no plan reaches `T`. The
//! least cost of an option is the minimum of `alpha n + beta phi` on the latency curve over
//! integer blocks, in closed form ([`option_cost`]); each user's cost, the minimum over
//! its options, is concave in `lambda`, so a golden-section search finds the most violated
//! `lambda`. The need only grows as `T` falls, so a bisection finds the largest `T` proven
//! unreachable: a valid lower bound (memory and the choice of one option per user, through the
//! multiplier, are relaxed; the shares are exact, not the MILP's tangents).

use super::{AllocObjective, AllocProblem, Options, UserOption};

/// Golden-section steps over `lambda` per candidate `T`.
const LAMBDA_STEPS: usize = 40;
/// Bisection steps over `T`.
const T_STEPS: usize = 48;

/// The least `alpha n + beta phi` of option `opt` (server with `blocks` resource blocks) with
/// latency at most `room` beyond its device and fixed time (`room = T - device - fixed`), over
/// integer `1 <= n <= blocks` and `0 < phi <= 1`; `None` when no `(n, phi)` reaches it.
///
/// On the latency curve `phi(n) = w / (room - S / n)` the cost is convex in `n`; its continuous
/// minimum is `n* = sqrt(S / alpha) (sqrt(alpha S) + sqrt(beta w)) / room` (Lagrange), so the
/// integer minimum is at `floor(n*)` or `ceil(n*)`, clamped to the blocks that keep `phi <= 1`.
pub fn option_cost(opt: &UserOption, blocks: f64, room: f64, alpha: f64, beta: f64) -> Option<f64> {
    let s = opt.airtime_rb_s.max(0.0);
    let w = opt.server_s.max(0.0);
    if room < 0.0 || (room == 0.0 && (s > 0.0 || w > 0.0)) {
        return None;
    }
    if s == 0.0 {
        if w == 0.0 {
            return Some(0.0);
        }
        let phi = w / room;
        return (phi <= 1.0).then_some(beta * phi);
    }
    let blocks = blocks.floor();
    if blocks < 1.0 {
        return None;
    }
    // Fewest blocks that reach `room` (with the whole server when `w > 0`); rounding is
    // loosened by a hair so that no feasible count is excluded.
    let lo = if w == 0.0 {
        s / room
    } else if room <= w {
        return None;
    } else {
        s / (room - w)
    };
    let lo = (lo * (1.0 - 1e-12)).ceil().max(1.0);
    if lo > blocks {
        return None;
    }
    let cost = |n: f64| {
        if w == 0.0 {
            return alpha * n;
        }
        let left = room - s / n;
        if left <= 0.0 {
            f64::INFINITY
        } else {
            alpha * n + beta * (w / left).min(1.0)
        }
    };
    let best = if alpha <= 0.0 {
        cost(blocks)
    } else if beta <= 0.0 || w == 0.0 {
        cost(lo)
    } else {
        let star = (s / alpha).sqrt() * ((alpha * s).sqrt() + (beta * w).sqrt()) / room;
        let below = star.floor().clamp(lo, blocks);
        let above = star.ceil().clamp(lo, blocks);
        cost(below).min(cost(above))
    };
    best.is_finite().then_some(best)
}

/// What [`min_max_lower_bound`]'s check needs of every user.
struct Need<'a> {
    problem: &'a AllocProblem,
    opts: &'a Options,
}

impl Need<'_> {
    /// Sum over users of the least `lambda n / N_m + (1 - lambda) phi` needed for a latency of at
    /// most `t`; `None` when some user cannot reach `t` at all.
    fn total(&self, t: f64, lambda: f64) -> Option<f64> {
        let mut total = 0.0;
        for (k, list) in self.opts.options.iter().enumerate() {
            let limit = self.problem.users[k].deadline_s.map_or(t, |d| d.min(t));
            let local_ok = list
                .iter()
                .any(|o| o.server.is_none() && o.device_s + o.fixed_s <= limit);
            if local_ok {
                continue;
            }
            let mut best = f64::INFINITY;
            for o in list {
                let Some(m) = o.server else { continue };
                let blocks = self.problem.servers[m].resource_blocks as f64;
                let room = limit - o.device_s - o.fixed_s;
                if let Some(c) =
                    option_cost(o, blocks, room, lambda / blocks.max(1.0), 1.0 - lambda)
                {
                    best = best.min(c);
                }
            }
            if !best.is_finite() {
                return None;
            }
            total += best;
        }
        Some(total)
    }

    /// Whether `t` is proven unreachable: some user cannot reach it, or for some `lambda` the
    /// users that must offload need more than every server holds.
    fn unreachable(&self, t: f64) -> bool {
        let capacity = self.problem.servers.len() as f64;
        let exceeds = |v: Option<f64>| v.is_none_or(|v| v > capacity * (1.0 + 1e-9) + 1e-12);
        let mut a = 0.0;
        let mut b = 1.0;
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let mut c = b - g * (b - a);
        let mut d = a + g * (b - a);
        let f = |l: f64| self.total(t, l);
        let (mut fc, mut fd) = (f(c), f(d));
        if exceeds(fc) || exceeds(fd) || exceeds(f(0.0)) || exceeds(f(1.0)) {
            return true;
        }
        for _ in 0..LAMBDA_STEPS {
            // Maximise the concave total.
            if fc.unwrap_or(f64::INFINITY) >= fd.unwrap_or(f64::INFINITY) {
                b = d;
                d = c;
                fd = fc;
                c = b - g * (b - a);
                fc = f(c);
                if exceeds(fc) {
                    return true;
                }
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + g * (b - a);
                fd = f(d);
                if exceeds(fd) {
                    return true;
                }
            }
        }
        false
    }
}

/// A lower bound on the min-max objective (seconds) from the resources the users that cannot
/// run locally need (module doc), searched below `upper` (e.g. the objective of a feasible
/// plan) or, without one, below the first doubling of the least latency not proven
/// unreachable; `None` for the other objectives, or when some user has no option.
pub fn min_max_lower_bound(
    problem: &AllocProblem,
    opts: &Options,
    upper: Option<f64>,
) -> Option<f64> {
    if problem.objective != AllocObjective::MinMax {
        return None;
    }
    // Every user's least latency (whole server, every block) is a bound already.
    let mut least = 0.0f64;
    for list in &opts.options {
        let best = list
            .iter()
            .map(|o| {
                let n = o
                    .server
                    .map_or(1.0, |m| problem.servers[m].resource_blocks as f64);
                o.latency(n, 1.0)
            })
            .fold(f64::INFINITY, f64::min);
        if !best.is_finite() {
            return None;
        }
        least = least.max(best);
    }
    let need = Need { problem, opts };
    // `lo`: a valid bound (unreachable, or the least latency); `hi`: not proven unreachable.
    let mut lo = least * (1.0 - 1e-12);
    if !(lo > 0.0 && lo.is_finite() && need.unreachable(lo)) {
        return Some(lo.max(0.0));
    }
    let mut hi = match upper.filter(|u| u.is_finite() && *u > lo) {
        Some(u) if !need.unreachable(u) => u,
        // Only on an inconsistent `upper`; keep the safe bound.
        Some(_) => return Some(lo),
        None => {
            // Nothing reachable within 2^30 times the least latency: some user's deadline rules
            // every option out (the problem is infeasible); keep the trivial bound rather than
            // a huge row.
            let trivial = lo;
            let mut hi = 2.0 * lo;
            let mut doublings = 0;
            while need.unreachable(hi) {
                lo = hi;
                hi *= 2.0;
                doublings += 1;
                if doublings > 30 {
                    return Some(trivial);
                }
            }
            hi
        }
    };
    for _ in 0..T_STEPS {
        let mid = 0.5 * (lo + hi);
        if need.unreachable(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(s: f64, w: f64) -> UserOption {
        UserOption {
            server: Some(0),
            cut: 1,
            device_s: 0.0,
            fixed_s: 0.0,
            airtime_rb_s: s,
            server_s: w,
            server_private_bytes: 0.0,
        }
    }

    /// The closed form against every integer block count.
    #[test]
    fn option_cost_matches_a_scan() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut feasible = 0;
        for _ in 0..400 {
            let s = if next() < 0.1 {
                0.0
            } else {
                10f64.powf(3.0 * next() - 2.0)
            };
            let w = if next() < 0.1 {
                0.0
            } else {
                10f64.powf(2.0 * next() - 1.5)
            };
            let blocks = (1.0 + 60.0 * next()).floor();
            let room = 10f64.powf(2.0 * next() - 1.0);
            let lambda = [0.0, 1.0, next()][(3.0 * next()) as usize % 3];
            let (alpha, beta) = (lambda / blocks, 1.0 - lambda);
            let got = option_cost(&option(s, w), blocks, room, alpha, beta);
            // Scan n over [1, blocks] (or n = 0 without airtime).
            let cost = |n: f64| {
                let left = room - if s > 0.0 { s / n } else { 0.0 };
                let phi = if w > 0.0 { w / left } else { 0.0 };
                if left < 0.0 || (w > 0.0 && (left <= 0.0 || phi > 1.0)) {
                    f64::INFINITY
                } else {
                    alpha * n + beta * phi
                }
            };
            // Every integer block count (n = 0 without airtime).
            let mut best = f64::INFINITY;
            if s > 0.0 {
                for n in 1..=blocks as usize {
                    best = best.min(cost(n as f64));
                }
            } else {
                best = cost(0.0);
            }
            match got {
                None => assert!(!best.is_finite(), "{s} {w} {blocks} {room}: scan {best}"),
                Some(c) => {
                    feasible += 1;
                    assert!(best.is_finite(), "{s} {w} {blocks} {room}: {c}");
                    assert!(c <= best * (1.0 + 1e-9) + 1e-12, "{c} > scan {best}");
                    assert!(c >= best * (1.0 - 1e-9) - 1e-12, "{c} < scan {best}");
                }
            }
        }
        assert!(feasible > 100, "{feasible}");
    }
}
