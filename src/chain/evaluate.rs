//! The independent evaluator: simulates a plan pass by pass (prefill, every decode step, or every
//! training step's forward and backward pass), moving the data the next layer needs along the
//! links whenever consecutive layers run on different tiers. It does not use [`Coefficients`]
//! (the aggregated per-cut costs of the MILP and the enumeration), so agreement between the two is
//! a real check. It accepts any assignment, contiguous or not, and lists every violated
//! constraint.
//!
//! [`Coefficients`]: super::Coefficients

use serde::Serialize;

use super::{Pass, SplitPlan, SplitProblem, Tier, Workload};
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

struct Sim<'a> {
    problem: &'a SplitProblem,
    links: [LinkUse; 2],
    tx_s: f64,
    rx_s: f64,
}

impl Sim<'_> {
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
    let layers = &problem.table.layers;
    let mut violations = Vec::new();
    let mut violate = |constraint: &str, message: String| {
        violations.push(Violation {
            constraint: constraint.into(),
            message,
        })
    };

    // Tier availability and reachability.
    for t in Tier::ALL {
        let count = a.iter().filter(|&&x| x == t).count();
        if count == 0 {
            continue;
        }
        if !problem.has_tier(t) {
            violate(
                "tier",
                format!("{count} layer(s) assigned to the {t}, but the instance has no {t} tier"),
            );
        } else if (t >= Tier::Edge && problem.wireless.is_none())
            || (t == Tier::Cloud && problem.backhaul.is_none())
        {
            violate(
                "tier",
                format!("{count} layer(s) assigned to the {t}, which no link reaches"),
            );
        }
    }
    if plan.cuts().is_none() {
        violate(
            "contiguity",
            "tiers must be contiguous in the order device | edge | cloud along the layer chain"
                .into(),
        );
    }

    let mut sim = Sim {
        problem,
        links: [LinkUse::default(); 2],
        tx_s: 0.0,
        rx_s: 0.0,
    };
    let mut compute = [Cost::default(); 3];
    let mut cuts: Vec<Cut> = (1..n)
        .filter(|&l| a[l] != a[l - 1])
        .map(|l| Cut {
            after_layer: l - 1,
            from: a[l - 1],
            to: a[l],
            bytes_first_pass: 0.0,
            bytes_per_decode_step: None,
        })
        .collect();
    let tier_res = |t: Tier| problem.tiers[t.index()].as_ref();

    for (pass, repeat) in problem.passes() {
        // Forward.
        let mut loc = Tier::Device;
        for l in 0..n {
            let t = a[l];
            if t != loc {
                let mut bytes = problem.input_bytes(l, pass);
                if pass == Pass::Train {
                    bytes += problem.label_bytes();
                }
                sim.transfer(loc, t, bytes, repeat);
                if let Some(cut) = cuts.iter_mut().find(|c| c.after_layer + 1 == l) {
                    match pass {
                        Pass::Prefill | Pass::Train => cut.bytes_first_pass = bytes,
                        Pass::Decode(_) => cut.bytes_per_decode_step = Some(bytes),
                    }
                }
                loc = t;
            }
            let Some(res) = tier_res(t) else { continue };
            let timer = res.timer();
            let layer = &layers[l];
            let c = match (pass, problem.workload) {
                (
                    Pass::Prefill,
                    Workload::Inference {
                        prompt_tokens: p, ..
                    },
                ) => timer.prefill(layer, p),
                (
                    Pass::Decode(i),
                    Workload::Inference {
                        prompt_tokens: p, ..
                    },
                ) => timer.decode(layer, p + i),
                (
                    Pass::Train,
                    Workload::Finetune {
                        batch_size,
                        seq_len,
                        ..
                    },
                ) => {
                    let training = problem.layer_training(layer).expect("fine-tuning workload");
                    timer.train_forward(layer, batch_size, seq_len, training)
                }
                _ => Cost::default(),
            };
            compute[t.index()].latency_s += repeat * c.latency_s;
            compute[t.index()].energy_j += repeat * c.energy_j;
        }
        match pass {
            Pass::Prefill | Pass::Decode(_) => {
                // The sampled token goes back to the device.
                if loc != Tier::Device {
                    sim.transfer(loc, Tier::Device, layers[n - 1].out_bytes_per_token, repeat);
                }
            }
            Pass::Train => {
                // Backward, from the head down.
                let Workload::Finetune {
                    batch_size,
                    seq_len,
                    ..
                } = problem.workload
                else {
                    unreachable!("training pass of an inference workload")
                };
                for l in (0..n).rev() {
                    let t = a[l];
                    if t != loc {
                        // The gradient of layer l's output crosses, when anything below needs it.
                        if problem.gradient_crosses(l + 1) {
                            sim.transfer(loc, t, problem.input_bytes(l + 1, pass), repeat);
                        }
                        loc = t;
                    }
                    let Some(res) = tier_res(t) else { continue };
                    let layer = &layers[l];
                    let training = problem.layer_training(layer).expect("fine-tuning workload");
                    let c = res
                        .timer()
                        .train_backward(layer, batch_size, seq_len, training);
                    compute[t.index()].latency_s += repeat * c.latency_s;
                    compute[t.index()].energy_j += repeat * c.energy_j;
                }
            }
        }
    }

    let latency_s = compute.iter().map(|c| c.latency_s).sum::<f64>()
        + sim.links[0].time_s
        + sim.links[1].time_s;
    let idle_w = tier_res(Tier::Device).map_or(0.0, |r| r.device.power_idle_w);
    let energy_compute_j = compute[0].energy_j;
    let energy_radio_j = problem.tx_power_w * sim.tx_s + problem.rx_power_w * sim.rx_s;
    let idle_s = latency_s - compute[0].latency_s - sim.tx_s - sim.rx_s;
    let energy_idle_j = idle_w * idle_s;
    let energy_j = energy_compute_j + energy_radio_j + energy_idle_j;

    // Memory.
    let mut memory_bytes = [0.0; 3];
    for (l, layer) in layers.iter().enumerate() {
        memory_bytes[a[l].index()] += problem.layer_memory_bytes(layer);
    }
    if a[n - 1] != a[0] {
        memory_bytes[a[n - 1].index()] += problem.tied_extra_bytes();
    }
    let memory_limit_bytes = Tier::ALL.map(|t| tier_res(t).map(|r| r.memory_bytes));
    for t in Tier::ALL {
        if let (Some(limit), Some(res)) = (memory_limit_bytes[t.index()], tier_res(t)) {
            let used = memory_bytes[t.index()];
            if !within(used, limit) {
                violate(
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
    if let Some(deadline) = problem.deadline_s {
        if !within(latency_s, deadline) {
            violate(
                "deadline",
                format!("end-to-end latency {latency_s:.6} s exceeds the deadline {deadline} s"),
            );
        }
    }
    if let Some(budget) = problem.device_energy_budget_j {
        if !within(energy_j, budget) {
            violate(
                "energy_budget",
                format!("device energy {energy_j:.6} J exceeds the budget {budget} J"),
            );
        }
    }

    // Rules.
    let rules = &problem.rules;
    let on_device = a.iter().filter(|&&t| t == Tier::Device).count();
    if rules.embed_on_device && a[0] != Tier::Device {
        violate(
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
                "min_device_layers",
                format!("{on_device} layer(s) on the device, at least {k} required"),
            );
        }
    }
    if let Some(k) = rules.max_device_layers {
        if on_device > k {
            violate(
                "max_device_layers",
                format!("{on_device} layer(s) on the device, at most {k} allowed"),
            );
        }
    }
    for &(l, t) in &rules.pinned {
        if a[l] != t {
            violate(
                "pin",
                format!("layer {l} is pinned to the {t} but runs on the {}", a[l]),
            );
        }
    }
    for &(l, t) in &rules.forbidden {
        if a[l] == t {
            violate("forbid", format!("layer {l} may not run on the {t}"));
        }
    }

    let layers_per_tier = Tier::ALL.map(|t| plan.count(t));
    Ok(Evaluation {
        latency_s,
        energy_j,
        objective: problem.objective.value(latency_s, energy_j),
        compute_s: compute.map(|c| c.latency_s),
        wireless: sim.links[0],
        backhaul: sim.links[1],
        energy_compute_j,
        energy_radio_j,
        energy_idle_j,
        memory_bytes,
        memory_limit_bytes,
        layers_per_tier,
        cuts,
        violations,
    })
}

/// Bytes as GB (10^9) with two decimals.
pub fn gb(bytes: f64) -> String {
    format!("{:.2} GB", bytes / 1e9)
}
