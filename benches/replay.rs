//! The planner against real execution (issue: profiled cost tables; issue 16 item 6): plans
//! of the shipped replay instances — every place this machine's CPU with its profiled table —
//! are executed for real by `edgeplan::replay` and the measured end-to-end latency is compared
//! with the planner's prediction.
//!
//! Run (release profile; the profiles must have been measured with the same `--threads`):
//!
//! ```text
//! cargo bench --bench replay                          # split, then pipeline, every model
//! cargo bench --bench replay -- --models gpt2 --threads 2
//! cargo bench --bench replay -- --only pipeline --runs 3
//! ```
//!
//! **Split** (`instances/split/replay-<model>-local.toml`), plans per model with `n` table rows:
//! all on the device; the embedding on the device and the rest on the edge; cuts after 1/4, 1/2
//! and 3/4 of the rows; the cut just before the head; a device | edge | cloud plan at 1/3 and
//! 2/3; everything on the edge (token ids cross). **Columns**: the cuts `c1,c2` (rows `0..c1`
//! device, `c1..c2` edge, the rest cloud), the planner's latency, the measured one,
//! `measured / planner - 1`, the measured compute (all tiers), and the payload bytes of the first
//! cut in prefill and per decode step (measured = planner in every row, or the row is flagged).
//! The last line per model is the median absolute error over its plans.
//!
//! **Pipeline** (`instances/pipeline/replay-<model>-campus.toml`: a phone, a Wi-Fi access point
//! that only relays, three edge servers; memory forces 3-4 stages), two plans per model: the
//! optimal one (exhaustive enumeration) and a given 4-stage plan whose stages sit where the
//! instance's routes need more hops (routes by the instance's rule); before them, a reference
//! row `whole`: the whole model on the phone alone (no link; it breaks the phone's memory limit,
//! which the replay does not enforce). Each plan is run `--runs` times (default 3) and the run of
//! median latency is reported. **Columns**: the stages (first layer of each after the first, and
//! their nodes), the hops per pass (every hop is an emulated link), the planner's latency, the
//! measured one, `measured / planner - 1`, the measured compute (all stages) and transfers (all
//! routes, relays included), `drift` = the reference's measured / predicted compute (how fast
//! the machine is now against its profile: on a shared VM it varies by up to 2x over a day),
//! `error_adj` = the error against the planner with the compute scaled by that drift (what the
//! pipeline adds, links and relays, against the planner), and whether every transfer carried the
//! planner's bytes in prefill and per decode step. The last lines are the median absolute
//! errors over the 3-4-stage pipelines.

use std::process::ExitCode;

use std::path::Path;

use anyhow::{Context, Result};
use clap::Parser;

use edgeplan::formulation::Formulation;
use edgeplan::problems::split::SplitPlan;
use edgeplan::replay::{instance_architecture, replay, ReplayOptions};

mod common;

