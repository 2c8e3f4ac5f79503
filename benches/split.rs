//! Build and solve time of the split MILP and of exhaustive enumeration for 12- to 80-layer
//! models (10 to 78 transformer blocks), on seeded random instances with constraints.
//!
//! Run: `cargo bench --bench split`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use edgeplan::problems::split::generate::{random_problem, GenParams};
use edgeplan::problems::split::heuristics::enumerate;
use edgeplan::problems::split::model::build;
use edgeplan::problems::split::Coefficients;
use edgeplan::solve::MipOptions;

/// The first seed from `start` whose instance has a feasible plan and all three tiers.
fn instance(blocks: usize) -> edgeplan::problems::split::SplitProblem {
    let params = GenParams {
        blocks: Some(blocks),
        finetune_prob: 0.0,
        constraint_prob: 0.5,
        ..GenParams::default()
    };
    (0..10_000u64)
        .map(|seed| random_problem(seed, &params))
        .find(|p| {
            p.tiers.iter().all(Option::is_some)
                && p.deadline_s.is_some()
                && enumerate(p, &Coefficients::new(p)).is_some()
        })
        .expect("a feasible three-tier instance")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("split");
    group.sample_size(20);
    for blocks in [10usize, 32, 48, 78] {
        let problem = instance(blocks);
        let layers = problem.layers();
        let coef = Coefficients::new(&problem);
        group.bench_with_input(
            BenchmarkId::new("coefficients", layers),
            &problem,
            |b, p| b.iter(|| Coefficients::new(p)),
        );
        group.bench_with_input(BenchmarkId::new("milp_build", layers), &problem, |b, p| {
            b.iter(|| build(p, &coef))
        });
        group.bench_with_input(
            BenchmarkId::new("milp_build_solve", layers),
            &problem,
            |b, p| {
                b.iter(|| {
                    let m = build(p, &coef);
                    m.milp
                        .minimise(m.objective, &MipOptions::default())
                        .unwrap()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("enumerate", layers), &problem, |b, p| {
            b.iter(|| enumerate(p, &coef))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
