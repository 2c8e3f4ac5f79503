//! The exact allocation MILP, without big-M.
//!
//! **Variables.** For user `k` and each of its options `o` (all on the device, or server `m` with
//! cut `c`): a binary `x_ko` (`sum_o x_ko = 1`) and, for offloading options, a compute share
//! `phi_ko in [0, x_ko]` and a server-time variable `sigma_ko >= 0`. Options of one user on one
//! server that send the same bytes (same airtime `S`) form a group `g`; per group a binary
//! indicator `y_kg = sum_{o in g} x_ko`, an integer block count `n_kg in [y_kg, N_m y_kg]`
//! and an airtime variable `tau_kg >= 0`. Grouping is exact (the airtime only depends on the
//! group) and keeps the number of secant rows at `groups x N` instead of `options x N`.
//!
//! **Airtime, exact at integers.** `S / n` is convex; the secant through `(j, S/j)` and
//! `(j+1, S/(j+1))`, written in perspective form, is
//! `tau_kg >= S ((2j + 1) y_kg - n_kg) / (j (j + 1))` for `j = 1..N-1`. With `y = 0` (so
//! `n = 0`) every secant is `<= 0`; with `y = 1` the largest secant at an integer `n` equals
//! `S / n` exactly (a convex function lies below its secants between their end points and above
//! them outside). No big-M is needed and the LP relaxation is the perspective hull.
//!
//! **Server time, outer approximation.** `w / phi` is convex; its tangent at `p` in perspective
//! form, `sigma_ko >= w (2 x_ko / p - phi_ko / p^2)`, underestimates it, so the MILP with a finite
//! set of tangents is a relaxation whose optimum is a lower bound. [`super::solve`] starts from a
//! geometric grid of tangent points, solves, re-optimises the shares of the chosen cuts and blocks
//! exactly (closed form, [`super::heuristics::optimal_shares`]) to get a true upper bound, adds
//! tangents at the shares found, and repeats until the relative gap between the two is at most
//! the preset's relative gap (at least 1e-6). The reported bound is the MILP's dual bound, a valid
//! lower bound of the true problem.
//!
//! **Other constraints.** Per server: `sum n <= N_m`, `sum phi <= 1`; memory: the shared
//! (frozen) bytes of layer `l` of model `i` are stored once when some user of model `i` runs
//! layer `l` there (`z_mil >= sum_{o: server m, cut <= l} x_ko` for every user `k` of model `i`),
//! a tied embedding matrix is stored again when the head is there but not the embedding
//! (`z_mi,head - z_mi,0`), plus each user's private bytes (KV cache, activations, trainable
//! state) of its chosen option. Deadlines bound each user's latency. Objective: `T >= L_k`
//! (min-max), `sum L_k`, or `sum weight_k L_k`.

use std::collections::HashMap;

use good_lp::{constraint, variable, Expression, Variable};

use super::{AllocObjective, AllocProblem, Options};
use crate::solve::milp::{Milp, Values};

/// A group of options of one user on one server with the same airtime.
#[derive(Debug, Clone)]
struct Group {
    user: usize,
    server: usize,
    airtime_rb_s: f64,
    options: Vec<usize>,
    y: Expression,
    n: Variable,
}

/// Handles to read a solution back.
#[derive(Debug, Clone)]
pub struct AllocDecoder {
    /// `x[k][o]`.
    x: Vec<Vec<Variable>>,
    /// `phi[k][o]` (None for the local option).
    phi: Vec<Vec<Option<Variable>>>,
    /// `(user, options of the group, n)`.
    groups: Vec<(usize, Vec<usize>, Variable)>,
}

/// The chosen option, block count and share of every user in a MILP solution.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Option index per user.
    pub option: Vec<usize>,
    /// Resource blocks per user.
    pub resource_blocks: Vec<usize>,
    /// Compute share per user (from the relaxation; re-optimised by the caller).
    pub compute_share: Vec<f64>,
}

impl AllocDecoder {
    /// Reads choices off a solution.
    pub fn decode(&self, values: &Values) -> Decoded {
        use good_lp::Solution;
        let option: Vec<usize> = self
            .x
            .iter()
            .map(|xs| {
                xs.iter()
                    .enumerate()
                    .max_by(|a, b| values.value(*a.1).total_cmp(&values.value(*b.1)))
                    .map_or(0, |(o, _)| o)
            })
            .collect();
        let mut resource_blocks = vec![0usize; self.x.len()];
        for (user, opts, n) in &self.groups {
            if opts.contains(&option[*user]) {
                resource_blocks[*user] = values.value(*n).round().max(0.0) as usize;
            }
        }
        let compute_share = option
            .iter()
            .enumerate()
            .map(|(k, &o)| self.phi[k][o].map_or(0.0, |v| values.value(v).max(0.0)))
            .collect();
        Decoded {
            option,
            resource_blocks,
            compute_share,
        }
    }
}

