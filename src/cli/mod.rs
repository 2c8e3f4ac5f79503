//! Argument parsing and exit codes: 0 success, 1 infeasible (or a plan that violates
//! constraints), 2 bad input (file, field, CSV line or option), 3 solver or internal failure.

mod alloc;
mod cache;
mod collab;
mod costs;
mod generate;
mod green;
mod moe;
mod output;
mod pipeline;
mod profile;

mod sweep;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgeplan::registry::ProblemKind;
use output::{out, outln};

/// Plans LLM deployment at the mobile edge.
#[derive(Parser)]
#[command(name = "edgeplan", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Solve an instance and print the plan.
    Solve(SolveArgs),
    /// Check a plan against an instance: latency, energy, memory and violated constraints.
    Evaluate(EvaluateArgs),
    /// Write the per-layer cost table of a model, or validate the latency model.
    Costs(costs::CostsArgs),
    /// Write a seeded random instance.
    #[command(subcommand)]
    Generate(Generate),
    /// Run a parameter sweep: a grid x seeds x solver presets, in parallel, one CSV row per run
    /// (resumable with --resume, split for job arrays with --shard i/n).
    Sweep(sweep::SweepArgs),
    /// Merge run files (e.g. shards) and print count, mean, std and the 95% confidence interval
    /// (Student t) of metrics per group.
    Summarize(sweep::SummarizeArgs),
    /// Measure per-layer latency of a model's transformer on this CPU (fp32, random weights) and
    /// write the profiled table instances/profiles/<model>@<device>.csv.
    Profile(profile::ProfileArgs),
    /// Fit a device's roofline efficiencies to a profiled table and report how well the fitted
    /// roofline predicts the layers left out of the fit.
    Calibrate(profile::CalibrateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) to standard output.
    Completions(CompletionsArgs),
    /// Write the manual pages (roff): `edgeplan.1` and one page per command.
    Man(ManArgs),
    /// Execute a split or pipeline inference plan for real: tiers (or stages and relays) as
    /// threads running a real transformer, hidden states over loopback TCP through an emulator
    /// of the instance's links; measured vs predicted latency and bytes per cut or transfer.
    Replay(profile::ReplayArgs),
}

/// The problems `edgeplan generate` can draw.
#[derive(Subcommand)]
enum Generate {
    /// Many users sharing edge servers: positions, 3GPP path loss and shadowing, models, devices,
    /// workloads and optional deadlines.
    Alloc(alloc::GenerateArgs),
    /// Cache placement: a model library of LLM variants, servers on a grid, users with 3GPP
    /// downlink rates, latency limits and Zipf requests.
    Cache(cache::GenerateArgs),
    /// Green scheduling: jobs from the cost tables, servers with DVFS levels and PV, a synthetic
    /// solar-heavy day of carbon intensity and prices.
    Green(green::GenerateArgs),
    /// In-network model splitting: a random geometric or tree-shaped edge network of devices,
    /// base-station servers and a cloud, with 3GPP radio links and fibre.
    Pipeline(Box<pipeline::GenerateArgs>),
    /// Mixture-of-experts: expert placement over a star of edge nodes around a home server, or
    /// an on-device expert cache, with a Zipf routing trace.
    Moe(Box<moe::GenerateArgs>),
    /// Small/large model collaboration: users with devices and 3GPP radio channels around one
    /// edge server, model variants of two tokenizer families, deadlines and quality targets.
    Collab(Box<collab::GenerateArgs>),
}

/// Options of `edgeplan solve`.
#[derive(clap::Args)]
pub struct SolveArgs {
    /// Instance file (TOML or JSON).
    pub instance: PathBuf,
    /// Solver preset: a name or a preset TOML file. Split: highs, highs-1pct, enumerate,
    /// all-device, all-edge, all-cloud. Alloc: highs, highs-1pct, local-search, equal-split,
    /// all-device, all-edge, fixed-cut. Cache: highs, highs-1pct, greedy, independent,
    /// popularity, random. Green: highs, highs-1pct, greedy, asap. Pipeline: highs,
    /// highs-1pct, enumerate, local-search, edgeshard. Moe: highs, highs-1pct, enumerate,
    /// greedy, round-robin, layer-wise. Collab: highs, highs-1pct, enumerate, greedy,
    /// all-device, all-edge, cascade-fixed.
    #[arg(long, default_value = "highs")]
    pub solver: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Time limit in seconds (overrides the preset).
    #[arg(long, value_name = "S")]
    pub time_limit: Option<f64>,
    /// Relative MIP gap (overrides the preset).
    #[arg(long, value_name = "G")]
    pub gap: Option<f64>,
    /// HiGHS threads (overrides the preset).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Write the HiGHS log to this file.
    #[arg(long, value_name = "FILE")]
    pub solver_log: Option<PathBuf>,
    /// Export the MILP before solving (.lp or .mps).
    #[arg(long, value_name = "FILE")]
    pub write_model: Option<PathBuf>,
    /// Progress of exact solves on standard error, once a second after the first: elapsed
    /// time, incumbent, bound, gap and nodes. `auto`: when standard error is a terminal.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

/// When `solve` shows its progress.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// When standard error is a terminal (one line, rewritten in place).
    Auto,
    /// Always (a new line per update where standard error is not a terminal).
    Always,
    /// Never.
    Never,
}

