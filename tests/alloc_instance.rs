//! Alloc instance files: the shipped instances load and are exactly the generator's output for
//! their parameters, a generated instance survives a round trip through TOML and JSON, and bad
//! files are refused with an error that names the field.

use std::path::{Path, PathBuf};

use edgeplan::error::Error;
use edgeplan::instance::alloc::generate::{generate, generate_spec, write_instance, GenParams};
use edgeplan::instance::alloc::{load, snr_linear, AllocInstanceFile};
use edgeplan::problems::alloc::{AllocObjective, AllocProblem};

mod common;

use common::{catalog, data_path, instances};

/// The shipped instances in `instances/alloc/` and the generator parameters of each. Single
/// servers are an L4 (24 GB) up to 20 users and an A100 80 GB beyond; the block counts are those
/// of LTE 5, 10 and 20 MHz carriers (25, 50, 100 blocks of 180 kHz) and of an NR 100 MHz carrier
/// at 30 kHz subcarrier spacing (273 blocks of 360 kHz).
fn shipped() -> Vec<(&'static str, GenParams)> {
    let base = GenParams::default();
    let single = |users, seed, server: &str, blocks, hz| GenParams {
        users,
        seed,
        server_device: server.into(),
        resource_blocks: blocks,
        rb_bandwidth_hz: hz,
        ..base.clone()
    };
    vec![
        ("alloc-5-users", single(5, 5, "l4", 25, 180e3)),
        (
            "alloc-10-users",
            GenParams {
                objective: AllocObjective::Sum,
                deadline_factor: Some(2.0),
                ..single(10, 10, "l4", 50, 180e3)
            },
        ),
        (
            "alloc-20-users",
            GenParams {
                finetune_fraction: 0.25,
                ..single(20, 20, "l4", 100, 180e3)
            },
        ),
        (
            "alloc-50-users",
            GenParams {
                objective: AllocObjective::WeightedSum,
                ..single(50, 50, "a100-80gb-sxm", 100, 180e3)
            },
        ),
        (
            "alloc-100-users",
            single(100, 100, "a100-80gb-sxm", 273, 360e3),
        ),
        (
            "alloc-200-users",
            GenParams {
                objective: AllocObjective::Sum,
                ..single(200, 200, "a100-80gb-sxm", 273, 360e3)
            },
        ),
        (
            "alloc-20-users-2-servers",
            GenParams {
                servers: 2,
                finetune_fraction: 0.25,
                ..single(20, 21, "l4", 50, 180e3)
            },
        ),
    ]
}

/// The text of a shipped instance as the generator writes it.
fn shipped_text(params: &GenParams) -> String {
    let file = generate_spec(params, &catalog(), &instances().join("models")).unwrap();
    write_instance(params, &file)
}

/// Rewrites the shipped instances from their parameters:
/// `cargo test --release --test alloc_instance -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_shipped_instances() {
    for (name, params) in shipped() {
        common::write_shipped("alloc", name, &shipped_text(&params));
    }
}

#[test]
fn every_shipped_instance_loads() {
    let files = common::shipped_files("alloc", &["toml"]);
    assert_eq!(files.len(), shipped().len());
    for path in files {
        let problem = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!problem.users.is_empty() && !problem.servers.is_empty());
        assert_eq!(
            problem.name,
            path.file_stem().unwrap().to_string_lossy(),
            "the name is the file stem"
        );
        for user in &problem.users {
            assert_eq!(user.snr_up.len(), problem.servers.len());
            assert!(user.snr_up.iter().chain(&user.snr_down).all(|s| *s > 0.0));
        }
    }
}

#[test]
fn shipped_instances_are_the_generator_output() {
    for (name, params) in shipped() {
        let path = common::assert_shipped_is("alloc", name, &shipped_text(&params));
        let problem = load(&path).unwrap();
        assert_eq!(problem.users.len(), params.users);
        assert_eq!(problem.servers.len(), params.servers);
        assert_eq!(problem.objective, params.objective);
    }
}

