//! Collab instance files: every shipped instance loads and prices quickly (only the infeasible
//! one strands a user); the generated ones are the generator's output for their recorded
//! parameters; the generator is seeded; acceptance rates come from the instance, the file or the
//! default rule; bad instance files, plans and generator flags are refused with exit code 2 and
//! one line naming the file and the field (or flag). Nothing here solves or evaluates.

use std::path::Path;
use std::time::Instant;

use edgeplan::instance::collab::generate::{generate, GenParams};
use edgeplan::instance::collab::{load, DEFAULT_ACCEPTANCE_SOURCE};
use edgeplan::problems::collab::price::Options;
use edgeplan::problems::collab::{default_acceptance, ModeKind, Objective};

mod common;

use common::{catalog, expect_bad, generate_twice, instances, root, variant, write};

const SMALL: &str = "instances/collab/collab-8-users.toml";

#[test]
fn shipped_instances_load_and_price_quickly() {
    let files = common::shipped_files("collab", &["toml"]);
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let started = Instant::now();
        let problem = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let options = Options::build(&problem);
        let elapsed = started.elapsed().as_secs_f64();
        // Tens of milliseconds in release builds; generous for a loaded debug machine.
        assert!(elapsed < 5.0, "{}: {elapsed} s", problem.name);
        let stranded = options.stranded();
        if problem.name.contains("infeasible") {
            let names: Vec<&str> = stranded
                .iter()
                .map(|&u| problem.users[u].name.as_str())
                .collect();
            assert_eq!(names, ["u1"], "{}", problem.name);
        } else {
            assert!(stranded.is_empty(), "{}: {stranded:?}", problem.name);
        }
        assert_eq!(problem.variants.len(), 5, "{}", problem.name);
        // Two speculative families: Qwen2.5 0.5B -> 7B, Llama 3.2 1B/3B -> Llama 3 8B.
        let pairs = problem
            .acceptance
            .iter()
            .flatten()
            .filter(|a| a.is_some())
            .count();
        assert_eq!(pairs, 4, "{}", problem.name);
        for v in &problem.variants {
            assert!(v.quality > 25.0 && v.quality < 100.0, "{}", v.name);
            assert!(!v.quality_source.is_empty(), "{}", v.name);
        }
    }
}

#[test]
fn the_shipped_instances_cover_the_scenarios() {
    let get = |name: &str| load(&instances().join(format!("collab/{name}.toml"))).unwrap();
    assert_eq!(get("collab-100-users").users.len(), 100);
    assert_eq!(get("collab-20-users-served").objective, Objective::Served);
    assert!(get("collab-12-users-split").allows(ModeKind::Split));
    assert!(!get("collab-8-users").allows(ModeKind::Split));
    // The loaded edge: serving every user's best option at the edge would exceed the cap.
    let loaded = get("collab-30-users-loaded");
    let options = Options::build(&loaded);
    let load: f64 = options
        .options
        .iter()
        .filter_map(|o| o.iter().max_by(|a, b| a.quality.total_cmp(&b.quality)))
        .map(|p| p.load)
        .sum();
    assert!(load > loaded.edge.max_utilisation, "{load}");
}

/// The generator's arguments of each generated shipped instance (its `Command:` comment).
const GENERATED: &[(&str, &[&str])] = &[
    ("collab-8-users", &["--users", "8", "--seed", "1"]),
    (
        "collab-4-users-brute",
        &[
            "--users",
            "4",
            "--seed",
            "5",
            "--max-draft-length",
            "3",
            "--escalations",
            "0.2,0.4",
        ],
    ),
    (
        "collab-30-users-loaded",
        &[
            "--users",
            "30",
            "--seed",
            "2",
            "--rate",
            "0.2,1",
            "--deadline",
            "3,15",
        ],
    ),
    ("collab-100-users", &["--users", "100", "--seed", "100"]),
    (
        "collab-20-users-served",
        &[
            "--users",
            "20",
            "--seed",
            "3",
            "--objective",
            "served",
            "--energy-limit",
            "5,50",
        ],
    ),
    (
        "collab-12-users-split",
        &[
            "--users",
            "12",
            "--seed",
            "4",
            "--modes",
            "device,edge,cascade,speculative,split",
        ],
    ),
];

