//! The collaboration evaluator against the solvers' pricing: on random instances every user's
//! expected latency, device energy, quality and edge service in every candidate mode equal
//! `price()`'s to 1e-9 relative; the Monte Carlo interval holds the expectation for about 95% of
//! the stochastic users and always for the deterministic ones; violations are named; malformed
//! plans are refused by field; no evaluation of a random plan holds a non-finite number; the
//! text rendering prints every user on one line.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use edgeplan::costs::DeviceCatalog;
use edgeplan::problems::collab::evaluate::{check_shape, evaluate, Evaluation};
use edgeplan::problems::collab::price::{self, candidate_modes, price, Priced};
use edgeplan::problems::collab::render;
use edgeplan::problems::collab::solve::{CollabDetails, CollabReport};
use edgeplan::problems::collab::testing::{random_problem, Shape};
use edgeplan::problems::collab::{
    CollabPlan, CollabProblem, Mode, ModeKind, Objective, UserChoice,
};
use edgeplan::solve::{Report, SolveStats};

fn catalog() -> DeviceCatalog {
    DeviceCatalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/devices.csv"))
        .unwrap()
}

/// Shape number `i`: small (no split) or with split, both objectives, 3 to 6 users.
fn shape(i: u64) -> Shape {
    let mut s = Shape::small(3 + (i % 4) as usize);
    if i % 2 == 1 {
        s.modes.push(ModeKind::Split);
    }
    s.objective = if (i / 2).is_multiple_of(2) {
        Objective::Quality
    } else {
        Objective::Served
    };
    s
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

/// Violations naming user `name`.
fn user_violations<'a>(ev: &'a Evaluation, name: &str) -> Vec<&'a String> {
    let tag = format!("user {name} ");
    ev.violations.iter().filter(|v| v.contains(&tag)).collect()
}

/// Every finite number of an evaluation.
fn assert_finite(ev: &Evaluation) {
    let mut xs = vec![
        ev.objective,
        ev.mean_quality,
        ev.served_share,
        ev.mean_latency_s,
        ev.mean_energy_j,
        ev.edge_utilisation,
        ev.edge_memory_bytes,
        ev.mc_mean_latency_s,
    ];
    for u in &ev.users {
        let mc = &u.monte_carlo;
        xs.extend([
            u.quality,
            u.latency_s,
            u.deadline_s,
            u.energy_j,
            u.edge_service_s,
            u.rounds,
            mc.mean_latency_s,
            mc.latency_half_width_s,
            mc.mean_energy_j,
            mc.energy_half_width_j,
            mc.p95_latency_s,
        ]);
    }
    assert!(xs.iter().all(|x| x.is_finite()), "{ev:?}");
}

