//! The cut-layer MILP (docs/split.md).
//!
//! **Variables.** For every layer `l = 0..n` two binaries: `d_l` (layer on the device) and `u_l`
//! (layer on the device or the edge). The tier indicators are `x_dev = d_l`, `x_edge = u_l - d_l`,
//! `x_cloud = 1 - u_l`. Contiguity is `d_l >= d_{l+1}`, `u_l >= u_{l+1}`, `u_l >= d_l`; an absent
//! tier fixes `u = d` (no edge) or `u = 1` (no cloud, or no backhaul); no radio link fixes `d = 1`.
//!
//! **Cuts.** With `d_{-1} = u_{-1} = 1`, `s_p = d_{p-1} - d_p` is 1 exactly when `p` is the first
//! off-device layer and `g_p = u_{p-1} - u_p` when `p` is the first cloud layer; both are linear
//! in the binaries, so no extra variables are needed. Every cut cost (activations up, the token or
//! gradients down, half a round trip per crossing, over all passes) is precomputed per position in
//! [`Coefficients`].
//!
//! **Objective.** Latency `T = sum_l sum_t x_{l,t} C_{l,t} + sum_p s_p R_p + sum_p g_p B_p`.
//! Device energy `E = idle * T + sum_l d_l (e_l - idle * c_l) + sum_p s_p ((P_tx - idle) tx_p +
//! (P_rx - idle) rx_p)`: idle power all along, replaced by busy power while the device computes and
//! by radio power while it transmits or receives. Minimise `a T + b E`.
//!
//! `E` is built as the equal sum of non-negative terms (see `Terms::new`).
//!
//! **Constraints.** Per-tier memory `sum_l x_{l,t} m_l + w_t * tied <= M_t`, where
//! `w_t >= x_{head,t} - x_{embed,t}`, `w_t in [0,1]` charges the tied embedding matrix again on the
//! head's tier when the embedding runs elsewhere; `T <= deadline`; `E <= budget`; the placement
//! rules as fixings of `d` and `u`. In the memory, deadline and budget rows every term is taken at
//! most twice the limit, which changes no plan's feasibility (all terms are non-negative) and
//! bounds every coefficient; a row no plan can violate is left out.
//!
//! The formulation is exact: every contiguous plan maps to exactly one binary point and the cost
//! model is linear in the tier indicators and cut indicators.

use good_lp::{constraint, variable, Expression, Variable};

use super::{Coefficients, SplitPlan, SplitProblem, Tier};
use crate::solve::milp::{Milp, Values};

/// The built model with the handles the decoder needs.
pub struct SplitMilp {
    /// The model, ready to solve.
    pub milp: Milp,
    /// `a T + b E`.
    pub objective: Expression,
    /// End-to-end latency `T` as an expression.
    pub latency: Expression,
    /// Device energy `E` as an expression.
    pub energy: Expression,
    /// Reads plans off solutions.
    pub decoder: SplitDecoder,
}

/// The binaries of a built model, to turn a solution into a plan.
#[derive(Debug, Clone)]
pub struct SplitDecoder {
    d: Vec<Variable>,
    u: Vec<Variable>,
}

impl SplitDecoder {
    /// Reads the plan off a solution.
    pub fn decode(&self, values: &Values) -> SplitPlan {
        let assignment = self
            .d
            .iter()
            .zip(&self.u)
            .map(|(&d, &u)| {
                if values.is_set(d) {
                    Tier::Device
                } else if values.is_set(u) {
                    Tier::Edge
                } else {
                    Tier::Cloud
                }
            })
            .collect();
        SplitPlan { assignment }
    }
}

/// Builds the MILP of `problem` (no solving, no I/O).
pub fn build(problem: &SplitProblem, coef: &Coefficients) -> SplitMilp {
    build_capped(problem, coef, f64::INFINITY)
}

