//! The command line: shipped instances, plan round trips, and bad input (one-line error, exit 2).

use std::path::{Path, PathBuf};

mod common;

use common::{edgeplan, edgeplan_json, edgeplan_ok, expect_bad, json, root, Edits};

#[test]
fn every_shipped_instance_solves_and_its_plan_evaluates() {
    let files = common::shipped_files("split", &["toml", "json"]);
    assert!(files.len() >= 6);
    let dir = tempfile::tempdir().unwrap();
    let mut infeasible = 0;
    for f in &files {
        let path = f.to_str().unwrap();
        let out = edgeplan(&["solve", path, "--json"]);
        let report = json(&out, path);
        let termination = report["stats"]["termination"].as_str().unwrap();
        if termination == "infeasible" {
            infeasible += 1;
            assert_eq!(out.status.code(), Some(1), "{path}");
            assert!(
                !report["explanation"].as_array().unwrap().is_empty(),
                "{path}"
            );
            continue;
        }
        assert_eq!(termination, "optimal", "{path}");
        assert_eq!(out.status.code(), Some(0), "{path}");
        // The same objective from the exact enumeration.
        let en = json(
            &edgeplan(&["solve", path, "--json", "--solver", "enumerate"]),
            path,
        );
        let (a, b) = (
            report["stats"]["objective"].as_f64().unwrap(),
            en["stats"]["objective"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()),
            "{path}: {a} vs {b}"
        );
        // The whole report is accepted as a plan by `evaluate`.
        let plan = common::write(dir.path(), "plan.json", &out.stdout);
        let ev = edgeplan_json(&["evaluate", path, plan.to_str().unwrap(), "--json"]);
        let o = ev["objective"].as_f64().unwrap();
        assert!((o - a).abs() <= 1e-9 * a.abs(), "{path}");
        // Text output names the tiers.
        let text = edgeplan(&["solve", path]);
        let text = String::from_utf8(text.stdout).unwrap();
        assert!(
            text.contains("latency breakdown") && text.contains("device"),
            "{path}"
        );
    }
    assert!(infeasible >= 1, "ship at least one infeasible instance");
}

