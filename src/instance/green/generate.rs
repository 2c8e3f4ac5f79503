//! Seeded green-scheduling instances, written as instance files with the grid and renewable
//! series inline (from the synthetic formulas of [`crate::problems::green::traces`]), so a generated file needs
//! only the model configs and the device catalog.
//!
//! **Servers** draw a device from [`GenParams::server_devices`], a PV array of up to the power of
//! their fastest level (uniform share, 0 with probability 0.2) and may sleep with probability
//! 0.8. **Jobs** draw a model (inference with probability 0.7, else LoRA fine-tuning), a target
//! length `d` in slots at the fastest level of the fastest server, uniform in
//! `[0.5, 1.5] x load x servers x slots / jobs` (at least 1, at most a quarter of the horizon),
//! from which the number of requests or training tokens follows through the cost tables; a
//! window of `d` times a slack factor uniform in `[1.5, 4]` (at least `d + 1` slots), and a
//! release uniform in the slots that leave room for it. A generated instance can be infeasible
//! at high load; the solvers say so and explain which job cannot fit.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{GreenInstanceFile, GreenServerSpec, GridSpec, JobSpec, Series, DEFAULT_LEVELS};
use crate::costs::arch::{Dtype, ModelConfig};
use crate::costs::device::DeviceCatalog;
use crate::costs::table::request_flop;
use crate::error::{Error, Result};
use crate::instance::common::InstanceHeader;
use crate::limits;
use crate::problems::green::traces::{carbon_solar_heavy, price_tou, solar_1kw};
use crate::problems::green::GreenProblem;

/// Parameters of [`generate_spec`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left
/// out take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Jobs.
    pub jobs: usize,
    /// Servers.
    pub servers: usize,
    /// Slots.
    pub slots: usize,
    /// Slot length, s.
    pub slot_s: f64,
    /// Seed.
    pub seed: u64,
    /// Target fraction of the server-slots the jobs need at full speed.
    pub load: f64,
    /// Multiplies each job's window (release to deadline): the window is
    /// `ceil(length x U(1.5, 4) x deadline_slack)` slots, at least `length + 1` and at most the
    /// horizon. 1 by default; smaller is tighter.
    pub deadline_slack: f64,
    /// Server devices to draw from.
    pub server_devices: Vec<String>,
    /// Models (config names, weights fp16) to draw from.
    pub models: Vec<String>,
    /// Objective: carbon, energy or cost.
    pub objective: String,
    /// Instance name (default `green-<J>j-<M>s-<T>t`).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        GenParams {
            jobs: 10,
            servers: 2,
            slots: 24,
            slot_s: 3600.0,
            seed: 0,
            load: 0.4,
            deadline_slack: 1.0,
            server_devices: names(&["l4", "rtx-4090", "jetson-agx-orin-64gb"]),
            models: names(&["llama-3.2-1b", "qwen2.5-1.5b", "qwen2.5-7b", "llama-3-8b"]),
            objective: "carbon".into(),
            name: None,
        }
    }
}

impl GenParams {
    /// Checks every parameter against its range (counts before anything is allocated); the
    /// error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        limits::count_option("jobs", self.jobs as u64, 1, limits::MAX_JOBS)?;
        limits::count_option("servers", self.servers as u64, 1, limits::MAX_SERVERS)?;
        limits::count_option("slots", self.slots as u64, 4, limits::MAX_SLOTS)?;
        limits::cells_option(
            "slots",
            "jobs x servers x slots x levels",
            &[self.jobs, self.servers, self.slots, DEFAULT_LEVELS.len()],
        )?;
        limits::seed_option(self.seed)?;
        limits::DURATION_S.check_option("slot_s", self.slot_s)?;
        limits::FACTOR.check_option("load", self.load)?;
        limits::FACTOR.check_option("deadline_slack", self.deadline_slack)?;
        for (field, list) in [
            ("server_devices", &self.server_devices),
            ("models", &self.models),
        ] {
            if list.is_empty() {
                return bad(field, "expected at least one name".into());
            }
        }
        if !["carbon", "energy", "cost"].contains(&self.objective.as_str()) {
            return bad(
                "objective",
                format!("expected carbon, energy or cost, got {}", self.objective),
            );
        }
        Ok(())
    }

    /// The instance name.
    pub fn instance_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("green-{}j-{}s-{}t", self.jobs, self.servers, self.slots))
    }
}

/// Samples `f(hour)` at the middle of each slot, rounded to 0.01.
fn series(f: fn(f64) -> f64, slots: usize, slot_s: f64) -> Vec<f64> {
    (0..slots)
        .map(|t| {
            let hour = ((t as f64 + 0.5) * slot_s / 3600.0) % 24.0;
            (f(hour) * 100.0).round() / 100.0
        })
        .collect()
}