/// Builds the MILP of `problem` with every term of the objective (each a non-negative cost of one
/// layer on one tier or of one cut) taken at most `cap`. When `cap` is at least the optimum, the
/// optimal plans are the same as without the cap (an optimal plan has no term above the optimum,
/// and a plan with a capped term costs at least `cap`), and the objective's coefficients span no
/// more than `cap` down to the optimum's scale, which HiGHS's tolerances need: uncapped, a term
/// 10^12 times the optimum leaves the optimum below HiGHS's absolute tolerances.
pub fn build_capped(problem: &SplitProblem, coef: &Coefficients, cap: f64) -> SplitMilp {
    let mut m = Milp::new();
    let vars = Binaries::add(&mut m, problem);
    let terms = Terms::new(problem, coef);
    let latency = terms.latency.expression(&vars, f64::INFINITY);
    let energy = terms.energy.expression(&vars, f64::INFINITY);
    add_memory(&mut m, problem, coef, &vars);
    if let Some(deadline) = problem.deadline_s {
        add_limit(&mut m, "deadline", &terms.latency, &vars, deadline);
    }
    if let Some(budget) = problem.device_energy_budget_j {
        add_limit(&mut m, "energy_budget", &terms.energy, &vars, budget);
    }
    add_rules(&mut m, problem, &vars);

    let (a, b) = problem.objective.weights();
    let objective = terms.weighted(a, b).expression(&vars, cap);
    SplitMilp {
        milp: m,
        objective,
        latency,
        energy,
        decoder: SplitDecoder {
            d: vars.d,
            u: vars.u,
        },
    }
}

/// `sum <= limit` (a deadline in s or a budget in J) over a quantity that is a sum of
/// non-negative terms, each taken at most `2 * limit`: a plan with a term beyond the limit
/// violates it either way, so the feasible plans are the same, and no coefficient is more than
/// twice the limit (whatever the instance's extremes). Left out when no plan can exceed it.
fn add_limit(m: &mut Milp, name: &str, terms: &NonNegativeTerms, vars: &Binaries, limit: f64) {
    let cap = 2.0 * limit;
    if terms.max_total(cap) <= limit {
        return;
    }
    let sum = terms.expression(vars, cap);
    m.constrain_named(name, constraint!(sum <= limit));
}

/// The binaries `d_l` (layer on the device) and `u_l` (on the device or the edge).
struct Binaries {
    d: Vec<Variable>,
    u: Vec<Variable>,
}

impl Binaries {
    /// Adds the binaries of every layer to `m` with the contiguity rows and the fixings of
    /// absent or unreachable tiers.
    fn add(m: &mut Milp, problem: &SplitProblem) -> Binaries {
        let n = problem.layers();
        let has_edge = problem.has_tier(Tier::Edge);
        let reach_edge = problem.wireless.is_some();
        let has_cloud = problem.has_tier(Tier::Cloud) && problem.backhaul.is_some() && reach_edge;
        let off_device = reach_edge && (has_edge || has_cloud);

        let binaries = |m: &mut Milp, what: &str| -> Vec<Variable> {
            (0..n)
                .map(|l| m.add(variable().binary().name(format!("{what}[layer{l}]"))))
                .collect()
        };
        let d = binaries(m, "on_device");
        let u = binaries(m, "on_device_or_edge");
        for l in 0..n {
            m.constrain_named(format!("nested[layer{l}]"), constraint!(u[l] >= d[l]));
            if l + 1 < n {
                m.constrain_named(
                    format!("device_prefix[layer{l}]"),
                    constraint!(d[l] >= d[l + 1]),
                );
                m.constrain_named(
                    format!("device_or_edge_prefix[layer{l}]"),
                    constraint!(u[l] >= u[l + 1]),
                );
            }
            if !has_edge {
                m.constrain_named(format!("no_edge[layer{l}]"), constraint!(u[l] == d[l]));
            }
            if !has_cloud {
                m.constrain_named(format!("no_cloud[layer{l}]"), constraint!(u[l] == 1));
            }
            if !off_device {
                m.constrain_named(format!("device_only[layer{l}]"), constraint!(d[l] == 1));
            }
        }
        Binaries { d, u }
    }

    /// The indicator of layer `l` on tier `t`: `d_l`, `u_l - d_l` or `1 - u_l`.
    fn x(&self, l: usize, t: Tier) -> Expression {
        let (d, u) = (&self.d, &self.u);
        match t {
            Tier::Device => d[l].into(),
            Tier::Edge => u[l] - d[l],
            Tier::Cloud => 1 - u[l],
        }
    }
}

