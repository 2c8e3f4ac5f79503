//! Pipeline instance files: the generated shipped instances are exactly the generator's output
//! for their parameters, every shipped instance loads, the generator is deterministic (the same
//! seed writes the same file, which loads back to the same problem and the same optimum), and bad
//! files are refused with exit code 2 and one line naming the file and the field.

use edgeplan::instance::pipeline::generate::{generate, generate_spec, write_instance, GenParams};
use edgeplan::instance::pipeline::load;
use edgeplan::registry::ProblemKind;

mod common;

use common::{edgeplan_json, expect_bad, generate_twice, instances, variant};

/// The generated instances in `instances/pipeline/`: name, what it shows, parameters.
fn shipped() -> Vec<(&'static str, &'static str, GenParams)> {
    let base = GenParams::default();
    vec![
        (
            "campus-8n-llama2-7b-throughput",
            "# A random geometric campus network of 8 nodes (1 km square, links up to 500 m: 3GPP radio\n\
             # to the devices, 10 GbE between servers) streaming Llama-2-7B requests from a phone:\n\
             # the throughput objective (the period, the busiest node's compute or link's airtime per\n\
             # request) spreads the model over up to three nodes with background loads up to 30%.\n",
            GenParams {
                nodes: 8,
                seed: 3,
                model: "llama-2-7b".into(),
                objective: "throughput".into(),
                max_stages: Some(3),
                max_background_load: 0.3,
                name: Some("campus-8n-llama2-7b-throughput".into()),
                ..base.clone()
            },
        ),
        (
            "metro-tree-13n-llama3.2-3b-weighted",
            "# A metro edge hierarchy of 13 nodes: a phone and 7 other devices under 3 base stations\n\
             # (MEC servers), an aggregation site and a regional cloud 500 km away. The weighted\n\
             # objective (1 per s + 0.01 per J) counts every node's compute energy (scope all).\n",
            GenParams {
                nodes: 13,
                seed: 2,
                topology: "tree".into(),
                model: "llama-3.2-3b".into(),
                objective: "weighted".into(),
                latency_weight: 1.0,
                energy_weight: 0.01,
                energy_scope: "all".into(),
                max_stages: Some(3),
                name: Some("metro-tree-13n-llama3.2-3b-weighted".into()),
                ..base.clone()
            },
        ),
        (
            "city-30n-llama3.2-1b",
            "# A city-scale random geometric network of 30 nodes (3 km square, links up to 800 m;\n\
             # the shortest missing links join the components): Llama-3.2-1B from a phone in at\n\
             # most three stages under a 20 s deadline. Routes cross several hops.\n",
            GenParams {
                nodes: 30,
                seed: 5,
                model: "llama-3.2-1b".into(),
                area_m: 3000.0,
                radius_m: 800.0,
                max_stages: Some(3),
                deadline_s: Some(20.0),
                name: Some("city-30n-llama3.2-1b".into()),
                ..base
            },
        ),
    ]
}

fn shipped_text(comment: &str, params: &GenParams) -> String {
    let file = generate_spec(params, &common::catalog()).unwrap();
    format!("{comment}{}", write_instance(params, &file))
}

/// Rewrites the generated shipped instances from their parameters:
/// `cargo test --release --test pipeline_instance -- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate_shipped_instances() {
    for (name, comment, params) in shipped() {
        common::write_shipped("pipeline", name, &shipped_text(comment, &params));
    }
}

