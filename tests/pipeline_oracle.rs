//! The pipeline MILP and the enumeration against brute force over every stage list and route
//! (tests/common/pipeline_oracle.rs) on seeded random instances written as files and loaded
//! through the public loader; every returned plan through the independent evaluator; the
//! heuristics never better than the optimum.

mod common;

use std::fmt::Write;
use std::path::Path;

use common::pipeline_oracle::pipeline_brute_force;
use edgeplan::problems::pipeline::evaluate::evaluate;
use edgeplan::problems::pipeline::solve::{solve, PipelineReport};
use edgeplan::problems::pipeline::{PipelinePlan, PipelineProblem, Routes, Stage};
use edgeplan::solve::{PrimalStatus, RunOptions, SolverPreset, Termination};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DEVICES: [&str; 10] = [
    "phone-sd8gen3",
    "rpi5",
    "jetson-orin-nano-8gb",
    "jetson-agx-orin-64gb",
    "laptop-m2-pro",
    "rtx-4090",
    "l4",
    "a100-80gb-sxm",
    "h100-sxm",
    "epyc-zen4-2vcpu",
];

fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// A tiny Llama-style config with `blocks` blocks (`blocks + 2` layers).
fn model(rng: &mut ChaCha8Rng, blocks: usize) -> String {
    let hidden = [32, 64, 128][rng.gen_range(0..3)];
    let (mlp, norm) = if rng.gen_bool(0.5) {
        ("swiglu", "rmsnorm")
    } else {
        ("gelu", "layernorm")
    };
    let tied = if rng.gen_bool(0.4) {
        "tied_embeddings = true\n"
    } else {
        ""
    };
    format!(
        "name = \"tiny\"\nsource = \"test\"\n[architecture]\nlayers = {blocks}\nhidden = {hidden}\n\
         intermediate = {}\nheads = 4\nkv_heads = 2\nvocab = {}\nmlp = \"{mlp}\"\nnorm = \"{norm}\"\n{tied}",
        2 * hidden,
        rng.gen_range(50..2000)
    )
}

/// The parts of a random instance that need the model's sizes to be chosen.
struct Draft {
    head: String,
    nodes: usize,
    links: String,
    tail: String,
}

