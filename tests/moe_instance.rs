//! MoE instance files: every shipped instance loads and its evaluation's analytic expectation lies
//! inside the Monte Carlo 95% interval; the generator is deterministic and its files load back to
//! the same problem; bad instance files, traces, plans and generator flags are refused with exit
//! code 2 and one line naming the file and the field.

use std::path::Path;

use edgeplan::instance::moe::generate::{generate, GenParams};
use edgeplan::instance::moe::load;
use edgeplan::problems::moe::evaluate::evaluate;
use edgeplan::problems::moe::price::Prices;
use edgeplan::problems::moe::{score, Choice, MoePlan, MoeProblem, Task};

mod common;

use common::{
    catalog, edgeplan, edgeplan_json, expect_bad, generate_twice, instances, root, variant, write,
};

/// A plan that fits, built without any solver: experts dealt to the node with the most memory
/// left (placement), or the slots filled block by block with misses offloaded when allowed
/// (cache). `None` when it does not fit.
fn simple_plan(problem: &MoeProblem) -> Option<MoePlan> {
    let prices = Prices::new(problem);
    let plan = match problem.task {
        Task::Placement => {
            let mut left = prices.capacity.clone();
            let mut nodes = Vec::new();
            for (j, block) in problem.routing.blocks.iter().enumerate() {
                let mut row = Vec::new();
                for _ in 0..block.experts {
                    let n = (0..left.len()).max_by(|&a, &b| left[a].total_cmp(&left[b]))?;
                    left[n] -= prices.expert_bytes[j];
                    row.push(n);
                }
                nodes.push(row);
            }
            MoePlan::single(&nodes)
        }
        Task::Cache => {
            let mut slots = problem.expert_slots;
            let miss = if problem.allow_offload {
                Choice::Offload
            } else {
                Choice::Fetch
            };
            MoePlan::cache(
                problem
                    .routing
                    .blocks
                    .iter()
                    .map(|b| {
                        (0..b.experts)
                            .map(|_| {
                                if slots > 0 {
                                    slots -= 1;
                                    Choice::Resident
                                } else {
                                    miss
                                }
                            })
                            .collect()
                    })
                    .collect(),
            )
        }
    };
    score::fits(problem, &prices, &plan).then_some(plan)
}

#[test]
fn shipped_instances_load_and_the_expectation_is_inside_the_monte_carlo_interval() {
    let dir = instances().join("moe");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let problem = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some(plan) = simple_plan(&problem) else {
            assert!(
                problem.name.contains("infeasible"),
                "{}: no simple plan fits",
                problem.name
            );
            continue;
        };
        let ev = evaluate(&problem, &plan).unwrap();
        let mc = &ev.monte_carlo;
        // Two comparisons (latency, energy) per shipped instance, at most 16 instances: each at
        // the family-wise 95% level, 1 - 0.05 / 32 (Bonferroni, z = 2.95 against 1.96), so that
        // one instance's 95% interval missing by chance does not fail the suite.
        let widen = 2.95 / 1.96;
        let inside = |expected: f64, mean: f64, half: f64| {
            (expected - mean).abs() <= half * widen + 1e-12 * expected.abs().max(1.0)
        };
        assert!(
            inside(ev.latency_s, mc.mean_latency_s, mc.latency_half_width_s)
                && inside(ev.energy_j, mc.mean_energy_j, mc.energy_half_width_j),
            "{}: expected {} s, {} J outside {} +- {} s, {} +- {} J",
            problem.name,
            ev.latency_s,
            ev.energy_j,
            mc.mean_latency_s,
            mc.latency_half_width_s,
            mc.mean_energy_j,
            mc.energy_half_width_j
        );
        // The solvers' scoring and the evaluator's token walk agree.
        let prices = Prices::new(&problem);
        let scored = score::objective(&problem, &prices, &plan);
        assert!(
            (scored - ev.objective).abs() <= 1e-9 * ev.objective.abs(),
            "{}: score {scored} vs evaluator {}",
            problem.name,
            ev.objective
        );
        assert!(
            ev.violations.is_empty(),
            "{}: {:?}",
            problem.name,
            ev.violations
        );
        assert!(ev.latency_s.is_finite() && ev.latency_s > 0.0);
        checked += 1;
    }
    assert!(checked >= 5, "{checked} instances checked");
}