#[test]
fn generated_shipped_instances_are_the_generator_output() {
    let catalog = common::catalog();
    for (name, comment, params) in shipped() {
        let path = common::assert_shipped_is("pipeline", name, &shipped_text(comment, &params));
        let problem = load(&path).unwrap();
        assert_eq!(problem.name, name);
        assert_eq!(problem.node_count(), params.nodes);
        // The file and the in-memory generator agree.
        let generated = generate(&params, &catalog, &instances().join("models")).unwrap();
        assert_eq!(generated.links, problem.links);
        assert_eq!(generated.rules, problem.rules);
        assert_eq!(generated.objective, problem.objective);
        let nodes = |p: &edgeplan::problems::pipeline::PipelineProblem| {
            p.nodes
                .iter()
                .map(|n| {
                    (
                        n.name.clone(),
                        n.resource.device.name.clone(),
                        n.resource.memory_bytes,
                        n.background_load,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(nodes(&generated), nodes(&problem));
    }
}

#[test]
fn every_shipped_instance_loads() {
    let files = common::shipped_files("pipeline", &["toml"]);
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        assert_eq!(
            ProblemKind::of_instance(&f).unwrap(),
            ProblemKind::of_instance(&common::shipped_path("pipeline", "chain-llama2-7b-jetson"))
                .unwrap()
        );
        load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// The infeasible instance's explanation names the unreachable node and the memory shortfall.
#[test]
fn the_infeasible_instance_is_explained() {
    let out = common::edgeplan(&[
        "solve",
        "instances/pipeline/home-llama2-13b-infeasible.toml",
        "--solver",
        "enumerate",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = common::json(&out, "infeasible");
    let text = report["explanation"].to_string();
    assert!(text.contains("node jetson is not connected"), "{text}");
    assert!(text.contains("the model needs"), "{text}");
}

/// The same seed writes the same file; the file loads back to the problem the generator makes in
/// memory, with the same optimum.
#[test]
fn the_generator_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    for topology in ["geometric", "tree"] {
        let args = [
            "generate",
            "pipeline",
            "--nodes",
            "7",
            "--seed",
            "11",
            "--topology",
            topology,
            "--max-stages",
            "3",
            "--max-background-load",
            "0.2",
        ];
        let file = generate_twice(dir.path(), &args);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# generated by edgeplan generate pipeline: nodes=7 seed=11"));
        let other = dir.path().join("other.toml");
        let mut seed12 = args.to_vec();
        seed12[5] = "12";
        seed12.extend(["-o", other.to_str().unwrap()]);
        common::edgeplan_ok(&seed12);
        assert_ne!(std::fs::read_to_string(&other).unwrap(), text, "{topology}");

        let params = GenParams {
            nodes: 7,
            seed: 11,
            topology: topology.into(),
            max_stages: Some(3),
            max_background_load: 0.2,
            ..GenParams::default()
        };
        let generated = generate(&params, &common::catalog(), &instances().join("models")).unwrap();
        let loaded = load(&file).unwrap();
        assert_eq!(generated.links, loaded.links);
        let solved = |p: &edgeplan::problems::pipeline::PipelineProblem| {
            edgeplan::problems::pipeline::solve::solve(
                p,
                &common::preset("enumerate"),
                &Default::default(),
            )
            .unwrap()
        };
        let (a, b) = (solved(&generated), solved(&loaded));
        assert_eq!(a.plan, b.plan, "{topology}");
        assert_eq!(a.stats.objective, b.stats.objective, "{topology}");
        // And the command line agrees with the library.
        let report = edgeplan_json(&[
            "solve",
            file.to_str().unwrap(),
            "--solver",
            "enumerate",
            "--json",
        ]);
        assert_eq!(report["stats"]["objective"].as_f64(), a.stats.objective);
    }
}

#[test]
fn bad_generator_flags_name_the_flag() {
    for (args, expect) in [
        (&["--nodes", "1"][..], "--nodes"),
        (&["--nodes", "65"], "--nodes"),
        (&["--topology", "ring"], "--topology"),
        (&["--objective", "cost"], "--objective"),
        (&["--energy-scope", "edge"], "--energy-scope"),
        (&["--routing", "widest"], "--routing"),
        (&["--memory-share", "0"], "--memory-share"),
        (&["--radius", "-5"], "--radius"),
        (&["--devices", "rpi5,nope"], "--devices"),
        (&["--model", "nope"], "--model"),
        (&["--dtype", "fp8"], "--dtype"),
        (&["--max-background-load", "1"], "--max-background-load"),
    ] {
        let mut all = vec!["generate", "pipeline"];
        all.extend(args);
        expect_bad(&all, expect);
    }
}

/// The shipped chain instance with `edits`, loaded through `solve`: exit 2, one line naming the
/// file and `field`.
fn bad(dir: &std::path::Path, name: &str, edits: common::Edits, field: &str) {
    let path = variant(
        &dir.join(format!("{name}.toml")),
        "instances/pipeline/chain-llama2-7b-jetson.toml",
        edits,
    );
    let p = path.to_str().unwrap();
    expect_bad(&["solve", p, "--solver", "enumerate"], field);
    expect_bad(
        &["solve", p, "--solver", "enumerate"],
        &format!("{name}.toml"),
    );
}

#[test]
fn bad_files_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bad(
        d,
        "unknown-node",
        &[("b = \"cloud\"", "b = \"moon\"")],
        "links[1].b",
    );
    bad(
        d,
        "self-link",
        &[(
            "a = \"edge\"\nb = \"cloud\"",
            "a = \"cloud\"\nb = \"cloud\"",
        )],
        "links[1].b",
    );
    bad(
        d,
        "duplicate-link",
        &[(
            "a = \"edge\"\nb = \"cloud\"",
            "a = \"edge\"\nb = \"device\"",
        )],
        "links[1].b",
    );
    bad(
        d,
        "missing-bandwidth",
        &[("bandwidth_bps = 1e9\n", "")],
        "links[1].bandwidth_bps",
    );
    bad(
        d,
        "one-way-rate",
        &[("b_to_a_bps = 300e6\n", "")],
        "links[0].bandwidth_bps",
    );
    bad(
        d,
        "zero-rate",
        &[("bandwidth_bps = 1e9", "bandwidth_bps = 0")],
        "links[1].bandwidth_bps",
    );
    bad(
        d,
        "negative-latency",
        &[("latency_s = 0.015", "latency_s = -0.015")],
        "links[1].latency_s",
    );
    bad(
        d,
        "routing",
        &[(
            "source = \"device\"",
            "source = \"device\"\nrouting = \"widest\"",
        )],
        "routing",
    );
    bad(
        d,
        "objective",
        &[("kind = \"latency\"", "kind = \"cost\"")],
        "objective.kind",
    );
    bad(
        d,
        "scope",
        &[(
            "kind = \"latency\"",
            "kind = \"energy\"\nenergy_scope = \"edge\"",
        )],
        "objective.energy_scope",
    );
    bad(
        d,
        "weights",
        &[(
            "kind = \"latency\"",
            "kind = \"weighted\"\nlatency_weight = 1.0",
        )],
        "objective.energy_weight",
    );
    bad(
        d,
        "source",
        &[("source = \"device\"", "source = \"phone\"")],
        "source",
    );
    bad(
        d,
        "background",
        &[(
            "memory_bytes = 12e9",
            "memory_bytes = 12e9\nbackground_load = 1.5",
        )],
        "nodes[1].background_load",
    );
    bad(
        d,
        "memory",
        &[("memory_bytes = 12e9", "memory_bytes = -1")],
        "nodes[1]",
    );
    bad(
        d,
        "device",
        &[("device = \"rtx-4090\"", "device = \"rtx-9090\"")],
        "nodes[1].device",
    );
    bad(
        d,
        "duplicate-node",
        &[("name = \"cloud\"", "name = \"edge\"")],
        "nodes[2].name",
    );
    bad(
        d,
        "deadline",
        &[("deadline_s = 30.0", "deadline_s = -1.0")],
        "constraints.deadline_s",
    );
    bad(
        d,
        "max-stages",
        &[("deadline_s = 30.0", "max_stages = 0")],
        "constraints.max_stages",
    );
    bad(
        d,
        "rate",
        &[("deadline_s = 30.0", "min_requests_per_s = 0")],
        "constraints.min_requests_per_s",
    );
    bad(
        d,
        "pin-layer",
        &[(
            "embed_on_source = true",
            "pin = [{ layer = 34, node = \"edge\" }]",
        )],
        "constraints.pin[0].layer",
    );
    bad(
        d,
        "forbid-layer",
        &[(
            "embed_on_source = true",
            "forbid = [{ layer = -1, node = \"edge\" }]",
        )],
        "constraints.forbid[0].layer",
    );
    bad(
        d,
        "forbid-node",
        &[(
            "embed_on_source = true",
            "forbid = [{ layer = 3, node = \"moon\" }]",
        )],
        "constraints.forbid[0].node",
    );
    bad(
        d,
        "unknown-field",
        &[("latency_s = 0.015", "latency_s = 0.015\njitter_s = 0.001")],
        "jitter_s",
    );
    let many: String = (0..65)
        .map(|i| format!("[[nodes]]\nname = \"n{i}\"\ndevice = \"rpi5\"\n\n"))
        .collect();
    bad(
        d,
        "too-many-nodes",
        &[(
            "[[nodes]]\nname = \"device\"",
            &format!("{many}[[nodes]]\nname = \"device\""),
        )],
        "nodes",
    );
}