/// `v_{p-1}` as an expression, with `v_{-1} = 1`.
fn prev(v: &[Variable], p: usize) -> Expression {
    if p == 0 {
        Expression::from(1)
    } else {
        v[p - 1].into()
    }
}

/// A quantity as a sum of non-negative terms: `tier[l][t]` when layer `l` runs on tier `t`,
/// `radio[p]` when `p` is the first off-device layer, `backhaul[p]` when it is the first cloud
/// layer.
struct NonNegativeTerms {
    tier: Vec<[f64; 3]>,
    radio: Vec<f64>,
    backhaul: Vec<f64>,
}

impl NonNegativeTerms {
    /// The quantity as an expression of the binaries, each term taken at most `cap`.
    fn expression(&self, vars: &Binaries, cap: f64) -> Expression {
        let (d, u) = (&vars.d, &vars.u);
        let mut sum = Expression::from(0);
        for (l, row) in self.tier.iter().enumerate() {
            for t in Tier::ALL {
                let c = row[t.index()].min(cap);
                if c != 0.0 {
                    sum += c * vars.x(l, t);
                }
            }
        }
        for p in 0..self.radio.len() {
            let (r, b) = (self.radio[p].min(cap), self.backhaul[p].min(cap));
            if r != 0.0 {
                sum += r * (prev(d, p) - d[p]);
            }
            if b != 0.0 {
                sum += b * (prev(u, p) - u[p]);
            }
        }
        sum
    }

    /// `a * self + b * other`, term by term.
    fn combine(&self, a: f64, other: &NonNegativeTerms, b: f64) -> NonNegativeTerms {
        let mix = |x: f64, y: f64| {
            // A zero weight drops the term, whatever its size.
            (if a == 0.0 { 0.0 } else { a * x }) + (if b == 0.0 { 0.0 } else { b * y })
        };
        NonNegativeTerms {
            tier: self
                .tier
                .iter()
                .zip(&other.tier)
                .map(|(x, y)| [0, 1, 2].map(|t| mix(x[t], y[t])))
                .collect(),
            radio: self
                .radio
                .iter()
                .zip(&other.radio)
                .map(|(&x, &y)| mix(x, y))
                .collect(),
            backhaul: self
                .backhaul
                .iter()
                .zip(&other.backhaul)
                .map(|(&x, &y)| mix(x, y))
                .collect(),
        }
    }

    /// An upper bound of the quantity over all plans (each term at most `cap`): the dearest
    /// tier of every layer plus the dearest cut of each link.
    fn max_total(&self, cap: f64) -> f64 {
        let layers: f64 = self
            .tier
            .iter()
            .map(|row| row.iter().fold(0.0f64, |a, &c| a.max(c.min(cap))))
            .sum();
        let dearest = |v: &[f64]| v.iter().fold(0.0f64, |a, &c| a.max(c.min(cap)));
        layers + dearest(&self.radio) + dearest(&self.backhaul)
    }
}

/// End-to-end latency `T` (s) and device energy `E` (J) as sums of non-negative terms.
struct Terms {
    latency: NonNegativeTerms,
    energy: NonNegativeTerms,
}

impl Terms {
    /// The terms of `problem`: compute per tier, the radio cut and the backhaul cut. The device
    /// idles at its idle power whenever it neither computes nor uses its radio, so
    /// `E = sum_l [d_l e_l + idle (x_edge C_edge + x_cloud C_cloud)] + sum_p s_p (P_tx tx_p +
    /// P_rx rx_p + idle (R_p - tx_p - rx_p)) + sum_p g_p idle B_p`, which equals
    /// `idle T + sum_l d_l (e_l - idle c_l) + sum_p s_p ((P_tx - idle) tx_p + (P_rx - idle) rx_p)`
    /// without its cancellations.
    fn new(problem: &SplitProblem, coef: &Coefficients) -> Terms {
        let idle = problem.tiers[0]
            .as_ref()
            .map_or(0.0, |t| t.device.power_idle_w);
        let mut latency = NonNegativeTerms {
            tier: Vec::new(),
            radio: Vec::new(),
            backhaul: Vec::new(),
        };
        let mut energy = NonNegativeTerms {
            tier: Vec::new(),
            radio: Vec::new(),
            backhaul: Vec::new(),
        };
        for row in &coef.compute {
            let mut t_row = [0.0; 3];
            let mut e_row = [0.0; 3];
            for t in Tier::ALL {
                if let Some(c) = row[t.index()] {
                    t_row[t.index()] = c.latency_s;
                    e_row[t.index()] = if t == Tier::Device {
                        c.energy_j
                    } else {
                        idle * c.latency_s
                    };
                }
            }
            latency.tier.push(t_row);
            energy.tier.push(e_row);
        }
        for p in 0..problem.layers() {
            let r = &coef.radio[p];
            let b = &coef.backhaul[p];
            latency.radio.push(r.latency_s);
            latency.backhaul.push(b.latency_s);
            let waiting = (r.latency_s - r.tx_s - r.rx_s).max(0.0);
            energy
                .radio
                .push(problem.tx_power_w * r.tx_s + problem.rx_power_w * r.rx_s + idle * waiting);
            energy.backhaul.push(idle * b.latency_s);
        }
        Terms { latency, energy }
    }