/// Options of `edgeplan completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Options of `edgeplan man`.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Folder to write the pages into (created if missing); without it, `edgeplan.1` goes to
    /// standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of `edgeplan evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// Instance file.
    pub instance: PathBuf,
    /// Plan JSON: the JSON output of `edgeplan solve --json`, or for a split instance
    /// `{"assignment": ["device", ...]}` or `{"cuts": [c1, c2]}`, for an alloc instance
    /// `{"users": [{"server": 0, "cut": 3, "resource_blocks": 5, "compute_share": 0.2}, ...]}`,
    /// for a cache instance `{"servers": [{"server": "es-0", "models": ["name", ...]}, ...]}`.
    pub plan: PathBuf,
    /// Print the evaluation as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command line and maps errors to exit codes.
pub fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,highs=error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Solve(args) => solve(&args),
        Command::Evaluate(args) => evaluate(&args),
        Command::Costs(args) => costs::run(&args),
        Command::Generate(Generate::Alloc(args)) => alloc::generate(&args),
        Command::Generate(Generate::Cache(args)) => cache::generate(&args),
        Command::Generate(Generate::Green(args)) => green::generate(&args),
        Command::Generate(Generate::Pipeline(args)) => pipeline::generate(&args),
        Command::Generate(Generate::Moe(args)) => moe::generate(&args),
        Command::Generate(Generate::Collab(args)) => collab::generate(&args),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Summarize(args) => sweep::summarize_runs(&args),
        Command::Profile(args) => profile::run_profile(&args),
        Command::Calibrate(args) => profile::run_calibrate(&args),
        Command::Replay(args) => profile::run_replay(&args),
        Command::Completions(args) => completions(&args),
        Command::Man(args) => man(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let bad_input = err
                .downcast_ref::<edgeplan::Error>()
                .is_some_and(edgeplan::Error::is_bad_input);
            // An edgeplan error says everything in its own message (an I/O error includes
            // what the system said); others print their chain of causes.
            let message = match err.downcast_ref::<edgeplan::Error>() {
                Some(e) => edgeplan::error::one_line(&e.to_string()),
                None => edgeplan::error::one_line(&format!("{err:#}")),
            };
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::from(if bad_input { 2 } else { 3 })
        }
    }
}

/// The command line as parsed, completed and documented: every subcommand, negative numbers
/// accepted as values, and a version that names the HiGHS library linked in.
fn full_command() -> clap::Command {
    use clap::CommandFactory;
    command(Cli::command()).version(version())
}

/// `0.1.0 (HiGHS 1.11.0)`.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{} (HiGHS {})",
            env!("CARGO_PKG_VERSION"),
            edgeplan::solve::milp::highs_version()
        )
    })
}

/// Every command and subcommand, with negative numbers accepted as values (`--time-limit -1` is
/// then a range error naming the flag, not an "unexpected argument").
fn command(cmd: clap::Command) -> clap::Command {
    cmd.allow_negative_numbers(true).mut_subcommands(command)
}

/// Parses the command line. Help and version go to standard output (exit 0); a usage error is
/// one line on standard error (exit 2), and a command given without its subcommand prints the
/// help to standard output and that one line.
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    use clap::FromArgMatches;
    let error = match full_command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => return Ok(cli),
        Err(error) => error,
    };
    let rendered = error.render().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Help and version: the text itself, exit 0 (a closed stdout ends quietly).
            let _ = output::stdout(&rendered);
            return Err(ExitCode::SUCCESS);
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = output::stdout(&rendered);
            let _ = writeln!(
                std::io::stderr(),
                "error: a subcommand is missing (its list is above)"
            );
            return Err(ExitCode::from(2));
        }
        _ => {}
    }
    let message = usage_error(&rendered);
    let _ = writeln!(std::io::stderr(), "error: {message}");
    Err(ExitCode::from(2))
}

