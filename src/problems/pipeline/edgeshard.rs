//! A re-implementation of EdgeShard's dynamic programs, as a baseline.
//!
//! M. Zhang, X. Shen, J. Cao, Z. Cui, S. Jiang, "EdgeShard: Efficient LLM Inference via
//! Collaborative Edge Computing", IEEE Internet of Things Journal 12(10):13119-13131, 2025
//! (arXiv:2405.14371). EdgeShard profiles each layer's execution time on each device and the
//! bandwidth between every pair of devices, then solves a joint device selection and model
//! partition problem with one of two dynamic programs over (layers placed, set of devices used,
//! last device):
//! - **latency**: the least sum of the layers' computation times, of one communication time per
//!   change of device (the activation's size over the pair's bandwidth) and of the time to send
//!   the result back to the source device;
//! - **throughput**: the least pipeline bottleneck, the largest of the stages' computation times
//!   and the communication times between consecutive stages (the result sent back to the source
//!   is not counted).
//!
//! Both keep the first layer on the source device (the raw input stays there) and a shard only on
//! a device with the memory for its layers.
//!
//! **Applied to a pipeline instance** ([`plan`]): a layer's computation time on a device is our
//! `coef.place` latency (busy time for throughput); a pair's communication time is our transfer
//! between the two nodes along the instance's route, `coef.cut(p, i, j)` summed over the passes
//! (what a measured pairwise bandwidth and latency would give); the time back to the source is
//! `coef.output`; a shard's memory is [`Coefficients::stage_memory`](super::price::Coefficients::stage_memory)
//! (weights and KV cache, the tied embedding's extra copy). Allowed pairs (availability, pins,
//! forbidden pairs, `embed_on_source`) and `max_stages` are respected, and each device runs at
//! most one shard (the set of used devices in the state). When the source may not run the first
//! layer, the first shard may start on any device, after the input's transfer (latency only).
//! Energy and weighted objectives use the latency program (EdgeShard has no energy model). Ties
//! between equal bottlenecks, which the paper leaves open, go to the lower latency.
//!
//! **What it does not see**, and what makes its plans worse under our evaluator:
//! - links shared by several transfers (the pairwise view treats every pair of devices as an
//!   independent pipe: two transfers routed over the same link both get its full rate), so in
//!   the throughput program an arc's summed airtime can exceed every pairwise time it saw;
//! - in the throughput program, the transfer's propagation latency counts as occupying the pipe
//!   (it is part of the measured communication time), while our period counts airtime only;
//! - in the throughput program, the input from the source and the token back to it;
//! - the energy of the source, the energy budget, the deadline and the rate floor: its plan is
//!   returned as found and the evaluator reports any violation;
//! - when the embedding need not stay on the source, sending token ids instead of hidden states
//!   from the source (it always keeps the first layer there when it may).
//!
//! **Size.** The state space is `(L + 1) * 2^N * N` and the work `O(L^2 * 2^N * N^2)`. Above
//! [`MAX_DEVICES`] devices, the program runs on the source and the `MAX_DEVICES - 1` other
//! available devices with the least computation time for the whole model (the devices an
//! operator would shortlist); the other devices are not used.

use super::search::Scorer;
use super::{Objective, Stage};
use crate::solve::violation::within;

/// The most devices the bitmask program considers (`2^10 * 10` states per layer).
pub const MAX_DEVICES: usize = 10;

/// Which of EdgeShard's programs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Program {
    Latency,
    Throughput,
}

/// A state's value: the objective and the latency (tie-break of the throughput program).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Val {
    main: f64,
    tie: f64,
}

impl Val {
    const INF: Val = Val {
        main: f64::INFINITY,
        tie: f64::INFINITY,
    };

    fn less(self, other: Val) -> bool {
        self.main < other.main || (self.main == other.main && self.tie < other.tie)
    }
}

