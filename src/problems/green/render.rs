//! Text rendering of green reports and evaluations: a per-server timeline (Gantt), per-job
//! outcomes and the energy and carbon summary.

use std::fmt::Write as _;

use super::evaluate::{evaluate, GreenEvaluation};
use super::heuristics::asap;
use super::solve::GreenReport;
use super::{GreenProblem, Schedule};
use crate::solve::format::{explanation, secs, solver_line};

/// Letter of job `j` in the timeline.
fn letter(j: usize) -> char {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    LETTERS.get(j).map_or('*', |&c| c as char)
}

/// The report of `solve` as text: status, the timeline, per-job and per-server outcomes, the
/// comparison with ASAP, and why no schedule meets every deadline when none does.
pub fn report(problem: &GreenProblem, report: &GreenReport) -> String {
    let s = &report.stats;
    let mut out = String::new();
    out.push_str(&solver_line(s, "objective"));
    if let Some((vars, ints, rows)) = report.details.milp_size {
        let _ = writeln!(
            out,
            "milp      {vars} variables ({ints} binary), {rows} constraints"
        );
    }
    match (&report.plan, &report.evaluation) {
        (Some(schedule), Some(ev)) => {
            out.push_str(&evaluation(problem, schedule, ev));
            let baseline = evaluate(problem, &asap(problem));
            if baseline.objective > 0.0 {
                let _ = writeln!(
                    out,
                    "vs ASAP   carbon {:.1} g ({}), {:+.1}% saved by this schedule",
                    baseline.carbon_g,
                    if baseline.feasible() {
                        "meets every deadline"
                    } else {
                        "misses deadlines"
                    },
                    100.0 * (1.0 - ev.carbon_g / baseline.carbon_g.max(1e-12))
                );
            }
        }
        _ => out.push_str("no schedule\n"),
    }
    out.push_str(&explanation(
        "why no schedule meets every deadline:",
        &report.explanation,
    ));
    out
}

/// An evaluated schedule as text: the per-server timeline (Gantt), per-job outcomes and the
/// energy and carbon summary.
pub fn evaluation(problem: &GreenProblem, schedule: &Schedule, ev: &GreenEvaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   {} servers, {} jobs, {} slots of {}",
        problem.name,
        problem.servers.len(),
        problem.jobs.len(),
        problem.slots(),
        secs(problem.slot_s)
    );
    out.push('\n');
    let width = label_width(problem);
    out.push_str(&slot_ruler(problem.slots(), width));
    out.push_str(&carbon_row(problem, width));
    out.push_str(&server_rows(problem, schedule, width));
    let _ = writeln!(
        out,
        "\n(carbon: 0 = cleanest, 9 = dirtiest slot; level: 1 = slowest DVFS level; renewable: + \
         covers part, # covers all of the fastest level's power)\n"
    );
    out.push_str(&job_table(problem, ev));
    out.push('\n');
    out.push_str(&totals(ev));
    out
}

/// Width of the timeline's label column: the longest server name, at least 12 characters.
fn label_width(problem: &GreenProblem) -> usize {
    problem
        .servers
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(12)
}

/// The two ruler lines over the timeline: the tens digit every tenth slot, then the units digit.
fn slot_ruler(slots: usize, width: usize) -> String {
    let mut tens = String::new();
    let mut units = String::new();
    for t in 0..slots {
        tens.push(if t % 10 == 0 {
            char::from_digit(((t / 10) % 10) as u32, 10).unwrap_or(' ')
        } else {
            ' '
        });
        units.push(char::from_digit((t % 10) as u32, 10).unwrap_or(' '));
    }
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$} {tens}", "slot");
    let _ = writeln!(out, "{:<width$} {units}", "");
    out
}

/// The carbon row: each slot's intensity as a digit 0-9 between the day's minimum and maximum.
fn carbon_row(problem: &GreenProblem, width: usize) -> String {
    let (lo, hi) = problem
        .carbon_g_per_kwh
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| {
            (a.min(c), b.max(c))
        });
    let carbon: String = problem
        .carbon_g_per_kwh
        .iter()
        .map(|&c| {
            let x = if hi > lo { (c - lo) / (hi - lo) } else { 0.0 };
            char::from_digit((x * 9.0).round() as u32, 10).unwrap_or('?')
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$} {carbon}", "carbon 0-9");
    out
}

/// Three timeline rows per server: the job letter in each slot, its DVFS level (1-based) and
/// how much of the fastest level's power the renewable supply covers.
fn server_rows(problem: &GreenProblem, schedule: &Schedule, width: usize) -> String {
    let mut out = String::new();
    for (m, server) in problem.servers.iter().enumerate() {
        let mut jobs = String::new();
        let mut levels = String::new();
        let mut sun = String::new();
        for t in 0..problem.slots() {
            match schedule.runs[m][t] {
                Some(r) => {
                    jobs.push(letter(r.job));
                    levels.push(char::from_digit((r.level + 1) as u32 % 10, 10).unwrap_or('?'));
                }
                None => {
                    jobs.push('.');
                    levels.push(' ');
                }
            }
            let busy = server.levels.last().map_or(0.0, |l| l.power_w);
            sun.push(match server.renewable_w[t] {
                r if r <= 0.0 => ' ',
                r if r >= busy => '#',
                _ => '+',
            });
        }
        let _ = writeln!(out, "{:<width$} {jobs}", server.name);
        let _ = writeln!(out, "{:<width$} {levels}", "  level");
        let _ = writeln!(out, "{:<width$} {sun}", "  renewable");
    }
    out
}

/// The per-job table: slots run, completion slot, deadline, slack and work (FLOP).
fn job_table(problem: &GreenProblem, ev: &GreenEvaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<3} {:<24} {:>6} {:>8} {:>10} {:>6} {:>12}",
        "", "job", "slots", "done at", "deadline", "slack", "work FLOP"
    );
    for (j, (job, outcome)) in problem.jobs.iter().zip(&ev.jobs).enumerate() {
        let _ = writeln!(
            out,
            "{:<3} {:<24} {:>6} {:>8} {:>10} {:>6} {:>12.3e}",
            letter(j),
            job.name,
            outcome.slots,
            outcome.completion.map_or("-".into(), |c| c.to_string()),
            job.deadline,
            outcome.slack_slots.map_or("-".into(), |s| s.to_string()),
            job.work_flop
        );
    }
    out
}

/// Per-server energy (kWh) and carbon (g) lines, the summary line and the violations.
fn totals(ev: &GreenEvaluation) -> String {
    let mut out = String::new();
    for s in &ev.servers {
        let _ = writeln!(
            out,
            "server    {:<12} busy {:>3} slots   energy {:.3} kWh   from grid {:.3} kWh   \
             carbon {:.1} g",
            s.server, s.busy_slots, s.energy_kwh, s.grid_kwh, s.carbon_g
        );
    }
    let _ = writeln!(
        out,
        "summary   carbon {:.1} gCO2   grid energy {:.3} kWh of {:.3} kWh   cost {:.3}",
        ev.carbon_g, ev.grid_kwh, ev.energy_kwh, ev.cost
    );
    if ev.violations.is_empty() {
        out.push_str("every deadline and constraint met\n");
    } else {
        for v in &ev.violations {
            let _ = writeln!(out, "VIOLATED: {v}");
        }
    }
    out
}
