//! Energy-aware (green) scheduling of edge LLM jobs (docs/green.md).
//!
//! Time is cut into slots of `slot_s` seconds with a grid carbon intensity (gCO2/kWh) and an
//! electricity price per slot, and an on-site renewable supply per server and slot. A **job**
//! (batched inference or fine-tuning) needs `work_flop` FLOP, holds `memory_bytes` on its server
//! while it runs, and may run in slots `release..deadline` (deadline exclusive). A **server** has
//! DVFS levels `(speed FLOP/s, power W)`, an idle power and a memory; it runs at most one job per
//! slot, at one level, for the whole slot. A job may be preempted between slots; it stays on one
//! server unless migration is allowed.
//!
//! **Power and grid energy** of server `m` in slot `t`: `P = power(level)` when a job runs,
//! `idle_w` when it is on without a job (a server that cannot sleep), `0` when asleep. Only the
//! power above the renewable supply is drawn from the grid:
//! `grid_kwh = max(0, P - R_mt) * slot_s / 3.6e6`; carbon `= sum intensity_t * grid_kwh`, cost
//! `= sum price_t * grid_kwh`.
//!
//! A job occupies whole slots and its last slot is charged in full (its work may end earlier
//! within it): the quantisation error is at most one slot of busy power per job, so pick the slot
//! length accordingly (minutes for inference batches, up to an hour for fine-tuning).
//!
//! Solved exactly by the MILP of [`model`], by the greedy and ASAP baseline of [`heuristics`],
//! and checked by [`evaluate`]; instances come from [`crate::instance::green`] files or
//! [`crate::instance::green::generate`], with the synthetic traces of [`traces`].

pub mod columns;
pub mod cuts;
pub mod evaluate;
pub mod fixing;
pub mod heuristics;
pub mod model;
pub mod neighbourhood;
pub mod render;
pub mod solve;
pub mod traces;

use serde::{Deserialize, Serialize};

/// Joules per kWh.
pub const J_PER_KWH: f64 = 3.6e6;

/// A DVFS level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Sustained speed on the jobs' kernels, FLOP/s.
    pub speed_flops: f64,
    /// Power while running a job at this level, W (idle power included).
    pub power_w: f64,
}

/// An edge server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreenServer {
    /// Name.
    pub name: String,
    /// DVFS levels, slowest first.
    pub levels: Vec<Level>,
    /// Power when on without a job, W.
    pub idle_w: f64,
    /// Whether the server may sleep (0 W) in slots without a job; otherwise it idles.
    pub can_sleep: bool,
    /// Memory for a running job, bytes.
    pub memory_bytes: f64,
    /// On-site renewable power in each slot, W.
    pub renewable_w: Vec<f64>,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Name.
    pub name: String,
    /// Work, FLOP.
    pub work_flop: f64,
    /// Memory while running, bytes.
    pub memory_bytes: f64,
    /// First slot it may run in.
    pub release: usize,
    /// Slot by which it must be done (exclusive).
    pub deadline: usize,
}

/// What the schedule minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GreenObjective {
    /// Grid carbon, gCO2.
    Carbon,
    /// Grid energy, kWh.
    Energy,
    /// Electricity cost of the grid energy.
    Cost,
}

/// A validated green-scheduling instance: plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreenProblem {
    /// Instance name.
    pub name: String,
    /// Slot length, s.
    pub slot_s: f64,
    /// Grid carbon intensity per slot, gCO2/kWh.
    pub carbon_g_per_kwh: Vec<f64>,
    /// Electricity price per slot, per kWh.
    pub price_per_kwh: Vec<f64>,
    /// Servers.
    pub servers: Vec<GreenServer>,
    /// Jobs.
    pub jobs: Vec<Job>,
    /// Whether a job may change server between slots.
    pub migration: bool,
    /// Objective.
    pub objective: GreenObjective,
}

/// What runs on one server in one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The job.
    pub job: usize,
    /// Its DVFS level.
    pub level: usize,
}

/// A schedule: `runs[m][t]` is what server `m` runs in slot `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Per server, per slot.
    pub runs: Vec<Vec<Option<Run>>>,
}

