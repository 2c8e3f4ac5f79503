//! `generate alloc`: a seeded allocation instance.

use std::process::ExitCode;

use edgeplan::instance::alloc::generate::{generate_spec, write_instance, GenParams};
use edgeplan::problems::alloc::AllocObjective;
use edgeplan::Error;

use super::generate::{check_dtypes, flag_error, ALLOC_FLAGS};

/// Options of `edgeplan generate alloc`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Users K.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Edge servers M (on a line, `--spacing` apart).
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Resource blocks N per server.
    #[arg(long, default_value_t = 100)]
    pub blocks: usize,
    /// Bandwidth of one resource block, Hz.
    #[arg(long, default_value_t = 180e3, value_name = "HZ")]
    pub rb_bandwidth: f64,
    /// Radius of the disc users stand in around their home server, m.
    #[arg(long, default_value_t = 500.0, value_name = "M")]
    pub radius: f64,
    /// Distance between neighbouring servers, m.
    #[arg(long, default_value_t = 1000.0, value_name = "M")]
    pub spacing: f64,
    /// Round trip time of the radio link, s.
    #[arg(long, default_value_t = 0.010, value_name = "S")]
    pub rtt: f64,
    /// Models users draw from (comma-separated config names).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Weight dtypes users draw from (fp32, fp16, int8, q4).
    #[arg(long, value_delimiter = ',')]
    pub dtypes: Option<Vec<String>>,
    /// User devices users draw from (rows of devices.csv).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Server device (a row of devices.csv).
    #[arg(long)]
    pub server_device: Option<String>,
    /// Probability that a user fine-tunes (LoRA) instead of running inference.
    #[arg(long, default_value_t = 0.0)]
    pub finetune_fraction: f64,
    /// Deadline = this factor times the user's latency with an equal share of its home server.
    #[arg(long, value_name = "F")]
    pub deadline_factor: Option<f64>,
    /// Objective: min-max, sum or weighted-sum (weights drawn from 1..=3).
    #[arg(long, default_value = "min-max")]
    pub objective: String,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let defaults = GenParams::default();
    let objective = AllocObjective::parse(&args.objective).ok_or_else(|| {
        Error::option(
            "--objective",
            format!(
                "expected min-max, sum or weighted-sum, got \"{}\"",
                args.objective
            ),
        )
    })?;
    let params = GenParams {
        users: args.users,
        servers: args.servers,
        seed: args.seed,
        resource_blocks: args.blocks,
        rb_bandwidth_hz: args.rb_bandwidth,
        cell_radius_m: args.radius,
        server_spacing_m: args.spacing,
        rtt_s: args.rtt,
        models: args.models.clone().unwrap_or(defaults.models),
        dtypes: args.dtypes.clone().unwrap_or(defaults.dtypes),
        user_devices: args.devices.clone().unwrap_or(defaults.user_devices),
        server_device: args.server_device.clone().unwrap_or(defaults.server_device),
        finetune_fraction: args.finetune_fraction,
        deadline_factor: args.deadline_factor,
        objective,
        name: args.output.name.clone(),
        ..defaults
    };
    let catalog = args.output.catalog()?;
    catalog.check_models("--models", args.models.as_deref())?;
    check_dtypes("--dtypes", args.dtypes.as_deref())?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    catalog.check_devices("--server-device", Some(args.server_device.as_slice()))?;
    let file = generate_spec(&params, &catalog.devices, &catalog.models_dir)
        .map_err(|e| flag_error(ALLOC_FLAGS, e))?;
    let summary = format!("{} users, {} server(s)", params.users, params.servers);
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
