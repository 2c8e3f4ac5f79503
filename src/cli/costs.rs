//! `edgeplan costs`: the per-layer cost table of a model, or `--validate` against measurements.

use super::output::{out, outln};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::fit::{check, fit, Priors, RowCheck};
use edgeplan::costs::runtime::{runtime_info, CLASSES};
use edgeplan::costs::validate::{cost_tables, load_measurements, median_abs, Measurement};
use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig, Phase};
use edgeplan::Error;

/// Options of `edgeplan costs`.
#[derive(clap::Args)]
pub struct CostsArgs {
    /// Model name (a config in --models-dir) or path of a model TOML. Not needed with --validate.
    pub model: Option<String>,
    /// Weight type: fp32, fp16, int8 (Q8_0) or q4 (Q4_0).
    #[arg(long, default_value = "fp16")]
    pub dtype: String,
    /// Directory of model configs.
    #[arg(long, default_value = "instances/models")]
    pub models_dir: PathBuf,
    /// Write the CSV here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Print predicted vs measured throughput for every row of the measurements file: the v1
    /// model, the v2 model (runtimes) fitted on all rows, and refitted without each row's source.
    /// With -o, also write the rows as CSV.
    #[arg(long)]
    pub validate: bool,
    /// Fit the runtime table (runtimes.csv) to the measurements and write it (-o or stdout).
    #[arg(long)]
    pub fit: bool,
    /// Change a prior of the fit (--validate, --fit): NAME=VALUE, e.g. row_sigma=0.15 (repeatable;
    /// docs/costs.md lists them).
    #[arg(long = "prior", value_name = "NAME=VALUE")]
    pub priors: Vec<String>,
    /// Device catalog used by --validate.
    #[arg(long, default_value = "instances/devices.csv")]
    pub devices: PathBuf,
    /// Measurements used by --validate.
    #[arg(long, default_value = "instances/measurements.csv")]
    pub measurements: PathBuf,
}

pub fn run(args: &CostsArgs) -> anyhow::Result<ExitCode> {
    if args.validate || args.fit {
        return validate(args);
    }
    let Some(model) = &args.model else {
        return Err(
            Error::option("MODEL", "give a model name (e.g. llama-2-7b) or --validate").into(),
        );
    };
    let dtype = Dtype::parse(&args.dtype).ok_or_else(|| {
        Error::option(
            "--dtype",
            format!("expected fp32, fp16, int8 or q4, got `{}`", args.dtype),
        )
    })?;
    let path = if model.ends_with(".toml") || Path::new(model).is_file() {
        PathBuf::from(model)
    } else {
        ModelConfig::resolve(&args.models_dir, model)?
    };
    let config = ModelConfig::load(&path)?;
    let table = config.architecture.cost_table(&config.name, dtype);
    let mut csv = Vec::new();
    table.write_csv(&mut csv)?;
    // An MoE model's split into dense parts and experts, as `#` comment lines after the table
    // (the table's readers skip them); nothing for a dense model.
    csv.extend_from_slice(moe_section(&config, dtype).as_bytes());
    match &args.output {
        Some(path) => super::output::file(path, &csv)?,
        None => out!("{}", String::from_utf8_lossy(&csv)),
    }
    let total = table.total_params() as f64;
    let published = config.published_params.map_or(String::new(), |p| {
        format!(" ({:+.2}% vs published {p:.4e})", 100.0 * (total - p) / p)
    });
    let active = if config.architecture.experts > 1 {
        let active = config.architecture.active_params() as f64;
        let published = config.published_active_params.map_or(String::new(), |p| {
            format!(" ({:+.2}% vs published {p:.4e})", 100.0 * (active - p) / p)
        });
        format!(", {active:.4e} active per token{published}")
    } else {
        String::new()
    };
    eprintln!(
        "{} ({dtype}): {} layers, {total:.4e} parameters{published}{active}, {:.3} GB of weights",
        config.name,
        table.len(),
        table.total_param_bytes() / 1e9
    );
    Ok(ExitCode::SUCCESS)
}

