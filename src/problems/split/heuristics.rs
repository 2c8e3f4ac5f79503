//! Exhaustive enumeration of every contiguous plan (the exact oracle of the MILP), the
//! all-device / all-edge / all-cloud baselines, and the explanation of infeasible instances.
//!
//! Enumeration visits every cut pair `(c1, c2)`, `0 <= c1 <= c2 <= n`, and prices each in O(1)
//! from prefix sums of the per-layer [`Coefficients`], so a whole instance costs O(n^2).

use super::{tier_at, Coefficients, SplitPlan, SplitProblem, Tier};
use crate::solve::violation::within;

/// Metrics of one contiguous plan computed from the coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutPlan {
    /// Device runs layers `0..c1`.
    pub c1: usize,
    /// Edge runs `c1..c2`, cloud `c2..n`.
    pub c2: usize,
    /// End-to-end latency, s.
    pub latency_s: f64,
    /// Device energy, J.
    pub energy_j: f64,
    /// Objective value.
    pub objective: f64,
    /// Memory per tier, bytes.
    pub memory: [f64; 3],
}

/// A constraint that can be relaxed by raising a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Limit {
    Memory(Tier),
    Deadline,
    Energy,
}

/// Prices every cut pair the tiers and links allow.
pub fn cut_plans(problem: &SplitProblem, coef: &Coefficients) -> Vec<CutPlan> {
    let n = problem.layers();
    let has_edge = problem.has_tier(Tier::Edge);
    let reach_edge = problem.wireless.is_some();
    let has_cloud = problem.has_tier(Tier::Cloud) && problem.backhaul.is_some() && reach_edge;
    let off_device = reach_edge && (has_edge || has_cloud);
    let idle = problem.tiers[0]
        .as_ref()
        .map_or(0.0, |t| t.device.power_idle_w);

    // Prefix sums: lat[t][k] = sum over l < k of the latency on tier t.
    let mut lat = [vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]];
    let mut busy = vec![0.0; n + 1];
    let mut mem = vec![0.0; n + 1];
    for l in 0..n {
        for (t, prefix) in lat.iter_mut().enumerate() {
            prefix[l + 1] = prefix[l] + coef.compute[l][t].map_or(0.0, |c| c.latency_s);
        }
        let dev = coef.compute[l][0].unwrap_or_default();
        busy[l + 1] = busy[l] + dev.energy_j - idle * dev.latency_s;
        mem[l + 1] = mem[l] + coef.memory[l];
    }
    let (wl, we) = problem.objective.weights();
    let mut plans = Vec::with_capacity((n + 1) * (n + 2) / 2);
    for c1 in 0..=n {
        if c1 < n && !off_device {
            continue;
        }
        for c2 in c1..=n {
            if c2 > c1 && !has_edge {
                continue;
            }
            if c2 < n && !has_cloud {
                continue;
            }
            let mut latency = lat[0][c1] + (lat[1][c2] - lat[1][c1]) + (lat[2][n] - lat[2][c2]);
            let mut radio_energy = 0.0;
            if c1 < n {
                let r = &coef.radio[c1];
                latency += r.latency_s;
                radio_energy =
                    (problem.tx_power_w - idle) * r.tx_s + (problem.rx_power_w - idle) * r.rx_s;
            }
            if c2 < n {
                latency += coef.backhaul[c2].latency_s;
            }
            let energy = idle * latency + busy[c1] + radio_energy;
            let mut memory = [mem[c1], mem[c2] - mem[c1], mem[n] - mem[c2]];
            let head = tier_at(c1, c2, n - 1);
            if head != tier_at(c1, c2, 0) {
                memory[head.index()] += coef.tied_extra;
            }
            plans.push(CutPlan {
                c1,
                c2,
                latency_s: latency,
                energy_j: energy,
                objective: wl * latency + we * energy,
                memory,
            });
        }
    }
    plans
}

/// Whether a cut pair satisfies the placement rules.
pub fn satisfies_rules(problem: &SplitProblem, c1: usize, c2: usize) -> bool {
    rule_violations(problem, c1, c2).is_empty()
}

