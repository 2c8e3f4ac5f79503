//! The cost model v2: runtimes fitted to published measurements (`costs::fit`), the shipped table
//! and its held-out accuracy, and instances that name a runtime.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{edgeplan_json, expect_bad, variant};
use edgeplan::costs::fit::{check, fit, Priors};
use edgeplan::costs::runtime::{runtime_info, RuntimeRow, RuntimeTable};
use edgeplan::costs::validate::{
    cost_tables, load_measurements, median_abs, predict, Measurement, Model,
};
use edgeplan::costs::{DeviceCatalog, Dtype, Phase};

fn instances() -> PathBuf {
    common::instances()
}

/// The shipped data meet the bar out of sample: leave-one-source-out median |error| at
/// most 12% overall, 20% in prefill and 25% in every runtime class, on at least 100 rows from 8
/// runtimes and 8 devices, each row with its source and cell.
#[test]
fn shipped_measurements_meet_the_held_out_targets() {
    let catalog = DeviceCatalog::load(&instances().join("devices.csv")).unwrap();
    let rows = load_measurements(&instances().join("measurements.csv")).unwrap();
    assert!(rows.len() >= 100, "{} rows", rows.len());
    let runtimes: BTreeSet<&str> = rows.iter().map(|m| m.runtime.as_str()).collect();
    let devices: BTreeSet<&str> = rows.iter().map(|m| m.device.as_str()).collect();
    assert!(runtimes.len() >= 8, "{runtimes:?}");
    assert!(devices.len() >= 8, "{devices:?}");
    for m in &rows {
        assert!(
            m.source.starts_with("http") && !m.cell.is_empty(),
            "line {}: source and cell are required",
            m.line
        );
    }
    let tables = cost_tables(&rows, &instances().join("models")).unwrap();
    let (checks, _) = check(&rows, &tables, &catalog, &Priors::default()).unwrap();
    let held = |pick: &dyn Fn(&Measurement) -> bool| {
        median_abs(
            checks
                .iter()
                .filter(|c| pick(&c.measurement))
                .map(|c| c.errors().2),
        )
        .unwrap()
    };
    let all = held(&|_| true);
    let prefill = held(&|m| m.phase == Phase::Prefill);
    assert!(all <= 0.12, "held-out median |error| {all}");
    assert!(prefill <= 0.20, "held-out prefill median |error| {prefill}");
    let classes: BTreeSet<&str> = rows
        .iter()
        .map(|m| runtime_info(&m.runtime).unwrap().class)
        .collect();
    for class in classes {
        let e = held(&|m| runtime_info(&m.runtime).unwrap().class == class);
        assert!(e <= 0.25, "class {class}: held-out median |error| {e}");
    }
    // And v2 beats v1 (the device rows alone) out of sample.
    let v1 = median_abs(checks.iter().map(|c| c.errors().0)).unwrap();
    assert!(all < v1, "v2 held out {all} vs v1 {v1}");
    for c in &checks {
        for v in [c.v1, c.v2_in_sample, c.v2_held_out] {
            assert!(v.is_finite() && v > 0.0, "line {}", c.measurement.line);
        }
    }
}

fn key(r: &RuntimeRow) -> String {
    format!(
        "{:?}/{:?}/{:?}/{:?}/{:?}",
        r.runtime, r.device, r.unit, r.phase, r.dtype
    )
}