/// The MoE section of `edgeplan costs`: `#` lines with the routing shape, each run of alike
/// blocks (cost-table rows) with its dense part and one expert, and the total and active
/// parameters against the published counts. Empty for a dense model.
fn moe_section(config: &ModelConfig, dtype: Dtype) -> String {
    let a = &config.architecture;
    if a.experts <= 1 {
        return String::new();
    }
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str("# ");
        text.push_str(&s);
        text.push('\n');
    };
    let mut shape = format!(
        "mixture of experts: {} routed experts per MoE block (MLP {} wide), top-{}",
        a.experts, a.intermediate, a.experts_per_token
    );
    if a.shared_experts > 0 {
        shape += &format!(
            ", {} shared expert{} (MLP {} wide{}{})",
            a.shared_experts,
            if a.shared_experts == 1 { "" } else { "s" },
            a.shared_intermediate(),
            if a.shared_experts == 1 { "" } else { " each" },
            if a.shared_expert_gate { ", gated" } else { "" }
        );
    } else {
        shape += ", no shared experts";
    }
    if a.dense_layers > 0 {
        shape += &format!(
            ", {} dense block{} first (MLP {} wide)",
            a.dense_layers,
            if a.dense_layers == 1 { "" } else { "s" },
            a.dense_intermediate.unwrap_or(a.intermediate)
        );
    } else {
        shape += ", no dense blocks";
    }
    line(shape);
    let moe = a.moe_table(&config.name, dtype);
    // Runs of consecutive blocks with the same split.
    let key =
        |b: &edgeplan::costs::moe::MoeBlock| (b.experts, b.top_k, b.dense.params, b.expert.params);
    let mut start = 0;
    while start < moe.blocks.len() {
        let first = &moe.blocks[start];
        let end = (start..moe.blocks.len())
            .find(|&i| key(&moe.blocks[i]) != key(first))
            .unwrap_or(moe.blocks.len());
        let last = &moe.blocks[end - 1];
        let rows = if end - start == 1 {
            format!("row {}", first.layer)
        } else {
            format!("rows {}-{}", first.layer, last.layer)
        };
        if first.is_moe() {
            line(format!(
                "{rows}: MoE, dense part {} params ({:.0} bytes), {} experts of {} params \
                 ({:.0} bytes) each, {} per token",
                first.dense.params,
                first.dense.param_bytes,
                first.experts,
                first.expert.params,
                first.expert.param_bytes,
                first.top_k
            ));
        } else {
            line(format!(
                "{rows}: dense, {} params ({:.0} bytes)",
                first.dense.params, first.dense.param_bytes
            ));
        }
        start = end;
    }
    let versus = |computed: u64, published: Option<f64>| {
        let c = computed as f64;
        published.map_or(format!("{c:.4e}"), |p| {
            format!(
                "{c:.4e} ({:+.2}% vs published {p:.4e})",
                100.0 * (c - p) / p
            )
        })
    };
    line(format!(
        "parameters: total {}, active per token {}",
        versus(moe.total_params(), config.published_params),
        versus(moe.active_params(), config.published_active_params)
    ));
    text
}

