//! A profiled table overrides the roofline for the layers and phases it covers.

use edgeplan::problems::split::evaluate::evaluate;
use edgeplan::problems::split::SplitPlan;

mod common;

#[test]
fn profile_overrides_roofline() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let instance = |use_profile: bool| {
        common::split_instance(
            "gpt2",
            &common::instances().join("models"),
            Some(&profiles),
            &format!(
                "prompt_tokens = 64\ngenerate_tokens = 4\n[device]\ndevice = \"rpi5\"\n\
                 use_profile = {use_profile}\n"
            ),
        )
    };
    // Every layer of GPT-2 (14 rows): prefill of 32 and 128 tokens, decode at contexts 60, 70.
    let mut csv = String::from("layer,phase,tokens,latency_s,energy_j\n");
    for l in 0..14 {
        csv += &format!("{l},prefill,32,0.010,0.05\n{l},prefill,128,0.030,0.15\n");
        csv += &format!("{l},decode,60,0.002,\n{l},decode,70,0.003,\n");
    }
    std::fs::write(profiles.join("gpt2@rpi5.csv"), csv).unwrap();
    let with = dir.path().join("with.toml");
    let without = dir.path().join("without.toml");
    std::fs::write(&with, instance(true)).unwrap();
    std::fs::write(&without, instance(false)).unwrap();

    let p = edgeplan::instance::split::load(&with).unwrap();
    assert!(p.tiers[0].as_ref().unwrap().profile.is_some());
    let plan = SplitPlan::from_cuts(14, 14, 14);
    let ev = evaluate(&p, &plan).unwrap();
    // Prefill at 64 tokens interpolates 0.010 -> 0.030 between 32 and 128: 0.01 + 0.02 * 32/96.
    let prefill = 0.01 + 0.02 * 32.0 / 96.0;
    // Decode at contexts 64..67 interpolates 0.002 + 0.0001 * (ctx - 60).
    let decode: f64 = (64..68).map(|c| 0.002 + 0.0001 * (c - 60) as f64).sum();
    let expected = 14.0 * (prefill + decode);
    assert!(
        (ev.compute_s[0] - expected).abs() < 1e-12,
        "{} vs {expected}",
        ev.compute_s[0]
    );
    // Measured energy wins for prefill; decode rows without energy use busy power x latency.
    let busy = p.tiers[0].as_ref().unwrap().device.power_busy_w;
    let energy = 14.0 * (0.05 + 0.10 * 32.0 / 96.0 + busy * decode);
    assert!(
        (ev.energy_compute_j - energy).abs() < 1e-9,
        "{} vs {energy}",
        ev.energy_compute_j
    );

    let roofline = edgeplan::instance::split::load(&without).unwrap();
    assert!(roofline.tiers[0].as_ref().unwrap().profile.is_none());
    let ev2 = evaluate(&roofline, &plan).unwrap();
    assert!((ev2.compute_s[0] - expected).abs() > 1e-6);
}
