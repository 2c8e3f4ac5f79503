//! `generate green`: a seeded green-scheduling instance.

use std::process::ExitCode;

/// Options of `edgeplan generate green`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Jobs.
    #[arg(long, default_value_t = 10)]
    pub jobs: usize,
    /// Servers.
    #[arg(long, default_value_t = 2)]
    pub servers: usize,
    /// Slots.
    #[arg(long, default_value_t = 24)]
    pub slots: usize,
    /// Slot length, s.
    #[arg(long, default_value_t = 3600.0, value_name = "S")]
    pub slot_s: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of the server-slots the jobs need at full speed.
    #[arg(long, default_value_t = 0.4)]
    pub load: f64,
    /// Multiplier on every job's window from release to deadline (smaller is tighter).
    #[arg(long, default_value_t = 1.0)]
    pub deadline_slack: f64,
    /// Server devices (rows of devices.csv, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Models (config names, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Objective: carbon, energy or cost.
    #[arg(long, default_value = "carbon")]
    pub objective: String,
    /// Name, catalog and output file.
    #[command(flatten)]
    pub output: super::generate::Output,
}

pub fn generate(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    use super::generate::{flag_error, GREEN_FLAGS};
    use edgeplan::instance::green::generate::{generate_spec, write_instance, GenParams};
    let defaults = GenParams::default();
    let params = GenParams {
        jobs: args.jobs,
        servers: args.servers,
        slots: args.slots,
        slot_s: args.slot_s,
        seed: args.seed,
        load: args.load,
        deadline_slack: args.deadline_slack,
        server_devices: args.devices.clone().unwrap_or(defaults.server_devices),
        models: args.models.clone().unwrap_or(defaults.models),
        objective: args.objective.clone(),
        name: args.output.name.clone(),
    };
    let catalog = args.output.catalog()?;
    catalog.check_devices("--devices", args.devices.as_deref())?;
    catalog.check_models("--models", args.models.as_deref())?;
    let file = generate_spec(&params, &catalog.devices, &catalog.models_dir)
        .map_err(|e| flag_error(GREEN_FLAGS, e))?;
    let summary = format!(
        "{} jobs, {} servers, {} slots",
        params.jobs, params.servers, params.slots
    );
    args.output
        .write(file, |f| write_instance(&params, f), &summary)
}