#[test]
fn generated_shipped_instances_are_the_generators_output() {
    let dir = tempfile::tempdir().unwrap();
    // The hand-written comments after the generator's header line are left out.
    let strip = |text: &str| -> String {
        text.lines()
            .enumerate()
            .filter(|(i, l)| *i == 0 || !l.starts_with('#'))
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let data = instances();
    for (name, args) in GENERATED {
        // Written where the shipped one is read from, so the catalog paths match.
        let out = dir.path().join(format!("{name}.toml"));
        let mut all = vec![
            "generate",
            "collab",
            "--instances",
            data.to_str().unwrap(),
            "--name",
            name,
            "-o",
            out.to_str().unwrap(),
        ];
        all.extend(*args);
        common::edgeplan_ok(&all);
        let shipped = std::fs::read_to_string(data.join(format!("collab/{name}.toml"))).unwrap();
        let generated = std::fs::read_to_string(&out).unwrap();
        let catalog = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.starts_with("models_dir") && !l.starts_with("devices"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(catalog(&generated), catalog(&strip(&shipped)), "{name}");
        // The comment names the command.
        let command = args.join(" ");
        let comments: String = shipped
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            comments.contains(&format!("edgeplan generate collab {command}")),
            "{name}: the comment does not name `{command}`"
        );
    }
}

#[test]
fn the_generator_is_seeded_and_its_files_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("instances");
    let file = generate_twice(
        dir.path(),
        &[
            "generate",
            "collab",
            "--users",
            "6",
            "--seed",
            "9",
            "--instances",
            data.to_str().unwrap(),
        ],
    );
    let from_file = load(&file).unwrap();
    let params = GenParams {
        users: 6,
        seed: 9,
        ..GenParams::default()
    };
    let catalog = catalog();
    let a = generate(&params, &catalog, &data).unwrap();
    let b = generate(&params, &catalog, &data).unwrap();
    assert_eq!(a.users.len(), 6);
    for ((x, y), z) in a.users.iter().zip(&b.users).zip(&from_file.users) {
        for other in [y, z] {
            assert_eq!(x.name, other.name);
            assert_eq!(x.device.name, other.device.name);
            assert_eq!(x.prompt_tokens, other.prompt_tokens);
            assert_eq!(x.output_tokens, other.output_tokens);
            assert_eq!(x.deadline_s, other.deadline_s);
            assert_eq!(x.rate_per_s, other.rate_per_s);
            assert_eq!(x.snr_up, other.snr_up);
            assert_eq!(x.quality_target, other.quality_target);
        }
    }
    let c = generate(
        &GenParams {
            seed: 10,
            ..params.clone()
        },
        &catalog,
        &data,
    )
    .unwrap();
    assert!(a
        .users
        .iter()
        .zip(&c.users)
        .any(|(x, y)| x.prompt_tokens != y.prompt_tokens));
    // Every draw stays inside its range.
    for u in &a.users {
        assert!((64..=512).contains(&u.prompt_tokens));
        assert!((32..=128).contains(&u.output_tokens));
        assert!((0.01..=0.1).contains(&u.rate_per_s));
        assert!((2.0..=20.0).contains(&u.deadline_s));
        let q = u.quality_target.unwrap();
        assert!((40.0..=65.0).contains(&q));
    }
}

