//! One sweep run: build the instance of a grid point and seed, solve it with a preset, and read
//! the problem's metrics off the independent evaluation.

use serde_json::{Map, Value};

use super::spec::{set_path, Problem, Source, Sweep};
use crate::error::one_line;
use crate::error::{Error, Result};
use crate::problems::{alloc, cache, green, split};
use crate::solve::{SolveStats, SolverPreset};

/// An instance of any problem.
#[derive(Debug, Clone)]
pub enum Instance {
    /// A split instance.
    Split(Box<split::SplitProblem>),
    /// An allocation instance.
    Alloc(alloc::AllocProblem),
    /// A cache instance.
    Cache(cache::CacheProblem),
    /// A green-scheduling instance.
    Green(green::GreenProblem),
}

impl Instance {
    /// The instance name.
    pub fn name(&self) -> &str {
        match self {
            Instance::Split(p) => &p.name,
            Instance::Alloc(p) => &p.name,
            Instance::Cache(p) => &p.name,
            Instance::Green(p) => &p.name,
        }
    }
}

/// The problem-specific metric columns of a run row, read off the evaluation of its plan (after
/// them every row has `violations`, the number of violated constraints).
///
/// - split: end-to-end latency (s), device energy (J), layers per tier;
/// - alloc: largest and mean user latency (s), total device energy (J);
/// - cache: expected hit ratio, bytes stored over all servers, bytes saved by sharing;
/// - green: grid carbon (g), grid energy (kWh), total energy (kWh), energy cost.
pub fn metric_names(problem: Problem) -> &'static [&'static str] {
    match problem {
        Problem::Split => &[
            "latency_s",
            "energy_j",
            "device_layers",
            "edge_layers",
            "cloud_layers",
        ],
        Problem::Alloc => &["max_latency_s", "mean_latency_s", "energy_j"],
        Problem::Cache => &["hit_ratio", "stored_bytes", "sharing_saved_bytes"],
        Problem::Green => &["carbon_g", "grid_kwh", "energy_kwh", "cost"],
    }
}

/// What one solve produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Status, objective, bound, gap and times.
    pub stats: SolveStats,
    /// One value per [`metric_names`] entry (`None` without a plan).
    pub metrics: Vec<Option<f64>>,
    /// Violated constraints of the plan (`None` without a plan).
    pub violations: Option<usize>,
}

/// Builds the instance of `params` (see [`Sweep::parameters_at`]).
pub fn build_instance(sweep: &Sweep, params: Map<String, Value>) -> Result<Instance> {
    match &sweep.source {
        Source::Generate { data_dir, catalog } => {
            let params = Value::Object(params);
            let models = data_dir.join("models");
            match sweep.problem {
                Problem::Split => {
                    let (seed, p) = split_params(params)?;
                    Ok(Instance::Split(Box::new(split::generate::random_problem(
                        seed, &p,
                    ))))
                }
                Problem::Alloc => {
                    let p: alloc::generate::GenParams = parse_params(params)?;
                    Ok(Instance::Alloc(alloc::generate::generate(
                        &p, catalog, &models,
                    )?))
                }
                Problem::Cache => {
                    let p: cache::generate::GenParams = parse_params(params)?;
                    Ok(Instance::Cache(cache::generate::generate(
                        &p, catalog, &models,
                    )?))
                }
                Problem::Green => {
                    let p: green::generate::GenParams = parse_params(params)?;
                    Ok(Instance::Green(green::generate::generate(&p, data_dir)?))
                }
            }
        }
        Source::Base { path, value } => {
            let mut doc = value.clone();
            for (key, v) in &params {
                set_path(&mut doc, key, v).map_err(|m| Error::field(path, key, m))?;
            }
            let syntax = |e: serde_json::Error| Error::Syntax {
                path: path.clone(),
                message: format!("with the sweep's parameters: {}", one_line(&e.to_string())),
            };
            Ok(match sweep.problem {
                Problem::Split => Instance::Split(Box::new(
                    serde_json::from_value::<crate::instance::split::SplitInstanceFile>(doc)
                        .map_err(syntax)?
                        .into_problem(path)?,
                )),
                Problem::Alloc => Instance::Alloc(
                    serde_json::from_value::<crate::instance::alloc::AllocInstanceFile>(doc)
                        .map_err(syntax)?
                        .into_problem(path)?,
                ),
                Problem::Cache => Instance::Cache(
                    serde_json::from_value::<crate::instance::cache::CacheInstanceFile>(doc)
                        .map_err(syntax)?
                        .into_problem(path)?,
                ),
                Problem::Green => Instance::Green(
                    serde_json::from_value::<crate::instance::green::GreenInstanceFile>(doc)
                        .map_err(syntax)?
                        .into_problem(path)?,
                ),
            })
        }
    }
}

