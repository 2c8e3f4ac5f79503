//! `edgeplan sweep` and `edgeplan summarize`.

use super::output::{out, outln};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use edgeplan::sweep::stats::{read_runs, summarize, GroupStats, SummaryOptions};
use edgeplan::sweep::{run_sweep, Shard, Sweep, SweepOptions};

/// Options of `edgeplan sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    /// Sweep file (TOML): a generator or base instance, `[fixed]` and `[grid]` parameters,
    /// seeds and solver presets.
    pub sweep: PathBuf,
    /// Output CSV (default `<sweep name>.csv`, or `<sweep name>.shard-<i>-of-<n>.csv`).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Continue an existing output: run only the runs without a row.
    #[arg(long)]
    pub resume: bool,
    /// With --resume, run again the runs that recorded an error.
    #[arg(long, requires = "resume")]
    pub retry_errors: bool,
    /// Replace an existing output file.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Run shard i of n (0 <= i < n): the instances whose index is i modulo n.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Worker threads (default: one per core); each HiGHS solve uses one.
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// Stop after this many runs; `--resume` does the rest.
    #[arg(long, value_name = "N")]
    pub max_runs: Option<usize>,
    /// Print the runs the sweep would make and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `edgeplan summarize`.
#[derive(clap::Args)]
pub struct SummarizeArgs {
    /// Run files (CSV) of one sweep, e.g. all its shards.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Group by these columns (comma-separated), e.g. users,solver.
    #[arg(long, value_delimiter = ',', default_value = "solver")]
    pub by: Vec<String>,
    /// Numeric columns to summarise (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "objective")]
    pub metric: Vec<String>,
    /// Keep only rows with COLUMN=VALUE (repeatable), e.g. --where termination=optimal.
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// Confidence level of the interval of the mean.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Write the summary as CSV here.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the merged rows (sorted by sweep and run) here.
    #[arg(long, value_name = "FILE")]
    pub merged: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn sweep(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    if let Some(t) = args.threads {
        edgeplan::limits::count_option("--threads", t as u64, 1, edgeplan::limits::MAX_THREADS)?;
    }
    let sweep = Sweep::load(&args.sweep)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(match shard {
            Some(s) => format!("{}.shard-{}-of-{}.csv", sweep.name, s.index, s.count),
            None => format!("{}.csv", sweep.name),
        })
    });
    if args.dry_run {
        out!("{}", describe(&sweep, shard));
        return Ok(ExitCode::SUCCESS);
    }
    let options = SweepOptions {
        output: out.clone(),
        threads: args.threads.unwrap_or(0),
        shard,
        resume: args.resume,
        overwrite: args.force,
        retry_errors: args.retry_errors,
        max_runs: args.max_runs,
    };
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs, ETA {eta} {msg}",
            )
            .expect("a valid progress template"),
        );
        bar
    });
    let summary = run_sweep(&sweep, &options, &|p| {
        if let Some(bar) = &bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            let rate = p.done as f64 / bar.elapsed().as_secs_f64().max(1e-3);
            let errors = match p.errors {
                0 => String::new(),
                n => format!(", {n} errors"),
            };
            bar.set_message(format!("({rate:.0} runs/s{errors})"));
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let rate = summary.ran as f64 / summary.wall_s.max(1e-9);
    eprintln!(
        "{}: {} of {} runs done ({} now, {} already in the file), {} errors, {:.1} s ({rate:.1} runs/s)",
        out.display(),
        summary.already_done + summary.ran,
        summary.runs,
        summary.ran,
        summary.already_done,
        summary.errors,
        summary.wall_s
    );
    if summary.dropped_partial_line {
        eprintln!("note: dropped an incomplete last line left by an interrupted sweep (that run ran again)");
    }
    if summary.errors > 0 {
        eprintln!("note: failed runs record their message in the `error` column; --resume --retry-errors runs them again");
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--dry-run` prints.
fn describe(sweep: &Sweep, shard: Option<Shard>) -> String {
    let mut text = format!(
        "sweep {} ({} problem): {} grid points x {} seeds x {} solvers = {} runs\n",
        sweep.name,
        sweep.problem.name(),
        sweep.points.len(),
        sweep.seeds.len(),
        sweep.solvers.len(),
        sweep.runs()
    );
    for (k, v) in &sweep.fixed {
        text.push_str(&format!("  fixed {k} = {v}\n"));
    }
    for (i, k) in sweep.parameters.iter().enumerate() {
        let values: Vec<String> = sweep
            .points
            .iter()
            .map(|p| edgeplan::sweep::spec::cell(&p[i]))
            .fold(Vec::new(), |mut acc, v| {
                if !acc.contains(&v) {
                    acc.push(v);
                }
                acc
            });
        text.push_str(&format!("  grid {k}: {}\n", values.join(", ")));
    }
    let names: Vec<&str> = sweep.solvers.iter().map(|s| s.name.as_str()).collect();
    text.push_str(&format!("  solvers: {}\n", names.join(", ")));
    if let Some(s) = shard {
        let units = (0..sweep.instances()).filter(|&u| s.has(u)).count();
        text.push_str(&format!(
            "  shard {}/{}: {} instances, {} runs\n",
            s.index,
            s.count,
            units,
            units * sweep.solvers.len()
        ));
    }
    text
}

pub fn summarize_runs(args: &SummarizeArgs) -> anyhow::Result<ExitCode> {
    let runs = read_runs(&args.runs)?;
    if runs.duplicates > 0 {
        eprintln!(
            "note: {} rows appeared in more than one file with the same results; kept once",
            runs.duplicates
        );
    }
    let filters = args
        .filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .ok_or_else(|| {
                    edgeplan::Error::option("where", format!("expected COLUMN=VALUE, got `{f}`"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = SummaryOptions {
        by: args.by.clone(),
        metrics: args.metric.clone(),
        filters,
        level: args.level,
    };
    let groups = summarize(&runs, &args.runs[0], &options)?;
    if let Some(path) = &args.merged {
        runs.write(path)?;
    }
    if let Some(path) = &args.out {
        write_summary(path, &args.by, &groups)?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&groups)?);
    } else {
        out!("{}", render(&args.by, args.level, &groups, runs.rows.len()));
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.6}"),
        _ => String::new(),
    }
}

/// The summary table as CSV: the `by` columns, metric, count, missing, mean, std, ci_low,
/// ci_high, min, max.
fn write_summary(
    path: &std::path::Path,
    by: &[String],
    groups: &[GroupStats],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = by.to_vec();
    header.extend(
        [
            "metric", "count", "missing", "mean", "std", "ci_low", "ci_high", "min", "max",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    w.write_record(&header)?;
    let full = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    for g in groups {
        let mut row = cells(g, full);
        row.extend([full(Some(g.min)), full(Some(g.max))]);
        w.write_record(&row)?;
    }
    super::output::file(path, &w.into_inner()?)
}

/// A group's cells: its key, metric, count, missing, mean, std and interval, numbers written by
/// `number`.
fn cells(g: &GroupStats, number: impl Fn(Option<f64>) -> String) -> Vec<String> {
    let mut row = g.key.clone();
    row.extend([
        g.metric.clone(),
        g.count.to_string(),
        g.missing.to_string(),
        number(Some(g.mean)),
        number(g.std),
        number(g.ci_low),
        number(g.ci_high),
    ]);
    row
}

/// An aligned text table.
fn render(by: &[String], level: f64, groups: &[GroupStats], rows: usize) -> String {
    let pct = format!("{:.0}%", level * 100.0);
    let mut header: Vec<String> = by.to_vec();
    header.extend([
        "metric".to_string(),
        "n".into(),
        "missing".into(),
        "mean".into(),
        "std".into(),
        format!("{pct} CI low"),
        format!("{pct} CI high"),
    ]);
    let mut table = vec![header];
    for g in groups {
        table.push(cells(g, fmt));
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = format!("{rows} runs, {} groups\n", groups.len());
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if c < by.len() + 1 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
