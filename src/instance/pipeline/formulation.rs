//! The pipeline formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::problems::pipeline::evaluate::Evaluation;
use crate::problems::pipeline::price::Coefficients;
use crate::problems::pipeline::search::Scorer;
use crate::problems::pipeline::solve::{PipelineDetails, SOLVERS};
use crate::problems::pipeline::{self, PipelinePlan, PipelineProblem, Routes, Stage};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// In-network model splitting: a model pipelined across a network of heterogeneous nodes.
pub struct Pipeline;

impl Formulation for Pipeline {
    const NAME: &'static str = "pipeline";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// One request's latency (s), the pipeline's period (s per request) and throughput
    /// (requests/s), energy in the instance's scope (J), stages.
    const METRICS: &'static [&'static str] = &[
        "latency_s",
        "period_s",
        "requests_per_s",
        "energy_j",
        "stages",
    ];
    const SENSE: Sense = Sense::Minimise;

    type Problem = PipelineProblem;
    type Plan = PipelinePlan;
    type Evaluation = Evaluation;
    type Details = PipelineDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &PipelineProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<PipelineProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<PipelineProblem> {
        crate::instance::load_document::<super::PipelineInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<PipelineProblem> {
        super::generate::generate(params, data.catalog, &data.dir.join("models"))
    }

    fn solve(
        problem: &PipelineProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        pipeline::solve::solve(problem, preset, run)
    }

    /// `{"stages": [{"node": "bs-1", "start": 0, "end": 12}, ...], "routes": {...}}`: a node is
    /// its name or index; `routes` (`input`, `forward`, `backward`, `output`, each a list of
    /// nodes) may be left out, and then follow the instance's routing rule.
    fn read_plan(problem: &PipelineProblem, value: &Value, path: &Path) -> Result<PipelinePlan> {
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
        let list = value
            .get("stages")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::field(
                path,
                "stages",
                "missing: expected {\"stages\": [{\"node\": \"name\", \"start\": 0, \"end\": 12}, \
                 ...]}",
            )
            })?;
        let mut stages = Vec::with_capacity(list.len());
        for (k, st) in list.iter().enumerate() {
            let f = |name: &str| format!("stages[{k}].{name}");
            let layer = |name: &str| -> Result<usize> {
                st.get(name)
                    .and_then(Value::as_u64)
                    .map(|v| v as usize)
                    .filter(|&v| v <= problem.layers())
                    .ok_or_else(|| {
                        Error::field(
                            path,
                            f(name),
                            format!("expected a layer index in 0..={}", problem.layers()),
                        )
                    })
            };
            let n = st
                .get("node")
                .ok_or_else(|| Error::field(path, f("node"), "missing"))?;
            stages.push(Stage {
                node: node(n, &f("node"))?,
                start: layer("start")?,
                end: layer("end")?,
            });
        }
        let Some(routes) = value.get("routes").filter(|r| !r.is_null()) else {
            pipeline::evaluate::check_stages(problem, &stages)?;
            let coef = Coefficients::new(problem);
            return Ok(Scorer {
                problem,
                coef: &coef,
            }
            .plan(&stages));
        };
        let path_of = |v: Option<&Value>, field: &str| -> Result<Vec<usize>> {
            let Some(v) = v else {
                return Ok(Vec::new());
            };
            let list = v
                .as_array()
                .ok_or_else(|| Error::field(path, field, "expected a list of nodes"))?;
            list.iter()
                .enumerate()
                .map(|(h, x)| node(x, &format!("{field}[{h}]")))
                .collect()
        };
        let paths_of = |field: &str| -> Result<Vec<Vec<usize>>> {
            let Some(v) = routes.get(field) else {
                return Ok(Vec::new());
            };
            let list = v.as_array().ok_or_else(|| {
                Error::field(path, format!("routes.{field}"), "expected a list of routes")
            })?;
            list.iter()
                .enumerate()
                .map(|(k, r)| path_of(Some(r), &format!("routes.{field}[{k}]")))
                .collect()
        };
        Ok(PipelinePlan {
            stages,
            routes: Routes {
                input: path_of(routes.get("input"), "routes.input")?,
                forward: paths_of("forward")?,
                backward: paths_of("backward")?,
                output: path_of(routes.get("output"), "routes.output")?,
            },
        })
    }

    fn evaluate(problem: &PipelineProblem, plan: &PipelinePlan) -> Result<Evaluation> {
        pipeline::evaluate::evaluate(problem, plan)
    }

    fn objective(evaluation: &Evaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &Evaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &PipelineProblem, e: &Evaluation) -> Vec<f64> {
        vec![
            e.latency_s,
            e.period_s,
            e.requests_per_s,
            e.energy_j,
            e.stages.len() as f64,
        ]
    }

    fn render_report(problem: &PipelineProblem, report: &ReportOf<Self>) -> String {
        pipeline::render::report(problem, report)
    }

    fn render_evaluation(
        problem: &PipelineProblem,
        plan: &PipelinePlan,
        ev: &Evaluation,
    ) -> String {
        pipeline::render::evaluation(problem, plan, ev)
    }
}
