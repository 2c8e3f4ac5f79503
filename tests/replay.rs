//! Split and pipeline plans executed for real (`edgeplan::replay`): tiers, or stages and relays,
//! as threads running a real transformer, hidden states over loopback TCP through the link
//! emulator. A run must compute exactly what the unsplit model computes (the same tokens), and
//! the bytes crossing each cut or transfer must be the planner's. (How close the measured
//! latency comes to the prediction is a benchmark, `benches/replay.rs`, not a test.)

use std::path::Path;

use edgeplan::problems::pipeline::{PipelinePlan, Routes, Stage};
use edgeplan::problems::split::SplitPlan;
use edgeplan::replay::{instance_architecture, replay, replay_pipeline, ReplayOptions};

mod common;

/// A tiny Llama-style model (GQA, RoPE, SwiGLU) and a split instance around it with all three
/// tiers and fast links.
fn tiny_instance(dir: &Path, mlp: &str, norm: &str, positions: usize) -> std::path::PathBuf {
    let extra = format!("position_embeddings = {positions}\nqkv_bias = true\n");
    common::write_tiny_instance(
        dir,
        "tiny.toml",
        &common::tiny_model(mlp, norm, &extra),
        Some(&dir.join("profiles")),
        r#"prompt_tokens = 12
generate_tokens = 5
[device]
device = "rpi5"
[edge]
device = "rtx-4090"
[cloud]
device = "a100-80gb-sxm"
[links.wireless]
uplink_bps = 1e9
downlink_bps = 1e9
rtt_s = 0.001
tx_power_w = 1.0
rx_power_w = 0.5
[links.backhaul]
uplink_bps = 1e9
downlink_bps = 1e9
rtt_s = 0.001
"#,
    )
}

/// Every contiguous cut pair of a 6-row model (embed, 4 blocks, head), including all on one
/// tier, a device | cloud plan relayed through an empty edge, and a cut just before the head:
/// the device receives the same 6 tokens as the unsplit model generates, and each cut carries
/// the planner's bytes (prefill: 12 token ids or 12 x 64 fp32 values, 1 row before the head;
/// decode: 1 row).
#[test]
fn split_runs_compute_what_the_whole_model_computes() {
    for (mlp, norm, positions) in [("swiglu", "rmsnorm", 0), ("gelu", "layernorm", 64)] {
        let dir = tempfile::tempdir().unwrap();
        let path = tiny_instance(dir.path(), mlp, norm, positions);
        let problem = edgeplan::instance::split::load(&path).unwrap();
        let arch = instance_architecture(&path).unwrap().architecture;
        let n = problem.layers();
        assert_eq!(n, 6);
        let options = ReplayOptions {
            threads: 2,
            seed: 3,
        };
        let whole = replay(&problem, &arch, &SplitPlan::from_cuts(n, n, n), &options).unwrap();
        assert_eq!(whole.tokens.len(), 6);
        assert!(whole.cuts_traffic.is_empty());
        let mut plans = 0;
        for c1 in 0..=n {
            for c2 in c1..=n {
                let plan = SplitPlan::from_cuts(n, c1, c2);
                let r = replay(&problem, &arch, &plan, &options).unwrap();
                assert_eq!(r.tokens, whole.tokens, "{mlp}: cuts {c1}, {c2}");
                let boundaries = (1..n)
                    .filter(|&l| plan.assignment[l] != plan.assignment[l - 1])
                    .count();
                assert_eq!(r.cuts_traffic.len(), boundaries, "{c1} {c2}");
                for cut in &r.cuts_traffic {
                    assert_eq!(
                        cut.bytes_prefill as f64, cut.predicted_bytes_prefill,
                        "{c1} {c2}"
                    );
                    assert_eq!(
                        Some(cut.bytes_per_decode_step as f64),
                        cut.predicted_bytes_per_decode_step,
                        "{c1} {c2}"
                    );
                    let expected_prefill = match cut.after_layer + 1 {
                        0 => unreachable!(),
                        l if l == n - 1 => 64 * 4,
                        _ => 12 * 64 * 4,
                    };
                    assert_eq!(cut.bytes_prefill, expected_prefill, "{c1} {c2}");
                }
                plans += 1;
            }
        }
        assert_eq!(plans, 28);
    }
}