/// instances/runtimes.csv is what `costs --fit` makes of the shipped measurements (up to its
/// printed digits): the file cannot drift from the data.
#[test]
fn shipped_runtime_table_is_the_fit_of_the_shipped_measurements() {
    let catalog = DeviceCatalog::load(&instances().join("devices.csv")).unwrap();
    let rows = load_measurements(&instances().join("measurements.csv")).unwrap();
    let tables = cost_tables(&rows, &instances().join("models")).unwrap();
    let all: Vec<&Measurement> = rows.iter().collect();
    let fitted = fit(&all, &tables, &catalog, &Priors::default())
        .unwrap()
        .table;
    let shipped = RuntimeTable::load(&instances().join("runtimes.csv")).unwrap();
    assert_eq!(shipped.rows.len(), fitted.rows.len());
    let close = |a: f64, b: f64| {
        (a - b).abs() <= 1e-3 * b.abs().max(1e-12) + 5e-5 * (b.abs() >= 1e-3) as u8 as f64
    };
    for (s, f) in shipped.rows.iter().zip(&fitted.rows) {
        assert_eq!(key(s), key(f));
        for (a, b) in [
            (s.compute_scale, f.compute_scale),
            (s.memory_scale, f.memory_scale),
            (s.layer_overhead_s, f.layer_overhead_s),
            (s.call_overhead_s, f.call_overhead_s),
            (s.attention_factor, f.attention_factor),
        ] {
            assert!(close(a, b), "{}: shipped {a} vs fitted {b}", key(s));
        }
    }
}

/// Measurements generated from a known runtime table are fitted back: the fitted table predicts
/// them, and rows it did not see, within 2%.
#[test]
fn fit_recovers_a_known_runtime() {
    let mut catalog = DeviceCatalog::load(&instances().join("devices.csv")).unwrap();
    let truth = RuntimeTable {
        rows: vec![
            RuntimeRow {
                runtime: Some("vllm".into()),
                device: None,
                unit: None,
                phase: Some(Phase::Prefill),
                dtype: None,
                compute_scale: 0.8,
                memory_scale: 1.2,
                layer_overhead_s: 3e-5,
                call_overhead_s: 4e-3,
                attention_factor: 1.6,
                source: String::new(),
            },
            RuntimeRow {
                runtime: Some("vllm".into()),
                device: None,
                unit: None,
                phase: Some(Phase::Decode),
                dtype: None,
                compute_scale: 0.8,
                memory_scale: 1.2,
                layer_overhead_s: 3e-5,
                call_overhead_s: 2e-4,
                attention_factor: 1.6,
                source: String::new(),
            },
        ],
    };
    catalog.runtimes = truth;
    let mut rows = Vec::new();
    let shapes = [
        ("tinyllama-1.1b", Dtype::Fp16, Phase::Decode, 0, 128),
        ("llama-3.2-1b", Dtype::Fp16, Phase::Decode, 1024, 256),
        ("llama-2-7b", Dtype::Fp16, Phase::Decode, 0, 128),
        ("llama-3-8b", Dtype::Int8, Phase::Decode, 512, 128),
        ("qwen2.5-0.5b", Dtype::Fp16, Phase::Prefill, 0, 64),
        ("llama-2-7b", Dtype::Fp16, Phase::Prefill, 0, 512),
        ("llama-3-8b", Dtype::Fp16, Phase::Prefill, 0, 4096),
        ("llama-3.2-3b", Dtype::Fp16, Phase::Prefill, 0, 2048),
        ("llama-2-13b", Dtype::Fp16, Phase::Decode, 0, 64),
        ("llama-3.2-1b", Dtype::Fp16, Phase::Prefill, 0, 8192),
    ];
    let models = instances().join("models");
    for (i, (model, dtype, phase, context, tokens)) in shapes.iter().enumerate() {
        for device in ["a100-80gb-sxm", "rtx-4090"] {
            rows.push(Measurement {
                model: model.to_string(),
                dtype: *dtype,
                quant: String::new(),
                device: device.into(),
                unit: None,
                runtime: "vllm".into(),
                phase: *phase,
                context: *context,
                tokens: *tokens,
                tokens_per_s: 1.0,
                source: format!("https://example.org/{i}"),
                cell: "synthetic".into(),
                variant: String::new(),
                line: i as u64 + 2,
                path: PathBuf::from("synthetic.csv"),
            });
        }
    }
    let tables = cost_tables(&rows, &models).unwrap();
    for m in &mut rows {
        m.tokens_per_s =
            predict(m, &tables[&(m.model.clone(), m.dtype)], &catalog, Model::V2).unwrap();
    }
    let (seen, unseen): (Vec<_>, Vec<_>) = rows.iter().enumerate().partition(|(i, _)| i % 5 != 3);
    let seen: Vec<&Measurement> = seen.into_iter().map(|(_, m)| m).collect();
    let priors = Priors {
        row_sigma: 0.003,
        ..Priors::default()
    };
    catalog.runtimes = RuntimeTable::default();
    let fitted = fit(&seen, &tables, &catalog, &priors).unwrap();
    catalog.runtimes = fitted.table;
    for (_, m) in seen.iter().map(|m| (0, *m)).chain(unseen) {
        let p = predict(m, &tables[&(m.model.clone(), m.dtype)], &catalog, Model::V2).unwrap();
        let e = p / m.tokens_per_s - 1.0;
        assert!(
            e.abs() < 0.02,
            "{} {:?} {} tokens on {}: {:+.2}%",
            m.model,
            m.phase,
            m.tokens,
            m.device,
            100.0 * e
        );
    }
}

