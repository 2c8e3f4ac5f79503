//! The collaboration solvers against brute force on small random instances: the MILP's optimum
//! is the brute force's (primary objective and latency tie-break), the greedy and the baselines
//! are never better and always fit, removing speculative decoding never helps, and the MILP is
//! never worse than its MIP start (the greedy).

use std::path::Path;

use edgeplan::costs::device::DeviceCatalog;
use edgeplan::problems::collab::baselines;
use edgeplan::problems::collab::enumerate::enumerate;
use edgeplan::problems::collab::explain::explain;
use edgeplan::problems::collab::greedy::greedy;
use edgeplan::problems::collab::milp::{choice_fits, choice_score, milp};
use edgeplan::problems::collab::price::{Options, Score};
use edgeplan::problems::collab::testing::{random_problem, Shape};
use edgeplan::problems::collab::{CollabProblem, ModeKind, Objective};
use edgeplan::solve::milp::MipOptions;
use edgeplan::solve::report::Termination;

fn catalog() -> DeviceCatalog {
    DeviceCatalog::load(Path::new("instances/devices.csv")).unwrap()
}

/// The shape of instance `seed`: 3-5 users, both objectives, 2-4 variants, a varying number of
/// resource blocks and draft lengths.
fn shape(seed: u64) -> Shape {
    let mut s = Shape::small(3 + (seed % 3) as usize);
    s.objective = if seed.is_multiple_of(2) {
        Objective::Quality
    } else {
        Objective::Served
    };
    s.variants = 2 + (seed / 2 % 3) as usize;
    s.resource_blocks = [4, 8, 12, 20][(seed / 3 % 4) as usize];
    if seed.is_multiple_of(5) {
        s.draft_lengths = vec![1, 4];
    }
    s
}

/// The instance of `seed`, with the cascade baseline's escalation among the offered ones (so
/// that the baseline's plans are plans of the instance).
fn problem(catalog: &DeviceCatalog, seed: u64) -> CollabProblem {
    let mut p = random_problem(catalog, &shape(seed), seed);
    p.baseline_escalation = p.escalations[(seed % p.escalations.len() as u64) as usize];
    p
}

fn exact(problem: &CollabProblem, options: &Options, start: Option<&[usize]>) -> Option<Score> {
    let out = milp(problem, options, &MipOptions::default(), start).unwrap();
    match &out.choice {
        Some(c) => {
            assert!(
                choice_fits(problem, options, c),
                "{}: MILP plan unfit",
                problem.name
            );
            assert_eq!(out.termination, Termination::Optimal, "{}", problem.name);
            assert_eq!(
                out.tie_break,
                Some(Termination::Optimal),
                "{}",
                problem.name
            );
            let s = choice_score(problem, options, c).unwrap();
            let b = out.bound.expect("a bound");
            assert!(
                b >= s.primary - 1e-6 * s.primary.abs().max(1.0),
                "{}: bound {b} below {}",
                problem.name,
                s.primary
            );
            Some(s)
        }
        None => {
            assert_eq!(out.termination, Termination::Infeasible, "{}", problem.name);
            None
        }
    }
}

fn close(a: &Score, b: &Score) -> bool {
    (a.primary - b.primary).abs() <= 1e-6 * a.primary.abs().max(1.0)
        && (a.latency_s - b.latency_s).abs() <= 1e-6 * a.latency_s.abs().max(1e-9)
}

