//! Many users sharing one edge server: generate a seeded instance from the shipped catalog,
//! then compare the local search, the equal-split baseline and the exact solve within 1%.
//!
//! Run with `cargo run --release --example alloc` from the repository root.

use std::path::Path;

use edgeplan::costs::DeviceCatalog;
use edgeplan::formulation::{DataDir, Formulation};
use edgeplan::instance::alloc::generate::GenParams;
use edgeplan::instance::alloc::Alloc;
use edgeplan::solve::{RunOptions, SolverPreset};

fn main() -> edgeplan::Result<()> {
    let dir = Path::new("instances");
    let catalog = DeviceCatalog::load(&dir.join("devices.csv"))?;
    let params = GenParams {
        users: 8,
        resource_blocks: 50,
        seed: 7,
        ..GenParams::default()
    };
    let problem = Alloc::generate(
        &params,
        DataDir {
            dir,
            catalog: &catalog,
        },
    )?;
    println!(
        "{}: {} users on {} server",
        problem.name,
        problem.users.len(),
        problem.servers.len()
    );

    let run = RunOptions::default();
    let mut results = Vec::new();
    for name in ["highs-1pct", "local-search", "equal-split"] {
        let report = Alloc::solve(&problem, &SolverPreset::resolve(name)?, &run)?;
        let evaluation = report
            .evaluation
            .as_ref()
            .expect("every user has a feasible option");
        println!(
            "{name:>13}: largest user latency {:.4} s ({}), {} violated constraints",
            evaluation.objective,
            report.stats.termination,
            evaluation.violations.len()
        );
        results.push((name, report.stats.objective.unwrap(), report.stats.bound));
    }
    // No heuristic beats the bound HiGHS proved.
    let bound = results[0].2.expect("the exact solve proves a bound");
    assert!(results
        .iter()
        .all(|&(_, objective, _)| objective >= bound * (1.0 - 1e-6)));
    Ok(())
}