#[test]
fn infeasible_instance_explains_the_deadline() {
    let out = edgeplan(&["solve", "instances/split/llama2-13b-phone-infeasible.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("deadline"), "{text}");
    assert!(text.contains("the best plan needs"), "{text}");
}

#[test]
fn memory_bound_instance_cannot_run_on_the_device() {
    let path = "instances/split/llama2-7b-phone-memory-bound.toml";
    let out = edgeplan(&["solve", path, "--solver", "all-device", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let violations = r["evaluation"]["violations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v["constraint"] == "memory.device"),
        "{violations:?}"
    );
    edgeplan_ok(&["solve", path, "--json"]);
}

#[test]
fn evaluate_accepts_cuts_and_flags_violations() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cuts.json");
    // Jetson instance: everything on the device breaks the 6 GB limit? Q4 7B is 3.8 GB, so it
    // fits; but putting the embedding on the edge breaks embed_on_device.
    std::fs::write(&plan, r#"{"cuts": [0, 34]}"#).unwrap();
    let out = edgeplan(&[
        "evaluate",
        "instances/split/llama2-7b-jetson.toml",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("embed_on_device"), "{text}");
}

#[test]
fn lp_export_and_time_limit_options() {
    let dir = tempfile::tempdir().unwrap();
    let lp = dir.path().join("model.lp");
    let log = dir.path().join("highs.log");
    edgeplan_ok(&[
        "solve",
        "instances/split/llama2-7b-jetson.toml",
        "--write-model",
        lp.to_str().unwrap(),
        "--solver-log",
        log.to_str().unwrap(),
        "--time-limit",
        "5",
        "--gap",
        "0.001",
    ]);
    let text = std::fs::read_to_string(&lp).unwrap();
    assert!(
        text.to_lowercase().contains("subject to") || text.contains("st"),
        "{text}"
    );
    assert!(std::fs::metadata(&log).unwrap().len() > 0);
}

#[test]
fn costs_writes_the_table() {
    let out = edgeplan_ok(&["costs", "llama-3.2-1b", "--dtype", "q4"]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("layer,kind,params,param_bytes,fwd_flop_per_token,bwd_flop_per_token")
    );
    assert_eq!(lines.len(), 1 + 18);
    let v = edgeplan_ok(&["costs", "--validate"]);
    let text = String::from_utf8(v.stdout).unwrap();
    assert!(text.contains("median |error|"), "{text}");
    for label in [
        "all",
        "phase prefill",
        "class on-device",
        "runtime executorch",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(label)),
            "no `{label}` summary in\n{text}"
        );
    }
}

// ---------------------------------------------------------------- bad input

/// A valid instance with absolute paths, so it can live in a temporary directory.
fn instance(extra_top: &str, body: &str) -> String {
    let r = root();
    format!(
        r#"problem = "split"
models_dir = "{}"
devices = "{}"
{extra_top}
[workload]
mode = "inference"
prompt_tokens = 128
generate_tokens = 16

[device]
device = "phone-sd8gen3"

[edge]
device = "l4"

[links.wireless]
uplink_bps = 20e6
downlink_bps = 100e6
rtt_s = 0.02
{body}
"#,
        r.join("instances/models").display(),
        r.join("instances/devices.csv").display()
    )
}

fn bad(dir: &Path, name: &str, text: &str, args_after: &[&str], expect: &str) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut args = vec!["solve", path.to_str().unwrap()];
    args.extend_from_slice(args_after);
    expect_bad(&args, expect);
}

/// The split model every bad-input instance uses.
const MODEL: &str = "model = \"llama-3.2-1b\"";

/// A missing file and files that do not parse (TOML, JSON).
#[test]
fn unreadable_instances_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    expect_bad(&["solve", "no/such/instance.toml"], "no/such/instance.toml");
    bad(
        dir,
        "syntax.toml",
        "problem = \"split\"\nmodel = [",
        &[],
        "invalid TOML",
    );
    bad(
        dir,
        "json.json",
        "{\"problem\": \"split\",",
        &[],
        "invalid JSON",
    );
}

/// Unknown names, out-of-range numbers, a misspelt field and an unknown problem kind.
#[test]
fn bad_instance_fields_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let model = MODEL;
    bad(
        dir,
        "unknown-model.toml",
        &instance("model = \"llama-9\"", ""),
        &[],
        "unknown model `llama-9`",
    );
    bad(
        dir,
        "unknown-device.toml",
        &instance(model, "").replace("\"l4\"", "\"tpu9\""),
        &[],
        "unknown device `tpu9`",
    );
    bad(
        dir,
        "negative.toml",
        &instance(model, "").replace("uplink_bps = 20e6", "uplink_bps = -20e6"),
        &[],
        "links.wireless.uplink_bps",
    );
    bad(
        dir,
        "nan.toml",
        &instance(model, "").replace("rtt_s = 0.02", "rtt_s = nan"),
        &[],
        "links.wireless.rtt_s",
    );
    bad(
        dir,
        "zero-prompt.toml",
        &instance(model, "").replace("prompt_tokens = 128", "prompt_tokens = 0"),
        &[],
        "workload.prompt_tokens",
    );
    bad(
        dir,
        "typo.toml",
        &instance(model, "\n[constraints]\ndeadline = 3.0\n"),
        &[],
        "deadline",
    );
    bad(
        dir,
        "negative-deadline.toml",
        &instance(model, "\n[constraints]\ndeadline_s = -1.0\n"),
        &[],
        "constraints.deadline_s",
    );
    bad(
        dir,
        "pin.toml",
        &instance(
            model,
            "\n[constraints]\npin = [{ layer = 99, tier = \"edge\" }]\n",
        ),
        &[],
        "pin",
    );
    bad(
        dir,
        "problem.toml",
        &instance(model, "").replace("problem = \"split\"", "problem = \"knapsack\""),
        &[],
        "problem",
    );
}

/// An unknown solver preset and a negative gap on a valid instance.
#[test]
fn bad_solver_options_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    bad(
        dir,
        "ok.toml",
        &instance(MODEL, ""),
        &["--solver", "gurobi"],
        "unknown solver preset `gurobi`",
    );
    bad(
        dir,
        "ok2.toml",
        &instance(MODEL, ""),
        &["--gap=-1"],
        "option `--gap`: expected a number in [0, 1], got -1",
    );
    // A negative value is a value (range error), not an unknown argument.
    bad(
        dir,
        "ok3.toml",
        &instance(MODEL, ""),
        &["--time-limit", "-1"],
        "option `--time-limit`: expected a number in (0, 1e6] s, got -1",
    );
    bad(
        dir,
        "ok4.toml",
        &instance(MODEL, ""),
        &["--threads", "1000"],
        "option `--threads`: expected an integer in 1..=64, got 1000",
    );
}