#[test]
fn milp_matches_brute_force_and_heuristics_never_beat_it() {
    let catalog = catalog();
    let (mut feasible, mut infeasible, mut served) = (0, 0, 0);
    let mut greedy_optimal = 0;
    for seed in 0..600u64 {
        let problem = problem(&catalog, seed);
        let options = Options::build(&problem);
        let brute = enumerate(&problem, &options)
            .unwrap_or_else(|e| panic!("{}: {e}", problem.name))
            .map(|c| {
                assert!(choice_fits(&problem, &options, &c));
                choice_score(&problem, &options, &c).unwrap()
            });
        let g = greedy(&problem, &options);
        let g_score = g.as_ref().map(|c| {
            assert!(
                choice_fits(&problem, &options, c),
                "{}: greedy unfit",
                problem.name
            );
            choice_score(&problem, &options, c).unwrap()
        });
        let opt = exact(&problem, &options, g.as_deref());
        match (&brute, &opt) {
            (None, None) => {
                infeasible += 1;
                assert!(g.is_none());
                assert!(!explain(&problem, &options).is_empty());
            }
            (Some(b), Some(m)) => {
                feasible += 1;
                if problem.objective == Objective::Served {
                    served += 1;
                }
                assert!(close(b, m), "{}: brute {b:?} MILP {m:?}", problem.name);
                if let Some(gs) = &g_score {
                    assert!(
                        !gs.better(m, 1e-9),
                        "{}: greedy {gs:?} beats {m:?}",
                        problem.name
                    );
                    if close(gs, m) {
                        greedy_optimal += 1;
                    }
                }
            }
            _ => panic!("{}: brute {brute:?} MILP {opt:?}", problem.name),
        }
        // The baselines: never better, always fit.
        for name in ["all-device", "all-edge", "cascade-fixed"] {
            if let Some(chosen) = baselines::baseline(&problem, name).unwrap() {
                assert!(baselines::fits_at_min(&problem, &chosen), "{name} unfit");
                let s = baselines::score_of(&problem, &chosen);
                let m = opt.unwrap_or_else(|| panic!("{}: {name} fits, MILP none", problem.name));
                assert!(
                    !s.better(&m, 1e-9),
                    "{}: {name} {s:?} beats {m:?}",
                    problem.name
                );
            }
        }
        // Without speculative decoding the optimum is never better.
        let mut fewer = problem.clone();
        fewer.modes.retain(|&m| m != ModeKind::Speculative);
        let fewer_options = Options::build(&fewer);
        match (exact(&fewer, &fewer_options, None), &opt) {
            (Some(f), Some(m)) => {
                assert!(!f.better(m, 1e-9), "{}: {f:?} beats {m:?}", problem.name)
            }
            (Some(f), None) => panic!("{}: {f:?} without speculation only", problem.name),
            _ => {}
        }
    }
    eprintln!(
        "feasible {feasible} (served {served}), infeasible {infeasible}, greedy optimal \
         {greedy_optimal}"
    );
    assert!(feasible >= 300, "only {feasible} feasible instances");
    assert!(infeasible >= 10, "only {infeasible} infeasible instances");
    assert!(served >= 100);
    // The greedy is a heuristic, but on instances this small it should mostly find the optimum.
    assert!(
        greedy_optimal * 10 >= feasible * 7,
        "greedy optimal on {greedy_optimal}"
    );
}

/// The MIP start never makes the MILP worse, even under a tiny time limit.
#[test]
fn milp_is_never_worse_than_its_start() {
    let catalog = catalog();
    let mut shape = Shape::small(30);
    shape.variants = 4;
    shape.resource_blocks = 60;
    let mut checked = 0;
    for seed in 0..6u64 {
        let problem = random_problem(&catalog, &shape, 1000 + seed);
        let options = Options::build(&problem);
        let Some(g) = greedy(&problem, &options) else {
            continue;
        };
        let gs = choice_score(&problem, &options, &g).unwrap();
        let mip = MipOptions {
            time_limit_s: Some(0.05),
            ..MipOptions::default()
        };
        let out = milp(&problem, &options, &mip, Some(&g)).unwrap();
        let c = out.choice.expect("the start at least");
        assert!(choice_fits(&problem, &options, &c));
        let s = choice_score(&problem, &options, &c).unwrap();
        assert!(!gs.better(&s, 1e-12), "{gs:?} vs {s:?}");
        checked += 1;
    }
    assert!(checked >= 3);
}

/// Brute force refuses instances beyond its limit, with a message.
#[test]
fn brute_force_refuses_large_instances() {
    let catalog = catalog();
    let mut refused = 0;
    for seed in 0..10 {
        let problem = random_problem(&catalog, &Shape::small(40), seed);
        let options = Options::build(&problem);
        let leaves: f64 = options.options.iter().map(|o| o.len() as f64).product();
        if leaves > 5e6 {
            let err = enumerate(&problem, &options).unwrap_err();
            assert!(err.contains("limit"), "{err}");
            refused += 1;
        }
    }
    assert!(refused > 0);
}

/// An instance with a user no option serves is explained by that user.
#[test]
fn infeasible_users_are_named() {
    let catalog = catalog();
    let mut problem = random_problem(&catalog, &Shape::small(3), 11);
    problem.users[1].deadline_s = 1e-6;
    let options = Options::build(&problem);
    assert!(greedy(&problem, &options).is_none());
    let out = milp(&problem, &options, &MipOptions::default(), None).unwrap();
    assert!(out.choice.is_none());
    let why = explain(&problem, &options);
    assert!(why[0].contains(&problem.users[1].name), "{why:?}");
    assert!(why[0].contains("deadline"), "{why:?}");
}
