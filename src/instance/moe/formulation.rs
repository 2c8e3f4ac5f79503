//! The MoE formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::moe::cache::SimStats;
use crate::problems::moe::evaluate::{check_shape, Evaluation};
use crate::problems::moe::solve::{MoeDetails, SOLVERS};
use crate::problems::moe::{self, Choice, MoePlan, MoeProblem, Replica, Task};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// Mixture-of-experts at the edge: expert placement across nodes, or an on-device expert cache.
pub struct Moe;

impl Formulation for Moe {
    const NAME: &'static str = "moe";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// Expected decode latency per token (s), the period (s per token) and tokens per second,
    /// expected energy per token (J), the Monte Carlo mean latency and its 95% half-width (s),
    /// experts on the home (placement: primary replicas; cache: resident), and for the cache
    /// task the LRU and LFU caches' simulated latency (s; 0 for placement).
    const METRICS: &'static [&'static str] = &[
        "latency_s",
        "period_s",
        "tokens_per_s",
        "energy_j",
        "mc_latency_s",
        "mc_half_width_s",
        "local_experts",
        "lru_latency_s",
        "lfu_latency_s",
    ];
    const SENSE: Sense = Sense::Minimise;

    type Problem = MoeProblem;
    type Plan = MoePlan;
    type Evaluation = Evaluation;
    type Details = MoeDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &MoeProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<MoeProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<MoeProblem> {
        crate::instance::load_document::<super::MoeInstanceFile>(document, path)?.into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<MoeProblem> {
        super::generate::generate(params, data.catalog, &data.dir.join("models"))
    }

    fn solve(
        problem: &MoeProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        moe::solve::solve(problem, preset, run)
    }

    /// Placement: `{"experts": [[E0, E1, ...], ...]}`, one list per MoE block with one entry per
    /// expert: a node (name or index), a list of nodes (replicas, equal shares), or a list of
    /// `{"node": .., "share": ..}`. Cache: `{"choices": [["resident", "fetch", "offload", ...],
    /// ...]}`.
    fn read_plan(problem: &MoeProblem, value: &Value, path: &Path) -> Result<MoePlan> {
        let plan = match problem.task {
            Task::Placement => read_placement(problem, value, path)?,
            Task::Cache => read_cache(value, path)?,
        };
        check_shape(problem, &plan).map_err(|m| {
            let (field, message) = m.split_once(": ").unwrap_or(("plan", m.as_str()));
            Error::field(path, field, message)
        })?;
        Ok(plan)
    }

    fn evaluate(problem: &MoeProblem, plan: &MoePlan) -> Result<Evaluation> {
        moe::evaluate::evaluate(problem, plan)
    }

    fn objective(evaluation: &Evaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &Evaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &MoeProblem, e: &Evaluation) -> Vec<f64> {
        let mean = |sim: &Option<SimStats>| sim.as_ref().map_or(0.0, |s| s.mean_latency_s);
        let (lru, lfu) = (mean(&e.lru), mean(&e.lfu));
        vec![
            e.latency_s,
            e.period_s,
            e.tokens_per_s,
            e.energy_j,
            e.monte_carlo.mean_latency_s,
            e.monte_carlo.latency_half_width_s,
            e.blocks.iter().map(|b| b.local_experts as f64).sum(),
            lru,
            lfu,
        ]
    }

    fn render_report(problem: &MoeProblem, report: &ReportOf<Self>) -> String {
        moe::render::report(problem, report)
    }

    fn render_evaluation(problem: &MoeProblem, plan: &MoePlan, ev: &Evaluation) -> String {
        moe::render::evaluation(problem, plan, ev)
    }
}

/// The per-block lists of a plan member.
fn blocks<'a>(value: &'a Value, key: &str, path: &Path, example: &str) -> Result<&'a Vec<Value>> {
    value.get(key).and_then(Value::as_array).ok_or_else(|| {
        Error::field(
            path,
            key,
            format!("missing: expected {{\"{key}\": {example}}}"),
        )
    })
}

fn read_placement(problem: &MoeProblem, value: &Value, path: &Path) -> Result<MoePlan> {
    let node = |v: &Value, field: &str| -> Result<usize> {
        let found = match v {
            Value::String(s) => problem.node_index(s),
            Value::Number(_) => v
                .as_u64()
                .map(|i| i as usize)
                .filter(|&i| i < problem.node_count()),
            _ => None,
        };
        found.ok_or_else(|| {
            Error::field(
                path,
                field,
                format!(
                    "expected a node name or an index below {}, got {v}",
                    problem.node_count()
                ),
            )
        })
    };
    let list = blocks(value, "experts", path, "[[\"node\", ...], ...]")?;
    let mut experts = Vec::with_capacity(list.len());
    for (j, block) in list.iter().enumerate() {
        let entries = block.as_array().ok_or_else(|| {
            Error::field(
                path,
                format!("experts[{j}]"),
                "expected a list with one entry per expert",
            )
        })?;
        let mut out = Vec::with_capacity(entries.len());
        for (e, entry) in entries.iter().enumerate() {
            let field = format!("experts[{j}][{e}]");
            let replicas = match entry {
                Value::Array(items) => {
                    let mut replicas = Vec::with_capacity(items.len());
                    for (r, item) in items.iter().enumerate() {
                        let f = format!("{field}[{r}]");
                        replicas.push(match item.get("node") {
                            Some(n) => Replica {
                                node: node(n, &format!("{f}.node"))?,
                                share: match item.get("share") {
                                    None => f64::NAN,
                                    Some(s) => s.as_f64().ok_or_else(|| {
                                        Error::field(
                                            path,
                                            format!("{f}.share"),
                                            "expected a number",
                                        )
                                    })?,
                                },
                            },
                            None => Replica {
                                node: node(item, &f)?,
                                share: f64::NAN,
                            },
                        });
                    }
                    // Shares left out: equal.
                    let n = replicas.len() as f64;
                    if replicas.iter().all(|r| r.share.is_nan()) {
                        replicas.iter_mut().for_each(|r| r.share = 1.0 / n);
                    } else if replicas.iter().any(|r| r.share.is_nan()) {
                        return Err(Error::field(
                            path,
                            field,
                            "give a share for every replica or for none",
                        ));
                    }
                    replicas
                }
                other => vec![Replica {
                    node: node(other, &field)?,
                    share: 1.0,
                }],
            };
            out.push(replicas);
        }
        experts.push(out);
    }
    Ok(MoePlan {
        experts,
        choices: Vec::new(),
    })
}

fn read_cache(value: &Value, path: &Path) -> Result<MoePlan> {
    let list = blocks(
        value,
        "choices",
        path,
        "[[\"resident\", \"fetch\", \"offload\", ...], ...]",
    )?;
    let mut choices = Vec::with_capacity(list.len());
    for (j, block) in list.iter().enumerate() {
        let entries = block.as_array().ok_or_else(|| {
            Error::field(
                path,
                format!("choices[{j}]"),
                "expected a list with one entry per expert",
            )
        })?;
        let mut out = Vec::with_capacity(entries.len());
        for (e, entry) in entries.iter().enumerate() {
            let c = match entry.as_str() {
                Some("resident") => Choice::Resident,
                Some("fetch") => Choice::Fetch,
                Some("offload") => Choice::Offload,
                _ => {
                    return Err(Error::field(
                        path,
                        format!("choices[{j}][{e}]"),
                        format!("expected resident, fetch or offload, got {entry}"),
                    ))
                }
            };
            out.push(c);
        }
        choices.push(out);
    }
    Ok(MoePlan::cache(choices))
}