#[test]
fn expectations_equal_the_pricing_in_every_candidate_mode() {
    let catalog = catalog();
    let (mut compared, mut feasible, mut at_fewer) = (0usize, 0usize, 0usize);
    let mut kinds = [0usize; 5];
    for seed in 0..120u64 {
        let mut problem = random_problem(&catalog, &shape(seed), seed);
        problem.mc_requests = 4;
        let modes = candidate_modes(&problem);
        for &mode in &modes {
            let priced: Vec<Priced> = (0..problem.users.len())
                .map(|u| price(&problem, u, mode))
                .collect();
            // Every user in this mode, at its fewest blocks (1 where no number fits).
            let blocks: Vec<usize> = priced.iter().map(|p| p.min_blocks.unwrap_or(1)).collect();
            let plan = CollabPlan {
                users: blocks
                    .iter()
                    .map(|&n| UserChoice {
                        mode,
                        resource_blocks: n,
                    })
                    .collect(),
            };
            let ev = evaluate(&problem, &plan).unwrap();
            assert_finite(&ev);
            // The objective as the solvers score it.
            let primary: f64 = priced
                .iter()
                .enumerate()
                .map(|(u, p)| {
                    problem.users[u].weight * price::primary_value(&problem, u, p.quality)
                })
                .sum::<f64>()
                / problem.total_weight();
            assert!(
                close(ev.objective, primary, 1e-12),
                "seed {seed} {mode:?}: objective {} vs {primary}",
                ev.objective
            );
            for (u, p) in priced.iter().enumerate() {
                let e = &ev.users[u];
                let user = &problem.users[u];
                let n = blocks[u];
                let what = format!("seed {seed} user {u} {mode:?} n={n}");
                assert!(
                    close(e.latency_s, p.timing.latency(n), 1e-9),
                    "{what}: latency {} vs {}",
                    e.latency_s,
                    p.timing.latency(n)
                );
                assert!(
                    close(e.energy_j, p.timing.energy(n, user), 1e-9),
                    "{what}: energy {} vs {}",
                    e.energy_j,
                    p.timing.energy(n, user)
                );
                assert!(close(e.quality, p.quality, 1e-12), "{what}: quality");
                assert!(
                    close(e.edge_service_s, p.edge_service_s, 1e-9),
                    "{what}: edge service {} vs {}",
                    e.edge_service_s,
                    p.edge_service_s
                );
                if let Mode::Speculative {
                    draft,
                    target,
                    draft_length,
                } = mode
                {
                    let a = problem.acceptance[draft][target].unwrap();
                    let r = price::expected_rounds(a, draft_length, user.output_tokens);
                    assert!(
                        close(e.rounds, r, 1e-9),
                        "{what}: rounds {} vs {r}",
                        e.rounds
                    );
                } else {
                    assert_eq!(e.rounds, 0.0);
                }
                compared += 1;
                if p.min_blocks.is_some() {
                    feasible += 1;
                    kinds[mode.kind() as usize] += 1;
                    // Feasible for the solvers: no limit of this user is violated.
                    assert!(
                        user_violations(&ev, &user.name).is_empty(),
                        "{what}: {:?}",
                        ev.violations
                    );
                }
            }
            // One block fewer than the fewest: the evaluator sees the user's limit broken.
            if blocks
                .iter()
                .zip(&priced)
                .any(|(&n, p)| n >= 2 && p.min_blocks.is_some())
            {
                let fewer = CollabPlan {
                    users: blocks
                        .iter()
                        .map(|&n| UserChoice {
                            mode,
                            resource_blocks: n.saturating_sub(1).max(1),
                        })
                        .collect(),
                };
                let ev = evaluate(&problem, &fewer).unwrap();
                for (u, p) in priced.iter().enumerate() {
                    if p.min_blocks.is_some_and(|n| n >= 2) {
                        let name = &problem.users[u].name;
                        let broken = user_violations(&ev, name);
                        assert!(
                            broken
                                .iter()
                                .any(|v| v.starts_with("latency:") || v.starts_with("energy:")),
                            "seed {seed} user {u} {mode:?} at {} blocks: {:?}",
                            blocks[u] - 1,
                            ev.violations
                        );
                        at_fewer += 1;
                    }
                }
            }
        }
    }
    eprintln!("compared {compared} feasible {feasible} kinds {kinds:?} at_fewer {at_fewer}");
    // Not vacuous: many comparisons, feasible ones in every kind.
    assert!(compared > 20_000, "{compared}");
    assert!(feasible > 2_000, "{feasible}");
    assert!(kinds.iter().all(|&k| k > 50), "feasible per kind {kinds:?}");
    assert!(at_fewer > 100, "{at_fewer}");
}

