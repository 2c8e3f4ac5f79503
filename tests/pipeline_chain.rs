//! Pipeline on a chain equals split: every shipped split instance (inference and fine-tuning),
//! and random variants of them, written as a pipeline over the chain device - edge - cloud
//! (`pipeline_of`), has the same `enumerate` optimum under the latency and the energy
//! objectives, within 1e-9 relative; or a strictly better one whose plan visits the tiers in an
//! order split cannot express (e.g. device -> cloud -> edge), which is checked. And the
//! evaluators agree: split's optimal plan, written as pipeline stages, gets the same latency and
//! device (source) energy from the pipeline evaluator.
//!
//! The mapping: tiers become nodes `device`, `edge`, `cloud` (same device row, memory and
//! profile use); the wireless link joins device and edge (up = device -> edge), the backhaul edge
//! and cloud; a one-way latency is half the round-trip time (split charges `rtt / 2` per
//! crossing); the wireless radio powers become `[radio]`; `embed_on_device` becomes
//! `embed_on_source`, `device_energy_budget_j` becomes `energy_budget_j` with the energy scope
//! `source`, pins and forbids name the tier's node. `min_device_layers` and `max_device_layers`
//! have no pipeline counterpart: instances that use them are skipped (and counted).

mod common;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;
use toml::Value;

use common::{data_path, edgeplan, json, write};

/// Relative tolerance of the comparisons.
const TOL: f64 = 1e-9;

const TIERS: [&str; 3] = ["device", "edge", "cloud"];

/// The pipeline file of a split file (`None` when it uses a rule pipeline lacks).
fn pipeline_of(split: &Value) -> Option<Value> {
    let t = split.as_table().unwrap();
    let mut p = toml::map::Map::new();
    let c = t
        .get("constraints")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    if c.contains_key("min_device_layers") || c.contains_key("max_device_layers") {
        return None;
    }
    assert!(
        t.contains_key("edge") || !t.contains_key("cloud"),
        "a split file with a cloud but no edge: extend the mapping"
    );
    let s = |v: &str| Value::String(v.into());
    p.insert("problem".into(), s("pipeline"));
    p.insert(
        "name".into(),
        s(&format!("{}-chain", t["name"].as_str().unwrap())),
    );
    p.insert("models_dir".into(), s(&data_path("models")));
    p.insert("devices".into(), s(&data_path("devices.csv")));
    p.insert("profiles_dir".into(), s(&data_path("profiles")));
    for key in ["model", "dtype", "workload"] {
        if let Some(v) = t.get(key) {
            p.insert(key.into(), v.clone());
        }
    }
    p.insert("source".into(), s("device"));
    let mut nodes = Vec::new();
    for tier in TIERS {
        if let Some(Value::Table(spec)) = t.get(tier) {
            let mut node = spec.clone();
            node.insert("name".into(), s(tier));
            nodes.push(Value::Table(node));
        }
    }
    p.insert("nodes".into(), Value::Array(nodes));
    let links = t["links"].as_table().unwrap();
    let mut out = Vec::new();
    for (key, a, b) in [
        ("wireless", "device", "edge"),
        ("backhaul", "edge", "cloud"),
    ] {
        let Some(Value::Table(l)) = links.get(key) else {
            continue;
        };
        if !t.contains_key(b) {
            continue;
        }
        let f = |k: &str| l[k].as_float().or(l[k].as_integer().map(|i| i as f64));
        let mut link = toml::map::Map::new();
        link.insert("a".into(), s(a));
        link.insert("b".into(), s(b));
        link.insert("a_to_b_bps".into(), Value::Float(f("uplink_bps").unwrap()));
        link.insert(
            "b_to_a_bps".into(),
            Value::Float(f("downlink_bps").unwrap()),
        );
        link.insert("latency_s".into(), Value::Float(f("rtt_s").unwrap() / 2.0));
        out.push(Value::Table(link));
        if key == "wireless" {
            let mut radio = toml::map::Map::new();
            for k in ["tx_power_w", "rx_power_w"] {
                if let Some(v) = l.get(k) {
                    radio.insert(k.into(), v.clone());
                }
            }
            p.insert("radio".into(), Value::Table(radio));
        }
    }
    p.insert("links".into(), Value::Array(out));
    let mut objective = t["objective"].as_table().unwrap().clone();
    objective.insert("energy_scope".into(), s("source"));
    p.insert("objective".into(), Value::Table(objective));
    let mut pc = toml::map::Map::new();
    for (from, to) in [
        ("deadline_s", "deadline_s"),
        ("device_energy_budget_j", "energy_budget_j"),
        ("embed_on_device", "embed_on_source"),
    ] {
        if let Some(v) = c.get(from) {
            pc.insert(to.into(), v.clone());
        }
    }
    for key in ["pin", "forbid"] {
        if let Some(Value::Array(list)) = c.get(key) {
            let mapped = list
                .iter()
                .map(|e| {
                    let mut e = e.as_table().unwrap().clone();
                    let tier = e.remove("tier").unwrap();
                    e.insert("node".into(), tier);
                    Value::Table(e)
                })
                .collect();
            pc.insert(key.into(), Value::Array(mapped));
        }
    }
    for key in c.keys() {
        assert!(
            [
                "deadline_s",
                "device_energy_budget_j",
                "embed_on_device",
                "pin",
                "forbid"
            ]
            .contains(&key.as_str()),
            "split constraint {key}: extend the mapping"
        );
    }
    p.insert("constraints".into(), Value::Table(pc));
    Some(Value::Table(p))
}