/// Bad CSV tables an instance references: a cost table, the devices, a profile.
#[test]
fn bad_tables_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let model = MODEL;
    // A cost table CSV with a missing column, and one with a bad number on line 3.
    let table = dir.join("table.csv");
    std::fs::write(&table, "layer,kind,params,param_bytes\n0,embed,10,20\n").unwrap();
    let with_table = instance(&format!("model = \"{}\"", table.display()), "");
    bad(dir, "table.toml", &with_table, &[], "missing column");
    let out = edgeplan(&["costs", "llama-3.2-1b"]);
    let mut csv = String::from_utf8(out.stdout).unwrap();
    csv = csv.replacen("\n1,block,", "\n1,block,-5", 1);
    std::fs::write(&table, &csv).unwrap();
    bad(dir, "table2.toml", &with_table, &[], "line 3");

    // A devices CSV with a missing column.
    let devices = dir.join("devices.csv");
    std::fs::write(&devices, "device,class,peak_flops\nx,phone,1e12\n").unwrap();
    let text = instance(model, "").replace(
        &root().join("instances/devices.csv").display().to_string(),
        &devices.display().to_string(),
    );
    bad(
        dir,
        "devices.toml",
        &text,
        &[],
        "missing column `mem_bw_bytes_per_s`",
    );

    // A profile with a layer the model does not have.
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(
        profiles.join("llama-3.2-1b@phone-sd8gen3.csv"),
        "layer,phase,tokens,latency_s,energy_j\n0,prefill,128,0.01,\n40,decode,128,0.001,\n",
    )
    .unwrap();
    let text = instance(
        &format!("{model}\nprofiles_dir = \"{}\"", profiles.display()),
        "",
    );
    bad(dir, "profile.toml", &text, &[], "layer");
}