#[derive(Parser, Debug)]
#[command(about = "Replay benchmark (see the header of benches/replay.rs)")]
struct Args {
    /// Models (comma-separated).
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Threads of the matrix products (default: one per core, as `edgeplan profile`).
    #[arg(long)]
    threads: Option<usize>,
    /// Only the split or only the pipeline plans.
    #[arg(long, value_parser = ["split", "pipeline"])]
    only: Option<String>,
    /// Directory of profiled tables to plan with instead of the instances' `../profiles` (for a
    /// machine of another kind than the one the shipped tables were measured on: profile it
    /// into a scratch directory with `edgeplan profile --instances DIR`).
    #[arg(long)]
    profiles: Option<std::path::PathBuf>,
    /// Runs per pipeline plan (the run of median latency is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Loads the instance `path`, with its profiled tables from `profiles` when given.
fn load<F: Formulation>(path: &Path, profiles: Option<&Path>) -> Result<F::Problem> {
    let loaded = match profiles {
        None => F::load(path),
        Some(dir) => {
            let mut document: serde_json::Value = edgeplan::files::read_structured(path)?;
            document["profiles_dir"] = serde_json::Value::String(dir.display().to_string());
            F::load_document(document, path)
        }
    };
    loaded.with_context(|| format!("loading {}", path.display()))
}

fn main() -> ExitCode {
    common::exit(run())
}

fn run() -> Result<()> {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let models = common::names_or(&args.models, &["gpt2", "qwen2.5-0.5b", "tinyllama-1.1b"]);
    if args.only.as_deref() != Some("pipeline") {
        split(&models, threads, args.profiles.as_deref())?;
    }
    if args.only.as_deref() != Some("split") {
        pipeline(&models, threads, args.runs.max(1), args.profiles.as_deref())?;
    }
    Ok(())
}

/// The split plans of each model's `instances/split/replay-<model>-local.toml`.
fn split(models: &[String], threads: usize, profiles: Option<&Path>) -> Result<()> {
    let instances = common::instances();
    println!(
        "{:<15} {:>7} {:>10} {:>10} {:>8} {:>10} {:>12} {:>10}",
        "model", "cuts", "planner_s", "measured_s", "error", "compute_s", "cut_prefill", "cut_step"
    );
    for model in models {
        let path = instances.join(format!("split/replay-{model}-local.toml"));
        let problem = load::<edgeplan::instance::split::Split>(&path, profiles)?;
        anyhow::ensure!(
            problem.tiers.iter().flatten().all(|t| t.profile.is_some()),
            "{model}: a tier has no profiled table; run `edgeplan profile --model {model} \
             --device epyc-zen4-2vcpu --threads {threads}` first"
        );
        let arch = instance_architecture(&path)?.architecture;
        let n = problem.layers();
        let plans = [
            (n, n),
            (1, n),
            (n / 4, n),
            (n / 2, n),
            (3 * n / 4, n),
            (n - 1, n),
            (n / 3, 2 * n / 3),
            (0, n),
        ];
        let mut errors = Vec::new();
        for (c1, c2) in plans {
            let options = ReplayOptions { threads, seed: 0 };
            let plan = SplitPlan::from_cuts(n, c1, c2);
            let r = replay(&problem, &arch, &plan, &options)?;
            let compute: f64 = r.tiers.iter().map(|t| t.compute_s).sum();
            let (prefill, step) =
                r.cuts_traffic
                    .first()
                    .map_or(("-".to_string(), "-".to_string()), |c| {
                        let flag = |ok: bool| if ok { "" } else { "!" };
                        (
                            format!(
                                "{}{}",
                                c.bytes_prefill,
                                flag(c.bytes_prefill as f64 == c.predicted_bytes_prefill)
                            ),
                            format!(
                                "{}{}",
                                c.bytes_per_decode_step,
                                flag(
                                    Some(c.bytes_per_decode_step as f64)
                                        == c.predicted_bytes_per_decode_step
                                )
                            ),
                        )
                    });
            println!(
                "{:<15} {:>7} {:>10.4} {:>10.4} {:>7.1}% {:>10.4} {:>12} {:>10}",
                model,
                format!("{c1},{c2}"),
                r.predicted_s,
                r.measured_s,
                100.0 * r.error,
                compute,
                prefill,
                step
            );
            errors.push(r.error.abs());
        }
        errors.sort_by(f64::total_cmp);
        println!(
            "{:<15} median |error| over {} plans: {:.1}%, largest {:.1}%",
            model,
            errors.len(),
            100.0 * errors[errors.len() / 2],
            100.0 * errors[errors.len() - 1]
        );
    }
    Ok(())
}

/// A given 4-stage plan per model: the first layer of each stage after the first and its node
/// (the embedding stays on the phone), within every node's memory.
fn given_plan(model: &str) -> Option<&'static [(usize, &'static str)]> {
    match model {
        "gpt2" => Some(&[(1, "edge-3"), (9, "edge-1"), (13, "edge-2")]),
        "qwen2.5-0.5b" => Some(&[(1, "edge-3"), (12, "edge-1"), (20, "edge-2")]),
        "tinyllama-1.1b" => Some(&[(1, "edge-1"), (9, "edge-3"), (16, "edge-2")]),
        _ => None,
    }
}