#[test]
fn monte_carlo_intervals_hold_the_expectation_about_95_percent_of_the_time() {
    let catalog = catalog();
    let (mut stochastic, mut misses, mut deterministic) = (0usize, 0usize, 0usize);
    for seed in 0..100u64 {
        let mut problem = random_problem(&catalog, &shape(seed), 1000 + seed);
        problem.mc_requests = 1000;
        let modes = candidate_modes(&problem);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n_max = problem.edge.resource_blocks;
        // Mostly stochastic users: cascades and speculative decoding.
        let random: Vec<Mode> = modes
            .iter()
            .copied()
            .filter(|m| matches!(m.kind(), ModeKind::Cascade | ModeKind::Speculative))
            .collect();
        let plan = CollabPlan {
            users: (0..problem.users.len())
                .map(|_| UserChoice {
                    mode: if rng.gen_bool(0.8) {
                        random[rng.gen_range(0..random.len())]
                    } else {
                        modes[rng.gen_range(0..modes.len())]
                    },
                    resource_blocks: rng.gen_range(1..=n_max),
                })
                .collect(),
        };
        let ev = evaluate(&problem, &plan).unwrap();
        assert_finite(&ev);
        for (choice, e) in plan.users.iter().zip(&ev.users) {
            let mc = &e.monte_carlo;
            assert_eq!(mc.requests, 1000);
            match choice.mode.kind() {
                ModeKind::Cascade | ModeKind::Speculative => {
                    stochastic += 1;
                    assert!(mc.latency_half_width_s > 0.0, "{choice:?}: {mc:?}");
                    if !mc.agrees {
                        misses += 1;
                    }
                }
                _ => {
                    deterministic += 1;
                    assert!(mc.agrees, "deterministic {choice:?}: {mc:?} vs {e:?}");
                    assert!(close(mc.mean_latency_s, e.latency_s, 1e-9));
                    assert!(close(mc.mean_energy_j, e.energy_j, 1e-9));
                    assert!(close(mc.p95_latency_s, e.latency_s, 1e-9));
                }
            }
        }
        assert_eq!(
            ev.mc_agreeing_users,
            ev.users.iter().filter(|u| u.monte_carlo.agrees).count()
        );
    }
    let rate = misses as f64 / stochastic as f64;
    eprintln!("{misses} misses of {stochastic} stochastic users, {deterministic} deterministic");
    assert!(
        stochastic > 300 && deterministic > 30,
        "{stochastic} {deterministic}"
    );
    // About 5%: well under 10%, and not an interval so wide that it never misses.
    assert!(
        rate < 0.10 && rate > 0.01,
        "{misses} misses of {stochastic}"
    );
}

/// A random instance with split mode, the seed found by `pick`.
fn problem_with(pick: impl Fn(&CollabProblem) -> bool) -> CollabProblem {
    let catalog = catalog();
    (0..500u64)
        .map(|seed| random_problem(&catalog, &shape(seed), seed))
        .find(|p| pick(p))
        .expect("an instance")
}

/// Every user at variant 0 on the device (no radio) or at the edge with `blocks` blocks.
fn uniform(problem: &CollabProblem, mode: Mode, blocks: usize) -> CollabPlan {
    CollabPlan {
        users: problem
            .users
            .iter()
            .map(|_| UserChoice {
                mode,
                resource_blocks: blocks,
            })
            .collect(),
    }
}

fn has(ev: &Evaluation, prefix: &str) -> bool {
    ev.violations.iter().any(|v| v.starts_with(prefix))
}

