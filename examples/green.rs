//! Energy-aware scheduling: shift edge LLM jobs into clean, sunny hours within their deadlines.
//! The exact schedule against the as-soon-as-possible baseline on the shipped day instance.
//!
//! Run with `cargo run --release --example green` from the repository root.

use std::path::Path;

use edgeplan::formulation::Formulation;
use edgeplan::instance::green::Green;
use edgeplan::solve::{RunOptions, SolverPreset};

fn main() -> edgeplan::Result<()> {
    let problem = Green::load(Path::new("instances/green/green-day.toml"))?;
    let run = RunOptions::default();
    let asap = Green::solve(&problem, &SolverPreset::resolve("asap")?, &run)?;
    let exact = Green::solve(&problem, &SolverPreset::resolve("highs")?, &run)?;
    let carbon = |r: &edgeplan::formulation::ReportOf<Green>| {
        r.evaluation.as_ref().map_or(f64::NAN, |e| e.carbon_g)
    };
    println!(
        "{}: {} jobs on {} servers over {} slots",
        problem.name,
        problem.jobs.len(),
        problem.servers.len(),
        problem.slots()
    );
    println!(
        "ASAP    {:.1} gCO2 ({})",
        carbon(&asap),
        asap.stats.primal_status
    );
    println!(
        "optimal {:.1} gCO2 ({})",
        carbon(&exact),
        exact.stats.termination
    );
    let schedule = exact.plan.as_ref().expect("the day instance is feasible");
    assert!(Green::evaluate(&problem, schedule)?.violations.is_empty());
    assert!(carbon(&exact) <= carbon(&asap) + 1e-6);
    Ok(())
}
