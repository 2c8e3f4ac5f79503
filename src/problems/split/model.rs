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
//! **Constraints.** Per-tier memory `sum_l x_{l,t} m_l + w_t * tied <= M_t`, where
//! `w_t >= x_{head,t} - x_{embed,t}`, `w_t in [0,1]` charges the tied embedding matrix again on the
//! head's tier when the embedding runs elsewhere; `T <= deadline`; `E <= budget`; the placement
//! rules as fixings of `d` and `u`.
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
    let mut m = Milp::new();
    let vars = Binaries::add(&mut m, problem);
    let (latency, energy) = latency_and_energy(problem, coef, &vars);
    add_memory(&mut m, problem, coef, &vars);
    if let Some(deadline) = problem.deadline_s {
        m.constrain(constraint!((1.0 / deadline) * latency.clone() <= 1));
    }
    if let Some(budget) = problem.device_energy_budget_j {
        m.constrain(constraint!((1.0 / budget) * energy.clone() <= 1));
    }
    add_rules(&mut m, problem, &vars);

    let (a, b) = problem.objective.weights();
    let objective = a * latency.clone() + b * energy.clone();
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

        let d: Vec<Variable> = (0..n).map(|_| m.add(variable().binary())).collect();
        let u: Vec<Variable> = (0..n).map(|_| m.add(variable().binary())).collect();
        for l in 0..n {
            m.constrain(constraint!(u[l] >= d[l]));
            if l + 1 < n {
                m.constrain(constraint!(d[l] >= d[l + 1]));
                m.constrain(constraint!(u[l] >= u[l + 1]));
            }
            if !has_edge {
                m.constrain(constraint!(u[l] == d[l]));
            }
            if !has_cloud {
                m.constrain(constraint!(u[l] == 1));
            }
            if !off_device {
                m.constrain(constraint!(d[l] == 1));
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

/// End-to-end latency `T` (s) and device energy `E` (J) as expressions: compute per tier, the
/// radio cut `s_p` and the backhaul cut `g_p`; the device idles at its idle power all along.
fn latency_and_energy(
    problem: &SplitProblem,
    coef: &Coefficients,
    vars: &Binaries,
) -> (Expression, Expression) {
    let (d, u) = (&vars.d, &vars.u);
    let mut latency = Expression::from(0);
    let mut device_busy = Expression::from(0);
    let idle = problem.tiers[0]
        .as_ref()
        .map_or(0.0, |t| t.device.power_idle_w);
    for (l, row) in coef.compute.iter().enumerate() {
        for t in Tier::ALL {
            if let Some(c) = row[t.index()] {
                latency += c.latency_s * vars.x(l, t);
            }
        }
        if let Some(c) = row[0] {
            device_busy += (c.energy_j - idle * c.latency_s) * d[l];
        }
    }
    let mut radio_energy = Expression::from(0);
    for p in 0..problem.layers() {
        let s = prev(d, p) - d[p];
        let g = prev(u, p) - u[p];
        let r = &coef.radio[p];
        latency += r.latency_s * s.clone();
        radio_energy +=
            ((problem.tx_power_w - idle) * r.tx_s + (problem.rx_power_w - idle) * r.rx_s) * s;
        latency += coef.backhaul[p].latency_s * g;
    }
    let energy = idle * latency.clone() + device_busy + radio_energy;
    (latency, energy)
}

/// Per present tier with finite memory: the layers' bytes plus the tied embedding charged
/// again on the head's tier, at most its memory (bytes, normalised to 1).
fn add_memory(m: &mut Milp, problem: &SplitProblem, coef: &Coefficients, vars: &Binaries) {
    let n = problem.layers();
    for t in Tier::ALL {
        let Some(res) = &problem.tiers[t.index()] else {
            continue;
        };
        let mut used = Expression::from(0);
        for (l, &bytes) in coef.memory.iter().enumerate() {
            used += bytes * vars.x(l, t);
        }
        if coef.tied_extra > 0.0 && t != Tier::Device {
            let w = m.add(variable().min(0).max(1));
            m.constrain(constraint!(w >= vars.x(n - 1, t) - vars.x(0, t)));
            used += coef.tied_extra * w;
        }
        // Limits are normalised to 1 so that HiGHS's absolute feasibility tolerance acts as a
        // relative one, whatever the units.
        if res.memory_bytes.is_finite() {
            m.constrain(constraint!((1.0 / res.memory_bytes) * used <= 1));
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
        m.constrain(constraint!(d[0] == 1));
    }
    if let Some(k) = rules.min_device_layers.filter(|&k| k > 0) {
        m.constrain(constraint!(d[k.min(n) - 1] == 1));
        if k > n {
            // More device layers than the model has: infeasible by construction.
            m.constrain(constraint!(d[0] == 0));
        }
    }
    if let Some(k) = rules.max_device_layers {
        if k < n {
            m.constrain(constraint!(d[k] == 0));
        }
    }
    for &(l, t) in &rules.pinned {
        m.constrain(constraint!(vars.x(l, t) == 1));
    }
    for &(l, t) in &rules.forbidden {
        m.constrain(constraint!(vars.x(l, t) == 0));
    }
}