/// Names of the placement rules a cut pair breaks.
fn rule_violations(problem: &SplitProblem, c1: usize, c2: usize) -> Vec<String> {
    let r = &problem.rules;
    let tier = |l: usize| tier_at(c1, c2, l);
    let mut out = Vec::new();
    if r.embed_on_device && c1 == 0 {
        out.push("embed_on_device".to_string());
    }
    if r.min_device_layers.is_some_and(|k| c1 < k) {
        out.push(format!(
            "min_device_layers = {}",
            r.min_device_layers.unwrap_or(0)
        ));
    }
    if r.max_device_layers.is_some_and(|k| c1 > k) {
        out.push(format!(
            "max_device_layers = {}",
            r.max_device_layers.unwrap_or(0)
        ));
    }
    for &(l, t) in &r.pinned {
        if tier(l) != t {
            out.push(format!("pin layer {l} to the {t}"));
        }
    }
    for &(l, t) in &r.forbidden {
        if tier(l) == t {
            out.push(format!("forbid layer {l} on the {t}"));
        }
    }
    out
}

/// The limits a priced plan exceeds, with the value it needs.
fn limit_violations(problem: &SplitProblem, p: &CutPlan) -> Vec<(Limit, f64)> {
    let mut out = Vec::new();
    for t in Tier::ALL {
        if let Some(res) = &problem.tiers[t.index()] {
            if !within(p.memory[t.index()], res.memory_bytes) {
                out.push((Limit::Memory(t), p.memory[t.index()]));
            }
        }
    }
    if let Some(dl) = problem.deadline_s {
        if !within(p.latency_s, dl) {
            out.push((Limit::Deadline, p.latency_s));
        }
    }
    if let Some(b) = problem.device_energy_budget_j {
        if !within(p.energy_j, b) {
            out.push((Limit::Energy, p.energy_j));
        }
    }
    out
}

/// The best feasible contiguous plan by exhaustive enumeration (ties: fewest device layers
/// first, then fewest edge layers), or `None` if no plan is feasible.
pub fn enumerate(problem: &SplitProblem, coef: &Coefficients) -> Option<CutPlan> {
    cut_plans(problem, coef)
        .into_iter()
        .filter(|p| satisfies_rules(problem, p.c1, p.c2))
        .filter(|p| limit_violations(problem, p).is_empty())
        .min_by(|a, b| a.objective.total_cmp(&b.objective))
}

/// A baseline: the whole model on one tier (it may violate constraints).
pub fn baseline(problem: &SplitProblem, tier: Tier) -> SplitPlan {
    let n = problem.layers();
    match tier {
        Tier::Device => SplitPlan::from_cuts(n, n, n),
        Tier::Edge => SplitPlan::from_cuts(n, 0, n),
        Tier::Cloud => SplitPlan::from_cuts(n, 0, 0),
    }
}

/// Explains why no plan is feasible, in the instance's terms: which rules conflict, or which
/// single limit could be raised (and to what) to make some plan feasible.
pub fn explain_infeasible(problem: &SplitProblem, coef: &Coefficients) -> Vec<String> {
    let plans = cut_plans(problem, coef);
    let user = format!(
        "the user (device {})",
        problem.tiers[0]
            .as_ref()
            .map_or("?", |r| r.device.name.as_str())
    );
    let allowed: Vec<&CutPlan> = plans
        .iter()
        .filter(|p| satisfies_rules(problem, p.c1, p.c2))
        .collect();
    if allowed.is_empty() {
        return vec![conflicting_rules(problem, &plans)];
    }
    let best = single_limit_relaxations(problem, &allowed);
    if best.is_empty() {
        // Two or more limits must move: show the plan with the smallest total relative excess.
        return closest_plan(problem, &allowed, &user).into_iter().collect();
    }
    best.into_iter()
        .map(|(limit, needed, p)| {
            let (name, have) = describe_limit(problem, limit);
            format!(
                "{user}: no plan meets {name}: it is {}, the best plan needs {} ({})",
                format_limit(limit, have),
                format_limit(limit, needed),
                plan_text(problem, p)
            )
        })
        .collect()
}

