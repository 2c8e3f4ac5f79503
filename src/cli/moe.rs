//! `generate moe`: a seeded mixture-of-experts instance (expert placement or expert cache).

use std::path::Path;
use std::process::ExitCode;

use edgeplan::instance::moe::generate::{generate_spec, write_instance, GenParams};

use super::generate::{flag_error, MOE_FLAGS};

/// Options of `edgeplan generate moe`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Task: placement (experts over the nodes of a star around the home) or cache (an
    /// on-device expert cache with fetch or offload on a miss).
    #[arg(long, default_value = "placement")]
    pub task: String,
    /// Placement: nodes N, the home included.
    #[arg(long, default_value_t = 8)]
    pub nodes: usize,
    /// Seed of every random draw and of the routing trace.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Model config name (an MoE model).
    #[arg(long, default_value = "mixtral-8x7b")]
    pub model: String,
    /// Weight dtype: fp32, fp16, int8 or q4.
    #[arg(long, default_value = "q4")]
    pub dtype: String,
    /// Objective: latency or throughput (placement), latency or energy (cache).
    #[arg(long, default_value = "latency")]
    pub objective: String,
    /// Routing skew: the Zipf exponent of the experts' weights (0 = uniform).
    #[arg(long, default_value_t = 1.0)]
    pub skew: f64,
    /// Tokens of the generated routing trace.
    #[arg(long, default_value_t = 512)]
    pub trace_tokens: usize,
    /// Prompt tokens.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Generated tokens.
    #[arg(long, default_value_t = 128)]
    pub generate_tokens: usize,
    /// Placement: the home's device; cache: the edge server's (a row of devices.csv).
    #[arg(long, default_value = "rtx-4090")]
    pub home_device: String,
    /// Placement: devices the other nodes draw from (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Cache: the device.
    #[arg(long, default_value = "jetson-orin-nano-8gb")]
    pub device: String,
    /// Usable share of each node's memory.
    #[arg(long, default_value_t = 0.75)]
    pub memory_share: f64,
    /// Placement: least link rate, bit/s (rates are log-uniform).
    #[arg(long, default_value_t = 100e6, value_name = "BPS")]
    pub min_rate: f64,
    /// Placement: greatest link rate, bit/s.
    #[arg(long, default_value_t = 1e9, value_name = "BPS")]
    pub max_rate: f64,
    /// Least one-way latency, s (cache: the radio's latency).
    #[arg(long, default_value_t = 0.001, value_name = "S")]
    pub min_latency: f64,
    /// Placement: greatest one-way latency, s.
    #[arg(long, default_value_t = 0.005, value_name = "S")]
    pub max_latency: f64,
    /// Cache: device to edge rate, bit/s.
    #[arg(long, default_value_t = 50e6, value_name = "BPS")]
    pub uplink: f64,
    /// Cache: edge to device rate, bit/s.
    #[arg(long, default_value_t = 200e6, value_name = "BPS")]
    pub downlink: f64,
    /// Cache: expert slots as a share of all experts.
    #[arg(long, default_value_t = 0.25)]
    pub slot_share: f64,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let params = GenParams {
        task: args.task.clone(),
        nodes: args.nodes,
        seed: args.seed,
        model: args.model.clone(),
        dtype: args.dtype.clone(),
        objective: args.objective.clone(),
        skew: args.skew,
        trace_tokens: args.trace_tokens,
        prompt_tokens: args.prompt_tokens,
        generate_tokens: args.generate_tokens,
        home_device: args.home_device.clone(),
        devices: args.devices.clone().unwrap_or(defaults.devices),
        device: args.device.clone(),
        memory_share: args.memory_share,
        min_rate_bps: args.min_rate,
        max_rate_bps: args.max_rate,
        min_latency_s: args.min_latency,
        max_latency_s: args.max_latency,
        uplink_bps: args.uplink,
        downlink_bps: args.downlink,
        slot_share: args.slot_share,
        name: args.output.name.clone(),
    };
    let catalog = args.output.catalog()?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    catalog.check_devices(
        "--home-device",
        Some(std::slice::from_ref(&args.home_device)),
    )?;
    catalog.check_devices("--device", Some(std::slice::from_ref(&args.device)))?;
    catalog.check_models("--model", Some(std::slice::from_ref(&args.model)))?;
    let file = generate_spec(&params, &catalog.devices, &catalog.models_dir)
        .map_err(|e| flag_error(MOE_FLAGS, e))?;
    // Load it once through the ordinary loader, so anything else wrong fails here.
    file.build(Path::new("generated moe instance"), catalog.sources())?;
    let summary = format!(
        "{} task, {}, {} nodes, skew {}",
        params.task,
        params.model,
        file.nodes.len(),
        params.skew
    );
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
