//! The independent evaluator: simulates a plan pass by pass (prefill, every decode step, or every
//! training step's forward and backward pass), moving the data the next layer needs along the
//! links whenever consecutive layers run on different tiers. It does not use [`Coefficients`]
//! (the aggregated per-cut costs of the MILP and the enumeration), so agreement between the two is
//! a real check. It accepts any assignment, contiguous or not, and lists every violated
//! constraint.
//!
//! [`Coefficients`]: super::Coefficients

use serde::Serialize;

use super::{Pass, SplitPlan, SplitProblem, Tier};
use crate::costs::latency::Cost;
use crate::error::{Error, Result};
pub use crate::solve::violation::{within, Violation, TOLERANCE};

/// Traffic and time of one link between adjacent tiers, summed over the workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkUse {
    /// Bytes sent towards the cloud.
    pub bytes_up: f64,
    /// Bytes sent towards the device.
    pub bytes_down: f64,
    /// Time on the link (transfer plus half a round trip per crossing), s.
    pub time_s: f64,
    /// One-way crossings.
    pub crossings: f64,
}

/// A place where consecutive layers run on different tiers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cut {
    /// The last layer below the cut.
    pub after_layer: usize,
    /// Tier of that layer.
    pub from: Tier,
    /// Tier of the next layer.
    pub to: Tier,
    /// Activation bytes per pass crossing upwards, for the first pass (prefill or a training
    /// step).
    pub bytes_first_pass: f64,
    /// Bytes per decode step (inference only).
    pub bytes_per_decode_step: Option<f64>,
}

/// Everything the evaluator recomputes for a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// End-to-end latency, s.
    pub latency_s: f64,
    /// Device energy, J.
    pub energy_j: f64,
    /// The instance's objective.
    pub objective: f64,
    /// Compute time per tier (device, edge, cloud), s.
    pub compute_s: [f64; 3],
    /// Device-edge radio link use.
    pub wireless: LinkUse,
    /// Edge-cloud backhaul use.
    pub backhaul: LinkUse,
    /// Device energy split: computing, radio, idle, J.
    pub energy_compute_j: f64,
    /// Radio transmit and receive energy, J.
    pub energy_radio_j: f64,
    /// Idle energy while waiting for the other tiers, J.
    pub energy_idle_j: f64,
    /// Memory used per tier, bytes.
    pub memory_bytes: [f64; 3],
    /// Memory available per tier (`None`: tier absent), bytes.
    pub memory_limit_bytes: [Option<f64>; 3],
    /// Layers per tier.
    pub layers_per_tier: [usize; 3],
    /// The cuts of the plan.
    pub cuts: Vec<Cut>,
    /// Violated constraints; empty for a feasible plan.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// Whether every constraint holds.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The pass-by-pass simulation of a plan: compute per tier, link use and the cuts' bytes.
struct Sim<'a> {
    problem: &'a SplitProblem,
    /// The plan's tier of each layer.
    assignment: &'a [Tier],
    /// Wireless and backhaul use.
    links: [LinkUse; 2],
    /// Device radio transmit time, s.
    tx_s: f64,
    /// Device radio receive time, s.
    rx_s: f64,
    /// Compute latency (s) and energy (J) per tier (device, edge, cloud).
    compute: [Cost; 3],
    /// The plan's cuts, with the bytes that cross them.
    cuts: Vec<Cut>,
}

