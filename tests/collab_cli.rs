//! The shipped collab instances end to end: every solver's plan round-trips through `evaluate`;
//! the exact optimum is proven and never beaten by the greedy or a baseline; the expectations
//! agree with the Monte Carlo simulation; allowing speculative decoding never hurts; the
//! infeasible instance is explained.

mod common;

use std::path::Path;

use common::{edgeplan, edgeplan_json, preset};
use edgeplan::problems::collab::solve::solve;
use edgeplan::problems::collab::ModeKind;
use edgeplan::solve::RunOptions;

/// The feasible shipped instances.
const SHIPPED: [&str; 6] = [
    "instances/collab/collab-4-users-brute.toml",
    "instances/collab/collab-8-users.toml",
    "instances/collab/collab-12-users-split.toml",
    "instances/collab/collab-20-users-served.toml",
    "instances/collab/collab-30-users-loaded.toml",
    "instances/collab/collab-100-users.toml",
];

#[test]
fn collab_plans_round_trip_and_the_optimum_is_never_beaten() {
    let dir = tempfile::tempdir().unwrap();
    for instance in SHIPPED {
        let exact = edgeplan_json(&["solve", instance, "--json"]);
        assert_eq!(exact["stats"]["termination"], "optimal", "{instance}");
        let ev = &exact["evaluation"];
        assert_eq!(ev["violations"].as_array().unwrap().len(), 0, "{instance}");
        assert_eq!(ev["mc_familywise_agrees"], true, "{instance}");
        let best = exact["stats"]["objective"].as_f64().unwrap();
        let bound = exact["stats"]["bound"].as_f64().unwrap();
        assert!(bound >= best - 1e-9 * best.max(1.0), "{instance}");
        let back = common::evaluate_report(dir.path(), instance, &exact);
        assert!((back["objective"].as_f64().unwrap() - best).abs() <= 1e-9 * best.max(1.0));
        for solver in ["greedy", "all-device", "all-edge", "cascade-fixed"] {
            let out = edgeplan(&["solve", instance, "--solver", solver, "--json"]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{instance} {solver}: {e}"));
            if report["plan"].is_null() {
                assert_ne!(solver, "greedy", "{instance}: the greedy found no plan");
                continue;
            }
            let value = report["stats"]["objective"].as_f64().unwrap();
            let feasible = report["evaluation"]["violations"]
                .as_array()
                .unwrap()
                .is_empty();
            assert!(feasible, "{instance} {solver}: an infeasible plan reported");
            assert!(value <= best + 1e-9 * best.max(1.0), "{instance} {solver}");
            if solver == "greedy" {
                // The greedy's target: within 3% of the optimum.
                assert!(value >= 0.97 * best, "{instance}: greedy {value} vs {best}");
            }
            let back = common::evaluate_report(dir.path(), instance, &report);
            assert!((back["objective"].as_f64().unwrap() - value).abs() <= 1e-9 * value.max(1.0));
        }
    }
}

/// Removing the speculative mode from a shipped instance never improves its optimum.
#[test]
fn speculative_decoding_never_makes_the_optimum_worse() {
    for instance in SHIPPED {
        let with = edgeplan::instance::collab::load(Path::new(instance)).unwrap();
        let mut without = with.clone();
        without.modes.retain(|m| *m != ModeKind::Speculative);
        let run = RunOptions::default();
        let a = solve(&with, &preset("highs"), &run).unwrap();
        let b = solve(&without, &preset("highs"), &run).unwrap();
        let a_ev = a.evaluation.expect("a plan with speculative decoding");
        if let Some(b_ev) = b.evaluation {
            assert!(
                b_ev.objective <= a_ev.objective + 1e-9 * a_ev.objective.max(1.0),
                "{instance}: {} without speculative, {} with",
                b_ev.objective,
                a_ev.objective
            );
        }
    }
}

#[test]
fn the_infeasible_collab_instance_is_explained() {
    let out = edgeplan(&["solve", "instances/collab/collab-infeasible.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["termination"], "infeasible");
    let text = report["explanation"].to_string();
    assert!(
        text.contains("user u1") && text.contains("deadline"),
        "{text}"
    );
}

/// A baseline that finds nothing on a feasible instance names the user it cannot serve, under
/// a heading that does not claim the instance is infeasible.
#[test]
fn a_failed_baseline_names_the_user_it_cannot_serve() {
    let out = edgeplan(&[
        "solve",
        "instances/collab/collab-30-users-loaded.toml",
        "--solver",
        "all-device",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("why no plan was found:"), "{text}");
    assert!(
        text.contains("all-device: user u17 cannot take it"),
        "{text}"
    );
}

/// Latency at equal quality: every user's quality target set to its quality in the optimum
/// without speculative decoding, the `served` objective (all users can be served at those
/// targets either way) then minimises the weighted mean latency; with speculative decoding it
/// is never higher. Prints the gain per shipped instance (`--nocapture`).
#[test]
fn speculative_decoding_cuts_latency_at_equal_quality() {
    use edgeplan::problems::collab::price::price;
    use edgeplan::problems::collab::{CollabPlan, CollabProblem, Objective};
    // Weighted mean latency with every user at its fewest blocks (the optimised tie-break).
    let tie_break = |p: &CollabProblem, plan: &CollabPlan| -> f64 {
        let w: f64 = p.users.iter().map(|u| u.weight).sum();
        plan.users
            .iter()
            .enumerate()
            .map(|(u, c)| p.users[u].weight * price(p, u, c.mode).min_latency())
            .sum::<f64>()
            / w
    };
    let run = RunOptions::default();
    for instance in SHIPPED {
        let with = edgeplan::instance::collab::load(Path::new(instance)).unwrap();
        let mut without = with.clone();
        without.modes.retain(|m| *m != ModeKind::Speculative);
        let base = solve(&without, &preset("highs"), &run).unwrap();
        let base_ev = base.evaluation.unwrap();
        let targets = |p: &mut CollabProblem| {
            p.objective = Objective::Served;
            for (user, e) in p.users.iter_mut().zip(&base_ev.users) {
                user.quality_target = Some(e.quality);
            }
        };
        let (mut a, mut b) = (with.clone(), without.clone());
        targets(&mut a);
        targets(&mut b);
        let ra = solve(&a, &preset("highs"), &run).unwrap();
        let rb = solve(&b, &preset("highs"), &run).unwrap();
        let (ea, eb) = (ra.evaluation.unwrap(), rb.evaluation.unwrap());
        assert!((ea.objective - 1.0).abs() < 1e-9 && (eb.objective - 1.0).abs() < 1e-9);
        let (la, lb) = (
            tie_break(&a, ra.plan.as_ref().unwrap()),
            tie_break(&b, rb.plan.as_ref().unwrap()),
        );
        assert!(
            la <= lb * (1.0 + 1e-9),
            "{instance}: {la} with, {lb} without"
        );
        println!(
            "{instance}: equal quality {:.2}%: latency {:.3} s with speculative, {:.3} s without \
             ({:.1}% lower; after the spare blocks {:.3} vs {:.3} s); speculative users {}",
            base_ev.mean_quality,
            la,
            lb,
            100.0 * (1.0 - la / lb),
            ea.mean_latency_s,
            eb.mean_latency_s,
            ea.mode_counts
                .iter()
                .find(|(k, _)| k == "speculative")
                .map_or(0, |(_, n)| *n)
        );
    }
}

/// Brute force agrees with the MILP on the shipped instance small enough for it (and refuses
/// the others without an error exit).
#[test]
fn brute_force_agrees_with_the_milp_on_the_small_shipped_instance() {
    let brute = edgeplan_json(&[
        "solve",
        "instances/collab/collab-4-users-brute.toml",
        "--solver",
        "enumerate",
        "--json",
    ]);
    let exact = edgeplan_json(&[
        "solve",
        "instances/collab/collab-4-users-brute.toml",
        "--json",
    ]);
    assert_eq!(brute["stats"]["termination"], "optimal");
    let (a, b) = (
        brute["stats"]["objective"].as_f64().unwrap(),
        exact["stats"]["objective"].as_f64().unwrap(),
    );
    assert!(
        (a - b).abs() <= 1e-9 * a.max(1.0),
        "brute force {a}, MILP {b}"
    );
    let (la, lb) = (
        brute["evaluation"]["mean_latency_s"].as_f64().unwrap(),
        exact["evaluation"]["mean_latency_s"].as_f64().unwrap(),
    );
    assert!(
        (la - lb).abs() <= 1e-6 * la,
        "latency: brute force {la}, MILP {lb}"
    );
    let out = edgeplan(&[
        "solve",
        "instances/collab/collab-100-users.toml",
        "--solver",
        "enumerate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("brute force would visit"));
}
