//! `generate cache`: a seeded cache-placement instance.

use std::path::Path;
use std::process::ExitCode;

use edgeplan::instance::cache::generate::{generate_spec, write_instance, GenParams};
use edgeplan::Error;

use super::generate::{flag_error, CACHE_FLAGS};

/// Options of `edgeplan generate cache`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Edge servers M (on a square grid).
    #[arg(long, default_value_t = 4)]
    pub servers: usize,
    /// Models in the library.
    #[arg(long, default_value_t = 20)]
    pub models: usize,
    /// Users K.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Base models as config@dtype (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub bases: Option<Vec<String>>,
    /// Probability that a non-base model is a LoRA adapter.
    #[arg(long, default_value_t = 0.6)]
    pub lora_fraction: f64,
    /// Probability that a non-base model fine-tunes its top layers (the rest are full copies).
    #[arg(long, default_value_t = 0.25)]
    pub top_layers_fraction: f64,
    /// Storage of each server, bytes.
    #[arg(long, default_value_t = 4e9, value_name = "BYTES")]
    pub storage: f64,
    /// Grid spacing of the servers, m.
    #[arg(long, default_value_t = 400.0, value_name = "M")]
    pub spacing: f64,
    /// Coverage radius of a server, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub coverage: f64,
    /// Downlink bandwidth of one user, Hz.
    #[arg(long, default_value_t = 20e6, value_name = "HZ")]
    pub bandwidth: f64,
    /// Backhaul rate between servers for relaying, bit/s (default: no relaying).
    #[arg(long, value_name = "BPS")]
    pub backhaul: Option<f64>,
    /// User devices (rows of devices.csv, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Latency limit range, s, as LOW,HIGH.
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub latency_limit: Option<Vec<f64>>,
    /// Zipf skew of the requests.
    #[arg(long, default_value_t = 0.8)]
    pub zipf: f64,
    /// Each user ranks the library in its own random order (default: one shared order).
    #[arg(long)]
    pub per_user_order: bool,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let params = GenParams {
        servers: args.servers,
        models: args.models,
        users: args.users,
        seed: args.seed,
        bases: args.bases.clone().unwrap_or(defaults.bases.clone()),
        lora_fraction: args.lora_fraction,
        top_layers_fraction: args.top_layers_fraction,
        storage_bytes: args.storage,
        spacing_m: args.spacing,
        coverage_m: args.coverage,
        user_bandwidth_hz: args.bandwidth,
        backhaul_bps: args.backhaul,
        user_devices: args
            .devices
            .clone()
            .unwrap_or(defaults.user_devices.clone()),
        latency_limit_s: match args.latency_limit.as_deref() {
            None => defaults.latency_limit_s,
            Some([lo, hi]) => (*lo, *hi),
            Some(other) => {
                return Err(Error::option(
                    "--latency-limit",
                    format!("expected two numbers LOW,HIGH, got {}", other.len()),
                )
                .into())
            }
        },
        zipf_skew: args.zipf,
        per_user_order: args.per_user_order,
        name: args.output.name.clone(),
        ..defaults
    };
    let catalog = args.output.catalog()?;
    catalog.check_bases("--bases", args.bases.as_deref())?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    let file =
        generate_spec(&params, &catalog.models_dir).map_err(|e| flag_error(CACHE_FLAGS, e))?;
    // Load it once through the ordinary loader, so anything else wrong fails here.
    file.build(Path::new("generated cache instance"), catalog.sources())?;
    let summary = format!(
        "{} servers, {} models, {} users",
        params.servers, params.models, params.users
    );
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