/// The built MILP.
pub struct AllocMilp {
    /// The model.
    pub milp: Milp,
    /// The objective.
    pub objective: Expression,
    /// The decoder.
    pub decoder: AllocDecoder,
    /// `(user, option, x, phi, sigma, w)` of every offloading option, for adding tangents.
    tangent_slots: Vec<(usize, usize, Variable, Variable, Variable, f64)>,
}

/// Smallest tangent point: steeper tangents (`w / p^2`) would exceed HiGHS's coefficient range.
pub const MIN_TANGENT: f64 = 1e-4;

/// Initial tangent points of `w / phi`: a geometric grid from `1 / (4 K_m)` to 1.
pub fn initial_tangents(users_on_server: usize) -> Vec<f64> {
    let mut points = vec![1.0];
    let lowest = 1.0 / (4.0 * users_on_server.max(1) as f64);
    while *points.last().unwrap_or(&1.0) > lowest {
        let next = points.last().unwrap_or(&1.0) / 2.0;
        points.push(next);
    }
    points
}

impl AllocMilp {
    /// Adds the tangent of `w / phi` at `point` for option `option` of user `user`; returns
    /// whether such an offloading option exists.
    pub fn add_tangent(&mut self, user: usize, option: usize, point: f64) -> bool {
        let Some(&(_, _, x, phi, sigma, w)) = self
            .tangent_slots
            .iter()
            .find(|s| s.0 == user && s.1 == option)
        else {
            return false;
        };
        let p = point.clamp(MIN_TANGENT, 1.0);
        self.milp.constrain(constraint!(
            sigma >= (2.0 * w / p) * x - (w / (p * p)) * phi
        ));
        true
    }
}