/// Draws the instance file.
pub fn generate_spec(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<GreenInstanceFile> {
    params.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let (servers, fastest) = draw_servers(params, catalog, &mut rng)?;
    let jobs = (0..params.jobs)
        .map(|j| draw_job(params, j, models_dir, fastest, &mut rng))
        .collect::<Result<Vec<_>>>()?;
    let file = GreenInstanceFile {
        problem: "green".into(),
        name: Some(params.instance_name()),
        description: Some(format!(
            "Generated: {} jobs on {} servers over {} slots of {} s, load {}, seed {}; synthetic \
             solar-heavy grid, PV and time-of-use price",
            params.jobs, params.servers, params.slots, params.slot_s, params.load, params.seed
        )),
        models_dir: None,
        devices: None,
        objective: Some(params.objective.clone()),
        slot_s: params.slot_s,
        slots: Some(params.slots as i64),
        migration: false,
        grid: GridSpec {
            carbon: Series::List(series(carbon_solar_heavy, params.slots, params.slot_s)),
            price: Some(Series::List(series(price_tou, params.slots, params.slot_s))),
        },
        servers,
        jobs,
    };
    // Load it once through the ordinary loader, so that what is written is valid.
    file.build(
        Path::new("generated green instance"),
        catalog,
        Path::new("the device catalog"),
        models_dir,
    )?;
    Ok(file)
}

/// Draws the servers (device, PV peak W, whether they may sleep) and returns them with the
/// fastest one's effective speed (FLOP/s).
fn draw_servers(
    params: &GenParams,
    catalog: &DeviceCatalog,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<GreenServerSpec>, f64)> {
    let devices_path = Path::new("the device catalog");
    let mut fastest = 0.0f64;
    let servers: Vec<GreenServerSpec> = (0..params.servers)
        .map(|m| {
            let name = &params.server_devices[rng.gen_range(0..params.server_devices.len())];
            let device = catalog.get(name, devices_path)?;
            fastest = fastest.max(device.peak_flops * device.compute_efficiency);
            let pv = if rng.gen_bool(0.8) {
                (rng.gen::<f64>() * device.power_busy_w / 1000.0 * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            Ok(GreenServerSpec {
                name: Some(format!("es-{m}")),
                device: name.clone(),
                levels: None,
                memory_bytes: None,
                renewable: (pv > 0.0)
                    .then(|| Series::List(series(solar_1kw, params.slots, params.slot_s))),
                renewable_scale: (pv > 0.0).then_some(pv),
                can_sleep: Some(rng.gen_bool(0.8)),
            })
        })
        .collect::<Result<_>>()?;
    Ok((servers, fastest))
}

/// Draws job `j`: model, length (slots) around the load's share, work (FLOP) at the `fastest`
/// server's speed (FLOP/s), release and deadline window, and an inference or LoRA kind sized to
/// that work.
fn draw_job(
    params: &GenParams,
    j: usize,
    models_dir: &Path,
    fastest: f64,
    rng: &mut ChaCha8Rng,
) -> Result<JobSpec> {
    let per_job = params.load * (params.servers * params.slots) as f64 / params.jobs as f64;
    let longest = (params.slots / 4).max(1);
    let model = params.models[rng.gen_range(0..params.models.len())].clone();
    let config = ModelConfig::load(&ModelConfig::resolve(models_dir, &model)?)?;
    let table = config.architecture.cost_table(&config.name, Dtype::Fp16);
    let length = ((per_job * rng.gen_range(0.5..1.5)).round() as usize).clamp(1, longest);
    let work = length as f64 * params.slot_s * fastest * rng.gen_range(0.8..1.0);
    let window = ((length as f64 * rng.gen_range(1.5..4.0) * params.deadline_slack).ceil()
        as usize)
        .max(length + 1)
        .min(params.slots);
    let release = rng.gen_range(0..=params.slots - window);
    let inference = rng.gen_bool(0.7);
    let mut spec = JobSpec {
        name: Some(format!("job-{j}")),
        model,
        dtype: Some("fp16".into()),
        kind: if inference { "inference" } else { "finetune" }.into(),
        requests: None,
        prompt_tokens: None,
        generate_tokens: None,
        batch_size: None,
        tokens: None,
        epochs: None,
        method: None,
        lora_rank: None,
        release_slot: Some(release as i64),
        deadline_slot: (release + window) as i64,
    };
    if inference {
        let prompt = rng.gen_range(128..=1024);
        let generate = rng.gen_range(16..=256);
        spec.prompt_tokens = Some(prompt as i64);
        spec.generate_tokens = Some(generate as i64);
        // Capped at the largest valid count (only reached with days-long slots on the fastest
        // accelerators: the job is then smaller than its target).
        spec.requests = Some(
            (work / request_flop(&table, prompt, generate))
                .ceil()
                .clamp(1.0, limits::MAX_REQUESTS as f64) as i64,
        );
    } else {
        let forward: f64 = table.layers.iter().map(|l| l.fwd_flop_per_token).sum();
        spec.method = Some("lora".into());
        spec.tokens =
            Some((((work / (2.0 * forward)) / 1e3).ceil() * 1e3).min(limits::JOB_TOKENS.max));
    }
    Ok(spec)
}

/// Draws an instance and loads it (the file's paths resolved against `instances`).
pub fn generate(params: &GenParams, instances: &Path) -> Result<GreenProblem> {
    let mut file = generate_spec(
        params,
        &DeviceCatalog::load(&instances.join("devices.csv"))?,
        &instances.join("models"),
    )?;
    file.set_catalog(
        instances.join("models").display().to_string(),
        instances.join("devices.csv").display().to_string(),
    );
    file.into_problem(Path::new("generated green instance"))
}

/// The instance file as TOML with a header line of the parameters.
pub fn write_instance(params: &GenParams, file: &GreenInstanceFile) -> String {
    format!(
        "# generated by edgeplan generate green: jobs={} servers={} slots={} slot_s={} seed={} \
         load={} deadline_slack={} objective={}\n{}",
        params.jobs,
        params.servers,
        params.slots,
        params.slot_s,
        params.seed,
        params.load,
        params.deadline_slack,
        params.objective,
        file.to_toml()
    )
}