#[test]
fn acceptance_rates_come_from_the_instance_the_file_or_the_default_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = load(&root().join(SMALL)).unwrap();
    let idx = |name: &str| base.variant_index(name).unwrap();
    let (q05, q7) = (idx("qwen2.5-0.5b-q4"), idx("qwen2.5-7b-q4"));
    let (l1, l3, l8) = (
        idx("llama-3.2-1b-q4"),
        idx("llama-3.2-3b-q4"),
        idx("llama-3-8b-fp16"),
    );
    let v = &base.variants;
    assert_eq!(
        base.acceptance[q05][q7],
        Some(default_acceptance(v[q05].params, v[q7].params))
    );
    assert_eq!(base.acceptance_source[q05][q7], DEFAULT_ACCEPTANCE_SOURCE);
    // No pair across families, none from the larger to the smaller, none with itself.
    assert_eq!(base.acceptance[q05][l8], None);
    assert_eq!(base.acceptance[l8][l1], None);
    assert_eq!(base.acceptance[l1][l1], None);
    assert!(base.acceptance[l1][l3].is_some() && base.acceptance[l3][l8].is_some());
    assert_eq!(v[q05].family, "qwen2.5");
    assert_eq!(v[l8].family, "llama3");

    // A row of the acceptance file, and an instance override above it.
    let csv = write(
        d,
        "acceptance.csv",
        "# test\ndraft,draft_dtype,target,target_dtype,acceptance,source\n\
         qwen2.5-0.5b,q4,qwen2.5-7b,q4,0.61,row source\n\
         llama-3.2-1b,q4,llama-3-8b,fp16,0.5,another\n",
    );
    let insert = format!("acceptance = \"{}\"\nobjective = ", csv.display());
    let path = variant(
        &d.join("rates.toml"),
        SMALL,
        &[
            ("objective = ", &insert),
            (
                "[[users]]\nname = \"u0\"",
                "[[acceptance_rates]]\ndraft = \"llama-3.2-1b-q4\"\ntarget = \"llama-3-8b-fp16\"\n\
                 rate = 0.9\nsource = \"measured\"\n\n[[users]]\nname = \"u0\"",
            ),
        ],
    );
    let p = load(&path).unwrap();
    assert_eq!(p.acceptance[q05][q7], Some(0.61));
    assert_eq!(p.acceptance_source[q05][q7], "row source");
    assert_eq!(p.acceptance[l1][l8], Some(0.9));
    assert_eq!(p.acceptance_source[l1][l8], "measured");
    assert_eq!(p.acceptance[l3][l8], base.acceptance[l3][l8]);

    // A variant's tokenizer override and inline quality.
    let path = variant(
        &d.join("override.toml"),
        SMALL,
        &[(
            "model = \"llama-3-8b\"\ndtype = \"fp16\"",
            "model = \"llama-3-8b\"\ndtype = \"fp16\"\nname = \"big\"\nquality = 70.5\n\
             quality_source = \"my eval\"\ntokenizer = \"other\"",
        )],
    );
    let p = load(&path).unwrap();
    let big = p.variant_index("big").unwrap();
    assert_eq!(p.variants[big].quality, 70.5);
    assert_eq!(p.variants[big].quality_source, "my eval");
    assert_eq!(p.acceptance[l1][big], None);
}

/// A bad-file case: its name, the edits of the small instance and the field named.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// The small shipped instance with `edits`: exit 2 naming the file and `field`.
fn bad(dir: &Path, name: &str, edits: common::Edits, field: &str) {
    let path = variant(&dir.join(format!("{name}.toml")), SMALL, edits);
    let p = path.to_str().unwrap();
    expect_bad(&["solve", p, "--solver", "greedy"], field);
    expect_bad(&["solve", p, "--solver", "greedy"], &format!("{name}.toml"));
}