/// A random instance: the file's text without node memories and limits.
fn draft(rng: &mut ChaCha8Rng, models: &Path) -> Draft {
    let nodes = rng.gen_range(3..=5);
    let workload = rng.gen_range(0..4);
    // Full fine-tuning needs unquantized weights.
    let dtypes: &[&str] = if workload == 3 {
        &["fp16", "fp32"]
    } else {
        &["fp16", "fp32", "q4"]
    };
    let mut head = format!(
        "problem = \"pipeline\"\nmodel = \"tiny\"\ndtype = \"{}\"\nmodels_dir = \"{}\"\n\
         devices = \"{}\"\nsource = \"n0\"\nrouting = \"{}\"\n",
        dtypes[rng.gen_range(0..dtypes.len())],
        models.display(),
        common::data_path("devices.csv"),
        if rng.gen_bool(0.5) {
            "shortest"
        } else {
            "fastest"
        },
    );
    match workload {
        0 | 1 => write!(
            head,
            "[workload]\nmode = \"inference\"\nprompt_tokens = {}\ngenerate_tokens = {}\n",
            rng.gen_range(1..200),
            rng.gen_range(1..20)
        ),
        2 => write!(
            head,
            "[workload]\nmode = \"finetune\"\nmethod = \"lora\"\nbatch_size = {}\nseq_len = {}\n\
             steps = {}\n",
            rng.gen_range(1..4),
            rng.gen_range(8..128),
            rng.gen_range(1..3)
        ),
        _ => write!(
            head,
            "[workload]\nmode = \"finetune\"\nmethod = \"full\"\nbatch_size = {}\nseq_len = {}\n",
            rng.gen_range(1..4),
            rng.gen_range(8..128)
        ),
    }
    .unwrap();
    // A random spanning tree (sometimes leaving the last node out), then extra links.
    let mut pairs = Vec::new();
    let isolated = rng.gen_bool(0.08);
    let linked = if isolated { nodes - 1 } else { nodes };
    for b in 1..linked {
        pairs.push((rng.gen_range(0..b), b));
    }
    for a in 0..linked {
        for b in a + 1..linked {
            if !pairs.contains(&(a, b)) && rng.gen_bool(0.35) {
                pairs.push((a, b));
            }
        }
    }
    let mut links = String::new();
    for (a, b) in pairs {
        let rate = |rng: &mut ChaCha8Rng| 10f64.powf(rng.gen_range(5.0..9.5));
        write!(links, "[[links]]\na = \"n{a}\"\nb = \"n{b}\"\n").unwrap();
        if rng.gen_bool(0.3) {
            write!(
                links,
                "a_to_b_bps = {}\nb_to_a_bps = {}\n",
                rate(rng),
                rate(rng)
            )
            .unwrap();
        } else {
            writeln!(links, "bandwidth_bps = {}", rate(rng)).unwrap();
        }
        writeln!(links, "latency_s = {}\n", rng.gen_range(0.0005..0.03)).unwrap();
    }
    let mut tail = String::new();
    write!(
        tail,
        "[radio]\ntx_power_w = {}\nrx_power_w = {}\n",
        rng.gen_range(0.1..3.0),
        rng.gen_range(0.1..2.0)
    )
    .unwrap();
    match rng.gen_range(0..5) {
        0 => tail.push_str("[objective]\nkind = \"latency\"\n"),
        1 => tail.push_str("[objective]\nkind = \"throughput\"\n"),
        2 => tail.push_str("[objective]\nkind = \"energy\"\n"),
        3 => tail.push_str("[objective]\nkind = \"energy\"\nenergy_scope = \"all\"\n"),
        _ => write!(
            tail,
            "[objective]\nkind = \"weighted\"\nlatency_weight = {}\nenergy_weight = {}\n\
             energy_scope = \"{}\"\n",
            rng.gen_range(0.0..10.0),
            rng.gen_range(0.01..1.0),
            if rng.gen_bool(0.5) { "all" } else { "source" }
        )
        .unwrap(),
    }
    Draft {
        head,
        nodes,
        links,
        tail,
    }
}

