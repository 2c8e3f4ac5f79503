//! `edgeplan costs`: the per-layer cost table of a model, or `--validate` against measurements.

use super::output::{out, outln};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeplan::costs::validate::{compare, load_measurements, median_abs_error};
use edgeplan::costs::{DeviceCatalog, Dtype, ModelConfig};
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
    /// Print predicted vs measured throughput for every row of the measurements file.
    #[arg(long)]
    pub validate: bool,
    /// Device catalog used by --validate.
    #[arg(long, default_value = "instances/devices.csv")]
    pub devices: PathBuf,
    /// Measurements used by --validate.
    #[arg(long, default_value = "instances/measurements.csv")]
    pub measurements: PathBuf,
}

pub fn run(args: &CostsArgs) -> anyhow::Result<ExitCode> {
    if args.validate {
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
    let cmp = compare(&rows, &args.models_dir, &catalog, &args.devices)?;
    outln!(
        "{:<16} {:<5} {:<22} {:<7} {:>6} {:>11} {:>11} {:>8}  framework",
        "model",
        "dtype",
        "device",
        "phase",
        "tokens",
        "measured",
        "predicted",
        "error"
    );
    for c in &cmp {
        let m = &c.measurement;
        outln!(
            "{:<16} {:<5} {:<22} {:<7} {:>6} {:>11.1} {:>11.1} {:>+7.1}%  {}",
            m.model,
            m.dtype.to_string(),
            m.device,
            match m.phase {
                edgeplan::costs::Phase::Prefill => "prefill",
                edgeplan::costs::Phase::Decode => "decode",
            },
            m.tokens,
            m.tokens_per_s,
            c.predicted_tokens_per_s,
            100.0 * c.relative_error,
            m.framework
        );
    }
    for (name, filter) in [
        ("all", None),
        ("prefill", Some(edgeplan::costs::Phase::Prefill)),
        ("decode", Some(edgeplan::costs::Phase::Decode)),
    ] {
        let subset: Vec<_> = cmp
            .iter()
            .filter(|c| filter.is_none_or(|p| c.measurement.phase == p))
            .cloned()
            .collect();
        if let Some(e) = median_abs_error(&subset) {
            outln!(
                "median absolute error ({name}, {} rows): {:.1}%",
                subset.len(),
                100.0 * e
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
