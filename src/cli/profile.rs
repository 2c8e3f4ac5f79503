//! `edgeplan profile` and `edgeplan calibrate`.

use super::output::outln;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::profiler::calibrate::{calibrate, Row};
use edgeplan::costs::profiler::engine::Dims;
use edgeplan::costs::profiler::{cpu_model, profile, write_table, ProfileOptions};
use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig, Phase};
use edgeplan::Error;

/// Options of `edgeplan profile`.
#[derive(clap::Args)]
pub struct ProfileArgs {
    /// Model config names (instances/models/<name>.toml) or paths, comma-separated: each is
    /// profiled in turn.
    #[arg(long, value_delimiter = ',', required = true)]
    pub model: Vec<String>,
    /// Device name the table is for (its file is <model>@<device>.csv); should be a row of
    /// devices.csv describing this machine.
    #[arg(long)]
    pub device: String,
    /// Threads of the matrix products and attention (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Prompt tokens P: prefill is timed at P/4 and P tokens.
    #[arg(long, default_value_t = 128)]
    pub prompt: usize,
    /// Generated tokens G: decode steps are timed at contexts P, P+G/2 and P+G.
    #[arg(long, default_value_t = 32)]
    pub decode: usize,
    /// Timed runs per point (median reported, min and max as the spread).
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Untimed warm-up runs per point.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Only these table rows (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<usize>>,
    /// Directory holding models/ (and profiles/, where the table goes by default).
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: PathBuf,
    /// Output file (default <instances>/profiles/<model>@<device>.csv; one model only).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `edgeplan calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Model config name.
    #[arg(long)]
    pub model: String,
    /// Device (a row of devices.csv).
    #[arg(long)]
    pub device: String,
    /// Profiled table (default <instances>/profiles/<model>@<device>.csv).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Weight dtype the table was measured in.
    #[arg(long, default_value = "fp32")]
    pub dtype: String,
    /// Directory holding models/, devices.csv and profiles/.
    #[arg(long, default_value = "instances", value_name = "DIR")]
    pub instances: PathBuf,
    /// Print the fit as JSON.
    #[arg(long)]
    pub json: bool,
}

fn load_model(instances: &Path, model: &str) -> edgeplan::Result<ModelConfig> {
    ModelConfig::load(&ModelConfig::resolve(&instances.join("models"), model)?)
}

/// Threads when not given: one per core.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn run_profile(args: &ProfileArgs) -> anyhow::Result<ExitCode> {
    if args.out.is_some() && args.model.len() > 1 {
        return Err(
            Error::option("out", "one output file for several models: leave -o out").into(),
        );
    }
    for model in &args.model {
        profile_one(args, model)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The largest prompt or generation `profile` times: a CPU forward pass of a real transformer
/// at more tokens, repeated, would take hours (the time grows with reps x layers x tokens).
const MAX_PROFILE_TOKENS: usize = 4_096;

/// Checks the numeric flags of `profile` before anything is allocated.
fn check_profile_flags(args: &ProfileArgs) -> edgeplan::Result<()> {
    use edgeplan::limits::{count_option, MAX_THREADS};
    if let Some(t) = args.threads {
        count_option("--threads", t as u64, 1, MAX_THREADS)?;
    }
    count_option("--prompt", args.prompt as u64, 1, MAX_PROFILE_TOKENS)?;
    count_option("--decode", args.decode as u64, 0, MAX_PROFILE_TOKENS)?;
    count_option("--reps", args.reps as u64, 1, 100)?;
    count_option("--warmup", args.warmup as u64, 0, 100)?;
    Ok(())
}

fn profile_one(args: &ProfileArgs, model: &str) -> anyhow::Result<()> {
    check_profile_flags(args)?;
    let threads = args.threads.unwrap_or_else(default_threads);
    let config = load_model(&args.instances, model)?;
    let dims =
        Dims::from_arch(&config.architecture).map_err(|message| Error::option("model", message))?;
    let mut options = ProfileOptions::for_workload(args.prompt, args.decode, threads);
    options.reps = args.reps;
    options.warmup = args.warmup;
    options.layers = args.layers.clone();
    let out = args.out.clone().unwrap_or_else(|| {
        args.instances
            .join("profiles")
            .join(format!("{}@{}.csv", config.name, args.device))
    });
    let catalog = DeviceCatalog::load(&args.instances.join("devices.csv"))?;
    if !catalog.devices.contains_key(&args.device) {
        eprintln!(
            "note: device `{}` is not in {}: the planner can use the table only for a device of \
             that name",
            args.device,
            args.instances.join("devices.csv").display()
        );
    }
    let verbose = !args.quiet && std::io::stderr().is_terminal();
    let layers = dims.layers();
    let start = std::time::Instant::now();
    let rows = profile(&dims, &options, &|l| {
        if verbose {
            eprint!("\rprofiling {} layer {}/{}   ", config.name, l + 1, layers);
        }
    })?;
    if verbose {
        eprintln!();
    }
    let comments = vec![
        format!(
            "profiled by edgeplan {} (edgeplan profile --model {} --device {} --threads {} \
             --prompt {} --decode {} --reps {})",
            env!("CARGO_PKG_VERSION"),
            config.name,
            args.device,
            threads,
            args.prompt,
            args.decode,
            args.reps
        ),
        format!(
            "CPU: {} ({} logical CPUs); fp32 ndarray transformer with random weights; median of \
             {} runs after {} warm-up, min/max as spread; energy not measured",
            cpu_model(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            args.reps,
            args.warmup
        ),
    ];
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut table = Vec::new();
    write_table(&mut table, &comments, &rows, threads).map_err(|e| Error::io(&out, e))?;
    super::output::file(&out, &table)?;
    let spreads: Vec<f64> = rows.iter().map(|m| m.spread()).collect();
    let mut sorted = spreads.clone();
    sorted.sort_by(f64::total_cmp);
    let total = |phase: Phase, tokens: usize| -> f64 {
        rows.iter()
            .filter(|m| m.phase == phase && m.tokens == tokens)
            .map(|m| m.latency_s)
            .sum()
    };
    outln!(
        "{}: {} rows in {:.1} s; spread (max-min)/median: median {:.1}%, largest {:.1}%",
        out.display(),
        rows.len(),
        start.elapsed().as_secs_f64(),
        100.0 * sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        100.0 * sorted.last().copied().unwrap_or(0.0)
    );
    if args.layers.is_none() {
        for &p in &options.prefill_tokens {
            outln!(
                "  prefill {p} tokens, whole model: {:.4} s",
                total(Phase::Prefill, p)
            );
        }
        for &c in &options.decode_contexts {
            outln!(
                "  decode step at context {c}, whole model: {:.4} s",
                total(Phase::Decode, c)
            );
        }
    }
    Ok(())
}

pub fn run_calibrate(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let config = load_model(&args.instances, &args.model)?;
    let dtype = Dtype::parse(&args.dtype).ok_or_else(|| {
        Error::option(
            "dtype",
            format!("expected fp32, fp16, int8 or q4, got {}", args.dtype),
        )
    })?;
    let table = config.architecture.cost_table(&config.name, dtype);
    let devices_path = args.instances.join("devices.csv");
    let catalog = DeviceCatalog::load(&devices_path)?;
    let device = catalog.get(&args.device, &devices_path)?;
    let path = args.profile.clone().unwrap_or_else(|| {
        args.instances
            .join("profiles")
            .join(format!("{}@{}.csv", config.name, args.device))
    });
    let rows = read_rows(&path, table.layers.len())?;
    let fit = calibrate(&table, device, &rows, &|l| l % 2 == 0);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&fit)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} on {}: {} rows from {}",
        config.name,
        device.name,
        rows.len(),
        path.display()
    );
    outln!(
        "fitted on the even blocks and head rows: compute efficiency {:.3} (of {:.3e} FLOP/s), memory \
         efficiency {:.3} (of {:.3e} B/s)",
        fit.compute_efficiency, device.peak_flops, fit.memory_efficiency, device.mem_bw_bytes_per_s
    );
    outln!(
        "catalog values: compute {:.3}, memory {:.3}",
        device.compute_efficiency,
        device.memory_efficiency
    );
    let pct = |s: &edgeplan::costs::profiler::calibrate::ErrorStats| {
        format!(
            "{} rows, median |error| {:.1}%, largest {:.1}%",
            s.count,
            100.0 * s.median_abs,
            100.0 * s.max_abs
        )
    };
    outln!("fitted rows:   {}", pct(&fit.fitted));
    outln!(
        "embedding:     {} (not fitted: per-call overhead, no roofline term)",
        pct(&fit.embed)
    );
    outln!("held-out rows: {}", pct(&fit.held_out));
    for (group, stats) in &fit.held_out_by_group {
        outln!("  {group:<14} {}", pct(stats));
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows of a profiled table.
fn read_rows(path: &Path, layers: usize) -> edgeplan::Result<Vec<Row>> {
    // Validate through the planner's own loader first (clear errors), then read the points.
    edgeplan::costs::Profile::load(path, layers)?;
    let text = edgeplan::files::read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or(0);
    let (cl, cp, ct, cs) = (col("layer"), col("phase"), col("tokens"), col("latency_s"));
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let num = |i: usize| record[i].parse::<f64>().unwrap_or(0.0);
        let phase = if &record[cp] == "prefill" {
            Phase::Prefill
        } else {
            Phase::Decode
        };
        rows.push((num(cl) as usize, phase, num(ct) as usize, num(cs)));
    }
    Ok(rows)
}

/// Options of `edgeplan replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Split or pipeline instance (inference, dtype fp32).
    pub instance: PathBuf,
    /// Plan JSON, as for `evaluate`: split `{"cuts": [c1, c2]}` or `{"assignment": [...]}`;
    /// pipeline `{"stages": [...], "routes": {...}}`; or the output of `solve --json`.
    pub plan: PathBuf,
    /// Threads of each place's matrix products (default: one per core; match the profiles').
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the random weights and the prompt.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    use edgeplan::formulation::{plan_json, Formulation};
    use edgeplan::replay::{instance_architecture, ReplayOptions};
    let kind = edgeplan::instance::problem_kind(&args.instance)?;
    if kind != "split" && kind != "pipeline" {
        return Err(Error::field(
            &args.instance,
            "problem",
            format!("replay runs split and pipeline instances, not {kind}"),
        )
        .into());
    }
    let config = instance_architecture(&args.instance)?;
    if let Some(t) = args.threads {
        edgeplan::limits::count_option("--threads", t as u64, 1, edgeplan::limits::MAX_THREADS)?;
    }
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    let options = ReplayOptions {
        threads,
        seed: args.seed,
    };
    let plan = plan_json(&args.plan)?;
    if kind == "pipeline" {
        use edgeplan::instance::pipeline::Pipeline;
        let problem = edgeplan::instance::pipeline::load(&args.instance)?;
        let plan = Pipeline::read_plan(&problem, &plan, &args.plan)?;
        note_profile_threads(
            problem
                .nodes
                .iter()
                .filter_map(|n| n.resource.profile_path.as_ref()),
            threads,
        );
        let report =
            edgeplan::replay::replay_pipeline(&problem, &config.architecture, &plan, &options)?;
        print_pipeline_replay(&report, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let problem = edgeplan::instance::split::load(&args.instance)?;
    let plan = edgeplan::instance::split::Split::read_plan(&problem, &plan, &args.plan)?;
    note_profile_threads(
        problem
            .tiers
            .iter()
            .flatten()
            .filter_map(|t| t.profile_path.as_ref()),
        threads,
    );
    let report = edgeplan::replay::replay(&problem, &config.architecture, &plan, &options)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (c1, c2) = report.cuts;
    outln!(
        "{}: {} prompt + {} generated tokens, layers 0..{c1} device | {c1}..{c2} edge | {c2}..{} cloud",
        report.model,
        report.prompt_tokens,
        report.generate_tokens,
        problem.layers()
    );
    outln!(
        "{}",
        end_to_end(
            report.measured_s,
            report.predicted_s,
            report.error,
            report.prefill_s
        )
    );
    for t in &report.tiers {
        outln!(
            "  {:<6} layers {:>3}..{:<3} compute measured {:.4} s, planner {:.4} s",
            t.tier.to_string(),
            t.layers.0,
            t.layers.1,
            t.compute_s,
            t.predicted_compute_s
        );
    }
    for c in &report.cuts_traffic {
        outln!(
            "  cut after layer {:>3}: prefill {} B (planner {}), per decode step {} B (planner {})",
            c.after_layer,
            c.bytes_prefill,
            c.predicted_bytes_prefill,
            c.bytes_per_decode_step,
            c.predicted_bytes_per_decode_step
                .map_or("-".into(), |b| b.to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Notes each profiled table measured with another thread count than the replay uses.
fn note_profile_threads<'a>(paths: impl Iterator<Item = &'a PathBuf>, threads: usize) {
    let paths: std::collections::BTreeSet<&PathBuf> = paths.collect();
    for path in paths {
        match profile_threads(path) {
            Some(measured) if measured != threads => eprintln!(
                "note: {} was measured with {measured} threads, this replay uses {threads}: \
                 the prediction is for the profile's",
                path.display()
            ),
            _ => {}
        }
    }
}

/// Prints a pipeline replay: per stage, per transfer (and its hops) and in total.
fn print_pipeline_replay(
    report: &edgeplan::replay::PipelineReplayReport,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let plan: Vec<String> = report
        .stages
        .iter()
        .map(|s| format!("{}..{} {}", s.layers.0, s.layers.1, s.node))
        .collect();
    outln!(
        "{}: {} prompt + {} generated tokens, {} stages: {}",
        report.model,
        report.prompt_tokens,
        report.generate_tokens,
        report.stages.len(),
        plan.join(" | ")
    );
    outln!(
        "{}",
        end_to_end(
            report.measured_s,
            report.predicted_s,
            report.error,
            report.prefill_s
        )
    );
    let pct = |m: f64, p: f64| {
        if p > 0.0 {
            format!("{:+.1}%", 100.0 * (m / p - 1.0))
        } else {
            "-".into()
        }
    };
    for s in &report.stages {
        outln!(
            "  stage {:<12} layers {:>3}..{:<3} compute measured {:.4} s, planner {:.4} s ({})",
            s.node,
            s.layers.0,
            s.layers.1,
            s.compute_s,
            s.predicted_compute_s,
            pct(s.compute_s, s.predicted_compute_s)
        );
    }
    for t in &report.transfers {
        if t.hops.is_empty() {
            outln!("  {:<12} on {}: no transfer", t.what, t.route.join(""));
            continue;
        }
        outln!(
            "  {:<12} {}: measured {:.4} s, planner {:.4} s ({}); prefill {} B (planner {}), \
             per decode step {} B (planner {})",
            t.what,
            t.route.join(" -> "),
            t.measured_s,
            t.predicted_s,
            pct(t.measured_s, t.predicted_s),
            t.bytes_prefill,
            t.predicted_bytes_prefill,
            t.bytes_per_decode_step,
            t.predicted_bytes_per_decode_step
                .map_or("-".into(), |b| b.to_string())
        );
        if t.hops.len() > 1 {
            for h in &t.hops {
                outln!(
                    "      hop {} -> {}: measured {:.4} s, planner {:.4} s",
                    h.from,
                    h.to,
                    h.measured_s,
                    h.predicted_s
                );
            }
        }
    }
    outln!(
        "  other (encoding, decoding, hand-offs): measured {:.4} s, planner 0",
        report.other_s
    );
    Ok(())
}

/// The `threads` column of a profiled table (its first row), if it has one.
fn profile_threads(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let col = header.iter().position(|h| *h == "threads")?;
    lines.next()?.split(',').nth(col)?.trim().parse().ok()
}

/// The end-to-end line of a replay: measured and predicted latency, the error, the first token.
fn end_to_end(measured_s: f64, predicted_s: f64, error: f64, prefill_s: f64) -> String {
    format!(
        "end-to-end: measured {measured_s:.4} s, planner {predicted_s:.4} s ({:+.1}%); first \
         token after {prefill_s:.4} s",
        100.0 * error
    )
}