/// Writes and loads a random instance with memories and limits drawn against the model's size
/// and a reference plan (every layer on the source).
fn random_instance(seed: u64, dir: &Path) -> PipelineProblem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let blocks = rng.gen_range(1..=5);
    std::fs::write(models.join("tiny.toml"), model(&mut rng, blocks)).unwrap();
    let d = draft(&mut rng, &models);
    let devices: Vec<&str> = (0..d.nodes)
        .map(|_| DEVICES[rng.gen_range(0..DEVICES.len())])
        .collect();
    let nodes_text = |memory: &[Option<f64>], extra: &[String]| {
        let mut t = String::new();
        for i in 0..d.nodes {
            write!(
                t,
                "[[nodes]]\nname = \"n{i}\"\ndevice = \"{}\"\n",
                devices[i]
            )
            .unwrap();
            if let Some(m) = memory[i] {
                writeln!(t, "memory_bytes = {m}").unwrap();
            }
            t.push_str(&extra[i]);
            t.push('\n');
        }
        t
    };
    let path = dir.join(format!("p{seed}.toml"));
    let plain = format!(
        "{}{}{}{}",
        d.head,
        nodes_text(&vec![None; d.nodes], &vec![String::new(); d.nodes]),
        d.links,
        d.tail
    );
    std::fs::write(&path, &plain).unwrap();
    let problem = edgeplan::instance::pipeline::load(&path).unwrap();
    let n = problem.layers();
    let total: f64 = (0..n).map(|l| problem.layer_memory_bytes(l)).sum();
    // The reference: everything on the source.
    let reference = evaluate(
        &problem,
        &PipelinePlan {
            stages: vec![Stage {
                node: 0,
                start: 0,
                end: n,
            }],
            routes: Routes {
                input: vec![0],
                forward: Vec::new(),
                backward: Vec::new(),
                output: if problem.is_inference() {
                    vec![0]
                } else {
                    Vec::new()
                },
            },
        },
    )
    .unwrap();

    let memory: Vec<Option<f64>> = (0..d.nodes)
        .map(|_| {
            rng.gen_bool(0.6)
                .then(|| (total * rng.gen_range(0.15..1.3)).max(1.0))
        })
        .collect();
    let extra: Vec<String> = (0..d.nodes)
        .map(|i| {
            let mut e = String::new();
            if rng.gen_bool(0.3) {
                writeln!(e, "background_load = {}", rng.gen_range(0.0..0.9)).unwrap();
            }
            if i > 0 && rng.gen_bool(0.12) {
                e.push_str("available = false\n");
            }
            e
        })
        .collect();
    let mut c = String::from("[constraints]\n");
    if rng.gen_bool(0.2) {
        writeln!(
            c,
            "deadline_s = {}",
            if rng.gen_bool(0.5) {
                (reference.latency_s * rng.gen_range(0.3..1.5)).max(1e-6)
            } else {
                10f64.powf(rng.gen_range(-3.0..0.0))
            }
        )
        .unwrap();
    }
    if rng.gen_bool(0.15) {
        writeln!(
            c,
            "energy_budget_j = {}",
            (reference.energy_j * rng.gen_range(0.3..3.0)).max(1e-6)
        )
        .unwrap();
    }
    if rng.gen_bool(0.15) {
        writeln!(
            c,
            "min_requests_per_s = {}",
            (1.0 / (reference.period_s * rng.gen_range(0.2..1.5)))
                .min(10f64.powf(rng.gen_range(0.5..4.0)))
        )
        .unwrap();
    }
    if rng.gen_bool(0.25) {
        c.push_str("embed_on_source = true\n");
    }
    if rng.gen_bool(0.3) {
        writeln!(c, "max_stages = {}", rng.gen_range(1..=3)).unwrap();
    }
    if problem.is_inference() && rng.gen_bool(0.3) {
        writeln!(c, "kv_requests = {}", rng.gen_range(1..=4)).unwrap();
    }
    let pair = |rng: &mut ChaCha8Rng| {
        format!(
            "{{ layer = {}, node = \"n{}\" }}",
            rng.gen_range(0..n),
            rng.gen_range(0..d.nodes)
        )
    };
    if rng.gen_bool(0.15) {
        writeln!(c, "pin = [{}]", pair(&mut rng)).unwrap();
    }
    if rng.gen_bool(0.25) {
        let list: Vec<String> = (0..rng.gen_range(1..4)).map(|_| pair(&mut rng)).collect();
        writeln!(c, "forbid = [{}]", list.join(", ")).unwrap();
    }
    let text = format!(
        "{}{}{}{}{c}",
        d.head,
        nodes_text(&memory, &extra),
        d.links,
        d.tail
    );
    std::fs::write(&path, &text).unwrap();
    edgeplan::instance::pipeline::load(&path).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"))
}

/// Asserts that a report's plan passes the evaluator and that its objective is the
/// evaluator's; returns the objective.
fn checked(seed: u64, what: &str, problem: &PipelineProblem, report: &PipelineReport) -> f64 {
    let plan = report.plan.as_ref().unwrap();
    let ev = evaluate(problem, plan).unwrap();
    assert!(
        ev.feasible(),
        "seed {seed} {what}: {:?}\n{plan:?}",
        ev.violations
    );
    assert_eq!(
        report.stats.primal_status,
        PrimalStatus::Feasible,
        "seed {seed} {what}"
    );
    let reported = report.stats.objective.unwrap();
    assert!(
        rel_diff(reported, ev.objective) <= 1e-9,
        "seed {seed} {what}: reported {reported} vs evaluator {}",
        ev.objective
    );
    ev.objective
}