/// Builds the MILP with the initial tangents (no solving, no I/O).
pub fn build(problem: &AllocProblem, opts: &Options) -> AllocMilp {
    let mut m = Milp::new();
    let users = problem.users.len();
    let servers = problem.servers.len();
    let mut x: Vec<Vec<Variable>> = Vec::with_capacity(users);
    let mut phi: Vec<Vec<Option<Variable>>> = Vec::with_capacity(users);
    let mut latency: Vec<Expression> = Vec::with_capacity(users);
    let mut tangent_slots = Vec::new();
    let mut share_sum: Vec<Expression> = vec![Expression::from(0); servers];
    let mut block_sum: Vec<Expression> = vec![Expression::from(0); servers];
    let mut memory: Vec<Expression> = vec![Expression::from(0); servers];
    let mut groups: Vec<Group> = Vec::new();

    // Users per server (for the tangent grid).
    let mut offloaders = vec![0usize; servers];
    for options in &opts.options {
        for (s, count) in offloaders.iter_mut().enumerate() {
            if options.iter().any(|o| o.server == Some(s)) {
                *count += 1;
            }
        }
    }
    let grids: Vec<Vec<f64>> = offloaders.iter().map(|&c| initial_tangents(c)).collect();

    for (k, options) in opts.options.iter().enumerate() {
        let xs: Vec<Variable> = options.iter().map(|_| m.add(variable().binary())).collect();
        let mut one = Expression::with_capacity(xs.len());
        for &v in &xs {
            one.add_mul(1.0, v);
        }
        m.constrain(constraint!(one == 1));
        let mut lat = Expression::with_capacity(3 * xs.len());
        let mut phis = Vec::with_capacity(xs.len());
        let mut by_airtime: HashMap<(usize, u64), usize> = HashMap::new();
        for (o, opt) in options.iter().enumerate() {
            lat.add_mul(opt.device_s + opt.fixed_s, xs[o]);
            let Some(s) = opt.server else {
                phis.push(None);
                continue;
            };
            memory[s].add_mul(opt.server_private_bytes, xs[o]);
            // Compute share and its tangents.
            let p = m.add(variable().min(0).max(1));
            m.constrain(constraint!(p <= xs[o]));
            share_sum[s].add_mul(1.0, p);
            phis.push(Some(p));
            if opt.server_s > 0.0 {
                let sigma = m.add(variable().min(0));
                lat.add_mul(1.0, sigma);
                tangent_slots.push((k, o, xs[o], p, sigma, opt.server_s));
            }
            // Group by airtime.
            if opt.airtime_rb_s > 0.0 {
                let key = (s, opt.airtime_rb_s.to_bits());
                let g = *by_airtime.entry(key).or_insert_with(|| {
                    let n = m.add(
                        variable()
                            .integer()
                            .min(0)
                            .max(problem.servers[s].resource_blocks as f64),
                    );
                    groups.push(Group {
                        user: k,
                        server: s,
                        airtime_rb_s: opt.airtime_rb_s,
                        options: Vec::new(),
                        y: Expression::from(0),
                        n,
                    });
                    groups.len() - 1
                });
                groups[g].options.push(o);
                groups[g].y.add_mul(1.0, xs[o]);
            }
        }
        latency.push(lat);
        x.push(xs);
        phi.push(phis);
    }

    // Airtime secants per group.
    for g in &groups {
        let nmax = problem.servers[g.server].resource_blocks;
        let n = g.n;
        let y = g.y.clone();
        m.constrain(constraint!(n >= y.clone()));
        m.constrain(constraint!(n <= (nmax as f64) * y.clone()));
        block_sum[g.server].add_mul(1.0, n);
        let tau = m.add(variable().min(0));
        latency[g.user].add_mul(1.0, tau);
        let s = g.airtime_rb_s;
        if nmax == 1 {
            m.constrain(constraint!(tau >= s * y.clone()));
        }
        for j in 1..nmax {
            let jj = (j * (j + 1)) as f64;
            let coef_y = s * (2 * j + 1) as f64 / jj;
            let coef_n = s / jj;
            m.constrain(constraint!(tau >= coef_y * y.clone() - coef_n * n));
        }
    }

    // Initial tangents.
    let mut built = AllocMilp {
        milp: m,
        objective: Expression::from(0),
        decoder: AllocDecoder {
            x: Vec::new(),
            phi: Vec::new(),
            groups: Vec::new(),
        },
        tangent_slots,
    };
    let slots: Vec<(usize, usize)> = built.tangent_slots.iter().map(|s| (s.0, s.1)).collect();
    for (k, o) in slots {
        let server = opts.options[k][o].server.unwrap_or(0);
        for &p in &grids[server] {
            built.add_tangent(k, o, p);
        }
    }
    let mut m = built.milp;

    for s in 0..servers {
        let blocks = std::mem::take(&mut block_sum[s]);
        m.constrain(constraint!(
            blocks <= problem.servers[s].resource_blocks as f64
        ));
        let shares = std::mem::take(&mut share_sum[s]);
        m.constrain(constraint!(shares <= 1));
    }

    // Memory with shared parameters.
    for (s, used) in memory.into_iter().enumerate() {
        let mut used = used;
        let limit = problem.servers[s].memory_bytes;
        if !limit.is_finite() {
            continue;
        }
        for (i, shared) in opts.shared.iter().enumerate() {
            let members: Vec<usize> = (0..users)
                .filter(|&k| opts.user_model[k] == i)
                .filter(|&k| opts.options[k].iter().any(|o| o.server == Some(s)))
                .collect();
            if members.is_empty() || (shared.iter().all(|b| *b == 0.0) && opts.tied[i] == 0.0) {
                continue;
            }
            let layers = shared.len();
            let z: Vec<Variable> = (0..layers)
                .map(|_| m.add(variable().min(0).max(1)))
                .collect();
            for &k in &members {
                for (l, &z_l) in z.iter().enumerate() {
                    let mut on_server = Expression::from(0);
                    for (o, opt) in opts.options[k].iter().enumerate() {
                        if opt.server == Some(s) && opt.cut <= l {
                            on_server.add_mul(1.0, x[k][o]);
                        }
                    }
                    m.constrain(constraint!(z_l >= on_server));
                }
            }
            for l in 0..layers {
                used.add_mul(shared[l], z[l]);
            }
            if opts.tied[i] > 0.0 {
                used.add_mul(opts.tied[i], z[layers - 1]);
                used.add_mul(-opts.tied[i], z[0]);
            }
        }
        m.constrain(constraint!((1.0 / limit) * used <= 1));
    }

    // Deadlines and objective.
    for (k, u) in problem.users.iter().enumerate() {
        if let Some(d) = u.deadline_s {
            m.constrain(constraint!((1.0 / d) * latency[k].clone() <= 1));
        }
    }
    let objective = match problem.objective {
        AllocObjective::MinMax => {
            let t = m.add(variable().min(0));
            for lat in &latency {
                m.constrain(constraint!(t >= lat.clone()));
            }
            Expression::from(t)
        }
        AllocObjective::Sum | AllocObjective::WeightedSum => {
            let mut total = Expression::with_capacity(users * 8);
            for (k, lat) in latency.into_iter().enumerate() {
                let w = if problem.objective == AllocObjective::Sum {
                    1.0
                } else {
                    problem.users[k].weight
                };
                total += w * lat;
            }
            total
        }
    };
    AllocMilp {
        milp: m,
        objective,
        decoder: AllocDecoder {
            x,
            phi,
            groups: groups
                .into_iter()
                .map(|g| (g.user, g.options, g.n))
                .collect(),
        },
        tangent_slots: built.tangent_slots,
    }
}
