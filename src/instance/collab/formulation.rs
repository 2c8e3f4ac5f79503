//! The collaboration formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::collab::evaluate::{check_shape, Evaluation};
use crate::problems::collab::solve::{CollabDetails, SOLVERS};
use crate::problems::collab::{self, CollabPlan, CollabProblem, Mode, ModeKind, UserChoice};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// Small/large model collaboration: per user a mode (device, edge, cascade, speculative
/// decoding, split) and its model variants, many users sharing one edge server.
pub struct Collab;

impl Formulation for Collab {
    const NAME: &'static str = "collab";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// Weighted mean quality (percent), weighted share of users reaching their quality target,
    /// weighted mean expected latency (s) and device energy (J), edge utilisation, resource
    /// blocks used, the Monte Carlo mean latency (s), and the users per mode.
    const METRICS: &'static [&'static str] = &[
        "mean_quality",
        "served_share",
        "mean_latency_s",
        "mean_energy_j",
        "edge_utilisation",
        "resource_blocks_used",
        "mc_mean_latency_s",
        "device_users",
        "edge_users",
        "cascade_users",
        "speculative_users",
        "split_users",
    ];
    const SENSE: Sense = Sense::Maximise;

    type Problem = CollabProblem;
    type Plan = CollabPlan;
    type Evaluation = Evaluation;
    type Details = CollabDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &CollabProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<CollabProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<CollabProblem> {
        crate::instance::load_document::<super::CollabInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<CollabProblem> {
        super::generate::generate(params, data.catalog, data.dir)
    }

    fn solve(
        problem: &CollabProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        collab::solve::solve(problem, preset, run)
    }

    /// `{"users": [{"mode": "device", "variant": V}, {"mode": "edge", "variant": V},
    /// {"mode": "cascade", "draft": V, "target": V, "escalation": 0.3},
    /// {"mode": "speculative", "draft": V, "target": V, "draft_length": 4},
    /// {"mode": "split", "variant": V, "cut": 5}, ...]}`, one entry per user in instance order,
    /// each with `"resource_blocks": n` (0 or left out without radio traffic); a variant `V` is
    /// a name or an index.
    fn read_plan(problem: &CollabProblem, value: &Value, path: &Path) -> Result<CollabPlan> {
        let plan = read_choices(problem, value, path)?;
        check_shape(problem, &plan).map_err(|m| {
            let (field, message) = m.split_once(": ").unwrap_or(("users", m.as_str()));
            Error::field(path, field, message)
        })?;
        Ok(plan)
    }

    fn evaluate(problem: &CollabProblem, plan: &CollabPlan) -> Result<Evaluation> {
        collab::evaluate::evaluate(problem, plan)
    }

    fn objective(evaluation: &Evaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &Evaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &CollabProblem, e: &Evaluation) -> Vec<f64> {
        let count = |kind: ModeKind| {
            e.mode_counts
                .iter()
                .filter(|(name, _)| name == kind.name())
                .map(|(_, n)| *n as f64)
                .sum::<f64>()
        };
        vec![
            e.mean_quality,
            e.served_share,
            e.mean_latency_s,
            e.mean_energy_j,
            e.edge_utilisation,
            e.resource_blocks_used as f64,
            e.mc_mean_latency_s,
            count(ModeKind::Device),
            count(ModeKind::Edge),
            count(ModeKind::Cascade),
            count(ModeKind::Speculative),
            count(ModeKind::Split),
        ]
    }

    fn render_report(problem: &CollabProblem, report: &ReportOf<Self>) -> String {
        collab::render::report(problem, report)
    }

    fn render_evaluation(problem: &CollabProblem, plan: &CollabPlan, ev: &Evaluation) -> String {
        collab::render::evaluation(problem, plan, ev)
    }
}

