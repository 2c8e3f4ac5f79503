//! Long solves a person can watch and stop: progress lines on standard error, Ctrl-C (SIGINT)
//! reporting the best plan found; and the packaging commands (version, completions, man pages).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use common::{edgeplan, edgeplan_ok, root};

/// `edgeplan solve INSTANCE --progress always --json` with no time limit, stopped by SIGINT once
/// a progress line shows an incumbent: the report comes back at once, `limit_reached`, with a
/// feasible plan the evaluator agrees with.
fn stops_on_sigint(instance: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeplan"))
        .args(["solve", instance, "--progress", "always", "--json"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run edgeplan");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());

    // Progress: at least one line with a numeric incumbent, a bound and a node count.
    let started = Instant::now();
    let mut seen = Vec::new();
    let progress = loop {
        let left = Duration::from_secs(120).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let numeric = line
                    .split("incumbent ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok());
                seen.push(line.clone());
                if numeric.is_some_and(f64::is_finite) && line.contains("nodes ") {
                    break line;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("{instance}: no progress line with an incumbent in 120 s: {seen:?}");
            }
        }
    };
    assert!(progress.contains(" s  "), "{progress}");

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let signalled = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{instance}: still running 20 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    let stdout = out_reader.join().unwrap();
    assert_eq!(exit.code(), Some(0), "{instance}: {rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("interrupted:")),
        "{instance}: {rest:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    let stats = &report["stats"];
    assert_eq!(stats["termination"], "limit_reached", "{instance}: {stats}");
    assert_eq!(stats["primal_status"], "feasible", "{instance}: {stats}");
    let objective = stats["objective"].as_f64().unwrap();
    assert!(objective.is_finite());
    // The plan reported is a real one: the evaluator's objective is the report's.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, &stdout).unwrap();
    let evaluated = edgeplan_ok(&["evaluate", instance, plan.to_str().unwrap(), "--json"]);
    let evaluation: serde_json::Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    let text = evaluation.to_string();
    assert!(
        text.contains(&format!("{objective}")) || objective_close(&evaluation, objective),
        "{instance}: evaluated {text} against reported {objective}"
    );
}

/// Whether some number member of `evaluation` equals `objective` to 1e-9 relative.
fn objective_close(evaluation: &serde_json::Value, objective: f64) -> bool {
    match evaluation {
        serde_json::Value::Number(n) => n
            .as_f64()
            .is_some_and(|v| (v - objective).abs() <= 1e-9 * objective.abs().max(1.0)),
        serde_json::Value::Array(a) => a.iter().any(|v| objective_close(v, objective)),
        serde_json::Value::Object(o) => o.values().any(|v| objective_close(v, objective)),
        _ => false,
    }
}

#[test]
fn a_long_alloc_solve_shows_progress_and_stops_on_sigint() {
    // The example: silent for minutes without a time limit.
    stops_on_sigint("instances/alloc/alloc-200-users.toml");
}

#[test]
fn a_long_green_solve_shows_progress_and_stops_on_sigint() {
    // Column generation and a restricted master before the MILP: every stage stops.
    stops_on_sigint("instances/green/green-100j-10s-96t.toml");
}

#[test]
fn a_short_solve_prints_no_progress() {
    // Lines start after the first second; a solve of a few milliseconds shows none.
    let out = edgeplan_ok(&[
        "solve",
        "instances/split/llama2-7b-jetson.toml",
        "--progress",
        "always",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("incumbent"), "{stderr}");
}

#[test]
fn version_names_highs() {
    let out = edgeplan_ok(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let highs = text.split("(HiGHS ").nth(1).expect("HiGHS version");
    let numbers: Vec<&str> = highs.trim_end().trim_end_matches(')').split('.').collect();
    assert_eq!(numbers.len(), 3, "{text}");
    assert!(numbers.iter().all(|n| n.parse::<u32>().is_ok()), "{text}");
    assert!(text.starts_with(&format!("edgeplan {}", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn completions_and_man_pages() {
    for (shell, marker, flag) in [
        ("bash", "complete -F _edgeplan", "--time-limit"),
        ("zsh", "#compdef edgeplan", "--time-limit"),
        ("fish", "complete -c edgeplan", "-l time-limit"),
    ] {
        let out = edgeplan_ok(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}");
        for word in ["solve", "sweep", "summarize", flag] {
            assert!(text.contains(word), "{shell}: {word}");
        }
    }
    let out = edgeplan(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    edgeplan_ok(&["man", "--dir", dir.path().to_str().unwrap()]);
    let solve = std::fs::read_to_string(dir.path().join("edgeplan-solve.1")).unwrap();
    assert!(solve.contains(".TH edgeplan-solve 1"), "{solve}");
    assert!(solve.contains("time\\-limit"), "{solve}");
    let main = String::from_utf8(edgeplan_ok(&["man"]).stdout).unwrap();
    assert!(main.contains(".TH edgeplan 1") && main.contains("HiGHS"));
}