/// The line naming the rules that exclude every contiguous plan over the tiers: those that do
/// alone, else all of them together.
fn conflicting_rules(problem: &SplitProblem, plans: &[CutPlan]) -> String {
    // Which rules alone exclude every plan the tiers allow?
    let mut alone: Vec<String> = Vec::new();
    let all: Vec<Vec<String>> = plans
        .iter()
        .map(|p| rule_violations(problem, p.c1, p.c2))
        .collect();
    let mut names: Vec<String> = all.iter().flatten().cloned().collect();
    names.sort();
    names.dedup();
    for name in &names {
        if all.iter().all(|v| v.contains(name)) {
            alone.push(name.clone());
        }
    }
    let tiers: Vec<&str> = Tier::ALL
        .iter()
        .filter(|t| problem.has_tier(**t))
        .map(|t| t.name())
        .collect();
    if alone.is_empty() {
        format!(
            "no contiguous plan over the available tiers ({}) satisfies the placement rules together: {}",
            tiers.join(", "),
            names.join("; ")
        )
    } else {
        format!(
            "no contiguous plan over the available tiers ({}) can satisfy: {}",
            tiers.join(", "),
            alone.join("; ")
        )
    }
}

/// Single-limit relaxations: for each limit, the smallest value it must be raised to (bytes,
/// s or J) so that some rule-abiding plan meets every other limit, with that plan; in limit
/// order.
fn single_limit_relaxations<'p>(
    problem: &SplitProblem,
    allowed: &[&'p CutPlan],
) -> Vec<(Limit, f64, &'p CutPlan)> {
    let mut best: Vec<(Limit, f64, &CutPlan)> = Vec::new();
    for p in allowed {
        let v = limit_violations(problem, p);
        if let [(limit, needed)] = v.as_slice() {
            match best.iter_mut().find(|(l, _, _)| l == limit) {
                Some(entry) if *needed < entry.1 => *entry = (*limit, *needed, p),
                Some(_) => {}
                None => best.push((*limit, *needed, p)),
            }
        }
    }
    best.sort_by_key(|b| b.0);
    best
}

/// The line for the rule-abiding plan with the smallest total relative excess over the
/// limits, and what each limit it breaks would need.
fn closest_plan(problem: &SplitProblem, allowed: &[&CutPlan], user: &str) -> Option<String> {
    let worst = allowed
        .iter()
        .map(|p| {
            let v = limit_violations(problem, p);
            let excess: f64 = v
                .iter()
                .map(|(l, needed)| needed / describe_limit(problem, *l).1.max(1e-12) - 1.0)
                .sum();
            (excess, v, *p)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let (_, v, p) = worst?;
    let parts: Vec<String> = v
        .iter()
        .map(|(l, needed)| {
            let (name, have) = describe_limit(problem, *l);
            format!(
                "{name} from {} to {}",
                format_limit(*l, have),
                format_limit(*l, *needed)
            )
        })
        .collect();
    Some(format!(
        "no single limit can be relaxed to make a plan of {user} feasible; the closest plan ({}) needs: {}",
        plan_text(problem, p),
        parts.join(", ")
    ))
}

/// A limit's name in words and its value in the instance (bytes, s or J; 0 when absent).
fn describe_limit(problem: &SplitProblem, limit: Limit) -> (String, f64) {
    match limit {
        Limit::Memory(t) => {
            let res = problem.tiers[t.index()].as_ref();
            (
                format!(
                    "{t} memory ({})",
                    res.map_or("?", |r| r.device.name.as_str())
                ),
                res.map_or(0.0, |r| r.memory_bytes),
            )
        }
        Limit::Deadline => ("the deadline".into(), problem.deadline_s.unwrap_or(0.0)),
        Limit::Energy => (
            "the device energy budget".into(),
            problem.device_energy_budget_j.unwrap_or(0.0),
        ),
    }
}

/// A value of `limit` with its unit: GB for memory, s for the deadline, J for energy.
fn format_limit(limit: Limit, v: f64) -> String {
    match limit {
        Limit::Memory(_) => format!("{:.3} GB", v / 1e9),
        Limit::Deadline => format!("{v:.4} s"),
        Limit::Energy => format!("{v:.4} J"),
    }
}

/// Which layers plan `p` runs on which tier, in words.
fn plan_text(problem: &SplitProblem, p: &CutPlan) -> String {
    let n = problem.layers();
    let part = |lo: usize, hi: usize, tier: &str| {
        if lo == hi {
            format!("none on the {tier}")
        } else {
            format!("layers {lo}..{hi} on the {tier}")
        }
    };
    format!(
        "{}, {}, {}",
        part(0, p.c1, "device"),
        part(p.c1, p.c2, "edge"),
        part(p.c2, n, "cloud")
    )
}
