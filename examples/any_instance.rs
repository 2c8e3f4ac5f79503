//! Any instance file, whatever its problem: the registry finds the formulation from the file's
//! `problem` field, as `edgeplan solve` does.
//!
//! Run with `cargo run --release --example any_instance -- instances/green/green-day.toml greedy`.

use std::path::PathBuf;

use edgeplan::registry::ProblemKind;
use edgeplan::solve::{RunOptions, SolverPreset};

fn main() -> edgeplan::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .unwrap_or("instances/split/llama2-7b-jetson.toml".into()),
    );
    let preset = SolverPreset::resolve(&args.next().unwrap_or("highs".into()))?;
    let kind = ProblemKind::of_instance(&path)?;
    let instance = kind.formulation().load(&path)?;
    let solved = instance.solve(&preset, &RunOptions::default())?;
    println!(
        "{kind} instance {}: {} / {}, objective {:?}",
        instance.name(),
        solved.stats.termination,
        solved.stats.primal_status,
        solved.stats.objective
    );
    for (name, value) in kind
        .formulation()
        .metric_names()
        .iter()
        .zip(solved.metrics.unwrap_or_default())
    {
        println!("  {name:<20} {value:.6}");
    }
    Ok(())
}
