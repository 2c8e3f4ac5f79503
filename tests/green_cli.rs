//! The command line on green instances: the Gantt-style timeline and summary, schedule round
//! trips through `evaluate`, and bad input.

mod common;

use common::{edgeplan, edgeplan_json, edgeplan_ok, expect_bad, generate_twice};

const DAY: &str = "instances/green/green-day.toml";

/// Every solver's schedule, saved from `solve --json`, evaluates to the same objective; the
/// exact solve is optimal and no worse than the greedy, which is no worse than ASAP here.
#[test]
fn green_schedules_round_trip_through_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let mut objective = Vec::new();
    for solver in ["highs", "greedy", "asap"] {
        let report = edgeplan_json(&["solve", DAY, "--solver", solver, "--json"]);
        let value = report["stats"]["objective"].as_f64().unwrap();
        let ev = common::evaluate_report(dir.path(), DAY, &report);
        assert!((ev["objective"].as_f64().unwrap() - value).abs() <= 1e-9 * value.max(1.0));
        if solver == "highs" {
            assert_eq!(report["stats"]["termination"], "optimal");
        }
        objective.push(value);
    }
    assert!(objective[0] <= objective[1] + 1e-9 && objective[1] <= objective[2] + 1e-9);
}

#[test]
fn green_solve_prints_the_timeline_and_summary() {
    let text = String::from_utf8(edgeplan_ok(&["solve", DAY]).stdout).unwrap();
    for needle in [
        "carbon 0-9",
        "l4-a ",
        "orin-b ",
        "  level",
        "  renewable",
        "lora-llama3-8b",
        "summary   carbon",
        "every deadline and constraint met",
        "vs ASAP",
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
}

/// A schedule with a job outside its window and one never run: exit 1 with the violations
/// named; a schedule of the wrong shape: exit 2.
#[test]
fn green_evaluate_flags_violations_and_bad_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    let mut runs = vec![vec![serde_json::Value::Null; 24]; 2];
    runs[0][23] = serde_json::json!({"job": 2, "level": 0});
    std::fs::write(&file, serde_json::json!({ "runs": runs }).to_string()).unwrap();
    let out = edgeplan(&["evaluate", DAY, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "VIOLATED: job chat-replay-1b runs in slot 23 on l4-a, outside its window 0..12"
        ),
        "{text}"
    );
    assert!(
        text.contains("VIOLATED: job lora-llama3-8b gets 0.0000e0 FLOP"),
        "{text}"
    );
    std::fs::write(&file, r#"{"runs": [[null]]}"#).unwrap();
    expect_bad(
        &["evaluate", DAY, file.to_str().unwrap()],
        "expected 2 rows of 24 slots",
    );
}

/// Bad instance fields are named, exit 2.
#[test]
fn green_bad_instances_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (from, to, expected) in [
        (
            "deadline_slot = 12",
            "deadline_slot = 30",
            "jobs[2].deadline_slot",
        ),
        (
            "kind = \"inference\"\nrequests = 40000",
            "kind = \"batch\"\nrequests = 40000",
            "jobs[1].kind",
        ),
        ("device = \"l4\"", "device = \"l5\"", "servers[0].device"),
        (
            "objective = \"carbon\"",
            "objective = \"green\"",
            "objective",
        ),
        ("slots = 24", "slots = 99", "grid.carbon"),
    ] {
        common::variant(&path, DAY, &[(from, to)]);
        let out = edgeplan(&["solve", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{to}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("bad.toml") && err.contains(expected),
            "{to}: {err}"
        );
    }
}

/// Every shipped green instance: the greedy meets every deadline and its schedule evaluates to
/// the same carbon; ASAP is never cleaner than the greedy on them.
#[test]
fn every_shipped_green_instance_solves_with_the_greedy() {
    common::for_each_shipped("green", 4, |path, dir| {
        let mut values = Vec::new();
        for solver in ["greedy", "asap"] {
            let report = edgeplan_json(&["solve", path, "--solver", solver, "--json"]);
            common::evaluate_report(dir, path, &report);
            values.push(report["stats"]["objective"].as_f64().unwrap());
        }
        assert!(values[0] <= values[1] + 1e-9, "{path}: greedy {values:?}");
    });
}

/// `generate green` writes a loadable instance; the same seed gives the same file; bad options
/// exit 2 naming the option.
#[test]
fn generate_green_writes_a_solvable_instance() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate_twice(
        dir.path(),
        &[
            "generate",
            "green",
            "--jobs",
            "4",
            "--servers",
            "2",
            "--slots",
            "12",
            "--seed",
            "5",
            "--load",
            "0.2",
        ],
    );
    let out = edgeplan(&["solve", a.to_str().unwrap(), "--json"]);
    assert!(matches!(out.status.code(), Some(0) | Some(1)));
    expect_bad(&["generate", "green", "--load", "0"], "--load");
}