impl GreenProblem {
    /// Checks that `schedule` has this problem's shape: one row per server, one entry per slot,
    /// job and level indices in range. The message names the bad entry.
    pub fn check_schedule(&self, schedule: &Schedule) -> Result<(), String> {
        let shape = format!(
            "expected {} rows of {} slots (one per server, one entry per slot)",
            self.servers.len(),
            self.slots()
        );
        if schedule.runs.len() != self.servers.len() {
            return Err(format!("{shape}, got {} rows", schedule.runs.len()));
        }
        for (m, (row, server)) in schedule.runs.iter().zip(&self.servers).enumerate() {
            if row.len() != self.slots() {
                return Err(format!(
                    "{shape}: runs[{m}] (server {}) has {}",
                    server.name,
                    row.len()
                ));
            }
            for (t, run) in row.iter().enumerate() {
                let Some(run) = run else { continue };
                if run.job >= self.jobs.len() {
                    return Err(format!(
                        "runs[{m}][{t}].job: job {} does not exist (the instance has {} jobs)",
                        run.job,
                        self.jobs.len()
                    ));
                }
                if run.level >= server.levels.len() {
                    return Err(format!(
                        "runs[{m}][{t}].level: server {} has levels 0..{}, got {}",
                        server.name,
                        server.levels.len(),
                        run.level
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the shape of a problem built in code (the instance loader guarantees it): one
    /// price and one renewable value per slot, at least one level per server, positive slot
    /// length and speeds, windows inside the horizon. The message names the bad part.
    pub fn check(&self) -> Result<(), String> {
        let slots = self.slots();
        if !(self.slot_s.is_finite() && self.slot_s > 0.0) {
            return Err(format!("slot_s must be positive, got {}", self.slot_s));
        }
        if self.price_per_kwh.len() != slots {
            return Err(format!(
                "{} prices for {slots} slots",
                self.price_per_kwh.len()
            ));
        }
        for s in &self.servers {
            if s.renewable_w.len() != slots {
                return Err(format!(
                    "server {}: {} renewable values for {slots} slots",
                    s.name,
                    s.renewable_w.len()
                ));
            }
            if s.levels.is_empty()
                || s.levels
                    .iter()
                    .any(|l| l.speed_flops.is_nan() || l.speed_flops <= 0.0)
            {
                return Err(format!(
                    "server {}: needs levels with positive speed",
                    s.name
                ));
            }
        }
        for j in &self.jobs {
            if j.release >= j.deadline || j.deadline > slots {
                return Err(format!(
                    "job {}: window {}..{} outside 0..{slots} or empty",
                    j.name, j.release, j.deadline
                ));
            }
        }
        Ok(())
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.carbon_g_per_kwh.len()
    }

    /// An empty schedule.
    pub fn empty_schedule(&self) -> Schedule {
        Schedule {
            runs: vec![vec![None; self.slots()]; self.servers.len()],
        }
    }

    /// Grid energy of server `m` in slot `t` drawing `power_w`, kWh.
    pub fn grid_kwh(&self, m: usize, t: usize, power_w: f64) -> f64 {
        (power_w - self.servers[m].renewable_w[t]).max(0.0) * self.slot_s / J_PER_KWH
    }

    /// The objective's weight of one kWh from the grid in slot `t`.
    pub fn weight_per_kwh(&self, t: usize) -> f64 {
        match self.objective {
            GreenObjective::Carbon => self.carbon_g_per_kwh[t],
            GreenObjective::Energy => 1.0,
            GreenObjective::Cost => self.price_per_kwh[t],
        }
    }

    /// Power of server `m` without a job, W: idle when it cannot sleep, else 0.
    pub fn empty_power_w(&self, m: usize) -> f64 {
        if self.servers[m].can_sleep {
            0.0
        } else {
            self.servers[m].idle_w
        }
    }

    /// Whether job `j` may run on server `m` (it fits the memory).
    pub fn fits(&self, j: usize, m: usize) -> bool {
        self.jobs[j].memory_bytes <= self.servers[m].memory_bytes
    }

    /// Work job `j` does in one slot at level `l` of server `m`, FLOP.
    pub fn slot_work(&self, m: usize, l: usize) -> f64 {
        self.servers[m].levels[l].speed_flops * self.slot_s
    }
}
