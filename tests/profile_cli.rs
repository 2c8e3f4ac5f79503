//! `edgeplan profile`, `calibrate` and `replay` from the command line, on a tiny model so that
//! they run in a second; and the shipped profiled tables.

use std::path::Path;

mod common;

use common::{edgeplan, edgeplan_ok, expect_bad, root};

/// A tiny Llama-style model config and a split instance over it.
fn tiny(dir: &Path) -> (String, String) {
    let text = common::tiny_model("swiglu", "rmsnorm", "");
    let model = common::write(dir, "tiny.toml", &text);
    let instance = common::write_tiny_instance(
        dir,
        "split.toml",
        &text,
        None,
        "prompt_tokens = 8\ngenerate_tokens = 3\n[device]\ndevice = \"rpi5\"\n[edge]\n\
         device = \"l4\"\n[links.wireless]\nuplink_bps = 1e8\ndownlink_bps = 1e8\n\
         rtt_s = 0.002\ntx_power_w = 1.0\nrx_power_w = 0.5\n",
    );
    (model.display().to_string(), instance.display().to_string())
}

/// The profiler writes a table the planner loads: every row of the model (embed, 4 blocks,
/// head) at prefill 2 and 8 tokens and decode at contexts 8, 10 and 12, with positive medians
/// inside their min-max spread, headed by the CPU's name; calibrate reads it back.
#[test]
fn profile_writes_a_table_the_planner_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = tiny(dir.path());
    let out = dir.path().join("tiny@test-cpu.csv");
    edgeplan_ok(&[
        "profile",
        "--model",
        &model,
        "--device",
        "rpi5",
        "--prompt",
        "8",
        "--decode",
        "4",
        "--reps",
        "3",
        "--threads",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("# CPU: "), "{text}");
    let profile = edgeplan::costs::Profile::load(&out, 6).unwrap();
    assert_eq!(profile.curves(), 12, "6 layers x 2 phases");
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(&out)
        .unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 6 * 5);
    for r in &rows {
        let (median, min, max): (f64, f64, f64) = (
            r[3].parse().unwrap(),
            r[5].parse().unwrap(),
            r[6].parse().unwrap(),
        );
        assert!(median > 0.0 && min <= median && median <= max, "{r:?}");
        assert_eq!(&r[7], "3");
    }
    let tokens: Vec<&str> = rows
        .iter()
        .filter(|r| &r[0] == "2")
        .map(|r| &r[2])
        .collect();
    assert_eq!(tokens, ["2", "8", "8", "10", "12"]);
    let fit = edgeplan_ok(&[
        "calibrate",
        "--model",
        &model,
        "--device",
        "rpi5",
        "--profile",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&fit.stdout);
    assert!(
        text.contains("held-out rows") && text.contains("compute efficiency"),
        "{text}"
    );
}

/// `replay` runs a plan and prints measured against predicted latency and the bytes per cut.
#[test]
fn replay_prints_measured_and_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let (_, instance) = tiny(dir.path());
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, "{\"cuts\": [2, 6]}").unwrap();
    let out = edgeplan_ok(&["replay", &instance, plan.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("end-to-end: measured"), "{text}");
    // 8 prompt tokens x 64 fp32 values after layer 1, then one row per decode step.
    assert!(text.contains("prefill 2048 B (planner 2048)"), "{text}");
    assert!(
        text.contains("per decode step 256 B (planner 256)"),
        "{text}"
    );
    let json = edgeplan(&["replay", &instance, plan.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["tokens"].as_array().unwrap().len(), 4);
}

/// Bad input: an unknown model, a layer that does not exist, a plan of the wrong length.
#[test]
fn bad_profile_and_replay_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (model, instance) = tiny(dir.path());
    expect_bad(
        &["profile", "--model", "no-such-model", "--device", "x"],
        "no-such-model",
    );
    // (A note that the device is not in the catalog comes first: not one line.)
    let out = edgeplan(&[
        "profile",
        "--model",
        &model,
        "--device",
        "x",
        "--layers",
        "9",
        "-o",
        dir.path().join("x.csv").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("layer 9 does not exist"));
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, "{\"assignment\": [\"device\", \"edge\"]}").unwrap();
    let out = edgeplan(&["replay", &instance, plan.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped profiled tables: one per model on this machine kind, every layer in both phases,
/// labelled with the CPU and the command that reproduces them; each replay instance finds them
/// for all three tiers.
#[test]
fn shipped_profiles_are_complete_and_used() {
    for (model, layers) in [("gpt2", 14), ("qwen2.5-0.5b", 26), ("tinyllama-1.1b", 24)] {
        let path = root().join(format!("instances/profiles/{model}@epyc-zen4-2vcpu.csv"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# CPU: AMD EPYC"), "{model}");
        assert!(
            text.contains(&format!("edgeplan profile --model {model}")),
            "{model}"
        );
        let profile = edgeplan::costs::Profile::load(&path, layers).unwrap();
        assert_eq!(profile.curves(), 2 * layers, "{model}");
        let instance = root().join(format!("instances/split/replay-{model}-local.toml"));
        let problem = edgeplan::instance::split::load(&instance).unwrap();
        assert!(
            problem
                .tiers
                .iter()
                .all(|t| t.as_ref().unwrap().profile.is_some()),
            "{model}"
        );
    }
}
