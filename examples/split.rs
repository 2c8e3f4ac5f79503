//! Split inference: where to cut Llama-2-7B between a Jetson, an RTX 4090 edge server and an
//! A100 cloud, exactly (HiGHS) and by enumerating every cut pair, with the plan checked by the
//! independent evaluator.
//!
//! Run with `cargo run --release --example split` from the repository root.

use std::path::Path;

use edgeplan::formulation::Formulation;
use edgeplan::instance::split::Split;
use edgeplan::problems::split::Tier;
use edgeplan::solve::{RunOptions, SolverPreset, Termination};

fn main() -> edgeplan::Result<()> {
    let problem = Split::load(Path::new("instances/split/llama2-7b-jetson.toml"))?;
    let exact = Split::solve(
        &problem,
        &SolverPreset::resolve("highs")?,
        &RunOptions::default(),
    )?;
    assert_eq!(exact.stats.termination, Termination::Optimal);
    let plan = exact.plan.as_ref().expect("a feasible instance has a plan");
    let on = |tier| plan.assignment.iter().filter(|&&t| t == tier).count();
    println!(
        "{}: {} layers on the device, {} on the edge, {} in the cloud",
        problem.name,
        on(Tier::Device),
        on(Tier::Edge),
        on(Tier::Cloud)
    );

    // The evaluator simulates the plan pass by pass, independently of the MILP's coefficients.
    let check = Split::evaluate(&problem, plan)?;
    assert!(check.violations.is_empty());
    println!(
        "latency {:.4} s, device energy {:.2} J (MILP objective {:.4})",
        check.latency_s,
        check.energy_j,
        exact.stats.objective.unwrap_or(f64::NAN)
    );

    // Exhaustive enumeration of every (c1, c2) pair proves the same optimum.
    let enumerated = Split::solve(
        &problem,
        &SolverPreset::resolve("enumerate")?,
        &RunOptions::default(),
    )?;
    let (a, b) = (
        exact.stats.objective.unwrap(),
        enumerated.stats.objective.unwrap(),
    );
    assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0));
    println!("enumeration agrees: {b:.4} s");
    Ok(())
}