/// The device-only tier of `all-edge` sends the prompt's token ids: 12 x 4 bytes up, then one
/// id per decode step; a relayed device | cloud plan crosses both emulated links.
#[test]
fn token_ids_and_relays_cross_the_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_instance(dir.path(), "swiglu", "rmsnorm", 0);
    let problem = edgeplan::instance::split::load(&path).unwrap();
    let arch = instance_architecture(&path).unwrap().architecture;
    let options = ReplayOptions::default();
    let all_edge = replay(&problem, &arch, &SplitPlan::from_cuts(6, 0, 6), &options).unwrap();
    assert_eq!(all_edge.cuts_traffic.len(), 0, "no layer boundary is cut");
    assert_eq!(all_edge.links.len(), 1);
    // 6 messages up (prompt + 5 decode inputs), 6 tokens down.
    assert_eq!(all_edge.links[0].messages_up, 6);
    assert_eq!(all_edge.links[0].messages_down, 6);
    let relayed = replay(&problem, &arch, &SplitPlan::from_cuts(6, 3, 3), &options).unwrap();
    assert_eq!(relayed.links.len(), 2);
    assert_eq!(relayed.links[0].bytes_up, relayed.links[1].bytes_up);
    assert!(relayed.links[1].messages_up == 6 && relayed.links[0].messages_down == 6);
    // Each pass pays at least the two links' half round trips both ways.
    assert!(relayed.measured_s >= 6.0 * 4.0 * 0.0005);
}

/// Bad requests are refused with the reason.
#[test]
fn replay_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_instance(dir.path(), "swiglu", "rmsnorm", 0);
    let text = std::fs::read_to_string(&path).unwrap();
    let fp16 = dir.path().join("fp16.toml");
    std::fs::write(&fp16, text.replace("dtype = \"fp32\"", "dtype = \"fp16\"")).unwrap();
    let problem = edgeplan::instance::split::load(&fp16).unwrap();
    let arch = instance_architecture(&fp16).unwrap().architecture;
    let err = replay(
        &problem,
        &arch,
        &SplitPlan::from_cuts(6, 2, 6),
        &ReplayOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("fp32"), "{err}");
    let problem = edgeplan::instance::split::load(&path).unwrap();
    let mut plan = SplitPlan::from_cuts(6, 2, 4);
    plan.assignment.swap(0, 5);
    let err = replay(&problem, &arch, &plan, &ReplayOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("contiguous"), "{err}");
}

/// The tiny model of [`tiny_instance`] as a pipeline instance on five nodes: the source `src`
/// reaches the others only through `ap`, which relays only; `a`, `b` and `c` are joined by
/// fast links.
fn tiny_pipeline(dir: &Path) -> std::path::PathBuf {
    // Writes the model's config to dir/models (and the split instance dir/tiny.toml).
    tiny_instance(dir, "swiglu", "rmsnorm", 0);
    let node = |name: &str, extra: &str| {
        format!("[[nodes]]\nname = \"{name}\"\ndevice = \"rtx-4090\"\n{extra}\n")
    };
    let link = |a: &str, b: &str| {
        format!("[[links]]\na = \"{a}\"\nb = \"{b}\"\nbandwidth_bps = 1e9\nlatency_s = 0.0002\n")
    };
    let mut text = format!(
        "problem = \"pipeline\"\nmodel = \"tiny\"\ndtype = \"fp32\"\nsource = \"src\"\n\
         models_dir = \"{}\"\ndevices = \"{}\"\n[workload]\nmode = \"inference\"\n\
         prompt_tokens = 12\ngenerate_tokens = 5\n[radio]\ntx_power_w = 1.0\nrx_power_w = 0.5\n",
        dir.join("models").display(),
        common::data_path("devices.csv"),
    );
    text += &node("src", "");
    text += &node("ap", "available = false");
    for n in ["a", "b", "c"] {
        text += &node(n, "");
    }
    for (a, b) in [
        ("src", "ap"),
        ("ap", "a"),
        ("ap", "b"),
        ("a", "b"),
        ("b", "c"),
        ("a", "c"),
    ] {
        text += &link(a, b);
    }
    common::write(dir, "pipeline.toml", text)
}