#[test]
fn violations_are_detected_and_named() {
    let mut problem = problem_with(|p| p.users.len() >= 3);
    problem.mc_requests = 10;
    let n_max = problem.edge.resource_blocks;
    let users = problem.users.len();
    let edge0 = Mode::Edge { variant: 0 };
    let device0 = Mode::Device { variant: 0 };

    // Blocks: the sum over users against N.
    let roomy = {
        let mut p = problem.clone();
        p.edge.memory_bytes = 1e15;
        p.edge.max_utilisation = 0.99;
        for u in &mut p.users {
            u.rate_per_s = 1e-6;
            u.deadline_s = 1e6;
            u.energy_limit_j = None;
            u.memory_bytes = 1e15;
        }
        p
    };
    let per = n_max / users;
    let ok = evaluate(&roomy, &uniform(&roomy, edge0, per)).unwrap();
    assert!(ok.feasible(), "{:?}", ok.violations);
    assert_eq!(ok.resource_blocks_used, per * users);
    let many = evaluate(&roomy, &uniform(&roomy, edge0, per + 1 + n_max)).unwrap();
    assert!(has(&many, "blocks: "), "{:?}", many.violations);
    // A radio user without a block.
    let zero = evaluate(&roomy, &uniform(&roomy, edge0, 0)).unwrap();
    assert!(has(&zero, "blocks.user: user u0 "), "{:?}", zero.violations);
    assert!(zero.users.iter().all(|u| u.latency_s.is_finite()));
    // A device-only user with no block is fine.
    let device = evaluate(&roomy, &uniform(&roomy, device0, 0)).unwrap();
    assert!(device.feasible(), "{:?}", device.violations);
    assert_eq!(device.held_variants, Vec::<String>::new());

    // A user over its deadline, and exactly at it.
    let mut late = roomy.clone();
    let latency = device.users[1].latency_s;
    late.users[1].deadline_s = latency;
    let at = evaluate(&late, &uniform(&late, device0, 0)).unwrap();
    assert!(at.feasible(), "{:?}", at.violations);
    late.users[1].deadline_s = latency * 0.99;
    let over = evaluate(&late, &uniform(&late, device0, 0)).unwrap();
    assert_eq!(over.violations.len(), 1, "{:?}", over.violations);
    assert!(has(&over, "latency: user u1 "), "{:?}", over.violations);

    // A user over its energy limit.
    let mut hungry = roomy.clone();
    hungry.users[2].energy_limit_j = Some(device.users[2].energy_j * 0.99);
    let ev = evaluate(&hungry, &uniform(&hungry, device0, 0)).unwrap();
    assert!(has(&ev, "energy: user u2 "), "{:?}", ev.violations);

    // A device too small for the model.
    let mut small = roomy.clone();
    small.users[0].memory_bytes = 1e6;
    let ev = evaluate(&small, &uniform(&small, device0, 0)).unwrap();
    assert!(has(&ev, "memory.device: user u0 "), "{:?}", ev.violations);

    // The edge's memory: the variant's weights once plus every user's KV cache.
    let held = evaluate(&roomy, &uniform(&roomy, edge0, 1)).unwrap();
    let need = roomy.variants[0].weight_bytes()
        + roomy
            .users
            .iter()
            .map(|u| roomy.variants[0].kv_bytes(u.prompt_tokens + u.output_tokens))
            .sum::<f64>();
    assert!(close(held.edge_memory_bytes, need, 1e-12));
    assert_eq!(held.held_variants, vec![roomy.variants[0].name.clone()]);
    let mut tight = roomy.clone();
    tight.edge.memory_bytes = need;
    assert!(evaluate(&tight, &uniform(&tight, edge0, 1))
        .unwrap()
        .feasible());
    tight.edge.memory_bytes = need * 0.99;
    let ev = evaluate(&tight, &uniform(&tight, edge0, 1)).unwrap();
    assert!(has(&ev, "memory.edge: "), "{:?}", ev.violations);

    // The edge's utilisation.
    let mut busy = roomy.clone();
    for u in &mut busy.users {
        u.rate_per_s = 1e3;
    }
    let ev = evaluate(&busy, &uniform(&busy, edge0, 1)).unwrap();
    assert!(has(&ev, "utilisation: "), "{:?}", ev.violations);
    assert!(close(
        ev.edge_utilisation,
        1e3 * ev.users.iter().map(|u| u.edge_service_s).sum::<f64>(),
        1e-12
    ));
}