#[test]
fn bad_files_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let quality = write(
        d,
        "partial-quality.csv",
        "model,dtype,benchmark,score_pct,source\nqwen2.5-0.5b,q4,mmlu-5shot,39.0,x\n",
    );
    let quality_line = format!("quality = \"{}\"\nobjective = ", quality.display());
    let bad_quality = write(
        d,
        "bad-quality.csv",
        "model,dtype,benchmark,score_pct,source\nqwen2.5-0.5b,q4,mmlu-5shot,140,x\n",
    );
    let bad_quality_line = format!("quality = \"{}\"\nobjective = ", bad_quality.display());
    let override_rate = |draft: &str, target: &str, rate: &str| {
        format!(
            "[[acceptance_rates]]\ndraft = \"{draft}\"\ntarget = \"{target}\"\nrate = {rate}\n\n\
             [[users]]\nname = \"u0\""
        )
    };
    let unknown_variant = override_rate("nope", "qwen2.5-7b-q4", "0.8");
    let across = override_rate("llama-3.2-1b-q4", "qwen2.5-7b-q4", "0.8");
    let rate = override_rate("qwen2.5-0.5b-q4", "qwen2.5-7b-q4", "1.5");
    let users0 = "[[users]]\nname = \"u0\"";
    let modes = "modes = [\"device\", \"edge\", \"cascade\", \"speculative\"]";
    let lengths = "draft_lengths = [1, 2, 3, 4, 5, 6, 7, 8]";
    let escalations = "escalations = [0.1, 0.2, 0.3, 0.4, 0.5]";
    let cases: Vec<Case> = vec![
        (
            "mode",
            vec![(modes, "modes = [\"device\", \"cloud\"]")],
            "modes[1]",
        ),
        ("nomodes", vec![(modes, "modes = []")], "modes"),
        (
            "twice",
            vec![(modes, "modes = [\"edge\", \"edge\"]")],
            "modes[1]",
        ),
        (
            "draft0",
            vec![(lengths, "draft_lengths = [0, 2]")],
            "draft_lengths[0]",
        ),
        (
            "draft65",
            vec![(lengths, "draft_lengths = [65]")],
            "draft_lengths[0]",
        ),
        (
            "escalation",
            vec![(escalations, "escalations = [0.1, 1.5]")],
            "escalations[1]",
        ),
        (
            "objective",
            vec![("objective = \"quality\"", "objective = \"cheapest\"")],
            "objective",
        ),
        (
            "sharpness",
            vec![("router_sharpness = 2.0", "router_sharpness = 0.5")],
            "router_sharpness",
        ),
        (
            "model",
            vec![("model = \"llama-3.2-1b\"", "model = \"llama-9\"")],
            "variants[2].model",
        ),
        (
            "moe",
            vec![("model = \"llama-3.2-1b\"", "model = \"mixtral-8x7b\"")],
            "variants[2].model",
        ),
        (
            "dtype",
            vec![("dtype = \"fp16\"", "dtype = \"fp8\"")],
            "variants[4].dtype",
        ),
        (
            "quality",
            vec![("objective = ", &quality_line)],
            "variants[1].model",
        ),
        (
            "dupvariant",
            vec![("model = \"qwen2.5-7b\"", "model = \"qwen2.5-0.5b\"")],
            "variants[1].name",
        ),
        (
            "unknownvariant",
            vec![(users0, &unknown_variant)],
            "acceptance_rates[0].draft",
        ),
        (
            "across",
            vec![(users0, &across)],
            "acceptance_rates[0].target",
        ),
        ("rate", vec![(users0, &rate)], "acceptance_rates[0].rate"),
        (
            "deadline",
            vec![("deadline_s = 14.99", "deadline_s = -1")],
            "users[0].deadline_s",
        ),
        (
            "utilisation",
            vec![("max_utilisation = 0.8", "max_utilisation = 1.0")],
            "edge.max_utilisation",
        ),
        (
            "blocks",
            vec![("resource_blocks = 100", "resource_blocks = 0")],
            "edge.resource_blocks",
        ),
        (
            "edgedevice",
            vec![("device = \"a100-80gb-sxm\"", "device = \"h900\"")],
            "edge.device",
        ),
        (
            "dupuser",
            vec![("name = \"u1\"", "name = \"u0\"")],
            "users[1].name",
        ),
        (
            "unknown",
            vec![(
                "router_sharpness = 2.0",
                "router_sharpness = 2.0\ncolour = 1",
            )],
            "colour",
        ),
        (
            "prompt",
            vec![("prompt_tokens = 191", "prompt_tokens = 0")],
            "users[0].prompt_tokens",
        ),
        (
            "context",
            vec![("prompt_tokens = 191", "prompt_tokens = 9000000")],
            "users[0].output_tokens",
        ),
        (
            "snr",
            vec![("snr_db = 22.27", "snr_db = 1000")],
            "users[0].snr_db",
        ),
        (
            "target",
            vec![("quality_target = 57.7", "quality_target = 101")],
            "users[0].quality_target",
        ),
        (
            "mc",
            vec![("requests = 2000", "requests = 1")],
            "monte_carlo.requests",
        ),
    ];
    for (name, edits, field) in &cases {
        bad(d, name, edits, field);
    }
    // A bad row of the quality file names the file and the line.
    let path = variant(
        &d.join("qualityrange.toml"),
        SMALL,
        &[("objective = ", &bad_quality_line)],
    );
    let p = path.to_str().unwrap();
    expect_bad(
        &["solve", p, "--solver", "greedy"],
        "bad-quality.csv: line 2",
    );
    expect_bad(&["solve", p, "--solver", "greedy"], "score_pct");
}

