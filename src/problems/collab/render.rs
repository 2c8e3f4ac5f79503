//! The report and an evaluated plan as text.

use std::fmt::Write as _;

use super::evaluate::Evaluation;
use super::solve::CollabReport;
use super::{CollabPlan, CollabProblem, Objective};
use crate::solve::format::{self, bytes, explanation, secs, status_line, time_line};
use crate::solve::violation::Violation;

/// The report as text: the instance, the solver's status and times, the plan and why no plan
/// is feasible when none is.
pub fn report(problem: &CollabProblem, report: &CollabReport) -> String {
    let s = &report.stats;
    let d = &report.details;
    let mut out = header(problem);
    let _ = writeln!(out, "solver    {}", s.solver);
    out.push_str(&status_line(s, objective_name(problem.objective)));
    let mut extra = d.milp.map_or(String::new(), |m| m.text());
    let _ = write!(
        extra,
        "   {} modes priced per user, {} options kept",
        d.candidates, d.options
    );
    out.push_str(&time_line(s, &extra));
    if let (Some(plan), Some(ev)) = (&report.plan, &report.evaluation) {
        out.push('\n');
        out.push_str(&render_plan(problem, plan, ev));
    }
    // A heuristic or baseline that finds nothing says why it did not, not that no plan exists.
    let heading = match report.stats.termination {
        crate::solve::report::Termination::Infeasible => "\nwhy no plan is feasible:",
        _ => "\nwhy no plan was found:",
    };
    out.push_str(&explanation(heading, &report.explanation));
    out
}

/// An evaluated plan as text.
pub fn evaluation(problem: &CollabProblem, plan: &CollabPlan, evaluation: &Evaluation) -> String {
    let mut out = header(problem);
    out.push('\n');
    out.push_str(&render_plan(problem, plan, evaluation));
    out
}

fn objective_name(objective: Objective) -> &'static str {
    match objective {
        Objective::Quality => "weighted mean quality, %",
        Objective::Served => "weighted share of users reaching their quality target",
    }
}

fn header(problem: &CollabProblem) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instance  {}   objective {} ({})   {} users   benchmark {}",
        problem.name,
        problem.objective.name(),
        objective_name(problem.objective),
        problem.users.len(),
        problem.benchmark
    );
    let variants: Vec<String> = problem
        .variants
        .iter()
        .map(|v| format!("{} {:.1}", v.name, v.quality))
        .collect();
    let _ = writeln!(out, "variants  {}", variants.join(", "));
    let modes: Vec<&str> = problem.modes.iter().map(|m| m.name()).collect();
    let list = |xs: Vec<String>| xs.join(",");
    let _ = writeln!(
        out,
        "modes     {}   draft lengths {}   escalations {}   router sharpness {:.2}",
        modes.join(", "),
        list(
            problem
                .draft_lengths
                .iter()
                .map(|k| k.to_string())
                .collect()
        ),
        list(problem.escalations.iter().map(|p| p.to_string()).collect()),
        problem.router_sharpness
    );
    let e = &problem.edge;
    let _ = writeln!(
        out,
        "edge      {} ({})   {} resource blocks x {:.0} kHz   rtt {}   rho_max {:.2}   memory {}",
        e.name,
        e.device.name,
        e.resource_blocks,
        e.rb_bandwidth_hz / 1e3,
        secs(e.rtt_s),
        e.max_utilisation,
        bytes(e.memory_bytes)
    );
    out
}

