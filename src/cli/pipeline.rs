//! `generate pipeline`: a seeded pipeline (in-network model splitting) instance.

use std::path::Path;
use std::process::ExitCode;

use edgeplan::instance::pipeline::generate::{generate_spec, write_instance, GenParams};

use super::generate::{flag_error, PIPELINE_FLAGS};

/// Options of `edgeplan generate pipeline`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Nodes N, the source included.
    #[arg(long, default_value_t = 8)]
    pub nodes: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Topology: geometric (random geometric graph) or tree (devices - base stations -
    /// aggregation site - cloud).
    #[arg(long, default_value = "geometric")]
    pub topology: String,
    /// Model config name.
    #[arg(long, default_value = "llama-3.2-1b")]
    pub model: String,
    /// Weight dtype: fp32, fp16, int8 or q4.
    #[arg(long, default_value = "q4")]
    pub dtype: String,
    /// Objective: latency, throughput, energy or weighted.
    #[arg(long, default_value = "latency")]
    pub objective: String,
    /// Weight of latency (per s) of the weighted objective.
    #[arg(long, default_value_t = 1.0)]
    pub latency_weight: f64,
    /// Weight of energy (per J) of the weighted objective.
    #[arg(long, default_value_t = 0.1)]
    pub energy_weight: f64,
    /// Whose energy counts: source or all.
    #[arg(long, default_value = "source")]
    pub energy_scope: String,
    /// Routing rule: shortest or fastest.
    #[arg(long, default_value = "shortest")]
    pub routing: String,
    /// Prompt tokens.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Generated tokens.
    #[arg(long, default_value_t = 128)]
    pub generate_tokens: usize,
    /// The source node's device (a row of devices.csv).
    #[arg(long, default_value = "phone-sd8gen3")]
    pub source_device: String,
    /// End devices to draw from (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Server devices to draw from (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub server_devices: Option<Vec<String>>,
    /// The regional cloud's device (tree).
    #[arg(long, default_value = "a100-80gb-sxm")]
    pub cloud_device: String,
    /// Geometric: probability that a node other than the source is a server.
    #[arg(long, default_value_t = 0.25)]
    pub server_fraction: f64,
    /// Usable share of each node's memory.
    #[arg(long, default_value_t = 0.75)]
    pub memory_share: f64,
    /// Largest background load of a node other than the source (each draws uniformly up to it).
    #[arg(long, default_value_t = 0.0)]
    pub max_background_load: f64,
    /// Geometric: side of the square, m.
    #[arg(long, default_value_t = 1000.0, value_name = "M")]
    pub area: f64,
    /// Geometric: nodes within this distance are linked, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub radius: f64,
    /// Tree: base stations (default ceil((N - 3) / 4), at least 1).
    #[arg(long)]
    pub base_stations: Option<usize>,
    /// Tree: grid spacing of the base stations, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub bs_spacing: f64,
    /// Tree: end devices stand within this distance of their base station, m.
    #[arg(long, default_value_t = 250.0, value_name = "M")]
    pub cell_radius: f64,
    /// Radio bandwidth of a link with an end device, Hz.
    #[arg(long, default_value_t = 20e6, value_name = "HZ")]
    pub radio_bandwidth: f64,
    /// One-way latency of a radio link, s.
    #[arg(long, default_value_t = 0.005, value_name = "S")]
    pub radio_latency: f64,
    /// Geometric: rate of a server-server link, bit/s.
    #[arg(long, default_value_t = 10e9, value_name = "BPS")]
    pub wired_rate: f64,
    /// Tree: rate of a base station's backhaul, bit/s.
    #[arg(long, default_value_t = 10e9, value_name = "BPS")]
    pub backhaul: f64,
    /// Tree: rate of the link to the cloud, bit/s.
    #[arg(long, default_value_t = 10e9, value_name = "BPS")]
    pub cloud_rate: f64,
    /// Tree: fibre distance to the cloud, m.
    #[arg(long, default_value_t = 500e3, value_name = "M")]
    pub cloud_distance: f64,
    /// Switching and queueing delay of a wired hop, s.
    #[arg(long, default_value_t = 1e-4, value_name = "S")]
    pub switch_delay: f64,
    /// Keep the embedding on the source (true or false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub embed_on_source: bool,
    /// At most this many stages.
    #[arg(long)]
    pub max_stages: Option<usize>,
    /// Latency limit of one request, s.
    #[arg(long, value_name = "S")]
    pub deadline: Option<f64>,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let params = GenParams {
        nodes: args.nodes,
        seed: args.seed,
        topology: args.topology.clone(),
        model: args.model.clone(),
        dtype: args.dtype.clone(),
        objective: args.objective.clone(),
        latency_weight: args.latency_weight,
        energy_weight: args.energy_weight,
        energy_scope: args.energy_scope.clone(),
        routing: args.routing.clone(),
        prompt_tokens: args.prompt_tokens,
        generate_tokens: args.generate_tokens,
        source_device: args.source_device.clone(),
        devices: args.devices.clone().unwrap_or(defaults.devices),
        server_devices: args
            .server_devices
            .clone()
            .unwrap_or(defaults.server_devices),
        cloud_device: args.cloud_device.clone(),
        server_fraction: args.server_fraction,
        memory_share: args.memory_share,
        max_background_load: args.max_background_load,
        area_m: args.area,
        radius_m: args.radius,
        base_stations: args.base_stations,
        bs_spacing_m: args.bs_spacing,
        cell_radius_m: args.cell_radius,
        radio_bandwidth_hz: args.radio_bandwidth,
        radio_latency_s: args.radio_latency,
        wired_bps: args.wired_rate,
        backhaul_bps: args.backhaul,
        cloud_bps: args.cloud_rate,
        cloud_distance_m: args.cloud_distance,
        switch_delay_s: args.switch_delay,
        embed_on_source: args.embed_on_source,
        max_stages: args.max_stages,
        deadline_s: args.deadline,
        name: args.output.name.clone(),
    };
    let catalog = args.output.catalog()?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    catalog.check_devices("--server-devices", args.server_devices.as_deref())?;
    catalog.check_devices(
        "--source-device",
        Some(std::slice::from_ref(&args.source_device)),
    )?;
    catalog.check_devices(
        "--cloud-device",
        Some(std::slice::from_ref(&args.cloud_device)),
    )?;
    catalog.check_models("--model", Some(std::slice::from_ref(&args.model)))?;
    let file =
        generate_spec(&params, &catalog.devices).map_err(|e| flag_error(PIPELINE_FLAGS, e))?;
    // Load it once through the ordinary loader, so anything else wrong fails here.
    file.build(Path::new("generated pipeline instance"), catalog.sources())?;
    let summary = format!(
        "{} network, {} nodes, {} links",
        params.topology,
        params.nodes,
        file.links.len()
    );
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