/// EdgeShard's plan for the instance (`None`: its program finds no plan).
pub fn plan(scorer: &Scorer<'_>) -> Option<Vec<Stage>> {
    let (problem, coef) = (scorer.problem, scorer.coef);
    let program = match problem.objective {
        Objective::Throughput => Program::Throughput,
        _ => Program::Latency,
    };
    let (n, source) = (coef.layers, problem.source);
    let compute = |l: usize, i: usize| -> Option<f64> {
        coef.place[l][i].as_ref().map(|p| match program {
            Program::Latency => p.item.latency_s,
            Program::Throughput => p.busy_s,
        })
    };
    // The devices: available, connected to the source; the fastest when too many.
    let mut devices: Vec<usize> = (0..coef.nodes)
        .filter(|&i| coef.input[i].is_some() && (0..n).any(|l| coef.place[l][i].is_some()))
        .collect();
    if devices.len() > MAX_DEVICES {
        let total = |i: usize| -> f64 { (0..n).map(|l| compute(l, i).unwrap_or(1e30)).sum() };
        devices.sort_by(|&a, &b| {
            (b == source)
                .cmp(&(a == source))
                .then(total(a).total_cmp(&total(b)))
                .then(a.cmp(&b))
        });
        devices.truncate(MAX_DEVICES);
        devices.sort_unstable();
    }
    let d = devices.len();
    if d == 0 {
        return None;
    }
    // Prefix sums of computation time and memory per device.
    let mut mem = vec![0.0; n + 1];
    for l in 0..n {
        mem[l + 1] = mem[l] + coef.memory[l];
    }
    let prefix: Vec<Vec<Option<f64>>> = devices
        .iter()
        .map(|&i| {
            let mut out = vec![Some(0.0); n + 1];
            for l in 0..n {
                out[l + 1] = match (out[l], compute(l, i)) {
                    (Some(a), Some(c)) => Some(a + c),
                    _ => None,
                };
            }
            out
        })
        .collect();
    // The computation time of shard p..q on the a-th device (None: not allowed or no memory).
    let shard = |a: usize, p: usize, q: usize| -> Option<f64> {
        if (p..q).any(|l| coef.place[l][devices[a]].is_none()) {
            return None;
        }
        let tied = if q == n && p > 0 {
            coef.tied_extra
        } else {
            0.0
        };
        if !within(mem[q] - mem[p] + tied, coef.capacity[devices[a]]) {
            return None;
        }
        let (x, y) = (prefix[a][q]?, prefix[a][p]?);
        Some(x - y)
    };
    let max_stages = problem.rules.max_stages.unwrap_or(d);
    let sets = 1usize << d;
    let idx = |q: usize, s: usize, k: usize| (q * sets + s) * d + k;
    let mut f = vec![Val::INF; (n + 1) * sets * d];
    // Back pointer: the previous shard's end and device (u32::MAX: the first shard).
    let mut back = vec![u32::MAX; (n + 1) * sets * d];
    let combine = |a: Val, comm: f64, comm_latency: f64, comp: f64, comp_latency: f64| -> Val {
        match program {
            Program::Latency => Val {
                main: a.main + comm + comp,
                tie: 0.0,
            },
            Program::Throughput => Val {
                main: a.main.max(comm).max(comp),
                tie: a.tie + comm_latency + comp_latency,
            },
        }
    };
    let latency_of = |a: usize, p: usize, q: usize| -> f64 {
        (p..q)
            .map(|l| {
                coef.place[l][devices[a]]
                    .as_ref()
                    .map_or(0.0, |x| x.item.latency_s)
            })
            .sum()
    };
    // First shards.
    let src = devices.iter().position(|&i| i == source);
    let source_first = src.is_some_and(|a| coef.place[0][devices[a]].is_some());
    for (a, &device) in devices.iter().enumerate() {
        if source_first && Some(a) != src {
            continue;
        }
        let input = if source_first {
            0.0
        } else {
            coef.input[device]
                .as_ref()
                .map_or(f64::INFINITY, |t| t.item.latency_s)
        };
        let input = match program {
            Program::Latency => input,
            Program::Throughput => 0.0,
        };
        for q in 1..=n {
            let Some(comp) = shard(a, 0, q) else {
                continue;
            };
            let v = combine(
                Val {
                    main: input,
                    tie: input,
                },
                0.0,
                0.0,
                comp,
                latency_of(a, 0, q),
            );
            let k = idx(q, 1 << a, a);
            if v.less(f[k]) {
                f[k] = v;
            }
        }
    }
    // Later shards, by increasing end of the previous one.
    for p in 1..n {
        for s in 1..sets {
            if s.count_ones() as usize >= max_stages {
                continue;
            }
            for a in 0..d {
                let cur = f[idx(p, s, a)];
                if cur.main.is_infinite() {
                    continue;
                }
                for b in 0..d {
                    if s & (1 << b) != 0 {
                        continue;
                    }
                    let Some(t) = coef.cut(p, devices[a], devices[b]) else {
                        continue;
                    };
                    let comm = t.item.latency_s;
                    let mut comp = 0.0;
                    let mut comp_latency = 0.0;
                    for q in p + 1..=n {
                        let Some(place) = coef.place[q - 1][devices[b]].as_ref() else {
                            break;
                        };
                        let tied = if q == n { coef.tied_extra } else { 0.0 };
                        if !within(mem[q] - mem[p] + tied, coef.capacity[devices[b]]) {
                            break;
                        }
                        comp += match program {
                            Program::Latency => place.item.latency_s,
                            Program::Throughput => place.busy_s,
                        };
                        comp_latency += place.item.latency_s;
                        let v = combine(cur, comm, comm, comp, comp_latency);
                        let k = idx(q, s | (1 << b), b);
                        if v.less(f[k]) {
                            f[k] = v;
                            back[k] = (p * d + a) as u32;
                        }
                    }
                }
            }
        }
    }
    // The end: the result back to the source (latency program only).
    let mut best = Val::INF;
    let mut end = None;
    for s in 1..sets {
        for a in 0..d {
            let v = f[idx(n, s, a)];
            if v.main.is_infinite() {
                continue;
            }
            let v = match program {
                Program::Latency => {
                    let Some(out) = coef.output[devices[a]].as_ref() else {
                        continue;
                    };
                    Val {
                        main: v.main + out.item.latency_s,
                        tie: 0.0,
                    }
                }
                Program::Throughput => v,
            };
            if v.less(best) {
                best = v;
                end = Some((s, a));
            }
        }
    }
    let (mut s, mut a) = end?;
    let mut q = n;
    let mut stages = Vec::new();
    loop {
        let b = back[idx(q, s, a)];
        let (p, prev) = if b == u32::MAX {
            (0, None)
        } else {
            let b = b as usize;
            (b / d, Some(b % d))
        };
        stages.push(Stage {
            node: devices[a],
            start: p,
            end: q,
        });
        match prev {
            None => break,
            Some(prev) => {
                s &= !(1 << a);
                a = prev;
                q = p;
            }
        }
    }
    stages.reverse();
    Some(stages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::pipeline::heuristics::tests::instance;
    use crate::problems::pipeline::price::Coefficients;
    use crate::problems::pipeline::search::enumerate;

    /// EdgeShard's plans are valid stage lists, never better than the optimum, and its latency
    /// plan is optimal when the embedding must stay on the source (its model is then exact).
    #[test]
    fn plans_are_valid_and_latency_exact_with_embedding_on_source() {
        for seed in 0..8 {
            for (objective, extra) in [
                (
                    "kind = \"latency\"",
                    "[constraints]\nembed_on_source = true",
                ),
                ("kind = \"throughput\"", ""),
                ("kind = \"latency\"", ""),
            ] {
                let problem = instance(seed, 5, "gpt2", objective, extra);
                let coef = Coefficients::new(&problem);
                let scorer = Scorer {
                    problem: &problem,
                    coef: &coef,
                };
                let exact = enumerate(&scorer).unwrap();
                let found = plan(&scorer);
                let Some((_, opt)) = exact else {
                    continue;
                };
                let stages = found.expect("a plan exists");
                let v = scorer.objective(&stages).expect("valid plan");
                assert!(v >= opt * (1.0 - 1e-9), "{seed} {objective}: {v} < {opt}");
                if extra.contains("embed_on_source") {
                    assert!(
                        v <= opt * (1.0 + 1e-9),
                        "{seed}: latency {v} > optimum {opt}"
                    );
                }
            }
        }
    }
}