/// The split generator's seed and parameters: it takes the seed as an argument, not a field.
fn split_params(mut params: Value) -> Result<(u64, split::generate::GenParams)> {
    let seed = params
        .as_object_mut()
        .and_then(|m| m.remove("seed"))
        .and_then(|s| s.as_u64())
        .unwrap_or(0);
    let p: split::generate::GenParams = parse_params(params)?;
    check_split_params(&p)?;
    Ok((seed, p))
}

/// Checks at load time that `params` make an instance: generator parameters are parsed and
/// validated (generators are not run); a base instance is built in full.
pub(crate) fn check_instance(sweep: &Sweep, params: Map<String, Value>) -> Result<()> {
    match &sweep.source {
        Source::Generate { .. } => {
            let params = Value::Object(params);
            match sweep.problem {
                Problem::Split => split_params(params).map(|_| ()),
                Problem::Alloc => parse_params::<alloc::generate::GenParams>(params)?.validate(),
                Problem::Cache => parse_params::<cache::generate::GenParams>(params)?.validate(),
                Problem::Green => parse_params::<green::generate::GenParams>(params)?.validate(),
            }
        }
        Source::Base { .. } => build_instance(sweep, params).map(|_| ()),
    }
}

/// Generator parameters from a JSON object; an unknown or mistyped field is an option error.
fn parse_params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T> {
    serde_json::from_value(params)
        .map_err(|e| Error::option("generator parameters", one_line(&e.to_string())))
}

fn check_split_params(p: &split::generate::GenParams) -> Result<()> {
    let bad = |field: &str, message: String| Err(Error::option(field, message));
    if p.blocks == Some(0) {
        return bad("blocks", "expected at least 1".into());
    }
    for (field, v) in [
        ("finetune_prob", p.finetune_prob),
        ("constraint_prob", p.constraint_prob),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return bad(field, format!("expected a probability in [0, 1], got {v}"));
        }
    }
    Ok(())
}

/// An outcome from a report's statistics and, when there is a plan, its metrics and number of
/// violated constraints.
fn outcome(stats: SolveStats, plan: Option<(Vec<f64>, usize)>, metrics: usize) -> Outcome {
    match plan {
        Some((values, violations)) => Outcome {
            stats,
            metrics: values.into_iter().map(Some).collect(),
            violations: Some(violations),
        },
        None => Outcome {
            stats,
            metrics: vec![None; metrics],
            violations: None,
        },
    }
}

/// Solves `instance` with `preset` and reads the metrics off the evaluation.
pub fn solve(instance: &Instance, preset: &SolverPreset) -> Result<Outcome> {
    Ok(match instance {
        Instance::Split(p) => {
            let r = split::solve::solve(p, preset, &Default::default())?;
            let plan = r.evaluation.as_ref().map(|e| {
                let [d, ed, c] = e.layers_per_tier.map(|n| n as f64);
                (vec![e.latency_s, e.energy_j, d, ed, c], e.violations.len())
            });
            outcome(r.stats, plan, 5)
        }
        Instance::Alloc(p) => {
            let r = alloc::solve::solve(p, preset)?;
            let plan = r.evaluation.as_ref().map(|e| {
                let n = e.users.len().max(1) as f64;
                let max = e.users.iter().map(|u| u.latency_s).fold(0.0, f64::max);
                let mean = e.users.iter().map(|u| u.latency_s).sum::<f64>() / n;
                let energy = e.users.iter().map(|u| u.energy_j).sum::<f64>();
                (vec![max, mean, energy], e.violations.len())
            });
            outcome(r.stats, plan, 3)
        }
        Instance::Cache(p) => {
            let r = cache::solve::solve(p, preset)?;
            let plan = r.evaluation.as_ref().map(|e| {
                let stored = e.servers.iter().map(|s| s.stored_bytes).sum::<f64>();
                (
                    vec![e.hit_ratio, stored, e.sharing_saved_bytes],
                    e.violations.len(),
                )
            });
            outcome(r.stats, plan, 3)
        }
        Instance::Green(p) => {
            let r = green::solve::solve(p, preset)?;
            let plan = r.evaluation.as_ref().map(|e| {
                (
                    vec![e.carbon_g, e.grid_kwh, e.energy_kwh, e.cost],
                    e.violations.len(),
                )
            });
            outcome(r.stats, plan, 4)
        }
    })
}