/// Plans to evaluate that do not fit the instance: wrong layer count, unknown tier, bad cuts.
#[test]
fn bad_plans_exit_2_with_one_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let ok = dir.join("ok.toml");
    std::fs::write(&ok, instance(MODEL, "")).unwrap();
    // A plan with the wrong number of layers.
    let plan = dir.join("plan.json");
    std::fs::write(&plan, r#"{"assignment": ["device", "edge"]}"#).unwrap();
    expect_bad(
        &["evaluate", ok.to_str().unwrap(), plan.to_str().unwrap()],
        "18",
    );
    std::fs::write(&plan, r#"{"assignment": ["device", "moon"]}"#).unwrap();
    expect_bad(
        &["evaluate", ok.to_str().unwrap(), plan.to_str().unwrap()],
        "assignment[1]",
    );
    std::fs::write(&plan, r#"{"cuts": [5, 2]}"#).unwrap();
    expect_bad(
        &["evaluate", ok.to_str().unwrap(), plan.to_str().unwrap()],
        "cuts",
    );
}

/// `costs`: unknown model, bad dtype.
#[test]
fn bad_costs_arguments_exit_2_with_one_line() {
    expect_bad(&["costs", "gpt-5"], "unknown model `gpt-5`");
    expect_bad(&["costs", "gpt2", "--dtype", "fp8"], "--dtype");
}

/// JSON instances are accepted with the same fields as TOML.
#[test]
fn json_instance_gives_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let toml_path = dir.path().join("i.toml");
    let json_path = dir.path().join("i.json");
    let text = instance(
        "model = \"tinyllama-1.1b\"\ndtype = \"q4\"",
        "\n[objective]\nkind = \"energy\"\n",
    );
    std::fs::write(&toml_path, &text).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    std::fs::write(&json_path, serde_json::to_string(&value).unwrap()).unwrap();
    let a = edgeplan_json(&["solve", toml_path.to_str().unwrap(), "--json"]);
    let b = edgeplan_json(&["solve", json_path.to_str().unwrap(), "--json"]);
    assert_eq!(a["plan"], b["plan"]);
    assert_eq!(a["stats"]["objective"], b["stats"]["objective"]);
}

/// Solves with `args`, checks the exit code, and returns the JSON report.
fn solve_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["solve"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = edgeplan(&all);
    let report = json(&out, args);
    let feasible = report["stats"]["primal_status"] == "feasible";
    assert_eq!(
        out.status.code(),
        Some(if feasible { 0 } else { 1 }),
        "{args:?}"
    );
    report
}

/// Every shipped alloc instance gets a feasible plan from the local search, and the plan saved
/// from `solve --json` evaluates to the same objective with every constraint met.
#[test]
fn every_shipped_alloc_instance_solves_and_its_plan_evaluates() {
    common::for_each_shipped("alloc", 7, |path, dir| {
        let report = solve_json(&[path, "--solver", "local-search"]);
        assert_eq!(report["stats"]["primal_status"], "feasible", "{path}");
        let objective = report["stats"]["objective"].as_f64().unwrap();
        let ev = common::evaluate_report(dir, path, &report);
        let again = ev["objective"].as_f64().unwrap();
        assert!(
            (again - objective).abs() <= 1e-6 * objective,
            "{path}: {again} vs {objective}"
        );
        assert_eq!(ev["violations"].as_array().unwrap().len(), 0, "{path}");
    });
}

/// The exact solve on the small shipped instances: optimal, never worse than the heuristics,
/// and the text report has a row per user and the summary.
#[test]
fn alloc_exact_solve_prints_the_per_user_table() {
    for name in ["alloc-5-users", "alloc-10-users"] {
        let path = format!("instances/alloc/{name}.toml");
        let exact = solve_json(&[&path]);
        assert_eq!(exact["stats"]["termination"], "optimal", "{name}");
        let best = exact["stats"]["objective"].as_f64().unwrap();
        let bound = exact["stats"]["bound"].as_f64().unwrap();
        assert!(
            bound <= best * (1.0 + 1e-9),
            "{name}: bound {bound} > {best}"
        );
        for solver in [
            "local-search",
            "equal-split",
            "fixed-cut",
            "all-edge",
            "all-device",
        ] {
            let r = solve_json(&[&path, "--solver", solver]);
            if let Some(v) = r["stats"]["objective"].as_f64() {
                assert!(v >= bound * (1.0 - 1e-9), "{name} {solver}: {v} < {bound}");
            }
        }
        let text = String::from_utf8(edgeplan_ok(&["solve", &path]).stdout).unwrap();
        for header in ["user", "on device", "blocks", "compute", "link", "latency"] {
            assert!(text.contains(header), "{name}: no `{header}` in\n{text}");
        }
        let users = exact["plan"]["users"].as_array().unwrap().len();
        for k in 0..users {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("u{k} "))),
                "{name}: no row for u{k}\n{text}"
            );
        }
        assert!(text.contains("server    bs-0"), "{text}");
        assert!(text.contains("constraints  all satisfied"), "{text}");
    }
    // The last round's MILP and each round's HiGHS log.
    let dir = tempfile::tempdir().unwrap();
    let (lp, log) = (dir.path().join("round1.lp"), dir.path().join("highs.log"));
    edgeplan_ok(&[
        "solve",
        "instances/alloc/alloc-5-users.toml",
        "--write-model",
        lp.to_str().unwrap(),
        "--solver-log",
        log.to_str().unwrap(),
    ]);
    let model = std::fs::read_to_string(&lp).unwrap();
    assert!(model.starts_with("\\ written by edgeplan") && model.contains("\nSubject To\n"));
    assert!(std::fs::read_to_string(&log).unwrap().contains("HiGHS"));
    // Every round after the first writes its own log (this instance may close in one round).
    let report = solve_json(&[
        "instances/alloc/alloc-5-users.toml",
        "--solver-log",
        log.to_str().unwrap(),
    ]);
    let rounds = report["rounds"].as_u64().unwrap();
    assert!(rounds >= 1);
    for r in 2..=rounds {
        assert!(
            dir.path().join(format!("highs.log.round{r}")).exists(),
            "round {r}"
        );
    }
    assert!(!dir
        .path()
        .join(format!("highs.log.round{}", rounds + 1))
        .exists());
}