fn render_plan(problem: &CollabProblem, plan: &CollabPlan, ev: &Evaluation) -> String {
    let mut out = String::new();
    let name_w = ev
        .users
        .iter()
        .map(|u| u.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 24);
    let mode_w = ev
        .users
        .iter()
        .map(|u| u.mode.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 72);
    let _ = writeln!(
        out,
        "{:<name_w$} {:<mode_w$} {:>7} {:>10} {:>10} {:>10} {:>6} {:>24}",
        "user", "mode", "quality", "latency", "deadline", "energy", "blocks", "Monte Carlo latency"
    );
    for (k, e) in ev.users.iter().enumerate() {
        let user = problem.users.get(k);
        let mut flags = Vec::new();
        if user.is_some_and(|u| e.latency_s > u.deadline_s * (1.0 + super::price::LIMIT_TOL)) {
            flags.push("LATE");
        }
        if user
            .and_then(|u| u.energy_limit_j)
            .is_some_and(|l| e.energy_j > l * (1.0 + super::price::LIMIT_TOL))
        {
            flags.push("ENERGY");
        }
        if !e.meets_target {
            flags.push("below target");
        }
        if !e.monte_carlo.agrees {
            flags.push("MC outside");
        }
        let blocks = match plan.users.get(k) {
            Some(c) if c.resource_blocks > 0 => c.resource_blocks.to_string(),
            _ => "-".into(),
        };
        let mc = &e.monte_carlo;
        let _ = writeln!(
            out,
            "{:<name_w$} {:<mode_w$} {:>7.2} {:>10} {:>10} {:>10} {:>6} {:>24}{}",
            e.name,
            e.mode,
            e.quality,
            secs(e.latency_s),
            secs(e.deadline_s),
            format!("{:.4} J", e.energy_j),
            blocks,
            format!(
                "{} +- {}",
                secs(mc.mean_latency_s),
                secs(mc.latency_half_width_s)
            ),
            if flags.is_empty() {
                String::new()
            } else {
                format!("  {}", flags.join(", "))
            }
        );
    }
    let e = &problem.edge;
    let held = if ev.held_variants.is_empty() {
        "none".to_string()
    } else {
        ev.held_variants.join(", ")
    };
    let _ = writeln!(
        out,
        "\nedge      utilisation {:.4} / {:.4}   memory {} / {}   blocks {}/{}   holds {}",
        ev.edge_utilisation,
        e.max_utilisation,
        bytes(ev.edge_memory_bytes),
        bytes(e.memory_bytes),
        ev.resource_blocks_used,
        e.resource_blocks,
        held
    );
    let counts: Vec<String> = ev
        .mode_counts
        .iter()
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    let _ = writeln!(out, "modes     {}", counts.join("   "));
    let _ = writeln!(
        out,
        "objective {:.6} ({})   mean quality {:.2}   served {:.1}%",
        ev.objective,
        problem.objective.name(),
        ev.mean_quality,
        100.0 * ev.served_share
    );
    let _ = writeln!(
        out,
        "means     latency {} (Monte Carlo {})   device energy {:.4} J per request",
        secs(ev.mean_latency_s),
        secs(ev.mc_mean_latency_s),
        ev.mean_energy_j
    );
    let requests = ev
        .users
        .first()
        .map_or(problem.mc_requests, |u| u.monte_carlo.requests);
    let _ = writeln!(
        out,
        "Monte Carlo {} of {} users inside their 95% interval, all inside the family-wise 95% \
         band (Bonferroni): {} ({} requests each, seed {})",
        ev.mc_agreeing_users,
        ev.users.len(),
        if ev.mc_familywise_agrees { "yes" } else { "NO" },
        requests,
        problem.mc_seed
    );
    let list: Vec<Violation> = ev.violations.iter().map(|v| violation(v)).collect();
    out.push_str(&format::violations("constraints  ", &list));
    out
}

/// An evaluator's violation `constraint: message` as a [`Violation`].
fn violation(text: &str) -> Violation {
    match text.split_once(": ") {
        Some((c, m)) if !c.contains(' ') => Violation {
            constraint: c.to_string(),
            message: m.to_string(),
        },
        _ => Violation {
            constraint: "plan".into(),
            message: text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_split_at_their_constraint() {
        let v = violation("blocks: the plan uses 13 resource blocks, over the edge's 12");
        assert_eq!(v.constraint, "blocks");
        assert!(v.message.starts_with("the plan uses"));
        let w = violation("no constraint here");
        assert_eq!(w.constraint, "plan");
    }
}
