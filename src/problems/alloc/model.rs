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
//! `n = 0`) every secant is `<= 0`; with `y = 1` every secant is at most `S / n` at every
//! integer `n` (a convex function lies below its secants between their end points and above
//! them outside, and no integer lies strictly between `j` and `j + 1`), with equality for
//! `j = n - 1` and `j = n`. So any subset of the secants is a relaxation, exact at the `n` whose
//! two secants are in it. No big-M is needed. The model starts with the secants of
//! [`initial_secants`] (every `j` up to 16, then a geometric grid of ratio 1.1 up to `N - 1`:
//! under 1% of `S / n` below the curve between grid points, and about 50 secants instead of
//! 272 at `N = 273`); [`super::outer`] adds `j = n - 1` and `j = n` at the block counts each
//! round chooses, like the tangents below.
//!
//! **Server time, outer approximation.** `w / phi` is convex; its tangent at `p` in perspective
//! form, `sigma_ko >= w (2 x_ko / p - phi_ko / p^2)`, underestimates it, so the MILP with a finite
//! set of tangents is a relaxation whose optimum is a lower bound. [`super::outer`] starts from a
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
//!
//! **Scale.** Times are measured in a unit of the instance ([`time_unit`]: the slowest user's
//! best latency) and weights relative to the largest, so that coefficients and the objective are
//! near 1 and HiGHS's absolute tolerances are small against the objective at any scale;
//! [`AllocMilp::objective_scale`] converts the MILP's objective and bound back.

use std::collections::HashMap;

use good_lp::{constraint, variable, Expression, Variable};

