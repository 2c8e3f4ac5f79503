//! The conformance suite: one generic test that every registered formulation passes on every
//! shipped instance (`instances/<problem>/*.toml`) with every built-in preset it accepts.
//!
//! For each run, through the command line:
//! - `solve --json` reports an objective equal to the independent evaluator's value of the plan
//!   it returns, and the evaluation embedded in the report is exactly what `evaluate` computes
//!   from the report file (the JSON round-trips; exit code 0 for a feasible plan, 1 otherwise);
//! - the time limit is honoured: wall time at most 10% + 1 s over it (exact presets run with
//!   their limit capped at [`CAP_S`] so that the suite stays short; a capped run still reports a
//!   valid bound);
//! - a truncated plan (the plan's main list without its last entry) is refused with exit code 2
//!   and a one-line error, and so is a plan whose named entries are out of instance order;
//!
//! and per instance, no feasible plan of any preset is better than a bound some exact preset
//! proved (heuristics and baselines never beat a proven optimum or bound).
//!
//! A new formulation is covered by adding it to the registry and shipping instances.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{edgeplan, root};
use edgeplan::formulation::Sense;
use edgeplan::registry::ProblemKind;
use edgeplan::solve::SolverPreset;
use serde_json::Value;

/// Longest time limit a run gets here, s.
const CAP_S: f64 = 5.0;

/// Relative tolerance of objective comparisons.
const TOL: f64 = 1e-6;

/// The shipped instances of `kind`: every `.toml` under `instances/<name>/` whose `problem`
/// field names it.
fn shipped_instances(kind: ProblemKind) -> Vec<PathBuf> {
    let dir = root().join("instances").join(kind.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| ProblemKind::of_instance(p).ok() == Some(kind))
        .collect();
    files.sort();
    files
}

/// The built-in presets whose solver `kind` understands.
fn presets(kind: ProblemKind) -> Vec<SolverPreset> {
    SolverPreset::builtin_names()
        .into_iter()
        .filter_map(SolverPreset::builtin)
        .filter(|p| kind.solvers().contains(&p.solver.as_str()))
        .collect()
}

/// One solve of the suite.
struct Run {
    preset: String,
    termination: String,
    feasible: bool,
    objective: Option<f64>,
    bound: Option<f64>,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1.0)
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Solves `instance` with `preset` through the command line and checks the report against the
/// evaluator, the round trip through `evaluate`, the time limit and bad plans.
fn check_run(kind: ProblemKind, instance: &Path, preset: &SolverPreset, dir: &Path) -> Run {
    let inst = relative(instance);
    let limit = preset.time_limit_s.unwrap_or(f64::INFINITY).min(CAP_S);
    let limit_arg = limit.to_string();
    let args = [
        "solve",
        inst.as_str(),
        "--solver",
        preset.name.as_str(),
        "--time-limit",
        limit_arg.as_str(),
        "--json",
    ];
    let start = Instant::now();
    let out = edgeplan(&args);
    let wall = start.elapsed().as_secs_f64();
    let what = format!("{inst} with {}", preset.name);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{what}: exit {:?}: {stderr}",
        out.status.code()
    );
    assert!(
        wall <= 1.1 * limit + 1.0,
        "{what}: {wall:.2} s for a {limit} s limit"
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: solve --json is not JSON: {e}"));
    let stats = &report["stats"];
    let feasible = stats["primal_status"] == "feasible";
    assert_eq!(
        out.status.code() == Some(0),
        feasible,
        "{what}: exit code and primal status disagree"
    );
    let run = Run {
        preset: preset.name.clone(),
        termination: stats["termination"].as_str().unwrap_or("").to_string(),
        feasible,
        objective: stats["objective"].as_f64(),
        bound: stats["bound"].as_f64(),
    };
    if report["plan"].is_null() {
        assert!(
            report["evaluation"].is_null(),
            "{what}: an evaluation without a plan"
        );
        return run;
    }

    // The report's objective is the evaluator's value of its plan.
    let problem = kind.formulation().load(instance).unwrap();
    let file = dir.join(format!(
        "{}-{}.json",
        instance.file_stem().unwrap().to_string_lossy(),
        preset.name
    ));
    let evaluated = problem.evaluate(&report["plan"], &file).unwrap();
    let objective = run.objective.expect("a plan has an objective");
    assert!(
        close(objective, evaluated.objective),
        "{what}: reported objective {objective}, evaluator {}",
        evaluated.objective
    );
    assert!(
        objective.is_finite(),
        "{what}: non-finite objective {objective}"
    );

    // `evaluate` on the report file recomputes exactly the report's evaluation.
    std::fs::write(&file, &out.stdout).unwrap();
    let file_arg = file.to_string_lossy().to_string();
    let back = edgeplan(&["evaluate", inst.as_str(), file_arg.as_str(), "--json"]);
    let expected_code = if evaluated.feasible() { 0 } else { 1 };
    assert_eq!(
        back.status.code(),
        Some(expected_code),
        "{what}: evaluate exit code: {}",
        String::from_utf8_lossy(&back.stderr)
    );
    let again: Value = serde_json::from_slice(&back.stdout).unwrap();
    if let Some(difference) = json_difference(&again, &report["evaluation"], "evaluation") {
        panic!("{what}: evaluate disagrees with the report at {difference}");
    }

    check_bad_plans(&what, &inst, &report["plan"], &file);
    run
}