fn validate(args: &CostsArgs) -> anyhow::Result<ExitCode> {
    let catalog = DeviceCatalog::load(&args.devices)?;
    let rows = load_measurements(&args.measurements)?;
    let tables = cost_tables(&rows, &args.models_dir)?;
    let mut priors = Priors::default();
    for p in &args.priors {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| Error::option("--prior", format!("expected NAME=VALUE, got `{p}`")))?;
        let value: f64 = value.trim().parse().map_err(|_| {
            Error::option(
                "--prior",
                format!("`{name}`: expected a number, got `{value}`"),
            )
        })?;
        priors
            .set(name.trim(), value)
            .map_err(|e| Error::option("--prior", e))?;
    }
    if args.fit {
        let all: Vec<&Measurement> = rows.iter().collect();
        let full = fit(&all, &tables, &catalog, &priors)?;
        let sources = {
            let mut k: Vec<String> = rows.iter().map(|m| m.source_key()).collect();
            k.sort();
            k.dedup();
            k.len()
        };
        let header = vec![
            format!(
                "Runtime efficiencies and overheads, fitted by `edgeplan costs --fit` to {} ({} rows, \
                 {sources} sources); rms log error {:.3}.",
                args.measurements.display(),
                rows.len(),
                full.rms_log_error
            ),
            "Re-run the fit after changing the measurements; rows may also be written by hand. \
             See docs/costs.md (Runtimes)."
                .to_string(),
        ];
        let mut csv = Vec::new();
        full.table.write_csv(&mut csv, &header)?;
        match &args.output {
            Some(path) => super::output::file(path, &csv)?,
            None => out!("{}", String::from_utf8_lossy(&csv)),
        }
        eprintln!(
            "fitted {} rows of {} sources: {} table rows, rms log error {:.3} ({} iterations)",
            rows.len(),
            sources,
            full.table.rows.len(),
            full.rms_log_error,
            full.iterations
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (checks, _) = check(&rows, &tables, &catalog, &priors)?;
    if let Some(path) = &args.output {
        let mut csv = String::from(
            "line,model,dtype,device,unit,runtime,phase,context,tokens,measured_tokens_per_s,\
             v1_tokens_per_s,v2_tokens_per_s,v2_held_out_tokens_per_s,v1_error,v2_error,\
             v2_held_out_error,source\n",
        );
        for c in &checks {
            let m = &c.measurement;
            let (e1, e2, e3) = c.errors();
            csv += &format!(
                "{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{}\n",
                m.line,
                m.model,
                m.dtype,
                m.device,
                m.unit.as_deref().unwrap_or(""),
                m.runtime,
                m.phase.name(),
                m.context,
                m.tokens,
                m.tokens_per_s,
                c.v1,
                c.v2_in_sample,
                c.v2_held_out,
                e1,
                e2,
                e3,
                m.source
            );
        }
        super::output::file(path, csv.as_bytes())?;
    }
    outln!(
        "{:>4} {:<15} {:<5} {:<21} {:<17} {:<7} {:>5} {:>9} {:>8} {:>8} {:>8}",
        "line",
        "model",
        "dtype",
        "device",
        "runtime",
        "phase",
        "tok",
        "measured",
        "v1",
        "v2",
        "v2 held"
    );
    for c in &checks {
        let m = &c.measurement;
        let (e1, e2, e3) = c.errors();
        outln!(
            "{:>4} {:<15} {:<5} {:<21} {:<17} {:<7} {:>5} {:>9.1} {:>+7.1}% {:>+7.1}% {:>+7.1}%",
            m.line,
            m.model,
            m.dtype.to_string(),
            m.device,
            m.runtime,
            m.phase.name(),
            m.tokens,
            m.tokens_per_s,
            100.0 * e1,
            100.0 * e2,
            100.0 * e3
        );
    }
    outln!();
    outln!("median |error|                      rows       v1  v2 (in sample)  v2 (held out)");
    let summary = |label: String, pick: &dyn Fn(&RowCheck) -> bool| -> anyhow::Result<()> {
        let subset: Vec<&RowCheck> = checks.iter().filter(|c| pick(c)).collect();
        let med = |f: &dyn Fn(&RowCheck) -> f64| {
            100.0 * median_abs(subset.iter().map(|c| f(c))).unwrap_or(f64::NAN)
        };
        outln!(
            "{label:<34} {:>5} {:>7.1}% {:>14.1}% {:>13.1}%",
            subset.len(),
            med(&|c| c.errors().0),
            med(&|c| c.errors().1),
            med(&|c| c.errors().2)
        );
        Ok(())
    };
    summary("all".into(), &|_| true)?;
    for phase in [Phase::Prefill, Phase::Decode] {
        summary(format!("phase {}", phase.name()), &|c| {
            c.measurement.phase == phase
        })?;
    }
    for class in CLASSES {
        summary(format!("class {class}"), &|c| {
            runtime_info(&c.measurement.runtime).is_ok_and(|r| r.class == class)
        })?;
    }
    type Key = fn(&Measurement) -> &str;
    let groups: [(&str, Key); 2] = [
        ("runtime", |m| m.runtime.as_str()),
        ("device", |m| m.device.as_str()),
    ];
    for (label, key) in groups {
        let mut values: Vec<&str> = checks.iter().map(|c| key(&c.measurement)).collect();
        values.sort();
        values.dedup();
        for v in values {
            summary(format!("{label} {v}"), &|c| key(&c.measurement) == v)?;
        }
    }
    eprintln!(
        "v1: the device rows of {} alone; v2: runtimes fitted to all {} rows (in sample) and \
         refitted without each row's source (held out)",
        args.devices.display(),
        rows.len()
    );
    Ok(ExitCode::SUCCESS)
}