#[test]
fn milp_and_enumeration_equal_brute_force_on_random_instances() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunOptions::default();
    let highs = SolverPreset::builtin("highs").unwrap();
    let enumerate = SolverPreset::builtin("enumerate").unwrap();
    let local = SolverPreset {
        time_limit_s: Some(1.0),
        ..SolverPreset::builtin("local-search").unwrap()
    };
    let edgeshard = SolverPreset {
        name: "edgeshard".into(),
        solver: "edgeshard".into(),
        ..SolverPreset::builtin("local-search").unwrap()
    };
    let (mut feasible, mut infeasible, mut multi_hop) = (0, 0, 0);
    let mut objectives = std::collections::BTreeMap::new();
    for seed in 0..600u64 {
        let problem = random_instance(seed, &dir.path().join(format!("s{seed}")));
        *objectives.entry(problem.objective.name()).or_insert(0) += 1;
        let brute = pipeline_brute_force(&problem);
        let report = solve(&problem, &highs, &run).unwrap();
        let listed = solve(&problem, &enumerate, &run).unwrap();
        match &brute {
            None => {
                infeasible += 1;
                assert_eq!(
                    report.stats.termination,
                    Termination::Infeasible,
                    "seed {seed}: brute force finds no plan; HiGHS: {:?} {:?}",
                    report.stats,
                    report.plan
                );
                assert!(report.plan.is_none(), "seed {seed}");
                assert!(!report.explanation.is_empty(), "seed {seed}");
                assert_eq!(
                    listed.stats.termination,
                    Termination::Infeasible,
                    "seed {seed}"
                );
                assert!(listed.plan.is_none(), "seed {seed}");
            }
            Some((plan, best)) => {
                feasible += 1;
                if plan
                    .routes
                    .forward
                    .iter()
                    .chain([&plan.routes.input, &plan.routes.output])
                    .any(|r| r.len() > 2)
                {
                    multi_hop += 1;
                }
                let v = best.objective;
                assert_eq!(
                    report.stats.termination,
                    Termination::Optimal,
                    "seed {seed}: {:?}",
                    report.stats
                );
                let milp = checked(seed, "highs", &problem, &report);
                assert!(
                    rel_diff(milp, v) <= 1e-6,
                    "seed {seed}: HiGHS {milp} vs brute force {v}\nHiGHS {:?}\nbrute {plan:?}",
                    report.plan
                );
                if let Some(b) = report.stats.bound {
                    assert!(
                        b <= v * (1.0 + 1e-6) + 1e-12,
                        "seed {seed}: bound {b} > {v}"
                    );
                }
                assert!(report.details.milp.is_some(), "seed {seed}");
                assert_eq!(listed.stats.termination, Termination::Optimal);
                let e = checked(seed, "enumerate", &problem, &listed);
                assert!(
                    rel_diff(e, v) <= 1e-9,
                    "seed {seed}: enumerate {e} vs brute force {v}"
                );
            }
        }
        for preset in [&local, &edgeshard] {
            let r = solve(&problem, preset, &run).unwrap();
            let Some(plan) = &r.plan else { continue };
            let ev = evaluate(&problem, plan).unwrap();
            if !ev.feasible() {
                continue;
            }
            let (_, best) = brute.as_ref().unwrap_or_else(|| {
                panic!(
                    "seed {seed}: {} finds a feasible plan, brute force none",
                    preset.name
                )
            });
            assert!(
                ev.objective >= best.objective * (1.0 - 1e-9),
                "seed {seed}: {} {} beats the optimum {}",
                preset.name,
                ev.objective,
                best.objective
            );
        }
    }
    eprintln!(
        "feasible {feasible}, infeasible {infeasible}, multi-hop {multi_hop}, {objectives:?}"
    );
    assert!(feasible >= 350, "{feasible}");
    assert!(infeasible >= 30, "{infeasible}");
    assert!(multi_hop >= 30, "{multi_hop}");
}