/// The first place where `a` and `b` differ (numbers compared to 1e-12 relative), if any.
fn json_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((x - y).abs() > 1e-12 * x.abs().max(y.abs())).then(|| format!("{at}: {x} vs {y}"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| json_difference(x, y, &format!("{at}[{i}]"))),
        (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
            x.iter().find_map(|(k, v)| match y.get(k) {
                Some(w) => json_difference(v, w, &format!("{at}.{k}")),
                None => Some(format!("{at}.{k}: missing")),
            })
        }
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// The plan's main list: its first member that is an array (`assignment`, `users`, `servers`,
/// `runs`).
fn main_list(plan: &Value) -> Option<(String, Vec<Value>)> {
    plan.as_object()?
        .iter()
        .find_map(|(k, v)| Some((k.clone(), v.as_array()?.clone())))
}

/// A truncated plan, and a plan with its named entries out of order, are refused with exit 2
/// and a one-line error.
fn check_bad_plans(what: &str, inst: &str, plan: &Value, file: &Path) {
    let Some((key, list)) = main_list(plan) else {
        panic!("{what}: the plan has no list")
    };
    let mut variants = Vec::new();
    if !list.is_empty() {
        let mut truncated = plan.clone();
        truncated[&key] = Value::Array(list[..list.len() - 1].to_vec());
        variants.push(("truncated", truncated));
    }
    let named = |v: &Value| {
        ["server", "user"]
            .iter()
            .any(|k| v.get(k).is_some_and(Value::is_string))
    };
    if list.len() >= 2 && list.iter().all(named) {
        let mut reordered = plan.clone();
        reordered[&key] = Value::Array(list.iter().rev().cloned().collect());
        variants.push(("reordered", reordered));
    }
    let file_arg = file.to_string_lossy().to_string();
    for (how, bad) in variants {
        std::fs::write(file, bad.to_string()).unwrap();
        let out = edgeplan(&["evaluate", inst, file_arg.as_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: a {how} plan was not refused: {err}"
        );
        common::assert_one_error_line(what, &err);
    }
}

/// No feasible plan is better than a bound an exact preset proved.
fn check_bounds(kind: ProblemKind, instance: &Path, runs: &[Run]) {
    let sense = kind.formulation().sense();
    for proof in runs
        .iter()
        .filter(|r| r.termination == "optimal" || r.bound.is_some())
    {
        let Some(bound) = proof.bound.or(proof.objective) else {
            continue;
        };
        for run in runs.iter().filter(|r| r.feasible) {
            let objective = run.objective.unwrap();
            assert!(
                !sense.better(objective, bound, TOL),
                "{}: {} found {objective}, better than {}'s bound {bound}",
                relative(instance),
                run.preset,
                proof.preset
            );
        }
    }
}

#[test]
fn every_formulation_every_shipped_instance_every_preset() {
    let dir = tempfile::tempdir().unwrap();
    let mut runs_total = 0;
    for &kind in ProblemKind::ALL {
        let instances = shipped_instances(kind);
        assert!(
            !instances.is_empty(),
            "{kind}: no shipped instance under instances/{kind}/"
        );
        let presets = presets(kind);
        assert!(presets.len() >= 2, "{kind}: fewer than two presets");
        for instance in &instances {
            let runs: Vec<Run> = presets
                .iter()
                .map(|p| check_run(kind, instance, p, dir.path()))
                .collect();
            check_bounds(kind, instance, &runs);
            runs_total += runs.len();
        }
        eprintln!(
            "{kind}: {} instances x {} presets conform",
            instances.len(),
            presets.len()
        );
    }
    assert!(runs_total > 0);
}

/// The sense comparisons the bound check relies on.
#[test]
fn sense_compares_with_a_tolerance() {
    assert!(Sense::Minimise.better(1.0, 2.0, TOL));
    assert!(!Sense::Minimise.better(2.0, 1.0, TOL));
    assert!(!Sense::Minimise.better(1.0, 1.0 + 1e-9, TOL));
    assert!(Sense::Maximise.better(0.9, 0.8, TOL));
    assert!(!Sense::Maximise.better(0.8, 0.9, TOL));
}
