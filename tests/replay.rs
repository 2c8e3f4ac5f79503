//! A split plan executed for real (`edgeplan::replay`): tiers as threads running a real
//! transformer, hidden states over loopback TCP through the link emulator. The split run must
//! compute exactly what the unsplit model computes (the same tokens), and the bytes crossing
//! each cut must be the planner's. (How close the measured latency comes to the prediction is a
//! benchmark, `benches/replay.rs`, not a test.)

use std::path::Path;

use edgeplan::problems::split::SplitPlan;
use edgeplan::replay::{instance_architecture, replay, ReplayOptions};

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