#[test]
fn malformed_plans_are_refused_by_field() {
    // No split allowed; three variants of one family.
    let problem = problem_with(|p| !p.allows(ModeKind::Split) && p.users.len() >= 3);
    let good = Mode::Speculative {
        draft: 0,
        target: 2,
        draft_length: 2,
    };
    let base = uniform(&problem, good, 1);
    assert_eq!(check_shape(&problem, &base), Ok(()));
    let with = |u: usize, mode: Mode, blocks: usize| {
        let mut plan = base.clone();
        plan.users[u] = UserChoice {
            mode,
            resource_blocks: blocks,
        };
        plan
    };
    let mut short = base.clone();
    short.users.pop();
    let cases: Vec<(CollabPlan, &str)> = vec![
        (short, "users: "),
        (
            with(1, Mode::Split { variant: 0, cut: 1 }, 1),
            "users[1].mode: ",
        ),
        (
            with(0, Mode::Device { variant: 3 }, 0),
            "users[0].variant: ",
        ),
        (with(2, Mode::Edge { variant: 99 }, 1), "users[2].variant: "),
        (
            with(
                0,
                Mode::Cascade {
                    draft: 5,
                    target: 1,
                    escalation: 0.5,
                },
                1,
            ),
            "users[0].draft: ",
        ),
        (
            with(
                0,
                Mode::Cascade {
                    draft: 0,
                    target: 3,
                    escalation: 0.5,
                },
                1,
            ),
            "users[0].target: ",
        ),
        (
            with(
                2,
                Mode::Cascade {
                    draft: 0,
                    target: 1,
                    escalation: 1.5,
                },
                1,
            ),
            "users[2].escalation: ",
        ),
        (
            with(
                2,
                Mode::Cascade {
                    draft: 0,
                    target: 1,
                    escalation: f64::NAN,
                },
                1,
            ),
            "users[2].escalation: ",
        ),
        (
            with(
                2,
                Mode::Cascade {
                    draft: 0,
                    target: 1,
                    escalation: -0.1,
                },
                1,
            ),
            "users[2].escalation: ",
        ),
        (
            with(
                1,
                Mode::Speculative {
                    draft: 2,
                    target: 0,
                    draft_length: 2,
                },
                1,
            ),
            "users[1].target: ",
        ),
        (
            with(
                1,
                Mode::Speculative {
                    draft: 1,
                    target: 1,
                    draft_length: 2,
                },
                1,
            ),
            "users[1].target: ",
        ),
        (
            with(
                0,
                Mode::Speculative {
                    draft: 0,
                    target: 1,
                    draft_length: 0,
                },
                1,
            ),
            "users[0].draft_length: ",
        ),
        (
            with(
                0,
                Mode::Speculative {
                    draft: 0,
                    target: 1,
                    draft_length: 65,
                },
                1,
            ),
            "users[0].draft_length: ",
        ),
        (with(2, good, 1_000_001), "users[2].resource_blocks: "),
    ];
    for (plan, field) in &cases {
        let err = check_shape(&problem, plan).unwrap_err();
        assert!(err.starts_with(field), "{field}: {err}");
        assert!(err.contains("expected"), "{err}");
        let e = evaluate(&problem, plan).unwrap_err().to_string();
        assert!(e.contains(field.trim_end()), "{e}");
    }
    // Edge values that are fine.
    for mode in [
        Mode::Cascade {
            draft: 0,
            target: 1,
            escalation: 0.0,
        },
        Mode::Cascade {
            draft: 2,
            target: 0,
            escalation: 1.0,
        },
        Mode::Speculative {
            draft: 0,
            target: 1,
            draft_length: 64,
        },
    ] {
        assert_eq!(check_shape(&problem, &with(0, mode, 1_000_000)), Ok(()));
    }

    // Cuts, where split is allowed.
    let split = problem_with(|p| p.allows(ModeKind::Split));
    let rows = split.variants[1].table.len();
    for (cut, ok) in [(0, false), (1, true), (rows - 1, true), (rows, false)] {
        let plan = uniform(&split, Mode::Split { variant: 1, cut }, 1);
        let r = check_shape(&split, &plan);
        assert_eq!(r.is_ok(), ok, "cut {cut}: {r:?}");
        if let Err(e) = r {
            assert!(e.starts_with("users[0].cut: "), "{e}");
        }
    }
}

/// A random mode of any shape `check_shape` accepts.
fn random_mode(problem: &CollabProblem, rng: &mut ChaCha8Rng) -> Mode {
    let nv = problem.variants.len();
    loop {
        let kind = problem.modes[rng.gen_range(0..problem.modes.len())];
        let (a, b) = (rng.gen_range(0..nv), rng.gen_range(0..nv));
        let mode = match kind {
            ModeKind::Device => Mode::Device { variant: a },
            ModeKind::Edge => Mode::Edge { variant: a },
            ModeKind::Cascade => Mode::Cascade {
                draft: a,
                target: b,
                escalation: [0.0, 1.0, rng.gen::<f64>()][rng.gen_range(0..3)],
            },
            ModeKind::Speculative => {
                if problem.acceptance[a][b].is_none() {
                    continue;
                }
                Mode::Speculative {
                    draft: a,
                    target: b,
                    draft_length: rng.gen_range(1..=64),
                }
            }
            ModeKind::Split => Mode::Split {
                variant: a,
                cut: rng.gen_range(1..problem.variants[a].table.len()),
            },
        };
        return mode;
    }
}