/// The split file `split` with absolute catalog paths and `kind` as its objective.
fn with_objective(split: &Value, kind: &str) -> Value {
    let mut t = split.as_table().unwrap().clone();
    let mut o = toml::map::Map::new();
    o.insert("kind".into(), Value::String(kind.into()));
    t.insert("objective".into(), Value::Table(o));
    for (key, name) in [
        ("models_dir", "models"),
        ("devices", "devices.csv"),
        ("profiles_dir", "profiles"),
    ] {
        t.insert(key.into(), Value::String(data_path(name)));
    }
    Value::Table(t)
}

/// `solve FILE --solver enumerate --json`: the report (exit 0 or 1).
fn solve(path: &Path) -> Json {
    let p = path.to_str().unwrap();
    let args = ["solve", p, "--solver", "enumerate", "--json"];
    let out = edgeplan(&args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out, args)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1e-12)
}

/// Whether a sequence of tiers is one split can express: a subsequence of device, edge, cloud.
fn split_order(tiers: &[&str]) -> bool {
    let rank: Vec<usize> = tiers
        .iter()
        .map(|t| TIERS.iter().position(|x| x == t).unwrap())
        .collect();
    rank.windows(2).all(|w| w[0] < w[1])
}

/// Compares split and pipeline on `split` (already carrying the objective); `what` names it.
/// Returns whether split found a plan and whether pipeline was strictly better.
fn compare(dir: &Path, what: &str, split: &Value) -> (bool, bool) {
    let Some(pipe) = pipeline_of(split) else {
        return (false, false);
    };
    let split_path = write(dir, "split.toml", toml::to_string(split).unwrap());
    let pipe_path = write(dir, "pipeline.toml", toml::to_string(&pipe).unwrap());
    let s = solve(&split_path);
    let p = solve(&pipe_path);
    let (so, po) = (
        s["stats"]["objective"].as_f64(),
        p["stats"]["objective"].as_f64(),
    );
    let mut better = false;
    match (so, po) {
        (None, None) => {}
        (Some(a), Some(b)) if close(a, b) => {}
        (_, Some(b)) if so.is_none_or(|a| b < a) => {
            let tiers: Vec<&str> = p["plan"]["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|st| {
                    let node = st["node"].as_u64().unwrap() as usize;
                    let name = pipe["nodes"][node]["name"].as_str().unwrap();
                    TIERS.iter().find(|t| **t == name).copied().unwrap()
                })
                .collect();
            assert!(
                !split_order(&tiers),
                "{what}: pipeline {b} beats split {so:?} with a tier order split can express: \
                 {tiers:?}"
            );
            better = true;
        }
        _ => panic!("{what}: split {so:?} vs pipeline {po:?}"),
    }
    // The evaluators agree on split's plan written as stages.
    if let (Some(assignment), Some(_)) = (s["plan"]["assignment"].as_array(), so) {
        let mut stages: Vec<Json> = Vec::new();
        for (l, tier) in assignment.iter().enumerate() {
            let tier = tier.as_str().unwrap();
            match stages.last_mut() {
                Some(last) if last["node"] == tier => last["end"] = Json::from(l + 1),
                _ => stages.push(serde_json::json!({"node": tier, "start": l, "end": l + 1})),
            }
        }
        let plan = write(
            dir,
            "plan.json",
            serde_json::json!({ "stages": stages }).to_string(),
        );
        let args = [
            "evaluate",
            pipe_path.to_str().unwrap(),
            plan.to_str().unwrap(),
            "--json",
        ];
        let out = edgeplan(&args);
        let ev = json(&out, args);
        let se = &s["evaluation"];
        for (pk, sk) in [("latency_s", "latency_s"), ("source_energy_j", "energy_j")] {
            let (a, b) = (ev[pk].as_f64().unwrap(), se[sk].as_f64().unwrap());
            assert!(close(a, b), "{what}: pipeline {pk} {a} vs split {sk} {b}");
        }
        assert_eq!(
            ev["violations"].as_array().unwrap().is_empty(),
            se["violations"].as_array().unwrap().is_empty(),
            "{what}: feasibility of split's plan"
        );
    }
    (so.is_some(), better)
}