/// A plan of `stages` `(node, start, end)` with the given routes (node names).
fn pipeline_plan(
    problem: &edgeplan::problems::pipeline::PipelineProblem,
    stages: &[(&str, usize, usize)],
    input: &[&str],
    forward: &[&[&str]],
    output: &[&str],
) -> PipelinePlan {
    let at = |name: &str| problem.node_index(name).unwrap();
    let path = |r: &[&str]| r.iter().map(|&v| at(v)).collect::<Vec<_>>();
    PipelinePlan {
        stages: stages
            .iter()
            .map(|&(node, start, end)| Stage {
                node: at(node),
                start,
                end,
            })
            .collect(),
        routes: Routes {
            input: path(input),
            forward: forward.iter().map(|r| path(r)).collect(),
            backward: Vec::new(),
            output: path(output),
        },
    }
}

/// Pipelines of 1 to 4 stages over the 6-row tiny model, with relays on multi-hop routes: the
/// first stage on the source or two hops away (token ids cross), a cut just before the head
/// (one prefill row crosses), the last stage on the source (the token stays there), a route
/// relayed by a node that runs a stage, and the source's link used by both the input and the
/// output route. Every run returns the unsplit model's 6 tokens; every transfer carries the
/// planner's bytes in prefill and per decode step; every hop of a route is an emulated link of
/// its own that carried the same messages, one per pass; and the stages' and
/// transfers' predictions add up to the evaluator's latency.
#[test]
fn pipeline_runs_compute_what_the_whole_model_computes() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_pipeline(dir.path());
    let problem = edgeplan::instance::pipeline::load(&path).unwrap();
    let arch = instance_architecture(&path).unwrap().architecture;
    assert_eq!(problem.layers(), 6);
    let options = ReplayOptions {
        threads: 2,
        seed: 3,
    };
    let split = edgeplan::instance::split::load(&dir.path().join("tiny.toml")).unwrap();
    let unsplit = replay(&split, &arch, &SplitPlan::from_cuts(6, 6, 6), &options).unwrap();
    assert_eq!(unsplit.tokens.len(), 6);
    type Case<'a> = (
        &'a [(&'a str, usize, usize)],
        &'a [&'a str],
        &'a [&'a [&'a str]],
        &'a [&'a str],
    );
    let cases: [Case; 6] = [
        (&[("src", 0, 6)], &["src"], &[], &["src"]),
        (
            &[("a", 0, 6)],
            &["src", "ap", "a"],
            &[],
            &["a", "ap", "src"],
        ),
        (
            &[("src", 0, 2), ("a", 2, 4), ("b", 4, 5), ("c", 5, 6)],
            &["src"],
            &[&["src", "ap", "a"], &["a", "b"], &["b", "c"]],
            &["c", "b", "ap", "src"],
        ),
        (
            &[("a", 0, 3), ("b", 3, 5), ("c", 5, 6)],
            &["src", "ap", "a"],
            &[&["a", "ap", "b"], &["b", "a", "c"]],
            &["c", "b", "ap", "src"],
        ),
        (
            &[("a", 0, 2), ("b", 2, 4), ("src", 4, 6)],
            &["src", "ap", "a"],
            &[&["a", "b"], &["b", "ap", "src"]],
            &["src"],
        ),
        (
            &[("b", 0, 1), ("a", 1, 4), ("c", 4, 6)],
            &["src", "ap", "b"],
            &[&["b", "ap", "a"], &["a", "c"]],
            &["c", "a", "ap", "src"],
        ),
    ];
    let mut relayed = 0;
    for (stages, input, forward, output) in cases {
        let plan = pipeline_plan(&problem, stages, input, forward, output);
        let r = replay_pipeline(&problem, &arch, &plan, &options).unwrap();
        let label = format!("{stages:?}");
        assert_eq!(r.tokens, unsplit.tokens, "{label}");
        assert_eq!(r.stages.len(), stages.len(), "{label}");
        assert_eq!(r.transfers.len(), stages.len() + 1, "{label}");
        let mut predicted = r.stages.iter().map(|s| s.predicted_compute_s).sum::<f64>();
        for t in &r.transfers {
            let what = format!("{label}: {}", t.what);
            predicted += t.predicted_s;
            assert_eq!(t.bytes_prefill as f64, t.predicted_bytes_prefill, "{what}");
            assert_eq!(
                Some(t.bytes_per_decode_step as f64),
                t.predicted_bytes_per_decode_step,
                "{what}"
            );
            let expected_prefill = match t.what.as_str() {
                _ if t.hops.is_empty() => 0,
                "input" => 12 * 4,
                "output" => 4,
                // Hidden states: 12 rows of 64 fp32 values, 1 row before the head.
                _ if t.route.last().map(String::as_str) == Some(stages.last().unwrap().0)
                    && stages.last().unwrap().1 == 5 =>
                {
                    64 * 4
                }
                _ => 12 * 64 * 4,
            };
            assert_eq!(t.bytes_prefill, expected_prefill, "{what}");
            // A route of one node is a hop within it, except where the ring starts or ends at
            // the source with nothing to send (a first stage on the source, or its only stage).
            let hops = match t.route.len() {
                1 if t.what == "input" || stages.len() == 1 => 0,
                1 => 1,
                len => len - 1,
            };
            assert_eq!(t.hops.len(), hops, "{what}");
            // The links count whole messages: the payload and a tag and shape of 1 to 9 bytes.
            let total = t.bytes_prefill + 5 * t.bytes_per_decode_step;
            for h in &t.hops {
                assert_eq!(h.stats, t.hops[0].stats, "{what}");
                assert_eq!(h.stats.messages_up, 6, "{what}");
                assert!((6..=6 * 9).contains(&(h.stats.bytes_up - total)), "{what}");
                assert_eq!(h.stats.messages_down, 0, "{what}");
            }
            relayed += t.hops.len().saturating_sub(1);
        }
        assert!(
            (predicted - r.predicted_s).abs() <= 1e-9 * r.predicted_s,
            "{label}: stages and transfers {predicted} s, evaluator {} s",
            r.predicted_s
        );
        assert!(r.measured_s > 0.0 && r.prefill_s > 0.0, "{label}");
    }
    // Relays: the multi-hop routes have 2 + 3 + 5 + 2 + 4 intermediate nodes.
    assert_eq!(relayed, 16);
}