#[test]
fn alloc_evaluate_flags_violations_and_accepts_server_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = "instances/alloc/alloc-5-users.toml";
    let report = solve_json(&[path, "--solver", "equal-split"]);
    let mut plan = report["plan"].clone();
    // Server by name is the same plan.
    for u in plan["users"].as_array_mut().unwrap() {
        if u["server"] == 0 {
            u["server"] = "bs-0".into();
        }
    }
    let file = dir.path().join("named.json");
    std::fs::write(&file, plan.to_string()).unwrap();
    let out = edgeplan(&["evaluate", path, file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Every offloading user asks for all the blocks: the server is overbooked.
    let total = 25;
    let mut over = plan.clone();
    let mut offloading = 0;
    for u in over["users"].as_array_mut().unwrap() {
        if !u["server"].is_null() {
            u["resource_blocks"] = total.into();
            offloading += 1;
        }
    }
    assert!(
        offloading >= 2,
        "the equal split offloads at least two users"
    );
    std::fs::write(&file, over.to_string()).unwrap();
    let out = edgeplan(&["evaluate", path, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("[servers[0].resource_blocks]") && text.contains("available"),
        "{text}"
    );
}

#[test]
fn generate_alloc_writes_a_reproducible_instance_that_solves() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gen.toml");
    let args = [
        "generate",
        "alloc",
        "--users",
        "6",
        "--seed",
        "7",
        "--blocks",
        "20",
        "--objective",
        "sum",
        "--deadline-factor",
        "3",
        "--out",
        file.to_str().unwrap(),
    ];
    edgeplan_ok(&args);
    let first = std::fs::read_to_string(&file).unwrap();
    assert!(first.contains("seed=7") && first.contains("objective = \"sum\""));
    assert_eq!(first.matches("[[users]]").count(), 6);
    assert_eq!(first.matches("deadline_s").count(), 6);
    // Same seed, same file; another seed, another file.
    edgeplan_ok(&args);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
    let mut other = args;
    other[5] = "8";
    edgeplan_ok(&other);
    assert_ne!(std::fs::read_to_string(&file).unwrap(), first);
    // The written file finds the catalog from its own directory and solves to optimality.
    let report = solve_json(&[file.to_str().unwrap()]);
    assert_eq!(report["stats"]["termination"], "optimal");
    // To standard output, with absolute catalog paths.
    let out = edgeplan_ok(&["generate", "alloc", "--users", "2"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("problem = \"alloc\""));
}

#[test]
fn alloc_bad_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = "instances/alloc/alloc-5-users.toml";
    expect_bad(&["generate", "alloc", "--users", "0"], "--users");
    expect_bad(
        &["generate", "alloc", "--models", "no-such-model"],
        "no-such-model",
    );
    expect_bad(
        &["generate", "alloc", "--objective", "fastest"],
        "--objective",
    );
    expect_bad(
        &["solve", path, "--solver", "enumerate"],
        "the alloc problem supports",
    );
    let plan = dir.path().join("plan.json");
    let cases = [
        (
            r#"{"users": [{"server": "bs-9", "cut": 0}]}"#,
            "users[0].server",
        ),
        (r#"{"users": [{"server": 0}]}"#, "users[0].cut"),
        (
            r#"{"users": [{"server": 0, "cut": 0, "compute_share": -1}]}"#,
            "users[0].compute_share",
        ),
        (
            r#"{"users": [{"server": null, "cut": 0}]}"#,
            "the plan has 1 users, the instance 5",
        ),
        (r#"{"plan": null}"#, "holds no plan"),
        (r#"{"users": 3"#, "invalid JSON"),
    ];
    for (text, expect) in cases {
        std::fs::write(&plan, text).unwrap();
        expect_bad(&["evaluate", path, plan.to_str().unwrap()], expect);
    }
    let edits = [
        (
            "resource_blocks = 25",
            "resource_blocks = 0",
            "servers[0].resource_blocks",
        ),
        ("device = \"rpi5\"", "device = \"rpi9\"", "rpi9"),
        (
            "objective = \"min-max\"",
            "objective = \"fast\"",
            "objective",
        ),
    ];
    for (from, to, expect) in edits {
        let broken = alloc_variant(dir.path(), "alloc-5-users", &[(from, to)]);
        expect_bad(&["solve", broken.to_str().unwrap()], expect);
    }
}

/// A shipped alloc instance with text edits, written to `dir` with absolute catalog paths.
fn alloc_variant(dir: &Path, name: &str, edits: Edits) -> PathBuf {
    common::variant(
        &dir.join(format!("{name}-variant.toml")),
        &format!("instances/alloc/{name}.toml"),
        edits,
    )
}

/// Infeasible alloc instances name the users and the resource: a deadline no option meets
/// alone, more users that must offload than blocks, and two deadlines that conflict only
/// together (each alone is met: the alloc-10-users optimum gives u2 0.28 s and u4 0.45 s).
#[test]
fn infeasible_alloc_instances_name_users_and_resources() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(Edits, &[&str]); 3] = [
        (
            &[("deadline_s = 1.77", "deadline_s = 0.01")],
            &[
                "user u1: misses its deadline of 0.01 s even alone",
                "on the device",
            ],
        ),
        (
            &[("resource_blocks = 50", "resource_blocks = 1")],
            &[
                "server bs-0: 2 users must offload to it",
                "(u2, u4), but it has 1 resource blocks",
            ],
        ),
        (
            &[
                ("deadline_s = 1.016", "deadline_s = 0.27"),
                ("deadline_s = 1.671", "deadline_s = 0.45"),
            ],
            &[
                "users u2 (0.27 s), u4 (0.45 s) cannot all meet their deadlines together",
                "with 1000 times the server compute they would fit",
            ],
        ),
    ];
    for (edits, expect) in cases {
        let path = alloc_variant(dir.path(), "alloc-10-users", edits);
        let report = solve_json(&[path.to_str().unwrap()]);
        assert_eq!(report["stats"]["termination"], "infeasible", "{edits:?}");
        let lines: Vec<&str> = report["explanation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for e in expect {
            assert!(
                lines.iter().any(|l| l.contains(e)),
                "{edits:?}: expected `{e}` in {lines:?}"
            );
        }
    }
    // Each of the two conflicting deadlines alone is met.
    for edit in [
        ("deadline_s = 1.016", "deadline_s = 0.27"),
        ("deadline_s = 1.671", "deadline_s = 0.45"),
    ] {
        let path = alloc_variant(dir.path(), "alloc-10-users", &[edit]);
        let report = solve_json(&[path.to_str().unwrap()]);
        assert_eq!(report["stats"]["termination"], "optimal", "{edit:?}");
    }
}

/// `--threads 2` where a solve runs HiGHS models with different thread counts on one thread
/// (cache's one-thread re-optimisation after its relaxation, green's one-thread master LPs
/// before its MILP): every solve succeeds, the plan evaluates, and green's optimum is the
/// one-thread optimum. HiGHS keeps one scheduler per thread and refused the second count
/// (`HiGHS failed: Error`) until the shared layer reset it between them.
#[test]
fn two_highs_threads_mix_with_one_thread_models() {
    let dir = tempfile::tempdir().unwrap();
    for (problem, name, limit) in [
        ("cache", "cache-10s-100m-500u", "5"),
        ("green", "green-30j-4s-48t", "60"),
    ] {
        let path = common::shipped_path(problem, name);
        let path = path.to_str().unwrap();
        let report = edgeplan_json(&[
            "solve",
            path,
            "--threads",
            "2",
            "--time-limit",
            limit,
            "--json",
        ]);
        assert_eq!(report["stats"]["primal_status"], "feasible", "{name}");
        let objective = report["stats"]["objective"].as_f64().unwrap();
        let evaluated = common::evaluate_report(dir.path(), path, &report);
        let key = if problem == "cache" {
            "hit_ratio"
        } else {
            "objective"
        };
        let again = evaluated[key].as_f64().unwrap_or(f64::NAN);
        assert!(
            (again - objective).abs() <= 1e-9 * objective.abs().max(1.0),
            "{name}: {again} vs {objective}"
        );
        if problem == "green" {
            let one = edgeplan_json(&["solve", path, "--time-limit", limit, "--json"]);
            assert_eq!(report["stats"]["termination"], "optimal");
            assert_eq!(one["stats"]["termination"], "optimal");
            let single = one["stats"]["objective"].as_f64().unwrap();
            assert!(
                (single - objective).abs() <= 1e-6 * single,
                "{single} vs {objective}"
            );
        }
    }
}