/// The choices of a plan document, variants resolved by name or index (the rest of the shape
/// is checked by [`check_shape`]).
fn read_choices(problem: &CollabProblem, value: &Value, path: &Path) -> Result<CollabPlan> {
    let list = value
        .get("users")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::field(
                path,
                "users",
                format!(
                "missing: expected {{\"users\": [{{\"mode\": \"device\", \"variant\": ..}}, ...]}} \
                 with one entry per user ({})",
                problem.users.len()
            ),
            )
        })?;
    let mut users = Vec::with_capacity(list.len());
    for (u, entry) in list.iter().enumerate() {
        let field = |name: &str| format!("users[{u}].{name}");
        if !entry.is_object() {
            return Err(Error::field(
                path,
                format!("users[{u}]"),
                format!("expected an object such as {{\"mode\": \"edge\", \"variant\": 0}}, got {entry}"),
            ));
        }
        let member = |name: &str| -> Result<&Value> {
            entry
                .get(name)
                .ok_or_else(|| Error::field(path, field(name), "missing"))
        };
        let variant = |name: &str| -> Result<usize> {
            let v = member(name)?;
            let found = match v {
                Value::String(s) => problem.variant_index(s),
                Value::Number(_) => v
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|&i| i < problem.variants.len()),
                _ => None,
            };
            found.ok_or_else(|| {
                let names: Vec<&str> = problem.variants.iter().map(|v| v.name.as_str()).collect();
                Error::field(
                    path,
                    field(name),
                    format!(
                        "expected a variant name ({}) or an index below {}, got {v}",
                        names.join(", "),
                        problem.variants.len()
                    ),
                )
            })
        };
        let count = |name: &str| -> Result<usize> {
            let v = member(name)?;
            v.as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| {
                    Error::field(
                        path,
                        field(name),
                        format!("expected a non-negative integer, got {v}"),
                    )
                })
        };
        let mode_name = member("mode")?;
        let kind = mode_name
            .as_str()
            .and_then(ModeKind::parse)
            .ok_or_else(|| {
                Error::field(
                    path,
                    field("mode"),
                    format!(
                        "expected device, edge, cascade, speculative or split, got {mode_name}"
                    ),
                )
            })?;
        let allowed: &[&str] = match kind {
            ModeKind::Device | ModeKind::Edge => &["variant"],
            ModeKind::Cascade => &["draft", "target", "escalation"],
            ModeKind::Speculative => &["draft", "target", "draft_length"],
            ModeKind::Split => &["variant", "cut"],
        };
        if let Some(map) = entry.as_object() {
            for key in map.keys() {
                if key != "mode" && key != "resource_blocks" && !allowed.contains(&key.as_str()) {
                    return Err(Error::field(
                        path,
                        field(key),
                        format!(
                            "not a member of a {} choice (expected mode, {}, resource_blocks)",
                            kind.name(),
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        let mode = match kind {
            ModeKind::Device => Mode::Device {
                variant: variant("variant")?,
            },
            ModeKind::Edge => Mode::Edge {
                variant: variant("variant")?,
            },
            ModeKind::Cascade => {
                let v = member("escalation")?;
                let escalation = v.as_f64().ok_or_else(|| {
                    Error::field(
                        path,
                        field("escalation"),
                        format!("expected a number in [0, 1], got {v}"),
                    )
                })?;
                Mode::Cascade {
                    draft: variant("draft")?,
                    target: variant("target")?,
                    escalation,
                }
            }
            ModeKind::Speculative => Mode::Speculative {
                draft: variant("draft")?,
                target: variant("target")?,
                draft_length: count("draft_length")?,
            },
            ModeKind::Split => Mode::Split {
                variant: variant("variant")?,
                cut: count("cut")?,
            },
        };
        let resource_blocks = if entry.get("resource_blocks").is_some() {
            count("resource_blocks")?
        } else {
            0
        };
        users.push(UserChoice {
            mode,
            resource_blocks,
        });
    }
    Ok(CollabPlan { users })
}