/// Same data, field by field; SNRs within 1e-12 relative.
fn assert_same(a: &AllocProblem, b: &AllocProblem) {
    assert_eq!(a.name, b.name);
    assert_eq!(a.description, b.description);
    assert_eq!(a.objective, b.objective);
    assert_eq!(a.servers.len(), b.servers.len());
    for (s, t) in a.servers.iter().zip(&b.servers) {
        assert_eq!(s.name, t.name);
        assert_eq!(s.device, t.device);
        assert_eq!(s.memory_bytes, t.memory_bytes);
        assert_eq!(s.resource_blocks, t.resource_blocks);
        assert_eq!(s.rb_bandwidth_hz, t.rb_bandwidth_hz);
        assert_eq!(s.rtt_s, t.rtt_s);
    }
    assert_eq!(a.users.len(), b.users.len());
    for (u, v) in a.users.iter().zip(&b.users) {
        assert_eq!(u.name, v.name);
        assert_eq!(u.model_key, v.model_key);
        assert_eq!(u.table, v.table);
        assert_eq!(u.workload, v.workload);
        assert_eq!(u.device.device, v.device.device);
        assert_eq!(u.device.memory_bytes, v.device.memory_bytes);
        assert_eq!(u.snr_up.len(), v.snr_up.len());
        assert_eq!(u.snr_down.len(), v.snr_down.len());
        let snrs = |u: &edgeplan::problems::alloc::User| {
            u.snr_up
                .iter()
                .chain(&u.snr_down)
                .copied()
                .collect::<Vec<f64>>()
        };
        for (x, y) in snrs(u).into_iter().zip(snrs(v)) {
            assert!((x - y).abs() <= 1e-12 * x.abs(), "{}: {x} vs {y}", u.name);
        }
        assert_eq!(u.deadline_s, v.deadline_s);
        assert_eq!(u.weight, v.weight);
        assert_eq!(u.rules, v.rules);
        assert_eq!(u.tx_power_w, v.tx_power_w);
        assert_eq!(u.rx_power_w, v.rx_power_w);
    }
}