#[test]
fn random_plans_evaluate_to_finite_numbers_and_render() {
    let catalog = catalog();
    for seed in 0..60u64 {
        let mut problem = random_problem(&catalog, &shape(seed), 500 + seed);
        problem.mc_requests = [0, 1, 2, 30][(seed % 4) as usize];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n_max = problem.edge.resource_blocks;
        let plan = CollabPlan {
            users: (0..problem.users.len())
                .map(|_| UserChoice {
                    mode: random_mode(&problem, &mut rng),
                    resource_blocks: [0, 1, rng.gen_range(0..=3 * n_max), 1_000_000]
                        [rng.gen_range(0..4)],
                })
                .collect(),
        };
        let ev = evaluate(&problem, &plan).unwrap();
        assert_finite(&ev);
        let kinds: Vec<&str> = ev.mode_counts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["device", "edge", "cascade", "speculative", "split"],
            "{seed}"
        );
        assert_eq!(
            ev.mode_counts.iter().map(|(_, n)| n).sum::<usize>(),
            problem.users.len()
        );
        assert!((0.0..=1.0).contains(&ev.served_share));
        let expected = match problem.objective {
            Objective::Quality => ev.mean_quality,
            Objective::Served => ev.served_share,
        };
        assert_eq!(ev.objective, expected);
        assert_eq!(
            ev.resource_blocks_used,
            plan.users.iter().map(|c| c.resource_blocks).sum::<usize>()
        );
        let text = render::evaluation(&problem, &plan, &ev);
        assert!(text.contains(&problem.name));
        for u in &problem.users {
            assert_eq!(
                text.lines()
                    .filter(|l| l.starts_with(&format!("{} ", u.name)))
                    .count(),
                1,
                "{text}"
            );
        }
    }
}

#[test]
fn a_hundred_users_render_one_line_each() {
    let catalog = catalog();
    let mut s = shape(1);
    s.users = 100;
    s.resource_blocks = 200;
    let mut problem = random_problem(&catalog, &s, 42);
    problem.mc_requests = 50;
    let modes = candidate_modes(&problem);
    let plan = CollabPlan {
        users: (0..100)
            .map(|u| {
                let mode = modes[(u * 7) % modes.len()];
                let n = price(&problem, u, mode).min_blocks.unwrap_or(1);
                UserChoice {
                    mode,
                    resource_blocks: n,
                }
            })
            .collect(),
    };
    let ev = evaluate(&problem, &plan).unwrap();
    let report: CollabReport = Report {
        instance: problem.name.clone(),
        stats: SolveStats::heuristic("greedy", 0.001, 0.002),
        details: CollabDetails {
            objective_kind: problem.objective.name(),
            users: 100,
            variants: problem.variants.len(),
            modes: problem.modes.iter().map(|m| m.name()).collect(),
            candidates: modes.len(),
            options: 321,
            milp: None,
            tie_break: None,
        },
        plan: Some(plan.clone()),
        evaluation: Some(ev.clone()),
        explanation: vec!["no reason".into()],
    };
    let text = render::report(&problem, &report);
    for needle in [
        "instance  random-collab-42",
        "variants  ",
        "rho_max",
        "solver    greedy",
        "status    ",
        "321 options kept",
        "utilisation",
        "speculative ",
        "Monte Carlo",
        "why no plan was found:",
        "  - no reason",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('u') && l.split_whitespace().next().unwrap().len() <= 3)
        .filter(|l| {
            l[1..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u32>()
                .is_ok()
        })
        .collect();
    assert_eq!(rows.len(), 100, "{text}");
    // Rows share one width up to the flags.
    assert!(rows.iter().all(|r| r.len() < 200), "{text}");
    if ev.feasible() {
        assert!(text.contains("constraints  all satisfied"));
    } else {
        assert!(text.contains("violated constraints\n  - ["));
    }
}

#[test]
fn an_instance_without_users_evaluates_to_zeros() {
    let problem = random_problem(&catalog(), &Shape::small(0), 3);
    let plan = CollabPlan { users: vec![] };
    let ev = evaluate(&problem, &plan).unwrap();
    assert_finite(&ev);
    assert!(ev.feasible());
    assert_eq!(
        (ev.objective, ev.mean_latency_s, ev.resource_blocks_used),
        (0.0, 0.0, 0)
    );
    assert_eq!(ev.mode_counts.len(), 5);
    assert!(render::evaluation(&problem, &plan, &ev).contains("all satisfied"));
}