#[test]
fn the_monte_carlo_interval_covers_the_expectation_on_random_instances() {
    // A 95% interval misses about 1 time in 20; over 60 random instances the count of misses is
    // binomial(60, 0.05) (mean 3): more than 10 means the simulation and the expectation differ.
    let catalog = catalog();
    let mut misses = 0;
    for seed in 0..60u64 {
        let task = if seed % 2 == 0 {
            Task::Placement
        } else {
            Task::Cache
        };
        let objective = edgeplan::problems::moe::Objective::Latency;
        let shape = edgeplan::problems::moe::testing::Shape {
            layers: 3,
            experts: 6,
            top_k: 2,
            nodes: 3,
            skew: (seed % 4) as f64 * 0.6,
            tokens: 300,
        };
        let mut problem = edgeplan::problems::moe::testing::random_problem(
            &catalog, task, objective, shape, seed,
        );
        problem.nodes[0].resource.memory_bytes *= 10.0;
        problem.mc_tokens = 4000;
        problem.mc_seed = seed + 100;
        let Some(plan) = simple_plan(&problem) else {
            continue;
        };
        let ev = evaluate(&problem, &plan).unwrap();
        if !ev.monte_carlo.agrees {
            misses += 1;
        }
    }
    assert!(
        misses <= 10,
        "{misses} of 60 intervals miss the expectation"
    );
}

#[test]
fn the_generator_is_seeded_and_its_files_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--instances",
        root()
            .join("instances")
            .to_str()
            .unwrap()
            .to_string()
            .leak(),
    ];
    for task in [
        &["generate", "moe", "--nodes", "5", "--seed", "3"][..],
        &[
            "generate",
            "moe",
            "--task",
            "cache",
            "--seed",
            "4",
            "--objective",
            "energy",
        ],
    ] {
        let mut args = task.to_vec();
        args.extend(base);
        let file = generate_twice(dir.path(), &args);
        let report = edgeplan_json(&[
            "solve",
            file.to_str().unwrap(),
            "--solver",
            "greedy",
            "--json",
        ]);
        assert!(
            report["stats"]["primal_status"] == "feasible",
            "{args:?}: {report}"
        );
    }
    let catalog = catalog();
    let params = GenParams {
        nodes: 4,
        seed: 9,
        ..GenParams::default()
    };
    let a = generate(&params, &catalog, &instances().join("models")).unwrap();
    let b = generate(&params, &catalog, &instances().join("models")).unwrap();
    assert_eq!(a.routing, b.routing);
    assert_eq!(a.nodes.len(), 4);
}

/// The shipped campus instance with `edits`: exit 2 naming the file and `field`.
fn bad(dir: &Path, name: &str, shipped: &str, edits: common::Edits, field: &str) {
    let path = variant(&dir.join(format!("{name}.toml")), shipped, edits);
    let p = path.to_str().unwrap();
    expect_bad(&["solve", p, "--solver", "greedy"], field);
    expect_bad(&["solve", p, "--solver", "greedy"], &format!("{name}.toml"));
}

