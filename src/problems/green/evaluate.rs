//! Independent evaluation of a schedule: energy, grid energy, carbon and cost per server,
//! each job's work, completion and deadline slack, and every violated constraint.

use serde::Serialize;

use super::{GreenObjective, GreenProblem, Run, Schedule};

/// Relative tolerance on a job's work.
pub const WORK_TOLERANCE: f64 = 1e-9;

/// One server's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerEnergy {
    /// Server name.
    pub server: String,
    /// Slots with a job.
    pub busy_slots: usize,
    /// Energy drawn, renewable included, kWh.
    pub energy_kwh: f64,
    /// Energy from the grid, kWh.
    pub grid_kwh: f64,
    /// Grid carbon, gCO2.
    pub carbon_g: f64,
    /// Grid energy cost.
    pub cost: f64,
}

/// One job's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobOutcome {
    /// Job name.
    pub job: String,
    /// Work done, FLOP.
    pub work_flop: f64,
    /// Slots it ran in.
    pub slots: usize,
    /// Slot after its last slot (`None`: never ran).
    pub completion: Option<usize>,
    /// Deadline minus completion, slots (negative: late).
    pub slack_slots: Option<i64>,
}

/// The evaluation of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreenEvaluation {
    /// Value of the instance's objective.
    pub objective: f64,
    /// Total grid carbon, gCO2.
    pub carbon_g: f64,
    /// Total grid energy, kWh.
    pub grid_kwh: f64,
    /// Total energy, kWh.
    pub energy_kwh: f64,
    /// Total cost.
    pub cost: f64,
    /// Per server.
    pub servers: Vec<ServerEnergy>,
    /// Per job.
    pub jobs: Vec<JobOutcome>,
    /// Violated constraints, one sentence each.
    pub violations: Vec<String>,
}