/// A split instance whose tiers name runtimes solves under the v2 model, and its plan's latency
/// differs from the v1 one; bad runtime or unit choices are exit-2 errors naming the field.
#[test]
fn instances_name_runtimes_per_tier() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = "instances/split/llama2-7b-jetson.toml";
    let v1 = edgeplan_json(&["solve", shipped, "--json"]);
    let path = variant(
        &dir.path().join("v2.toml"),
        shipped,
        &[
            (
                "device = \"jetson-orin-nano-8gb\"",
                "device = \"jetson-orin-nano-8gb\"\nruntime = \"mlc-llm\"",
            ),
            (
                "device = \"rtx-4090\"",
                "device = \"rtx-4090\"\nruntime = \"llama.cpp-cuda\"",
            ),
            (
                "device = \"a100-80gb-sxm\"",
                "device = \"a100-80gb-sxm\"\nruntime = \"tensorrt-llm\"",
            ),
        ],
    );
    let p = path.to_str().unwrap();
    let v2 = edgeplan_json(&["solve", p, "--json"]);
    let objective = |v: &serde_json::Value| v["stats"]["objective"].as_f64().unwrap();
    assert!(objective(&v2).is_finite() && objective(&v2) > 0.0);
    assert!(
        (objective(&v2) / objective(&v1) - 1.0).abs() > 1e-3,
        "v1 {} and v2 {} agree",
        objective(&v1),
        objective(&v2)
    );
    // The evaluator re-prices the v2 plan to the same objective.
    let evaluated = common::evaluate_report(dir.path(), p, &v2);
    let e = evaluated["objective"]
        .as_f64()
        .or_else(|| evaluated["evaluation"]["objective"].as_f64())
        .unwrap_or_else(|| panic!("no objective in {evaluated}"));
    assert!(
        (e / objective(&v2) - 1.0).abs() < 1e-6,
        "{e} vs {}",
        objective(&v2)
    );

    let bad = |edit: &str, expect: &str| {
        let path = variant(
            &dir.path().join("bad.toml"),
            shipped,
            &[("device = \"rtx-4090\"", edit)],
        );
        expect_bad(&["solve", path.to_str().unwrap()], expect);
    };
    bad("device = \"rtx-4090\"\nruntime = \"nope\"", "edge.runtime");
    bad(
        "device = \"rtx-4090\"\nruntime = \"nope\"",
        "known runtimes: llama.cpp-cuda",
    );
    bad(
        "device = \"rtx-4090\"\nruntime = \"qnn-genie\"",
        "has no npu unit",
    );
    bad("device = \"rtx-4090\"\nunit = \"tpu\"", "edge.unit");
}

/// Every runtime of the shipped table is a known one and every device row names a catalog
/// device; the table covers every runtime and device of the measurements.
#[test]
fn shipped_runtime_table_covers_the_measurements() {
    let catalog = DeviceCatalog::load(&instances().join("devices.csv")).unwrap();
    assert!(
        !catalog.runtimes.rows.is_empty(),
        "runtimes.csv is loaded beside devices.csv"
    );
    let rows = load_measurements(&instances().join("measurements.csv")).unwrap();
    let mut seen: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for m in &rows {
        seen.insert((m.runtime.as_str(), m.device.as_str()), true);
    }
    for (runtime, device) in seen.keys() {
        assert!(
            catalog
                .runtimes
                .rows
                .iter()
                .any(|r| r.runtime.as_deref() == Some(runtime)
                    && r.device.as_deref() == Some(device)),
            "no row for {runtime} on {device}"
        );
    }
}