impl<'a> Sim<'a> {
    /// A simulation of `assignment` (one tier per layer) with nothing run yet.
    fn new(problem: &'a SplitProblem, assignment: &'a [Tier]) -> Sim<'a> {
        let a = assignment;
        let cuts = (1..a.len())
            .filter(|&l| a[l] != a[l - 1])
            .map(|l| Cut {
                after_layer: l - 1,
                from: a[l - 1],
                to: a[l],
                bytes_first_pass: 0.0,
                bytes_per_decode_step: None,
            })
            .collect();
        Sim {
            problem,
            assignment,
            links: [LinkUse::default(); 2],
            tx_s: 0.0,
            rx_s: 0.0,
            compute: [Cost::default(); 3],
            cuts,
        }
    }

    /// Moves `bytes` from tier `from` to tier `to`, `repeat` times.
    fn transfer(&mut self, from: Tier, to: Tier, bytes: f64, repeat: f64) {
        let (a, b) = (from.index(), to.index());
        let links = [self.problem.wireless, self.problem.backhaul];
        let range = if a < b { a..b } else { b..a };
        for k in range {
            let Some(link) = links[k] else { continue };
            let rate = if a < b {
                link.uplink_bps
            } else {
                link.downlink_bps
            };
            let airtime = 8.0 * bytes / rate;
            let u = &mut self.links[k];
            u.time_s += repeat * (airtime + link.rtt_s / 2.0);
            u.crossings += repeat;
            if a < b {
                u.bytes_up += repeat * bytes;
            } else {
                u.bytes_down += repeat * bytes;
            }
            if k == 0 {
                if a < b {
                    self.tx_s += repeat * airtime;
                } else {
                    self.rx_s += repeat * airtime;
                }
            }
        }
    }

    /// Adds `repeat` times the cost `c` (s, J) to tier `t`'s compute.
    fn add_compute(&mut self, t: Tier, c: Cost, repeat: f64) {
        self.compute[t.index()].latency_s += repeat * c.latency_s;
        self.compute[t.index()].energy_j += repeat * c.energy_j;
    }

    /// Runs `pass`, `repeat` times: the forward pass, then the sampled token back to the device
    /// (inference) or the backward pass (training).
    fn run_pass(&mut self, pass: Pass, repeat: f64) {
        let loc = self.forward(pass, repeat);
        match pass {
            Pass::Prefill | Pass::Decode(_) => {
                // The sampled token goes back to the device.
                if loc != Tier::Device {
                    let layers = &self.problem.table.layers;
                    let bytes = layers[layers.len() - 1].out_bytes_per_token;
                    self.transfer(loc, Tier::Device, bytes, repeat);
                }
            }
            Pass::Train => self.backward(loc, repeat),
        }
    }

    /// The forward pass from the embedding up, moving each layer's input to its tier and
    /// recording the bytes that cross each cut; returns the tier of the head.
    fn forward(&mut self, pass: Pass, repeat: f64) -> Tier {
        let problem = self.problem;
        let mut loc = Tier::Device;
        for l in 0..self.assignment.len() {
            let t = self.assignment[l];
            if t != loc {
                let mut bytes = problem.work().input_bytes(l, pass);
                if pass == Pass::Train {
                    bytes += problem.work().label_bytes();
                }
                self.transfer(loc, t, bytes, repeat);
                if let Some(cut) = self.cuts.iter_mut().find(|c| c.after_layer + 1 == l) {
                    match pass {
                        Pass::Prefill | Pass::Train => cut.bytes_first_pass = bytes,
                        Pass::Decode(_) => cut.bytes_per_decode_step = Some(bytes),
                    }
                }
                loc = t;
            }
            let Some(res) = problem.tiers[t.index()].as_ref() else {
                continue;
            };
            let c = problem
                .work()
                .forward_cost(&problem.table.layers[l], pass, res.timer());
            self.add_compute(t, c, repeat);
        }
        loc
    }

    /// The backward pass of a training step from the head (on tier `loc`) down, moving the
    /// gradients across the cuts where anything below needs them.
    fn backward(&mut self, mut loc: Tier, repeat: f64) {
        let problem = self.problem;
        for l in (0..self.assignment.len()).rev() {
            let t = self.assignment[l];
            if t != loc {
                // The gradient of layer l's output crosses, when anything below needs it.
                if problem.work().gradient_crosses(l + 1) {
                    let bytes = problem.work().input_bytes(l + 1, Pass::Train);
                    self.transfer(loc, t, bytes, repeat);
                }
                loc = t;
            }
            let Some(res) = problem.tiers[t.index()].as_ref() else {
                continue;
            };
            let c = problem
                .work()
                .backward_cost(&problem.table.layers[l], res.timer());
            self.add_compute(t, c, repeat);
        }
    }

    /// End-to-end latency (s) and the device energy split (J).
    fn totals(&self) -> Totals {
        let problem = self.problem;
        let latency_s = self.compute.iter().map(|c| c.latency_s).sum::<f64>()
            + self.links[0].time_s
            + self.links[1].time_s;
        let idle_w = problem.tiers[Tier::Device.index()]
            .as_ref()
            .map_or(0.0, |r| r.device.power_idle_w);
        let energy_compute_j = self.compute[0].energy_j;
        let energy_radio_j = problem.tx_power_w * self.tx_s + problem.rx_power_w * self.rx_s;
        let idle_s = latency_s - self.compute[0].latency_s - self.tx_s - self.rx_s;
        let energy_idle_j = idle_w * idle_s;
        let energy_j = energy_compute_j + energy_radio_j + energy_idle_j;
        Totals {
            latency_s,
            energy_j,
            energy_compute_j,
            energy_radio_j,
            energy_idle_j,
        }
    }
}