/// `edgeplan replay` dispatches on the instance's problem: a pipeline instance with a plan of
/// stages (routed by the instance's rule) prints the measured and predicted time per stage and
/// transfer, or the report as JSON; a problem the replay cannot run is refused.
#[test]
fn replay_cli_runs_a_pipeline_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_pipeline(dir.path());
    let plan = common::write(
        dir.path(),
        "plan.json",
        r#"{"stages": [{"node": "src", "start": 0, "end": 2}, {"node": "c", "start": 2, "end": 4},
            {"node": "b", "start": 4, "end": 6}]}"#,
    );
    let (instance, plan) = (path.to_str().unwrap(), plan.to_str().unwrap());
    let report = common::edgeplan_json(&["replay", instance, plan, "--json", "--threads", "1"]);
    assert_eq!(report["stages"].as_array().unwrap().len(), 3);
    assert_eq!(report["tokens"].as_array().unwrap().len(), 6);
    // src -> c goes through ap and a or b: a relayed route.
    let forward = &report["transfers"][1];
    assert_eq!(forward["route"][1], "ap", "{forward}");
    assert_eq!(forward["hops"].as_array().unwrap().len(), 3, "{forward}");
    let out = common::edgeplan_ok(&["replay", instance, plan, "--threads", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 stages: 0..2 src | 2..4 c | 4..6 b"),
        "{text}"
    );
    assert!(text.contains("hop ap -> "), "{text}");
    let green = common::write(dir.path(), "green.toml", "problem = \"green\"\n");
    let out = common::edgeplan(&["replay", green.to_str().unwrap(), plan]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("split and pipeline"));
}
