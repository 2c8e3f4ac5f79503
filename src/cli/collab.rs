//! `generate collab`: a seeded small/large model collaboration instance.

use std::path::Path;
use std::process::ExitCode;

use edgeplan::instance::collab::generate::{generate_spec, write_instance, GenParams};
use edgeplan::Error;

use super::generate::{flag_error, COLLAB_FLAGS};

/// Options of `edgeplan generate collab`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Users.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Seed of every random draw and of the Monte Carlo simulation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Variants as model:dtype, comma-separated (default
    /// qwen2.5-0.5b:q4,qwen2.5-7b:q4,llama-3.2-1b:q4,llama-3.2-3b:q4,llama-3-8b:fp16).
    #[arg(long, value_delimiter = ',', value_name = "MODEL:DTYPE,...")]
    pub variants: Option<Vec<String>>,
    /// The edge server's device (a row of devices.csv).
    #[arg(long, default_value = "a100-80gb-sxm")]
    pub edge_device: String,
    /// The edge server's memory, bytes (default the device's).
    #[arg(long, value_name = "BYTES")]
    pub edge_memory: Option<f64>,
    /// Resource blocks of the edge.
    #[arg(long, default_value_t = 100)]
    pub blocks: usize,
    /// Bandwidth of one resource block, Hz.
    #[arg(long, default_value_t = 180e3, value_name = "HZ")]
    pub rb_bandwidth: f64,
    /// Radius of the cell the users stand in, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub radius: f64,
    /// Round trip between a user and the server, s.
    #[arg(long, default_value_t = 0.01, value_name = "S")]
    pub rtt: f64,
    /// Utilisation cap of the edge, in (0, 0.99].
    #[arg(long, default_value_t = 0.8)]
    pub max_utilisation: f64,
    /// Devices the users draw from (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Prompt tokens, LOW,HIGH (default 64,512).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub prompt_tokens: Option<Vec<usize>>,
    /// Output tokens, LOW,HIGH (default 32,128).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub output_tokens: Option<Vec<usize>>,
    /// Requests per second per user, LOW,HIGH, log-uniform (default 0.01,0.1).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub rate: Option<Vec<f64>>,
    /// Deadline, s, LOW,HIGH, log-uniform (default 2,20).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub deadline: Option<Vec<f64>>,
    /// Energy limit per request, J, LOW,HIGH, log-uniform (default none).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub energy_limit: Option<Vec<f64>>,
    /// Quality target, percent, LOW,HIGH (default 40,65).
    #[arg(long, value_delimiter = ',', value_name = "LOW,HIGH")]
    pub quality_target: Option<Vec<f64>>,
    /// Objective: quality (weighted mean quality) or served (weighted share of users reaching
    /// their quality target).
    #[arg(long, default_value = "quality")]
    pub objective: String,
    /// Modes allowed, comma-separated: device, edge, cascade, speculative, split (default the
    /// first four).
    #[arg(long, value_delimiter = ',')]
    pub modes: Option<Vec<String>>,
    /// Draft lengths offered: 1..=K.
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub max_draft_length: usize,
    /// Escalation fractions offered to cascades, comma-separated (default 0.1,0.2,0.3,0.4,0.5).
    #[arg(long, value_delimiter = ',')]
    pub escalations: Option<Vec<f64>>,
    /// The cascade router's sharpness (1: random routing).
    #[arg(long, default_value_t = 2.0)]
    pub router_sharpness: f64,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

/// A `LOW,HIGH` flag: the default when not given, an error of `flag` unless two values.
fn pair<T: Copy>(flag: &str, given: Option<&[T]>, default: (T, T)) -> edgeplan::Result<(T, T)> {
    match given {
        None => Ok(default),
        Some([lo, hi]) => Ok((*lo, *hi)),
        Some(other) => Err(Error::option(
            flag,
            format!("expected two values LOW,HIGH, got {}", other.len()),
        )),
    }
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let params = GenParams {
        users: args.users,
        seed: args.seed,
        variants: args.variants.clone().unwrap_or(defaults.variants),
        edge_device: args.edge_device.clone(),
        edge_memory_bytes: args.edge_memory,
        resource_blocks: args.blocks,
        rb_bandwidth_hz: args.rb_bandwidth,
        cell_radius_m: args.radius,
        rtt_s: args.rtt,
        max_utilisation: args.max_utilisation,
        user_devices: args.devices.clone().unwrap_or(defaults.user_devices),
        prompt_tokens: pair(
            "--prompt-tokens",
            args.prompt_tokens.as_deref(),
            defaults.prompt_tokens,
        )?,
        output_tokens: pair(
            "--output-tokens",
            args.output_tokens.as_deref(),
            defaults.output_tokens,
        )?,
        rate_per_s: pair("--rate", args.rate.as_deref(), defaults.rate_per_s)?,
        deadline_s: pair("--deadline", args.deadline.as_deref(), defaults.deadline_s)?,
        energy_limit_j: match args.energy_limit.as_deref() {
            None => None,
            given => Some(pair("--energy-limit", given, (0.0, 0.0))?),
        },
        quality_target: pair(
            "--quality-target",
            args.quality_target.as_deref(),
            defaults.quality_target,
        )?,
        objective: args.objective.clone(),
        modes: args.modes.clone().unwrap_or(defaults.modes),
        max_draft_length: args.max_draft_length,
        escalations: args.escalations.clone().unwrap_or(defaults.escalations),
        router_sharpness: args.router_sharpness,
        name: args.output.name.clone(),
    };
    let catalog = args.output.catalog()?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    catalog.check_devices(
        "--edge-device",
        Some(std::slice::from_ref(&args.edge_device)),
    )?;
    params.validate().map_err(|e| flag_error(COLLAB_FLAGS, e))?;
    let models: Vec<String> = params
        .variants
        .iter()
        .map(|v| v.split(':').next().unwrap_or_default().to_string())
        .collect();
    catalog.check_models("--variants", Some(&models))?;
    let file = generate_spec(&params, &catalog.devices, &catalog.models_dir)
        .map_err(|e| flag_error(COLLAB_FLAGS, e))?;
    // Load it once through the ordinary loader, so anything else wrong fails here.
    file.build(Path::new("generated collab instance"), catalog.sources())
        .map_err(|e| match e {
            // A variant without a quality row is the --variants flag's fault.
            Error::Field { field, message, .. } if field.starts_with("variants[") => {
                Error::option("--variants", message)
            }
            other => other,
        })?;
    let summary = format!(
        "{} users, {} variants, {}",
        params.users,
        params.variants.len(),
        params.edge_device
    );
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