/// The simulation's totals: latency in s, device energy in J.
struct Totals {
    latency_s: f64,
    energy_j: f64,
    energy_compute_j: f64,
    energy_radio_j: f64,
    energy_idle_j: f64,
}

/// Pushes a violation of `constraint`.
fn violate(violations: &mut Vec<Violation>, constraint: &str, message: String) {
    violations.push(Violation {
        constraint: constraint.into(),
        message,
    })
}

/// Evaluates `plan` on `problem`. Errors only when the plan does not match the model's layer
/// count; constraint violations are reported in the result.
pub fn evaluate(problem: &SplitProblem, plan: &SplitPlan) -> Result<Evaluation> {
    let n = problem.layers();
    if plan.assignment.len() != n {
        return Err(Error::option(
            "assignment",
            format!(
                "the plan assigns {} layers but model `{}` has {} (embed, {} blocks, head)",
                plan.assignment.len(),
                problem.table.model,
                n,
                n.saturating_sub(2)
            ),
        ));
    }
    let a = &plan.assignment;
    let mut violations = Vec::new();
    check_tiers(problem, plan, &mut violations);

    let mut sim = Sim::new(problem, a);
    for (pass, repeat) in problem.work().passes() {
        sim.run_pass(pass, repeat);
    }
    let totals = sim.totals();

    let memory_bytes = memory_use(problem, a);
    let memory_limit_bytes =
        Tier::ALL.map(|t| problem.tiers[t.index()].as_ref().map(|r| r.memory_bytes));
    check_memory(problem, &memory_bytes, &memory_limit_bytes, &mut violations);
    check_limits(problem, &totals, &mut violations);
    check_rules(problem, a, &mut violations);

    let layers_per_tier = Tier::ALL.map(|t| plan.count(t));
    let Totals {
        latency_s,
        energy_j,
        energy_compute_j,
        energy_radio_j,
        energy_idle_j,
    } = totals;
    Ok(Evaluation {
        latency_s,
        energy_j,
        objective: problem.objective.value(latency_s, energy_j),
        compute_s: sim.compute.map(|c| c.latency_s),
        wireless: sim.links[0],
        backhaul: sim.links[1],
        energy_compute_j,
        energy_radio_j,
        energy_idle_j,
        memory_bytes,
        memory_limit_bytes,
        layers_per_tier,
        cuts: sim.cuts,
        violations,
    })
}

/// Pushes the tiers the plan uses that the instance lacks or no link reaches, and a
/// non-contiguous assignment.
fn check_tiers(problem: &SplitProblem, plan: &SplitPlan, violations: &mut Vec<Violation>) {
    let a = &plan.assignment;
    for t in Tier::ALL {
        let count = a.iter().filter(|&&x| x == t).count();
        if count == 0 {
            continue;
        }
        if !problem.has_tier(t) {
            violate(
                violations,
                "tier",
                format!("{count} layer(s) assigned to the {t}, but the instance has no {t} tier"),
            );
        } else if (t >= Tier::Edge && problem.wireless.is_none())
            || (t == Tier::Cloud && problem.backhaul.is_none())
        {
            violate(
                violations,
                "tier",
                format!("{count} layer(s) assigned to the {t}, which no link reaches"),
            );
        }
    }
    if plan.cuts().is_none() {
        violate(
            violations,
            "contiguity",
            "tiers must be contiguous in the order device | edge | cloud along the layer chain"
                .into(),
        );
    }
}