fn shipped_split() -> Vec<PathBuf> {
    common::shipped_files("split", &["toml"])
}

fn read(path: &Path) -> Value {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn shipped_split_instances_as_chains_have_the_same_optimum() {
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut skipped, mut solved) = (0, 0, 0);
    for path in shipped_split() {
        let split = read(&path);
        for kind in ["latency", "energy"] {
            let what = format!("{} ({kind})", path.display());
            let variant = with_objective(&split, kind);
            if pipeline_of(&variant).is_none() {
                skipped += 1;
                continue;
            }
            let (feasible, _) = compare(dir.path(), &what, &variant);
            compared += 1;
            solved += usize::from(feasible);
        }
    }
    // Two shipped files use min_device_layers.
    assert!(compared >= 14, "compared {compared}, skipped {skipped}");
    assert_eq!(skipped, 4);
    assert!(solved >= 12, "only {solved} feasible");
}

/// Random variants of the shipped instances: rates, round-trip times, memory, token counts and
/// deadlines drawn from a seeded generator (and min/max_device_layers dropped).
#[test]
fn random_chains_have_the_same_optimum() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let files = shipped_split();
    let (mut better, mut solved) = (0, 0);
    for round in 0..12 {
        let path = &files[rng.gen_range(0..files.len())];
        let mut t = read(path).as_table().unwrap().clone();
        if let Some(Value::Table(c)) = t.get_mut("constraints") {
            c.remove("min_device_layers");
            c.remove("max_device_layers");
            c.remove("deadline_s");
            if rng.gen_bool(0.3) {
                c.insert("deadline_s".into(), Value::Float(rng.gen_range(1.0..60.0)));
            }
        }
        if let Some(Value::Table(links)) = t.get_mut("links") {
            for (_, l) in links.iter_mut() {
                let l = l.as_table_mut().unwrap();
                l.insert(
                    "uplink_bps".into(),
                    Value::Float(10f64.powf(rng.gen_range(6.0..9.5))),
                );
                l.insert(
                    "downlink_bps".into(),
                    Value::Float(10f64.powf(rng.gen_range(6.0..9.5))),
                );
                l.insert("rtt_s".into(), Value::Float(rng.gen_range(0.0..0.1)));
            }
        }
        for tier in TIERS {
            if let Some(Value::Table(spec)) = t.get_mut(tier) {
                if rng.gen_bool(0.5) {
                    spec.insert(
                        "memory_bytes".into(),
                        Value::Float(rng.gen_range(0.5e9..16e9)),
                    );
                }
            }
        }
        if let Some(Value::Table(w)) = t.get_mut("workload") {
            if w.contains_key("prompt_tokens") {
                w.insert(
                    "prompt_tokens".into(),
                    Value::Integer(rng.gen_range(1..2048)),
                );
                w.insert(
                    "generate_tokens".into(),
                    Value::Integer(rng.gen_range(0..256)),
                );
            }
        }
        let split = Value::Table(t);
        for kind in ["latency", "energy"] {
            let what = format!("round {round}: {} ({kind})", path.display());
            let (feasible, b) = compare(dir.path(), &what, &with_objective(&split, kind));
            better += usize::from(b);
            solved += usize::from(feasible);
        }
    }
    assert!(solved >= 12, "only {solved} of 24 feasible");
    eprintln!(
        "pipeline strictly better (a tier order split lacks) in {better} of 24, {solved} feasible"
    );
}

/// The order check used above: split expresses exactly the increasing tier orders.
#[test]
fn split_orders_are_the_increasing_ones() {
    assert!(split_order(&["device", "edge", "cloud"]));
    assert!(split_order(&["edge", "cloud"]));
    assert!(split_order(&["device", "cloud"]));
    assert!(!split_order(&["device", "cloud", "edge"]));
    assert!(!split_order(&["edge", "device"]));
}