    /// The objective `a T + b E` as non-negative terms.
    fn weighted(&self, a: f64, b: f64) -> NonNegativeTerms {
        self.latency.combine(a, &self.energy, b)
    }
}

/// Per present tier with finite memory: the layers' bytes plus the tied embedding charged
/// again on the head's tier, at most its memory (bytes, normalised to 1).
fn add_memory(m: &mut Milp, problem: &SplitProblem, coef: &Coefficients, vars: &Binaries) {
    let n = problem.layers();
    for t in Tier::ALL {
        let Some(res) = &problem.tiers[t.index()] else {
            continue;
        };
        if !res.memory_bytes.is_finite() {
            continue;
        }
        // Limits are normalised to 1 so that HiGHS's absolute feasibility tolerance acts as a
        // relative one, whatever the units; every term is non-negative, so one beyond the limit
        // is taken as twice the limit (the same plans fit, and no coefficient exceeds 2).
        let share = |bytes: f64| (bytes / res.memory_bytes).min(2.0);
        let mut used = Expression::from(0);
        let mut most = 0.0;
        for (l, &bytes) in coef.memory.iter().enumerate() {
            used += share(bytes) * vars.x(l, t);
            most += share(bytes);
        }
        if coef.tied_extra > 0.0 && t != Tier::Device {
            let w = m.add(
                variable()
                    .min(0)
                    .max(1)
                    .name(format!("tied_embedding[{}]", t.name())),
            );
            m.constrain_named(
                format!("tied_embedding[{}]", t.name()),
                constraint!(w >= vars.x(n - 1, t) - vars.x(0, t)),
            );
            used += share(coef.tied_extra) * w;
            most += share(coef.tied_extra);
        }
        if most > 1.0 {
            m.constrain_named(format!("memory[{}]", t.name()), constraint!(used <= 1));
        }
    }
}

/// The placement rules as fixings of `d` and `u`: embedding on the device, device layer
/// counts, pinned and forbidden layers.
fn add_rules(m: &mut Milp, problem: &SplitProblem, vars: &Binaries) {
    let n = problem.layers();
    let d = &vars.d;
    let rules = &problem.rules;
    if rules.embed_on_device {
        m.constrain_named("embedding_on_device", constraint!(d[0] == 1));
    }
    if let Some(k) = rules.min_device_layers.filter(|&k| k > 0) {
        m.constrain_named("min_device_layers", constraint!(d[k.min(n) - 1] == 1));
        if k > n {
            // More device layers than the model has: infeasible by construction.
            m.constrain_named("min_device_layers_beyond_model", constraint!(d[0] == 0));
        }
    }
    if let Some(k) = rules.max_device_layers {
        if k < n {
            m.constrain_named("max_device_layers", constraint!(d[k] == 0));
        }
    }
    for &(l, t) in &rules.pinned {
        m.constrain_named(
            format!("pinned[layer{l},{}]", t.name()),
            constraint!(vars.x(l, t) == 1),
        );
    }
    for &(l, t) in &rules.forbidden {
        m.constrain_named(
            format!("forbidden[layer{l},{}]", t.name()),
            constraint!(vars.x(l, t) == 0),
        );
    }
}
