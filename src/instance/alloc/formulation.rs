//! The allocation formulation as the registry sees it.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::formulation::{DataDir, Formulation, ReportOf, Sense};
use crate::limits::{self, Range};
use crate::problems::alloc::evaluate::AllocEvaluation;
use crate::problems::alloc::solve::{AllocDetails, SOLVERS};
use crate::problems::alloc::{self, AllocPlan, AllocProblem, UserPlan};
use crate::solve::{RunOptions, SolverPreset};

use super::generate::GenParams;

/// A nonzero compute share of a plan: small enough for any split, large enough that the server
/// time `w / phi` stays finite.
const MIN_COMPUTE_SHARE: Range = Range::closed(1e-9, 1.0, "");

/// Many users sharing edge servers: each user's cut, resource blocks and compute share.
pub struct Alloc;

impl Formulation for Alloc {
    const NAME: &'static str = "alloc";
    const SOLVERS: &'static [&'static str] = &SOLVERS;
    /// Largest and mean user latency (s), total device energy (J).
    const METRICS: &'static [&'static str] = &["max_latency_s", "mean_latency_s", "energy_j"];
    const SENSE: Sense = Sense::Minimise;

    type Problem = AllocProblem;
    type Plan = AllocPlan;
    type Evaluation = AllocEvaluation;
    type Details = AllocDetails;
    type GenParams = GenParams;

    fn instance_name(problem: &AllocProblem) -> &str {
        &problem.name
    }

    fn load(path: &Path) -> Result<AllocProblem> {
        super::load(path)
    }

    fn load_document(document: Value, path: &Path) -> Result<AllocProblem> {
        crate::instance::load_document::<super::AllocInstanceFile>(document, path)?
            .into_problem(path)
    }

    fn check_params(params: &GenParams) -> Result<()> {
        params.validate()
    }

    fn generate(params: &GenParams, data: DataDir<'_>) -> Result<AllocProblem> {
        super::generate::generate(params, data.catalog, &data.dir.join("models"))
    }

    fn solve(
        problem: &AllocProblem,
        preset: &SolverPreset,
        run: &RunOptions,
    ) -> Result<ReportOf<Self>> {
        alloc::solve::solve_with(problem, preset, run)
    }

    /// `{"users": [{"server": .., "cut": .., "resource_blocks": .., "compute_share": ..}]}`, one
    /// entry per user in instance order; a server is its index or its name.
    fn read_plan(problem: &AllocProblem, value: &Value, path: &Path) -> Result<AllocPlan> {
        let list = value
            .get("users")
            .and_then(|u| u.as_array())
            .ok_or_else(|| {
                Error::field(
            path,
            "users",
            "missing: expected {\"users\": [{\"server\": 0, \"cut\": 3, \"resource_blocks\": 5, \
             \"compute_share\": 0.2}, ...]}",
        )
            })?;
        let mut users = Vec::with_capacity(list.len());
        for (k, entry) in list.iter().enumerate() {
            let field = |name: &str| format!("users[{k}].{name}");
            let count = |name: &str| -> Result<usize> {
                match entry.get(name) {
                    None | Some(Value::Null) => Ok(0),
                    Some(v) => v
                        .as_u64()
                        .and_then(|v| usize::try_from(v).ok())
                        .filter(|&v| v <= limits::MAX_SMALL_COUNT)
                        .ok_or_else(|| {
                            Error::field(
                                path,
                                field(name),
                                format!(
                                    "expected an integer in 0..={}, got {v}",
                                    limits::MAX_SMALL_COUNT
                                ),
                            )
                        }),
                }
            };
            let server = match entry.get("server") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(
                    problem
                        .servers
                        .iter()
                        .position(|s| &s.name == name)
                        .ok_or_else(|| {
                            let names: Vec<&str> =
                                problem.servers.iter().map(|s| s.name.as_str()).collect();
                            Error::field(
                                path,
                                field("server"),
                                format!(
                                    "no server \"{name}\" in the instance (it has {})",
                                    names.join(", ")
                                ),
                            )
                        })?,
                ),
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|v| usize::try_from(v).ok())
                        .ok_or_else(|| {
                            Error::field(
                                path,
                                field("server"),
                                format!("expected a server index, a server name or null, got {v}"),
                            )
                        })?,
                ),
            };
            let cut =
                match entry
                    .get("cut")
                    .and_then(Value::as_u64)
                    .and_then(|c| usize::try_from(c).ok())
                {
                    Some(c) => c,
                    None => return Err(Error::field(
                        path,
                        field("cut"),
                        "missing or not a non-negative integer: the number of layers on the device",
                    )),
                };
            let compute_share = match entry.get("compute_share") {
                None | Some(Value::Null) => 0.0,
                Some(v) => v
                    .as_f64()
                    .filter(|&s| s == 0.0 || MIN_COMPUTE_SHARE.contains(s))
                    .ok_or_else(|| {
                        Error::field(
                            path,
                            field("compute_share"),
                            format!(
                                "expected 0 or a fraction of the server's compute in {}, got {v}",
                                MIN_COMPUTE_SHARE.describe()
                            ),
                        )
                    })?,
            };
            users.push(UserPlan {
                server,
                cut,
                resource_blocks: count("resource_blocks")?,
                compute_share,
            });
        }
        Ok(AllocPlan { users })
    }

    fn evaluate(problem: &AllocProblem, plan: &AllocPlan) -> Result<AllocEvaluation> {
        alloc::evaluate::evaluate(problem, plan)
    }

    fn objective(evaluation: &AllocEvaluation) -> f64 {
        evaluation.objective
    }

    fn violations(evaluation: &AllocEvaluation) -> usize {
        evaluation.violations.len()
    }

    fn metrics(_problem: &AllocProblem, e: &AllocEvaluation) -> Vec<f64> {
        let n = e.users.len().max(1) as f64;
        let max = e.users.iter().map(|u| u.latency_s).fold(0.0, f64::max);
        let mean = e.users.iter().map(|u| u.latency_s).sum::<f64>() / n;
        let energy = e.users.iter().map(|u| u.energy_j).sum::<f64>();
        vec![max, mean, energy]
    }

    fn render_report(problem: &AllocProblem, report: &ReportOf<Self>) -> String {
        alloc::render::report(problem, report)
    }

    fn render_evaluation(problem: &AllocProblem, plan: &AllocPlan, ev: &AllocEvaluation) -> String {
        alloc::render::evaluation(problem, plan, ev)
    }
}