/// The runtime each device gets in [`every_problem_prices_tiers_with_their_runtime`].
const RUNTIME_OF: [(&str, &str); 10] = [
    ("phone-sd8gen3", "executorch"),
    ("rpi5", "llama.cpp-cpu"),
    ("jetson-orin-nano-8gb", "mlc-llm"),
    ("jetson-agx-orin-64gb", "tensorrt-llm"),
    ("laptop-m2-pro", "llama.cpp-metal"),
    ("rtx-4090", "llama.cpp-cuda"),
    ("l4", "tensorrt-llm"),
    ("a100-80gb-sxm", "tensorrt-llm"),
    ("h100-sxm", "tensorrt-llm"),
    ("epyc-zen4-2vcpu", "llama.cpp-cpu"),
];

/// One shipped instance of every problem that prices layers, with a runtime on every tier,
/// node, server and user: it solves, its plan evaluates to the reported objective with no
/// violation, and (split, pipeline) the latency moves.
#[test]
fn every_problem_prices_tiers_with_their_runtime() {
    let dir = tempfile::tempdir().unwrap();
    for (shipped, moves) in [
        ("instances/split/llama2-7b-jetson.toml", true),
        ("instances/pipeline/chain-llama2-7b-jetson.toml", true),
        ("instances/alloc/alloc-5-users.toml", false),
        ("instances/cache/cache-small.toml", false),
        ("instances/collab/collab-4-users-brute.toml", false),
        ("instances/moe/mixtral-jetson-cache.toml", false),
    ] {
        let text = std::fs::read_to_string(common::root().join(shipped)).unwrap();
        let mut edits: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            let Some(device) = line
                .trim()
                .strip_prefix("device = \"")
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            let runtime = RUNTIME_OF
                .iter()
                .find(|(d, _)| *d == device)
                .unwrap_or_else(|| panic!("{shipped}: no runtime for {device}"))
                .1;
            let edit = (line.to_string(), format!("{line}\nruntime = \"{runtime}\""));
            if !edits.contains(&edit) {
                edits.push(edit);
            }
        }
        assert!(!edits.is_empty(), "{shipped}: no device lines");
        // Every line holding that text gets the runtime (replace all, not once).
        let mut v2 = text.clone();
        for (from, to) in &edits {
            v2 = v2.replace(&format!("{from}\n"), &format!("{to}\n"));
        }
        let staged = dir.path().join("staged.toml");
        std::fs::write(common::root().join(&staged), &v2).unwrap();
        let path = variant(&dir.path().join("v2.toml"), staged.to_str().unwrap(), &[]);
        let p = path.to_str().unwrap();
        let v1 = edgeplan_json(&["solve", shipped, "--json"]);
        let v2 = edgeplan_json(&["solve", p, "--json"]);
        let objective = |v: &serde_json::Value| v["stats"]["objective"].as_f64().unwrap();
        let evaluated = common::evaluate_report(dir.path(), p, &v2);
        // The evaluator's objective field (cache reports its hit ratio).
        let again = evaluated["objective"]
            .as_f64()
            .or_else(|| evaluated["hit_ratio"].as_f64())
            .unwrap_or_else(|| panic!("{shipped}: no objective in {evaluated}"));
        assert!(
            (again / objective(&v2) - 1.0).abs() < 1e-6,
            "{shipped}: evaluated {again} vs reported {}",
            objective(&v2)
        );
        assert_eq!(
            evaluated["violations"].as_array().unwrap().len(),
            0,
            "{shipped}"
        );
        if moves {
            assert!(
                (objective(&v2) / objective(&v1) - 1.0).abs() > 1e-3,
                "{shipped}: v1 {} and v2 {} agree",
                objective(&v1),
                objective(&v2)
            );
        }
    }
}