/// Memory each tier needs for the assignment `a`, bytes (a tied embedding matrix counted again
/// where the head runs apart from the embedding).
fn memory_use(problem: &SplitProblem, a: &[Tier]) -> [f64; 3] {
    let n = a.len();
    let mut memory_bytes = [0.0; 3];
    for (l, layer) in problem.table.layers.iter().enumerate() {
        memory_bytes[a[l].index()] += problem.layer_memory_bytes(layer);
    }
    if a[n - 1] != a[0] {
        memory_bytes[a[n - 1].index()] += problem.tied_extra_bytes();
    }
    memory_bytes
}

/// Pushes each tier whose memory use exceeds its limit (bytes).
fn check_memory(
    problem: &SplitProblem,
    memory_bytes: &[f64; 3],
    memory_limit_bytes: &[Option<f64>; 3],
    violations: &mut Vec<Violation>,
) {
    for t in Tier::ALL {
        let res = problem.tiers[t.index()].as_ref();
        if let (Some(limit), Some(res)) = (memory_limit_bytes[t.index()], res) {
            let used = memory_bytes[t.index()];
            if !within(used, limit) {
                violate(
                    violations,
                    &format!("memory.{t}"),
                    format!(
                        "the {t} ({}) needs {} but has {}",
                        res.device.name,
                        gb(used),
                        gb(limit)
                    ),
                );
            }
        }
    }
}

/// Pushes a missed deadline (s) and an exceeded device energy budget (J).
fn check_limits(problem: &SplitProblem, totals: &Totals, violations: &mut Vec<Violation>) {
    let (latency_s, energy_j) = (totals.latency_s, totals.energy_j);
    if let Some(deadline) = problem.deadline_s {
        if !within(latency_s, deadline) {
            violate(
                violations,
                "deadline",
                format!("end-to-end latency {latency_s:.6} s exceeds the deadline {deadline} s"),
            );
        }
    }
    if let Some(budget) = problem.device_energy_budget_j {
        if !within(energy_j, budget) {
            violate(
                violations,
                "energy_budget",
                format!("device energy {energy_j:.6} J exceeds the budget {budget} J"),
            );
        }
    }
}

/// Pushes the placement rules the assignment `a` breaks: embedding on the device, device layer
/// counts, pinned and forbidden layers.
fn check_rules(problem: &SplitProblem, a: &[Tier], violations: &mut Vec<Violation>) {
    let rules = &problem.rules;
    let on_device = a.iter().filter(|&&t| t == Tier::Device).count();
    if rules.embed_on_device && a[0] != Tier::Device {
        violate(
            violations,
            "embed_on_device",
            format!(
                "the embedding (layer 0) runs on the {} but must stay on the device",
                a[0]
            ),
        );
    }
    if let Some(k) = rules.min_device_layers {
        if on_device < k {
            violate(
                violations,
                "min_device_layers",
                format!("{on_device} layer(s) on the device, at least {k} required"),
            );
        }
    }
    if let Some(k) = rules.max_device_layers {
        if on_device > k {
            violate(
                violations,
                "max_device_layers",
                format!("{on_device} layer(s) on the device, at most {k} allowed"),
            );
        }
    }
    for &(l, t) in &rules.pinned {
        if a[l] != t {
            violate(
                violations,
                "pin",
                format!("layer {l} is pinned to the {t} but runs on the {}", a[l]),
            );
        }
    }
    for &(l, t) in &rules.forbidden {
        if a[l] == t {
            violate(
                violations,
                "forbid",
                format!("layer {l} may not run on the {t}"),
            );
        }
    }
}

/// Bytes as GB (10^9) with two decimals.
pub fn gb(bytes: f64) -> String {
    format!("{:.2} GB", bytes / 1e9)
}