use super::bound::min_max_lower_bound;
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
    /// Resource blocks of each group's server (its largest block count).
    group_blocks: Vec<usize>,
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
    /// Per user the airtime group of its option and the group's largest block count (`None`
    /// for an option without airtime).
    pub group: Vec<Option<(usize, usize)>>,
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
        let mut group = vec![None; self.x.len()];
        for (g, (user, opts, n)) in self.groups.iter().enumerate() {
            if opts.contains(&option[*user]) {
                resource_blocks[*user] = values.value(*n).round().max(0.0) as usize;
                group[*user] = Some((g, self.group_blocks[g]));
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
            group,
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
    tangent_slots: Vec<TangentSlot>,
    /// Per airtime group `(y, n, tau, S)`, for adding secants.
    secant_slots: Vec<SecantSlot>,
    /// What one unit of the MILP's objective is worth in the problem's objective (seconds, or
    /// weighted seconds): multiply the MILP's objective and bound by it.
    pub objective_scale: f64,
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

/// The initial secants `j` (through `(j, S/j)` and `(j+1, S/(j+1))`) of a group on a server with
/// `blocks` resource blocks: every `j` up to 16, then a geometric grid of ratio 1.1, and
/// `blocks - 1`.
pub fn initial_secants(blocks: usize) -> Vec<usize> {
    let last = blocks.saturating_sub(1);
    let mut js: Vec<usize> = (1..=last.min(16)).collect();
    let mut j = 16usize;
    while j < last {
        j = ((j as f64 * 1.1).ceil() as usize).min(last);
        js.push(j);
    }
    js
}

impl AllocMilp {
    /// Adds the secant `j` of airtime group `group` (through `(j, S/j)` and
    /// `(j+1, S/(j+1))`); returns whether the group exists.
    pub fn add_secant(&mut self, group: usize, j: usize) -> bool {
        let Some(slot) = self.secant_slots.get(group) else {
            return false;
        };
        if j >= 1 {
            self.milp.constrain(secant_row(slot, j));
        }
        true
    }

    /// Adds the tangent of `w / phi` at `point` for option `option` of user `user`; returns
    /// whether such an offloading option exists.
    pub fn add_tangent(&mut self, user: usize, option: usize, point: f64) -> bool {
        let Some(slot) = self
            .tangent_slots
            .iter()
            .find(|s| s.0 == user && s.1 == option)
        else {
            return false;
        };
        self.milp.constrain(tangent_row(slot, point));
        true
    }
}

/// Builds the MILP with the initial tangents and, for min-max, the floor
/// [`min_max_lower_bound`] (no solving, no I/O).
pub fn build(problem: &AllocProblem, opts: &Options) -> AllocMilp {
    build_with_floor(problem, opts, min_max_lower_bound(problem, opts, None))
}

/// Builds the MILP with the initial tangents and, for min-max, the row `T >= floor` (seconds; a
/// valid lower bound on the objective, e.g. [`min_max_lower_bound`]).
pub fn build_with_floor(problem: &AllocProblem, opts: &Options, floor: Option<f64>) -> AllocMilp {
    let mut b = Builder::new(problem, opts);
    b.floor = floor.filter(|f| f.is_finite() && *f > 0.0);
    for k in 0..opts.options.len() {
        b.add_user(k);
    }
    b.add_airtime_secants();
    b.add_initial_tangents();
    b.add_server_capacity();
    b.add_memory();
    b.add_deadlines();
    b.finish()
}

/// The MILP's unit of time, seconds: the best latency (whole server, every block) of the user
/// whose best is slowest, a lower bound on the min-max objective and on the sum; 1 s when no user
/// has an option. Measuring every time in it keeps the MILP's coefficients and objective near 1
/// whatever the instance's scale (microseconds at 10 GHz blocks, days at 1 kHz and -50 dB), so
/// HiGHS's absolute tolerances stay small against the objective.
pub fn time_unit(problem: &AllocProblem, opts: &Options) -> f64 {
    let unit = opts
        .options
        .iter()
        .filter_map(|options| {
            options
                .iter()
                .map(|o| match o.server {
                    None => o.latency(1.0, 1.0),
                    Some(m) => o.latency(problem.servers[m].resource_blocks as f64, 1.0),
                })
                .reduce(f64::min)
        })
        .fold(0.0, f64::max);
    if unit.is_finite() && unit > 0.0 {
        unit
    } else {
        1.0
    }
}

/// `(user, option, x, phi, sigma, w, label)` of an offloading option with server time `w` (in
/// the MILP's time unit); `label` (`user,server,cut`) names its tangent rows.
type TangentSlot = (usize, usize, Variable, Variable, Variable, f64, String);

/// `(y, n, tau, S, label)` of an airtime group with airtime `S` on one block (in the MILP's time
/// unit); `label` (`user,server`) names its secant rows.
type SecantSlot = (Expression, Variable, Variable, f64, String);

/// The secant row `j` of `S / n` in perspective form:
/// `tau >= S ((2j + 1) y - n) / (j (j + 1))`.
fn secant_row(slot: &SecantSlot, j: usize) -> good_lp::Constraint {
    let (y, n, tau, s, label) = slot;
    let jj = (j * (j + 1)) as f64;
    let coef_y = s * (2 * j + 1) as f64 / jj;
    let coef_n = s / jj;
    constraint!(*tau >= coef_y * y.clone() - coef_n * *n)
        .set_name(format!("airtime_secant[{label},{j}]"))
}

/// The tangent row of `w / phi` at `point` (a compute share, clamped to `[MIN_TANGENT, 1]`):
/// `sigma >= w (2 x / p - phi / p^2)`, in the MILP's time unit.
fn tangent_row(slot: &TangentSlot, point: f64) -> good_lp::Constraint {
    let &(_, _, x, phi, sigma, w, ref label) = slot;
    let p = point.clamp(MIN_TANGENT, 1.0);
    constraint!(sigma >= (2.0 * w / p) * x - (w / (p * p)) * phi)
        .set_name(format!("server_time_tangent[{label},{p:.6}]"))
}

/// The MILP under construction, with the expressions its rows are summed from.
struct Builder<'a> {
    problem: &'a AllocProblem,
    opts: &'a Options,
    m: Milp,
    /// `x[k][o]`, the option binaries.
    x: Vec<Vec<Variable>>,
    /// `phi[k][o]`, the compute shares (None for the local option).
    phi: Vec<Vec<Option<Variable>>>,
    /// Latency of each user (in `unit`).
    latency: Vec<Expression>,
    /// The MILP's unit of time, seconds ([`time_unit`]).
    unit: f64,
    /// Every offloading option with server time.
    tangent_slots: Vec<TangentSlot>,
    /// Compute shares per server (fraction of the server).
    share_sum: Vec<Expression>,
    /// Resource blocks per server.
    block_sum: Vec<Expression>,
    /// Private bytes per server (shared parameters are added by [`Builder::add_memory`]).
    memory: Vec<Expression>,
    /// Airtime groups, in order of creation.
    groups: Vec<Group>,
    /// Per airtime group, what its secants need.
    secant_slots: Vec<SecantSlot>,
    /// A lower bound on the min-max objective, seconds (the row `T >= floor`).
    floor: Option<f64>,
}

impl<'a> Builder<'a> {
    /// An empty model for `problem` over `opts`.
    fn new(problem: &'a AllocProblem, opts: &'a Options) -> Builder<'a> {
        let users = problem.users.len();
        let servers = problem.servers.len();
        Builder {
            problem,
            opts,
            m: Milp::new(),
            x: Vec::with_capacity(users),
            phi: Vec::with_capacity(users),
            latency: Vec::with_capacity(users),
            unit: time_unit(problem, opts),
            tangent_slots: Vec::new(),
            share_sum: vec![Expression::from(0); servers],
            block_sum: vec![Expression::from(0); servers],
            memory: vec![Expression::from(0); servers],
            groups: Vec::new(),
            secant_slots: Vec::new(),
            floor: None,
        }
    }

    /// User `k`'s choice (`sum_o x_ko = 1`) and, per offloading option, its compute share,
    /// server-time variable and airtime group; its latency (in the time unit) but for airtime.
    fn add_user(&mut self, k: usize) {
        let options = &self.opts.options[k];
        let unit = self.unit;
        let m = &mut self.m;
        let user = &self.problem.users[k].name;
        let servers = &self.problem.servers;
        let labels: Vec<String> = options
            .iter()
            .map(|o| {
                let at = o.server.map_or("device", |s| servers[s].name.as_str());
                format!("{user},{at},cut{}", o.cut)
            })
            .collect();
        let xs: Vec<Variable> = labels
            .iter()
            .map(|l| m.add(variable().binary().name(format!("x[{l}]"))))
            .collect();
        let mut one = Expression::with_capacity(xs.len());
        for &v in &xs {
            one.add_mul(1.0, v);
        }
        self.m
            .constrain_named(format!("one_option[{user}]"), constraint!(one == 1));
        let mut lat = Expression::with_capacity(3 * xs.len());
        let mut phis = Vec::with_capacity(xs.len());
        let mut by_airtime: HashMap<(usize, u64), usize> = HashMap::new();
        for (o, opt) in options.iter().enumerate() {
            lat.add_mul((opt.device_s + opt.fixed_s) / unit, xs[o]);
            let Some(s) = opt.server else {
                phis.push(None);
                continue;
            };
            self.memory[s].add_mul(opt.server_private_bytes, xs[o]);
            // Compute share and its tangents.
            let label = &labels[o];
            let p = self.m.add(
                variable()
                    .min(0)
                    .max(1)
                    .name(format!("compute_share[{label}]")),
            );
            self.m
                .constrain_named(format!("share_if_chosen[{label}]"), constraint!(p <= xs[o]));
            self.share_sum[s].add_mul(1.0, p);
            phis.push(Some(p));
            if opt.server_s > 0.0 {
                let sigma = self
                    .m
                    .add(variable().min(0).name(format!("server_time[{label}]")));
                lat.add_mul(1.0, sigma);
                let w = opt.server_s / unit;
                self.tangent_slots
                    .push((k, o, xs[o], p, sigma, w, label.clone()));
            }
            // Group by airtime.
            if opt.airtime_rb_s > 0.0 {
                let key = (s, opt.airtime_rb_s.to_bits());
                let g = match by_airtime.get(&key) {
                    Some(&g) => g,
                    None => {
                        let g = self.new_group(k, s, opt.airtime_rb_s / unit);
                        by_airtime.insert(key, g);
                        g
                    }
                };
                self.groups[g].options.push(o);
                self.groups[g].y.add_mul(1.0, xs[o]);
            }
        }
        self.latency.push(lat);
        self.x.push(xs);
        self.phi.push(phis);
    }

    /// A new airtime group of user `k` on server `s` with airtime `airtime_rb_s` (on one block,
    /// in the time unit), with its block count `n`; returns its index.
    fn new_group(&mut self, k: usize, s: usize, airtime_rb_s: f64) -> usize {
        let label = format!(
            "{},{},group{}",
            self.problem.users[k].name,
            self.problem.servers[s].name,
            self.groups.len()
        );
        let n = self.m.add(
            variable()
                .integer()
                .min(0)
                .max(self.problem.servers[s].resource_blocks as f64)
                .name(format!("resource_blocks[{label}]")),
        );
        self.groups.push(Group {
            user: k,
            server: s,
            airtime_rb_s,
            options: Vec::new(),
            y: Expression::from(0),
            n,
        });
        self.groups.len() - 1
    }

    /// Per group: `y <= n <= N y`, its blocks on the server, and the airtime `tau` (time unit)
    /// above the [`initial_secants`] of `S / n`, added to the user's latency.
    fn add_airtime_secants(&mut self) {
        let m = &mut self.m;
        for g in &self.groups {
            let nmax = self.problem.servers[g.server].resource_blocks;
            let n = g.n;
            let y = g.y.clone();
            let label = format!(
                "{},{}",
                self.problem.users[g.user].name, self.problem.servers[g.server].name
            );
            m.constrain_named(
                format!("blocks_if_chosen[{label}]"),
                constraint!(n >= y.clone()),
            );
            m.constrain_named(
                format!("no_blocks_unless_chosen[{label}]"),
                constraint!(n <= (nmax as f64) * y.clone()),
            );
            self.block_sum[g.server].add_mul(1.0, n);
            let tau = m.add(variable().min(0).name(format!("airtime[{label}]")));
            self.latency[g.user].add_mul(1.0, tau);
            let s = g.airtime_rb_s;
            if nmax == 1 {
                m.constrain_named(
                    format!("airtime_one_block[{label}]"),
                    constraint!(tau >= s * y.clone()),
                );
            }
            let slot = (y, n, tau, s, label);
            for j in initial_secants(nmax) {
                m.constrain(secant_row(&slot, j));
            }
            self.secant_slots.push(slot);
        }
    }

    /// The tangents of every offloading option at its server's [`initial_tangents`] grid.
    fn add_initial_tangents(&mut self) {
        // Users per server (for the tangent grid).
        let servers = self.problem.servers.len();
        let mut offloaders = vec![0usize; servers];
        for options in &self.opts.options {
            for (s, count) in offloaders.iter_mut().enumerate() {
                if options.iter().any(|o| o.server == Some(s)) {
                    *count += 1;
                }
            }
        }
        let grids: Vec<Vec<f64>> = offloaders.iter().map(|&c| initial_tangents(c)).collect();
        for slot in &self.tangent_slots {
            let server = self.opts.options[slot.0][slot.1].server.unwrap_or(0);
            for &p in &grids[server] {
                self.m.constrain(tangent_row(slot, p));
            }
        }
    }

    /// Per server: blocks at most `N_m`, compute shares at most 1.
    fn add_server_capacity(&mut self) {
        for s in 0..self.problem.servers.len() {
            let server = &self.problem.servers[s];
            let blocks = std::mem::take(&mut self.block_sum[s]);
            self.m.constrain_named(
                format!("resource_blocks[{}]", server.name),
                constraint!(blocks <= server.resource_blocks as f64),
            );
            let shares = std::mem::take(&mut self.share_sum[s]);
            self.m.constrain_named(
                format!("compute[{}]", server.name),
                constraint!(shares <= 1),
            );
        }
    }

    /// Per server with a finite memory: private bytes plus the shared bytes of every layer some
    /// user runs there, at most the server's memory (bytes, scaled to 1).
    fn add_memory(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        for (s, used) in memory.into_iter().enumerate() {
            let mut used = used;
            let limit = self.problem.servers[s].memory_bytes;
            if !limit.is_finite() {
                continue;
            }
            for i in 0..self.opts.shared.len() {
                self.add_shared_layers(s, i, &mut used);
            }
            self.m.constrain_named(
                format!("memory[{}]", self.problem.servers[s].name),
                constraint!((1.0 / limit) * used <= 1),
            );
        }
    }

    /// Adds to `used` (bytes on server `s`) the shared bytes of model `i`: per layer a `z_l`
    /// at least every member's `x` of options running layer `l` on `s`, and the tied
    /// embedding stored again when the head is there but not the embedding.
    fn add_shared_layers(&mut self, s: usize, i: usize, used: &mut Expression) {
        let opts = self.opts;
        let shared = &opts.shared[i];
        let members: Vec<usize> = (0..self.problem.users.len())
            .filter(|&k| opts.user_model[k] == i)
            .filter(|&k| opts.options[k].iter().any(|o| o.server == Some(s)))
            .collect();
        if members.is_empty() || (shared.iter().all(|b| *b == 0.0) && opts.tied[i] == 0.0) {
            return;
        }
        let layers = shared.len();
        let server = &self.problem.servers[s].name;
        let z: Vec<Variable> = (0..layers)
            .map(|l| {
                let name = format!("shared_layer[{server},model{i},layer{l}]");
                self.m.add(variable().min(0).max(1).name(name))
            })
            .collect();
        for &k in &members {
            for (l, &z_l) in z.iter().enumerate() {
                let mut on_server = Expression::from(0);
                for (o, opt) in opts.options[k].iter().enumerate() {
                    if opt.server == Some(s) && opt.cut <= l {
                        on_server.add_mul(1.0, self.x[k][o]);
                    }
                }
                let user = &self.problem.users[k].name;
                let name = format!("shared_layer[{server},{user},layer{l}]");
                self.m.constrain_named(name, constraint!(z_l >= on_server));
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

    /// Each user's latency at most its deadline (scaled to 1).
    fn add_deadlines(&mut self) {
        for (k, u) in self.problem.users.iter().enumerate() {
            if let Some(d) = u.deadline_s {
                self.m.constrain_named(
                    format!("deadline[{}]", u.name),
                    constraint!((self.unit / d) * self.latency[k].clone() <= 1),
                );
            }
        }
    }

    /// The objective (the largest latency `T`, their sum or weighted sum, in the time unit,
    /// weights divided by the largest) and the finished MILP.
    fn finish(self) -> AllocMilp {
        let Builder {
            problem,
            mut m,
            x,
            phi,
            latency,
            unit,
            tangent_slots,
            groups,
            secant_slots,
            floor,
            ..
        } = self;
        let largest_weight = match problem.objective {
            AllocObjective::WeightedSum => problem
                .users
                .iter()
                .map(|u| u.weight)
                .fold(0.0, f64::max)
                .max(f64::MIN_POSITIVE),
            _ => 1.0,
        };
        let objective = match problem.objective {
            AllocObjective::MinMax => {
                let t = m.add(variable().min(0).name("largest_latency"));
                for (k, lat) in latency.iter().enumerate() {
                    let name = format!("largest_latency[{}]", problem.users[k].name);
                    m.constrain_named(name, constraint!(t >= lat.clone()));
                }
                if let Some(floor) = floor {
                    m.constrain_named("largest_latency_floor", constraint!(t >= floor / unit));
                }
                Expression::from(t)
            }
            AllocObjective::Sum | AllocObjective::WeightedSum => {
                let mut total = Expression::with_capacity(problem.users.len() * 8);
                for (k, lat) in latency.into_iter().enumerate() {
                    let w = if problem.objective == AllocObjective::Sum {
                        1.0
                    } else {
                        problem.users[k].weight / largest_weight
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
                group_blocks: groups
                    .iter()
                    .map(|g| problem.servers[g.server].resource_blocks)
                    .collect(),
                x,
                phi,
                groups: groups
                    .into_iter()
                    .map(|g| (g.user, g.options, g.n))
                    .collect(),
            },
            tangent_slots,
            secant_slots,
            objective_scale: unit * largest_weight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::initial_secants;

    /// Every `j` up to 16, then steps of at most 10% (rounded up), ending at `blocks - 1`.
    #[test]
    fn initial_secants_cover_the_range() {
        assert!(initial_secants(1).is_empty());
        assert_eq!(initial_secants(2), vec![1]);
        assert_eq!(initial_secants(17), (1..=16).collect::<Vec<_>>());
        for blocks in [18, 50, 100, 273, 1000] {
            let js = initial_secants(blocks);
            assert_eq!(js[..16], (1..=16).collect::<Vec<_>>()[..]);
            assert_eq!(*js.last().unwrap(), blocks - 1);
            for w in js.windows(2) {
                assert!(
                    w[0] < w[1] && (w[1] as f64) <= (w[0] as f64 * 1.1).ceil(),
                    "{w:?}"
                );
            }
        }
        assert!(
            initial_secants(273).len() < 60,
            "{}",
            initial_secants(273).len()
        );
    }
}
