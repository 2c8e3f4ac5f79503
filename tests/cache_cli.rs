//! The command line on cache instances: shipped instances, plan round trips through `evaluate`,
//! the generator, and bad input (one-line error naming the field, exit 2).

mod common;

use common::{edgeplan, edgeplan_json, edgeplan_ok, expect_bad, generate_twice, root};

/// The cache solvers other than the exact one.
const HEURISTICS: [&str; 5] = [
    "greedy",
    "local-search",
    "independent",
    "popularity",
    "random",
];

/// `edgeplan solve ARGS --json`, which must succeed: its report.
fn solve_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["solve"];
    all.extend_from_slice(args);
    all.push("--json");
    edgeplan_json(&all)
}

/// Every shipped cache instance: each heuristic's plan, saved from `solve --json`, evaluates to
/// the same hit ratio with storage respected; the sharing-aware greedy is never below
/// independent caching on them.
#[test]
fn every_shipped_cache_instance_solves_and_its_plan_evaluates() {
    common::for_each_shipped("cache", 5, |path, dir| {
        let mut hits = Vec::new();
        for solver in HEURISTICS {
            let report = solve_json(&[path, "--solver", solver]);
            assert_eq!(
                report["stats"]["primal_status"], "feasible",
                "{path} {solver}"
            );
            let hit = report["stats"]["objective"].as_f64().unwrap();
            let ev = common::evaluate_report(dir, path, &report);
            assert!((ev["hit_ratio"].as_f64().unwrap() - hit).abs() <= 1e-12);
            assert!(ev["violations"].as_array().unwrap().is_empty());
            hits.push(hit);
        }
        assert!(
            hits[1] >= hits[0],
            "{path}: local search below its greedy start"
        );
        assert!(
            hits[0] >= hits[2] * 0.999,
            "{path}: greedy {} < independent {}",
            hits[0],
            hits[2]
        );
    });
}

/// The exact solve on the small shipped instances is optimal, not beaten by any heuristic, and
/// the text report shows the servers, the users and the summary.
#[test]
fn cache_exact_solve_prints_servers_and_summary() {
    for name in ["cache-small", "cache-4s-20m-50u", "cache-relay-4s-20m-50u"] {
        let path = format!("instances/cache/{name}.toml");
        let exact = solve_json(&[&path]);
        assert_eq!(exact["stats"]["termination"], "optimal", "{name}");
        let best = exact["stats"]["objective"].as_f64().unwrap();
        for solver in HEURISTICS {
            let r = solve_json(&[&path, "--solver", solver]);
            let hit = r["stats"]["objective"].as_f64().unwrap();
            assert!(hit <= best + 1e-9, "{name} {solver}: {hit} > {best}");
        }
        let text = String::from_utf8(edgeplan_ok(&["solve", &path]).stdout).unwrap();
        for needle in [
            "stored / capacity",
            "es-0",
            "es-1",
            "hit probability",
            "summary   hit ratio",
            "every server's storage is respected",
            "milp",
        ] {
            assert!(text.contains(needle), "{name}: no `{needle}` in\n{text}");
        }
    }
    // Up to 20 users, one row per user.
    let out = edgeplan(&[
        "solve",
        "instances/cache/cache-small.toml",
        "--solver",
        "greedy",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    for k in 0..12 {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("u{k} "))),
            "no row for u{k}\n{text}"
        );
    }
}

/// A hand-made plan that overfills a server is flagged (exit 1, the server named); unknown
/// names, a server left out and servers out of order are bad input (exit 2).
#[test]
fn cache_evaluate_flags_overfull_servers_and_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = "instances/cache/cache-small.toml";
    let all: Vec<String> = {
        let r = solve_json(&[path, "--solver", "greedy"]);
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let file: toml::Value = toml::from_str(&text).unwrap();
        assert!(r["plan"]["servers"].as_array().unwrap().len() == 2);
        file["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect()
    };
    let plan = serde_json::json!({"servers": [
        {"server": "es-0", "models": all},
        {"server": "es-1", "models": []},
    ]});
    let file = dir.path().join("full.json");
    std::fs::write(&file, plan.to_string()).unwrap();
    let out = edgeplan(&["evaluate", path, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("VIOLATED: server es-0 stores"), "{text}");

    for (plan, message) in [
        (
            serde_json::json!({"servers": [
                {"server": "es-0", "models": ["nope"]},
                {"server": "es-1", "models": []},
            ]}),
            "servers[0].models[0]: unknown model \"nope\"",
        ),
        (
            serde_json::json!({"servers": [{"server": "es-0", "models": []}]}),
            "one entry per server",
        ),
        (
            serde_json::json!({"servers": [
                {"server": "es-1", "models": []},
                {"server": "es-0", "models": []},
            ]}),
            "in instance order",
        ),
    ] {
        std::fs::write(&file, plan.to_string()).unwrap();
        expect_bad(&["evaluate", path, file.to_str().unwrap()], message);
    }
}

/// `generate cache` writes an instance that loads and solves; the same seed gives the same
/// file; bad options are refused with exit 2.
#[test]
fn generate_cache_writes_a_solvable_instance() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate_twice(
        dir.path(),
        &[
            "generate",
            "cache",
            "--servers",
            "3",
            "--models",
            "12",
            "--users",
            "30",
            "--seed",
            "7",
            "--backhaul",
            "1e9",
            "--per-user-order",
        ],
    );
    let report = solve_json(&[a.to_str().unwrap()]);
    assert_eq!(report["stats"]["termination"], "optimal");
    expect_bad(
        &["generate", "cache", "--lora-fraction", "1.5"],
        "--lora-fraction",
    );
    expect_bad(&["generate", "cache", "--bases", "nomodel@q4"], "nomodel");
}