/// Writes `file` into `dir` as `name` (TOML or JSON by extension) with absolute paths to the
/// shipped models and devices, so it loads from anywhere.
fn write_anywhere(dir: &Path, name: &str, file: &AllocInstanceFile) -> PathBuf {
    let mut file = file.clone();
    file.models_dir = Some(data_path("models"));
    file.devices = Some(data_path("devices.csv"));
    let path = dir.join(name);
    let text = if name.ends_with(".json") {
        serde_json::to_string_pretty(&file).unwrap()
    } else {
        file.to_toml()
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// Two servers, a mix of fine-tuning and inference, weights and deadlines: every field the
/// generator fills survives writing and reading back.
#[test]
fn generated_instance_round_trips_through_toml_and_json() {
    let params = GenParams {
        users: 12,
        servers: 2,
        seed: 7,
        finetune_fraction: 0.4,
        deadline_factor: Some(1.5),
        objective: AllocObjective::WeightedSum,
        ..GenParams::default()
    };
    let catalog = catalog();
    let models = instances().join("models");
    let direct = generate(&params, &catalog, &models).unwrap();
    let spec = generate_spec(&params, &catalog, &models).unwrap();
    assert_eq!(
        spec,
        generate_spec(&params, &catalog, &models).unwrap(),
        "seeded"
    );
    assert!(spec.users.iter().all(|u| u.deadline_s.is_some()));
    assert!(direct.users.iter().any(|u| u.weight != 1.0));

    let dir = tempfile::tempdir().unwrap();
    for name in ["generated.toml", "generated.json"] {
        let path = write_anywhere(dir.path(), name, &spec);
        assert_same(&direct, &load(&path).unwrap());
    }
    // The parsed file equals the written one.
    let text = write_instance(&params, &spec);
    let parsed: AllocInstanceFile = toml::from_str(&text).unwrap();
    assert_eq!(parsed, spec);
}

/// The channel of the generator: 23 dBm (uplink, in one block here) and 46 dBm over 100 blocks
/// (downlink) against the TR 36.814 macro-cell path loss and -174 dBm/Hz of thermal noise in one
/// 180 kHz block (-121.447 dBm) plus the receiver's noise figure (5 dB at the BS, 9 dB at the UE).
/// At 1 km without shadowing the path loss is 128.1 dB, so the uplink SNR is
/// 23 - 128.1 + 121.447 - 5 = 11.347 dB and the downlink 26 - 128.1 + 121.447 - 9 = 10.347 dB.
#[test]
fn channel_at_one_kilometre() {
    use edgeplan::costs::channel::snr_db;
    let (up, down) = snr_db(1000.0, 0.0, 180e3, 1.0, 100.0);
    let noise = -174.0 + 10.0 * 180e3f64.log10();
    assert!((up - (23.0 - 128.1 - noise - 5.0)).abs() < 1e-12);
    assert!((up - 11.347).abs() < 1e-3, "{up}");
    // 46 dBm over 100 blocks is 26 dBm per block, and the UE's noise figure is 4 dB worse.
    assert!((down - up - 3.0 + 4.0).abs() < 1e-12, "{down}");
    // Spreading the uplink over 10 blocks costs 10 dB per block.
    assert!((snr_db(1000.0, 0.0, 180e3, 10.0, 100.0).0 - up + 10.0).abs() < 1e-12);
    // Closer than 10 m counts as 10 m; 8 dB more shadowing is 8 dB less SNR.
    let at = |d: f64, x: f64| snr_db(d, x, 180e3, 1.0, 100.0);
    assert_eq!(at(1.0, 0.0), at(10.0, 0.0));
    assert!((at(800.0, 8.0).0 - at(800.0, 0.0).0 + 8.0).abs() < 1e-12);
    // Near the base station the SNR is capped where Shannon reaches 7.4063 bit/s/Hz.
    let cap = edgeplan::costs::channel::max_snr_db();
    assert!((cap - 22.27).abs() < 5e-3, "{cap}");
    assert_eq!(at(20.0, 0.0), (cap, cap));
    assert!(((1.0 + snr_linear(cap)).log2() - 7.4063).abs() < 1e-9);
    assert!((snr_linear(10.0) - 10.0).abs() < 1e-12);
}

#[test]
fn generator_parameters_are_validated() {
    let catalog = catalog();
    let models = instances().join("models");
    let bad = [
        GenParams {
            users: 0,
            ..GenParams::default()
        },
        GenParams {
            finetune_fraction: 1.5,
            ..GenParams::default()
        },
        GenParams {
            prompt_tokens: (100, 10),
            ..GenParams::default()
        },
        GenParams {
            models: vec![],
            ..GenParams::default()
        },
    ];
    for params in bad {
        let e = generate(&params, &catalog, &models).unwrap_err();
        assert!(matches!(e, Error::Option { .. }), "{e}");
    }
    // A name that does not exist is caught when the drawn file is checked.
    let e = generate(
        &GenParams {
            user_devices: vec!["no-such-phone".into()],
            ..GenParams::default()
        },
        &catalog,
        &models,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no-such-phone"), "{e}");
}

/// A valid two-user, one-server instance with absolute paths.
fn base_instance() -> String {
    format!(
        r#"problem = "alloc"
models_dir = "{models}"
devices = "{devices}"
objective = "sum"

[[servers]]
device = "l4"
resource_blocks = 50
rb_bandwidth_hz = 180e3
rtt_s = 0.01

[[users]]
device = "phone-sd8gen3"
model = "qwen2.5-0.5b"
dtype = "q4"
mode = "inference"
prompt_tokens = 128
generate_tokens = 16
snr_db = 12.0

[[users]]
device = "rpi5"
model = "gpt2-medium"
mode = "finetune"
batch_size = 2
seq_len = 128
snr_db = [5.0]
downlink_snr_db = 20.0
deadline_s = 30.0
"#,
        models = data_path("models"),
        devices = data_path("devices.csv"),
    )
}

fn load_text(text: &str) -> edgeplan::error::Result<AllocProblem> {
    let dir = tempfile::tempdir().unwrap();
    load(&common::write(dir.path(), "instance.toml", text))
}

#[test]
fn base_instance_loads_with_defaults() {
    let p = load_text(&base_instance()).unwrap();
    assert_eq!(p.name, "instance");
    assert_eq!(p.objective, AllocObjective::Sum);
    assert_eq!(p.servers[0].name, "bs-0");
    assert_eq!(p.servers[0].memory_bytes, 24e9, "the L4's memory");
    let (u0, u1) = (&p.users[0], &p.users[1]);
    assert_eq!((u0.name.as_str(), u1.name.as_str()), ("u0", "u1"));
    assert_eq!(u0.model_key, "qwen2.5-0.5b@q4");
    assert_eq!(u1.model_key, "gpt2-medium@fp16");
    assert!((u0.snr_up[0] - snr_linear(12.0)).abs() < 1e-12);
    assert_eq!(u0.snr_down, u0.snr_up, "downlink defaults to the uplink");
    assert!((u1.snr_down[0] - 100.0).abs() < 1e-9);
    assert_eq!(u0.tx_power_w, 0.2, "the phone's tx_power_w");
    assert_eq!(u1.tx_power_w, 0.2, "the Pi has none: 23 dBm");
    assert_eq!(u1.rx_power_w, 3.0, "the Pi's idle power");
    assert_eq!(u0.weight, 1.0);
    assert_eq!(u1.deadline_s, Some(30.0));
}

/// `text` with the first `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    let text = base_instance();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

fn field_error(text: &str) -> (String, String) {
    match load_text(text) {
        Err(e @ Error::Field { .. }) => {
            assert!(e.is_bad_input());
            let Error::Field { field, message, .. } = e else {
                unreachable!()
            };
            (field, message)
        }
        Err(e) => panic!("expected a field error, got {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn bad_inputs_name_the_field() {
    let cases = [
        (
            edit("resource_blocks = 50", "resource_blocks = -5"),
            "servers[0].resource_blocks",
        ),
        (
            edit("resource_blocks = 50", "resource_blocks = 0"),
            "servers[0].resource_blocks",
        ),
        (edit("rtt_s = 0.01", "rtt_s = -0.01"), "servers[0].rtt_s"),
        (
            edit("rb_bandwidth_hz = 180e3", "rb_bandwidth_hz = inf"),
            "servers[0].rb_bandwidth_hz",
        ),
        (edit("snr_db = [5.0]", "snr_db = nan"), "users[1].snr_db"),
        (
            edit("snr_db = [5.0]", "snr_db = [5.0, nan]"),
            "users[1].snr_db",
        ),
        (
            edit("snr_db = [5.0]", "snr_db = [5.0, 6.0]"),
            "users[1].snr_db",
        ),
        (
            edit("downlink_snr_db = 20.0", "downlink_snr_db = []"),
            "users[1].downlink_snr_db",
        ),
        (
            edit("device = \"rpi5\"", "device = \"rpi9\""),
            "users[1].device",
        ),
        (
            edit("device = \"l4\"", "device = \"l5\""),
            "servers[0].device",
        ),
        (
            edit("model = \"qwen2.5-0.5b\"", "model = \"qwen-99\""),
            "users[0].model",
        ),
        (edit("dtype = \"q4\"", "dtype = \"q3\""), "users[0].dtype"),
        (
            edit("prompt_tokens = 128", "prompt_tokens = 0"),
            "users[0].prompt_tokens",
        ),
        (
            edit("batch_size = 2", "batch_size = -2"),
            "users[1].batch_size",
        ),
        (
            edit("deadline_s = 30.0", "deadline_s = 0.0"),
            "users[1].deadline_s",
        ),
        (
            edit("deadline_s = 30.0", "weight = -1.0"),
            "users[1].weight",
        ),
        (
            edit("deadline_s = 30.0", "min_device_layers = 99"),
            "users[1].min_device_layers",
        ),
        (
            edit("deadline_s = 30.0", "memory_bytes = 0.0"),
            "users[1].memory_bytes",
        ),
        (
            edit("objective = \"sum\"", "objective = \"max\""),
            "objective",
        ),
        (
            edit("problem = \"alloc\"", "problem = \"split\""),
            "problem",
        ),
        (
            edit("seq_len = 128", "seq_len = 128\nname = \"u0\""),
            "users[1].name",
        ),
    ];
    for (text, expected) in &cases {
        let (field, message) = field_error(text);
        assert_eq!(&field, expected, "{message}");
    }
    // No users, no servers.
    let users_start = base_instance().find("[[users]]").unwrap();
    let (field, _) = field_error(&base_instance()[..users_start]);
    assert_eq!(field, "users");
    let (field, _) = field_error(&base_instance().replace("[[servers]]", "").replace(
        "device = \"l4\"\nresource_blocks = 50\nrb_bandwidth_hz = 180e3\nrtt_s = 0.01\n",
        "",
    ));
    assert_eq!(field, "servers");
}

#[test]
fn unknown_fields_are_refused() {
    for (from, to, name) in [
        ("snr_db = 12.0", "snr_db = 12.0\nsnr = 3", "snr"),
        ("rtt_s = 0.01", "rtt_s = 0.01\nrtt = 3", "rtt"),
        (
            "objective = \"sum\"",
            "objective = \"sum\"\nseed = 3",
            "seed",
        ),
    ] {
        let e = load_text(&edit(from, to)).unwrap_err();
        assert!(matches!(e, Error::Syntax { .. }) && e.is_bad_input(), "{e}");
        assert!(
            e.to_string().contains(&format!("unknown field `{name}`")),
            "{e}"
        );
    }
}

/// The local search stops at the preset's time limit with its best plan so far, reported as
/// `limit_reached` (10,000 users take about 25 s without a limit).
#[test]
fn local_search_honours_the_time_limit() {
    use edgeplan::formulation::DataDir;
    use edgeplan::registry::ProblemKind;
    use edgeplan::solve::{PrimalStatus, Termination};
    let catalog = common::catalog();
    let data = DataDir {
        dir: &common::instances(),
        catalog: &catalog,
    };
    let instance = ProblemKind::Alloc
        .formulation()
        .generate(serde_json::json!({ "users": 10000 }), data)
        .unwrap();
    let mut preset = common::preset("local-search");
    preset.time_limit_s = Some(0.5);
    let solved = instance.solve(&preset, &Default::default()).unwrap();
    assert_eq!(solved.stats.termination, Termination::LimitReached);
    assert_eq!(solved.stats.primal_status, PrimalStatus::Feasible);
    assert!(solved.evaluated_objective.unwrap().is_finite());
}

/// The exact solve (with the min-max floor, the zero-round exit and the secant grid) reaches the
/// optimum the MILP proved before them, on medium seeded instances of `benches/alloc.rs`
/// (`--users U --layers 14 --blocks N --seed S --objective O`: one A100 80 GB, gpt2 in q4, no
/// deadlines). The optima were recorded with the previous solve (commit 68094a5, preset `highs`,
/// termination optimal, gap at most 1e-6); its bound never exceeds them.
#[test]
fn exact_solve_matches_the_recorded_milp_optima() {
    use edgeplan::problems::alloc::bound::min_max_lower_bound;
    use edgeplan::problems::alloc::solve::solve;
    use edgeplan::solve::{SolverPreset, Termination};
    use AllocObjective::{MinMax, Sum, WeightedSum};
    let recorded: [(usize, usize, u64, AllocObjective, f64); 8] = [
        (30, 20, 1, MinMax, 1.227973438286347),
        (30, 20, 2, MinMax, 1.2593672685222632),
        (30, 20, 3, MinMax, 0.749849348493404),
        (40, 30, 4, MinMax, 0.7869355591665166),
        (40, 30, 5, MinMax, 1.3101661178272148),
        (20, 100, 1, Sum, 4.538113754782421),
        (30, 273, 2, Sum, 8.427632556140093),
        (15, 100, 3, WeightedSum, 6.049694002387672),
    ];
    let catalog = catalog();
    let highs = SolverPreset::builtin("highs").unwrap();
    for (users, blocks, seed, objective, optimum) in recorded {
        let params = GenParams {
            users,
            servers: 1,
            seed,
            resource_blocks: blocks,
            models: vec!["gpt2".into()],
            dtypes: vec!["q4".into()],
            server_device: "a100-80gb-sxm".into(),
            objective,
            deadline_factor: None,
            ..GenParams::default()
        };
        let problem = generate(&params, &catalog, &instances().join("models")).unwrap();
        let opts = problem.options();
        if let Some(floor) = min_max_lower_bound(&problem, &opts, None) {
            assert!(
                floor <= optimum * (1.0 + 1e-9),
                "seed {seed}: floor {floor}"
            );
        }
        let r = solve(&problem, &highs).unwrap();
        let what = format!("{users} users, {blocks} blocks, seed {seed}");
        assert_eq!(r.stats.termination, Termination::Optimal, "{what}");
        let objective = r.stats.objective.unwrap();
        assert!(
            (objective - optimum).abs() <= 2e-6 * optimum,
            "{what}: {objective} vs recorded {optimum}"
        );
        let bound = r.stats.bound.unwrap();
        assert!(bound <= optimum * (1.0 + 1e-9), "{what}: bound {bound}");
    }
}