impl GreenEvaluation {
    /// Whether the schedule meets every constraint.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Evaluates `schedule`.
pub fn evaluate(problem: &GreenProblem, schedule: &Schedule) -> GreenEvaluation {
    let slots = problem.slots();
    let mut violations = Vec::new();
    let mut progress = Progress::new(problem.jobs.len());
    let mut servers = Vec::with_capacity(problem.servers.len());
    if schedule.runs.len() != problem.servers.len() {
        violations.push(format!(
            "the schedule has {} server rows, the instance {} servers",
            schedule.runs.len(),
            problem.servers.len()
        ));
    }
    let (mut carbon, mut grid, mut energy, mut cost) = (0.0, 0.0, 0.0, 0.0);
    for (m, server) in problem.servers.iter().enumerate() {
        let row = schedule.runs.get(m).map(Vec::as_slice).unwrap_or(&[]);
        if row.len() != slots && m < schedule.runs.len() {
            violations.push(format!(
                "server {}: {} slots in the schedule, the instance has {slots}",
                server.name,
                row.len()
            ));
        }
        let totals = server_totals(problem, m, row, &mut progress, &mut violations);
        carbon += totals.carbon_g;
        grid += totals.grid_kwh;
        energy += totals.energy_kwh;
        cost += totals.cost;
        servers.push(totals);
    }
    let jobs = job_outcomes(problem, &progress, &mut violations);
    let objective = match problem.objective {
        GreenObjective::Carbon => carbon,
        GreenObjective::Energy => grid,
        GreenObjective::Cost => cost,
    };
    GreenEvaluation {
        objective,
        carbon_g: carbon,
        grid_kwh: grid,
        energy_kwh: energy,
        cost,
        servers,
        jobs,
        violations,
    }
}

/// What the schedule gives each job, per job.
struct Progress {
    /// Work done, FLOP.
    work: Vec<f64>,
    /// Slots run.
    ran: Vec<usize>,
    /// Last slot run.
    last: Vec<Option<usize>>,
    /// Servers it ran on, in order of first use.
    server_of: Vec<Vec<usize>>,
}

impl Progress {
    /// Nothing run yet for `jobs` jobs.
    fn new(jobs: usize) -> Progress {
        Progress {
            work: vec![0.0; jobs],
            ran: vec![0usize; jobs],
            last: vec![None; jobs],
            server_of: vec![Vec::new(); jobs],
        }
    }
}

/// Server `m`'s totals over its schedule row: busy slots, energy and grid energy (kWh), grid
/// carbon (gCO2) and cost; records the jobs' progress and pushes the violations of its runs.
fn server_totals(
    problem: &GreenProblem,
    m: usize,
    row: &[Option<Run>],
    progress: &mut Progress,
    violations: &mut Vec<String>,
) -> ServerEnergy {
    let server = &problem.servers[m];
    let mut totals = ServerEnergy {
        server: server.name.clone(),
        busy_slots: 0,
        energy_kwh: 0.0,
        grid_kwh: 0.0,
        carbon_g: 0.0,
        cost: 0.0,
    };
    for t in 0..problem.slots() {
        let run = row.get(t).copied().flatten();
        let power = match run {
            None => problem.empty_power_w(m),
            Some(r) => {
                let Some(power) = run_slot(problem, m, t, r, progress, violations) else {
                    continue;
                };
                totals.busy_slots += 1;
                power
            }
        };
        let kwh = power * problem.slot_s / super::J_PER_KWH;
        let from_grid =
            (power - server.renewable_w[t]).max(0.0) * problem.slot_s / super::J_PER_KWH;
        totals.energy_kwh += kwh;
        totals.grid_kwh += from_grid;
        totals.carbon_g += from_grid * problem.carbon_g_per_kwh[t];
        totals.cost += from_grid * problem.price_per_kwh[t];
    }
    totals
}

/// The power (W) of run `r` on server `m` in slot `t`, after recording the job's progress and
/// pushing a run outside the job's window or beyond the server's memory; `None` (with a
/// violation) when the job or the level does not exist.
fn run_slot(
    problem: &GreenProblem,
    m: usize,
    t: usize,
    r: Run,
    progress: &mut Progress,
    violations: &mut Vec<String>,
) -> Option<f64> {
    let server = &problem.servers[m];
    let Some(job) = problem.jobs.get(r.job) else {
        violations.push(format!(
            "server {} slot {t}: job index {} does not exist",
            server.name, r.job
        ));
        return None;
    };
    let Some(level) = server.levels.get(r.level) else {
        violations.push(format!(
            "server {} slot {t}: level {} does not exist ({} levels)",
            server.name,
            r.level,
            server.levels.len()
        ));
        return None;
    };
    if t < job.release || t >= job.deadline {
        violations.push(format!(
            "job {} runs in slot {t} on {}, outside its window {}..{}",
            job.name, server.name, job.release, job.deadline
        ));
    }
    if job.memory_bytes > server.memory_bytes {
        violations.push(format!(
            "job {} needs {:.3} GB, server {} has {:.3} GB",
            job.name,
            job.memory_bytes / 1e9,
            server.name,
            server.memory_bytes / 1e9
        ));
    }
    progress.work[r.job] += level.speed_flops * problem.slot_s;
    progress.ran[r.job] += 1;
    progress.last[r.job] = Some(progress.last[r.job].map_or(t, |l: usize| l.max(t)));
    if !progress.server_of[r.job].contains(&m) {
        progress.server_of[r.job].push(m);
    }
    Some(level.power_w)
}

/// Each job's outcome (work in FLOP, slots, completion and slack in slots); pushes unfinished
/// work and migrations when migration is off.
fn job_outcomes(
    problem: &GreenProblem,
    progress: &Progress,
    violations: &mut Vec<String>,
) -> Vec<JobOutcome> {
    let mut jobs = Vec::with_capacity(problem.jobs.len());
    for (j, job) in problem.jobs.iter().enumerate() {
        let work = progress.work[j];
        if work < job.work_flop * (1.0 - WORK_TOLERANCE) {
            violations.push(format!(
                "job {} gets {:.4e} FLOP of its {:.4e} by its deadline (slot {})",
                job.name, work, job.work_flop, job.deadline
            ));
        }
        let server_of = &progress.server_of[j];
        if !problem.migration && server_of.len() > 1 {
            let names: Vec<&str> = server_of
                .iter()
                .map(|&m| problem.servers[m].name.as_str())
                .collect();
            violations.push(format!(
                "job {} migrates between servers {} (migration is off)",
                job.name,
                names.join(", ")
            ));
        }
        let completion = progress.last[j].map(|t| t + 1);
        jobs.push(JobOutcome {
            job: job.name.clone(),
            work_flop: work,
            slots: progress.ran[j],
            completion,
            slack_slots: completion.map(|c| job.deadline as i64 - c as i64),
        });
    }
    jobs
}