#[test]
fn bad_files_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let campus = "instances/moe/mixtral-campus-8n.toml";
    let cache = "instances/moe/mixtral-jetson-cache.toml";
    for (name, shipped, edits, field) in [
        (
            "task",
            campus,
            &[("task = \"placement\"", "task = \"both\"")][..],
            "task",
        ),
        (
            "home",
            campus,
            &[("home = \"edge-4090\"", "home = \"moon\"")],
            "home",
        ),
        (
            "dense",
            campus,
            &[("model = \"mixtral-8x7b\"", "model = \"llama-2-7b\"")],
            "model",
        ),
        (
            "skew",
            campus,
            &[("skew = 1.0", "skew = -1")],
            "routing.skew",
        ),
        (
            "tokens",
            campus,
            &[("\ntokens = 512", "\ntokens = 0")],
            "routing.tokens",
        ),
        (
            "gen",
            campus,
            &[("generator = \"zipf\"", "generator = \"dirichlet\"")],
            "routing.generator",
        ),
        (
            "rate",
            campus,
            &[("bandwidth_bps = 1e9", "bandwidth_bps = -1")],
            "nodes[1].bandwidth_bps",
        ),
        (
            "latency",
            campus,
            &[("latency_s = 0.0005", "latency_s = 1e9")],
            "nodes[1].latency_s",
        ),
        (
            "nolink",
            campus,
            &[("bandwidth_bps = 1e9\nlatency_s = 0.0005", "")],
            "nodes[1]",
        ),
        (
            "load",
            campus,
            &[(
                "memory_bytes = 18e9",
                "memory_bytes = 18e9\nbackground_load = 1.5",
            )],
            "nodes[0].background_load",
        ),
        (
            "objective",
            campus,
            &[("kind = \"latency\"", "kind = \"energy\"")],
            "objective.kind",
        ),
        (
            "cacheonplacement",
            campus,
            &[("[objective]", "[cache]\nexpert_slots = 3\n[objective]")],
            "cache",
        ),
        (
            "slots",
            cache,
            &[("expert_slots = 48", "expert_slots = -2")],
            "cache.expert_slots",
        ),
        (
            "cacheobjective",
            cache,
            &[("kind = \"latency\"", "kind = \"throughput\"")],
            "objective.kind",
        ),
        (
            "mc",
            campus,
            &[("tokens = 20000", "tokens = 1")],
            "monte_carlo.tokens",
        ),
        (
            "prompt",
            campus,
            &[("prompt_tokens = 512", "prompt_tokens = 100000")],
            "workload",
        ),
    ] {
        bad(d, name, shipped, edits, field);
    }
    // The cache task has exactly two nodes.
    bad(
        d,
        "threenodes",
        cache,
        &[("[cache]", "[[nodes]]\nname = \"x\"\ndevice = \"l4\"\nbandwidth_bps = 1e9\nlatency_s = 0.001\n\n[cache]")],
        "nodes",
    );
}

#[test]
fn bad_traces_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&str, &str, &str); 7] = [
        ("header", "tok,layer,experts\n0,0,1 2\n", "line 1"),
        ("layer", "token,layer,experts\n0,40,1 2\n", "line 2"),
        ("expert", "token,layer,experts\n0,0,1 9\n", "line 2"),
        ("count", "token,layer,experts\n0,0,1\n", "line 2"),
        ("twice", "token,layer,experts\n0,0,1 1\n", "line 2"),
        (
            "missing",
            "token,layer,experts\n0,0,1 2\n",
            "no row for layer 1",
        ),
        ("cells", "token,layer,experts\n0,0\n", "line 2"),
    ];
    for (name, text, expect) in cases {
        let trace = write(d, &format!("{name}.csv"), text);
        let path = variant(
            &d.join(format!("{name}.toml")),
            "instances/moe/mixtral-jetson-cache-trace.toml",
            &[(
                "../traces/mixtral-routing-synthetic.csv",
                trace.to_str().unwrap(),
            )],
        );
        let p = path.to_str().unwrap();
        expect_bad(&["solve", p, "--solver", "greedy"], expect);
        expect_bad(&["solve", p, "--solver", "greedy"], &format!("{name}.csv"));
    }
}