/// Clap's multi-line usage error on one line: the message and its tips, without the usage
/// block and the "for more information" line.
fn usage_error(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    let mut message = edgeplan::error::one_line(&lines.join("; "));
    message.push_str(" (see --help)");
    message
}

/// The run options of `solve`: the HiGHS log and the model export.
/// The HiGHS log file is created here, so that a path HiGHS cannot write is an error naming the
/// file (HiGHS itself would skip the log silently).
fn run_options(args: &SolveArgs) -> anyhow::Result<edgeplan::solve::RunOptions> {
    if let Some(model) = &args.write_model {
        edgeplan::solve::milp::check_model_extension(model)?;
    }
    if let Some(log) = &args.solver_log {
        use std::io::Write as _;
        std::fs::File::create(log)
            .and_then(|mut f| {
                writeln!(f, "HiGHS log of edgeplan solve {}", args.instance.display())
            })
            .map_err(|e| edgeplan::Error::io(log, e))?;
    }
    Ok(edgeplan::solve::RunOptions {
        log_file: args.solver_log.clone(),
        write_model: args.write_model.clone(),
    })
}

/// Prints `json` when asked, else `text`; exit code 0 when `ok` (a feasible plan), else 1.
fn emit(json: Option<String>, text: impl FnOnce() -> String, ok: bool) -> anyhow::Result<ExitCode> {
    match json {
        Some(json) => outln!("{json}"),
        None => out!("{}", text()),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn solve(args: &SolveArgs) -> anyhow::Result<ExitCode> {
    use edgeplan::solve::watch;
    let kind = ProblemKind::of_instance(&args.instance)?;
    let mut preset = edgeplan::solve::SolverPreset::resolve(&args.solver)?;
    preset.override_with(args.time_limit, args.gap, args.threads)?;
    let instance = kind.formulation().load(&args.instance)?;
    let run = run_options(args)?;
    let terminal = std::io::stderr().is_terminal();
    watch::show_progress(match args.progress {
        Progress::Never => None,
        Progress::Auto if !terminal => None,
        _ if terminal => Some(watch::ProgressStyle::InPlace),
        _ => Some(watch::ProgressStyle::Lines),
    });
    stop_on_ctrl_c();
    let solved = instance.solve(&preset, &run);
    watch::end_progress();
    let solved = solved?;
    if watch::stop_requested() {
        let _ = writeln!(
            std::io::stderr(),
            "interrupted: the report has the best plan found before the stop"
        );
    }
    let json = args.json.then(|| solved.json()).transpose()?;
    emit(json, || solved.text(), solved.feasible())
}

/// Ctrl-C (SIGINT) once: every HiGHS solve stops and the best plan found so far is reported (as
/// `limit_reached`); twice: exit at once with code 130.
fn stop_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if edgeplan::solve::watch::stop_requested() {
            std::process::exit(130);
        }
        edgeplan::solve::watch::request_stop();
        let _ = writeln!(
            std::io::stderr(),
            "\nstopping: the best plan found so far will be reported (Ctrl-C again to quit)"
        );
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C will end the solve without a report: {e}");
    }
}

fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = full_command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "edgeplan", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}

fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = full_command();
    let render = |cmd: clap::Command| -> anyhow::Result<Vec<u8>> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        Ok(page)
    };
    let Some(dir) = &args.dir else {
        out!("{}", String::from_utf8_lossy(&render(cmd)?));
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).map_err(|e| edgeplan::Error::io(dir, e))?;
    let mut pages = vec![("edgeplan.1".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("edgeplan-{}", sub.get_name());
        pages.push((format!("{name}.1"), sub.clone().name(name)));
    }
    for (file, page) in pages {
        let path = dir.join(file);
        std::fs::write(&path, render(page)?).map_err(|e| edgeplan::Error::io(&path, e))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let kind = ProblemKind::of_instance(&args.instance)?;
    let instance = kind.formulation().load(&args.instance)?;
    let plan = edgeplan::formulation::plan_json(&args.plan)?;
    let evaluated = instance.evaluate(&plan, &args.plan)?;
    let json = args.json.then(|| evaluated.json()).transpose()?;
    emit(json, || evaluated.text(), evaluated.feasible())
}