/// The optimal and the given pipeline plan of each model's
/// `instances/pipeline/replay-<model>-campus.toml`, each run `runs` times, after the reference
/// run of the whole model on the source.
fn pipeline(models: &[String], threads: usize, runs: usize, profiles: Option<&Path>) -> Result<()> {
    use edgeplan::problems::pipeline::price::Coefficients;
    use edgeplan::problems::pipeline::search::{enumerate, Scorer};
    use edgeplan::problems::pipeline::Stage;

    let instances = common::instances();
    println!();
    println!(
        "{:<15} {:<8} {:<34} {:>4} {:>10} {:>10} {:>8} {:>10} {:>11} {:>6} {:>9} {:>5}",
        "model",
        "plan",
        "stages",
        "hops",
        "planner_s",
        "measured_s",
        "error",
        "compute_s",
        "transfer_s",
        "drift",
        "error_adj",
        "bytes"
    );
    let (mut errors, mut adjusted) = (Vec::new(), Vec::new());
    for model in models {
        let path = instances.join(format!("pipeline/replay-{model}-campus.toml"));
        let problem = load::<edgeplan::instance::pipeline::Pipeline>(&path, profiles)?;
        anyhow::ensure!(
            problem
                .nodes
                .iter()
                .all(|n| !n.available || n.resource.profile.is_some()),
            "{model}: a node has no profiled table; run `edgeplan profile --model {model} \
             --device epyc-zen4-2vcpu --threads {threads}` first"
        );
        let arch = instance_architecture(&path)?.architecture;
        let coef = Coefficients::new(&problem);
        let scorer = Scorer {
            problem: &problem,
            coef: &coef,
        };
        let n = problem.layers();
        let (optimal, _) =
            enumerate(&scorer)?.with_context(|| format!("{model}: no feasible plan"))?;
        let whole = vec![Stage {
            node: problem.source,
            start: 0,
            end: n,
        }];
        let mut plans = vec![("whole", whole), ("optimal", optimal)];
        if let Some(given) = given_plan(model) {
            let mut stages = vec![Stage {
                node: problem.source,
                start: 0,
                end: given[0].0,
            }];
            for (k, &(start, node)) in given.iter().enumerate() {
                stages.push(Stage {
                    node: problem
                        .node_index(node)
                        .with_context(|| format!("no node {node}"))?,
                    start,
                    end: given.get(k + 1).map_or(n, |g| g.0),
                });
            }
            plans.push(("given", stages));
        }
        let mut drift = 1.0;
        for (label, stages) in plans {
            let r = median_run(&problem, &arch, &scorer.plan(&stages), threads, runs)?;
            let compute: f64 = r.stages.iter().map(|s| s.compute_s).sum();
            let predicted_compute: f64 = r.stages.iter().map(|s| s.predicted_compute_s).sum();
            if label == "whole" {
                // The machine's speed now against its profile: the whole model alone, no link.
                drift = compute / predicted_compute;
            }
            let adjusted_s = r.predicted_s + (drift - 1.0) * predicted_compute;
            let error_adj = r.measured_s / adjusted_s - 1.0;
            let shape = r
                .stages
                .iter()
                .map(|s| s.node.as_str())
                .collect::<Vec<_>>()
                .join("|");
            let cuts = r
                .stages
                .iter()
                .skip(1)
                .map(|s| s.layers.0.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let hops: usize = r.transfers.iter().map(|t| t.hops.len()).sum();
            let bytes_ok = r.transfers.iter().all(|t| {
                t.bytes_prefill as f64 == t.predicted_bytes_prefill
                    && Some(t.bytes_per_decode_step as f64) == t.predicted_bytes_per_decode_step
            });
            println!(
                "{:<15} {:<8} {:<34} {:>4} {:>10.4} {:>10.4} {:>7.1}% {:>10.4} {:>11.4} {:>6.3} \
                 {:>8.1}% {:>5}",
                model,
                label,
                format!("{cuts} {shape}"),
                hops,
                r.predicted_s,
                r.measured_s,
                100.0 * r.error,
                compute,
                r.transfers.iter().map(|t| t.measured_s).sum::<f64>(),
                drift,
                100.0 * error_adj,
                if bytes_ok { "ok" } else { "WRONG" }
            );
            if label != "whole" {
                errors.push(r.error.abs());
                adjusted.push(error_adj.abs());
            }
        }
    }
    for (what, list) in [("|error|", &mut errors), ("|error_adj|", &mut adjusted)] {
        list.sort_by(f64::total_cmp);
        if let (Some(median), Some(largest)) = (list.get(list.len() / 2), list.last()) {
            println!(
                "pipeline median {what} over {} plans of 3-4 stages (median of {runs} runs each): \
                 {:.1}%, largest {:.1}%",
                list.len(),
                100.0 * median,
                100.0 * largest
            );
        }
    }
    Ok(())
}

/// The run of median latency of `runs` replays of `plan`.
fn median_run(
    problem: &edgeplan::problems::pipeline::PipelineProblem,
    arch: &edgeplan::costs::ArchConfig,
    plan: &edgeplan::problems::pipeline::PipelinePlan,
    threads: usize,
    runs: usize,
) -> Result<edgeplan::replay::PipelineReplayReport> {
    let options = ReplayOptions { threads, seed: 0 };
    let mut reports = (0..runs)
        .map(|_| edgeplan::replay::replay_pipeline(problem, arch, plan, &options))
        .collect::<edgeplan::Result<Vec<_>>>()?;
    reports.sort_by(|a, b| a.measured_s.total_cmp(&b.measured_s));
    Ok(reports.swap_remove(reports.len() / 2))
}