#[test]
fn bad_plans_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let campus = "instances/moe/mixtral-campus-8n.toml";
    let row = |cell: &str| format!("[{}]", [cell; 8].join(","));
    let blocks = |cell: &str, n: usize| format!("[{}]", vec![row(cell); n].join(","));
    for (name, plan, expect) in [
        (
            "short",
            format!("{{\"experts\": {}}}", blocks("0", 31)),
            "experts",
        ),
        (
            "node",
            format!("{{\"experts\": {}}}", blocks("\"moon\"", 32)),
            "experts[0][0]",
        ),
        (
            "share",
            format!(
                "{{\"experts\": {}}}",
                blocks("[{\"node\": 0, \"share\": 0.5}]", 32)
            ),
            "experts[0][0]",
        ),
        (
            "twice",
            format!("{{\"experts\": {}}}", blocks("[0, 0]", 32)),
            "experts[0][0]",
        ),
        ("none", "{\"stages\": []}".to_string(), "experts"),
    ] {
        let file = write(d, &format!("{name}.json"), plan);
        expect_bad(&["evaluate", campus, file.to_str().unwrap()], expect);
    }
    let cache = "instances/moe/mixtral-jetson-cache.toml";
    let file = write(
        d,
        "choice.json",
        format!("{{\"choices\": {}}}", blocks("\"keep\"", 32)),
    );
    expect_bad(
        &["evaluate", cache, file.to_str().unwrap()],
        "choices[0][0]",
    );
    // A plan that breaks memory is evaluated, with a violation and exit code 1.
    let file = write(
        d,
        "home.json",
        format!("{{\"experts\": {}}}", blocks("0", 32)),
    );
    let out = edgeplan(&["evaluate", campus, file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory.edge-4090"));
}

#[test]
fn bad_generator_flags_name_the_flag() {
    for (args, expect) in [
        (&["--task", "both"][..], "--task"),
        (&["--nodes", "0"], "--nodes"),
        (&["--nodes", "65"], "--nodes"),
        (&["--objective", "energy"], "--objective"),
        (&["--skew", "-1"], "--skew"),
        (&["--trace-tokens", "0"], "--trace-tokens"),
        (&["--memory-share", "0"], "--memory-share"),
        (&["--min-rate", "1e9", "--max-rate", "1e8"], "--max-rate"),
        (&["--devices", "rpi5,nope"], "--devices"),
        (&["--model", "nope"], "--model"),
        (&["--dtype", "fp8"], "--dtype"),
        (&["--slot-share", "2"], "--slot-share"),
    ] {
        let mut all = vec!["generate", "moe"];
        all.extend(args);
        expect_bad(&all, expect);
    }
}

#[test]
fn generated_shipped_instances_are_the_generators_output() {
    let dir = tempfile::tempdir().unwrap();
    let strip = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with("models_dir") && !l.starts_with("devices"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (name, args) in [
        (
            "olmoe-campus-6n",
            &[
                "--model",
                "olmoe-1b-7b",
                "--dtype",
                "fp16",
                "--nodes",
                "6",
                "--seed",
                "5",
                "--trace-tokens",
                "32",
                "--home-device",
                "jetson-agx-orin-64gb",
                "--memory-share",
                "0.1",
            ][..],
        ),
        (
            "qwen-moe-phone-cache",
            &[
                "--task",
                "cache",
                "--model",
                "qwen1.5-moe-a2.7b",
                "--device",
                "phone-sd8gen3",
                "--memory-share",
                "0.35",
                "--seed",
                "2",
                "--slot-share",
                "0.25",
            ],
        ),
    ] {
        let out = dir.path().join(format!("{name}.toml"));
        let mut all = vec![
            "generate",
            "moe",
            "--name",
            name,
            "-o",
            out.to_str().unwrap(),
        ];
        all.extend(args);
        common::edgeplan_ok(&all);
        let shipped =
            std::fs::read_to_string(instances().join(format!("moe/{name}.toml"))).unwrap();
        assert_eq!(
            strip(&std::fs::read_to_string(&out).unwrap()),
            strip(&shipped),
            "{name}"
        );
    }
}