#[test]
fn bad_plans_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, plan, expect) in [
        ("none", "{\"stages\": []}", "users"),
        (
            "mode",
            "{\"users\": [{\"mode\": \"cloud\", \"variant\": 0}]}",
            "users[0].mode",
        ),
        (
            "variant",
            "{\"users\": [{\"mode\": \"edge\", \"variant\": \"nope\"}]}",
            "users[0].variant",
        ),
        (
            "index",
            "{\"users\": [{\"mode\": \"device\", \"variant\": 9}]}",
            "users[0].variant",
        ),
        (
            "target",
            "{\"users\": [{\"mode\": \"speculative\", \"draft\": 0, \"draft_length\": 2}]}",
            "users[0].target",
        ),
        (
            "length",
            "{\"users\": [{\"mode\": \"speculative\", \"draft\": 0, \"target\": 1, \
             \"draft_length\": -1}]}",
            "users[0].draft_length",
        ),
        (
            "member",
            "{\"users\": [{\"mode\": \"edge\", \"variant\": 0, \"cut\": 3}]}",
            "users[0].cut",
        ),
        ("entry", "{\"users\": [3]}", "users[0]"),
    ] {
        let file = write(d, &format!("{name}.json"), plan);
        expect_bad(&["evaluate", SMALL, file.to_str().unwrap()], expect);
    }
}

#[test]
fn bad_generator_flags_name_the_flag() {
    for (args, expect) in [
        (&["--users", "0"][..], "--users"),
        (&["--variants", "nope:q4"], "--variants"),
        (&["--variants", "llama-3.2-1b:q3"], "--variants"),
        (
            &["--variants", "llama-3.2-1b:q4,llama-3.2-1b:q4"],
            "--variants",
        ),
        (&["--variants", "gpt2:q4"], "--variants"),
        (&["--edge-device", "nope"], "--edge-device"),
        (&["--edge-memory", "0"], "--edge-memory"),
        (&["--blocks", "0"], "--blocks"),
        (&["--rb-bandwidth", "0"], "--rb-bandwidth"),
        (&["--radius", "-1"], "--radius"),
        (&["--rtt", "nan"], "--rtt"),
        (&["--max-utilisation", "1"], "--max-utilisation"),
        (&["--devices", "rpi5,nope"], "--devices"),
        (&["--prompt-tokens", "9,3"], "--prompt-tokens"),
        (&["--output-tokens", "0,3"], "--output-tokens"),
        (&["--rate", "0,1"], "--rate"),
        (&["--deadline", "5"], "--deadline"),
        (&["--energy-limit", "10,1"], "--energy-limit"),
        (&["--quality-target", "50,120"], "--quality-target"),
        (&["--objective", "cheapest"], "--objective"),
        (&["--modes", "device,cloud"], "--modes"),
        (&["--max-draft-length", "0"], "--max-draft-length"),
        (&["--max-draft-length", "65"], "--max-draft-length"),
        (&["--escalations", "0.5,1.5"], "--escalations"),
        (&["--router-sharpness", "0.5"], "--router-sharpness"),
    ] {
        let mut all = vec!["generate", "collab"];
        all.extend(args);
        expect_bad(&all, expect);
    }
}
