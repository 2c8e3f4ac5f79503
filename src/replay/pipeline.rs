//! Executing a pipeline plan (docs/pipeline.md) for real and comparing it with the planner's
//! prediction.
//!
//! The plan becomes a ring of positions (`replay::ring`): the source node (position 0: the
//! prompt arrives there and the tokens return), then, following `routes.input` hop by hop, one
//! relay position per intermediate node and the first stage's position (its layers); then
//! `routes.forward[k]` to stage `k + 1`, and so on; then `routes.output` back to the source.
//! When the input route is empty (the first stage runs on the source) position 0 runs the first
//! stage itself. Every other route of one node (two consecutive stages on one node, or the last
//! stage on the source) is a hop with no rate or latency limit, which costs only loopback.
//!
//! **Each hop of each route is its own [`EmulatedLink`]**, charging a message of `b` bytes
//! `8·b / rate + latency` ([`LinkSpec::one_way`] with the arc's rate and one-way latency), even
//! where two routes cross the same physical link (the input and the output route both use the
//! source's link, say): the replay runs one request at a time and the planner's latency has no
//! contention, so a link used by several transfers never carries two messages at once anyway.
//! A relay stores the whole message and then forwards it, as the planner's store-and-forward
//! price assumes. Each pass (prefill, then one per generated token) goes once around the ring,
//! exactly as the evaluator moves it; the measured time of each stage, hop and transfer is read
//! off the positions' clocks.

use serde::Serialize;

use super::link::{EmulatedLink, LinkSpec, LinkStats};
use super::ring::{self, io, Hop, PositionOut};
use super::runner::{inference_workload, shared, ReplayOptions};
use crate::costs::arch::ArchConfig;
use crate::error::{Error, Result};
use crate::problems::pipeline::evaluate::evaluate;
use crate::problems::pipeline::network::Network;
use crate::problems::pipeline::{Pass, PipelinePlan, PipelineProblem};

/// One stage's part of the run.
#[derive(Debug, Clone, Serialize)]
pub struct StageRun {
    /// Its node.
    pub node: String,
    /// Its layers, `start..end`.
    pub layers: (usize, usize),
    /// Measured compute time over all passes, s.
    pub compute_s: f64,
    /// The planner's compute time, s.
    pub predicted_compute_s: f64,
}

/// One hop of a transfer's route: an emulated link of its own.
#[derive(Debug, Clone, Serialize)]
pub struct HopRun {
    /// Sending node.
    pub from: String,
    /// Receiving node.
    pub to: String,
    /// Rate, bit/s (`null` for a route of one node: loopback with no limit).
    pub rate_bps: Option<f64>,
    /// One-way latency, s.
    pub latency_s: f64,
    /// Measured time over all passes, from the send to the receipt, s.
    pub measured_s: f64,
    /// The planner's time, `8 B / rate + latency` summed over passes, s.
    pub predicted_s: f64,
    /// What crossed the emulated link (`bytes_up` and `messages_up`; whole messages: the
    /// payload and its tag and shape).
    pub stats: LinkStats,
}

/// One transfer: the input, the hidden states from a stage to the next, or the token back.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRun {
    /// `input`, `stage k -> k+1` or `output`.
    pub what: String,
    /// The route's nodes, first to last.
    pub route: Vec<String>,
    /// Payload bytes the sender sent in the prefill pass.
    pub bytes_prefill: u64,
    /// Payload bytes it sent in one decode pass (0 without decode passes).
    pub bytes_per_decode_step: u64,
    /// The planner's bytes in the prefill pass.
    pub predicted_bytes_prefill: f64,
    /// The planner's bytes per decode pass.
    pub predicted_bytes_per_decode_step: Option<f64>,
    /// Measured time over all passes, from the sender's send to the receiver's receipt (relays'
    /// store and forward included), s.
    pub measured_s: f64,
    /// The planner's time over all passes, s.
    pub predicted_s: f64,
    /// Its hops, in order (none for the input of a stage on the source).
    pub hops: Vec<HopRun>,
}

/// What a pipeline replay measured against what the planner predicted.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReplayReport {
    /// Model name.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens (decode passes).
    pub generate_tokens: usize,
    /// Measured end-to-end latency (prompt sent to the last token at the source), s.
    pub measured_s: f64,
    /// The planner's latency (the evaluator's), s.
    pub predicted_s: f64,
    /// `measured / predicted - 1`.
    pub error: f64,
    /// Measured time to the first token (the prefill pass), s.
    pub prefill_s: f64,
    /// Per stage.
    pub stages: Vec<StageRun>,
    /// Per transfer: the input, each stage to the next, the token back.
    pub transfers: Vec<TransferRun>,
    /// Measured time in neither a stage's layers nor a transfer (encoding and decoding the
    /// messages), s; the planner has none.
    pub other_s: f64,
    /// The tokens the source received, in order.
    pub tokens: Vec<u32>,
}

/// A hop of the ring as built from the plan.
struct HopSpec {
    from: usize,
    to: usize,
    /// The arc, or `None` within one node.
    arc: Option<usize>,
}

/// A transfer as built from the plan: its route, hops and the positions at its ends.
struct TransferSpec {
    what: String,
    route: Vec<usize>,
    /// Ring hops `hops.0..hops.1`.
    hops: (usize, usize),
    /// The sending position.
    from: usize,
    /// The receiving position (0: the source, which receives the token).
    to: usize,
    /// Its planner bytes in each pass.
    bytes: Vec<f64>,
}

/// The ring of a plan: positions (node, layers), hops and transfers.
struct Layout {
    nodes: Vec<usize>,
    ranges: Vec<(usize, usize)>,
    hops: Vec<HopSpec>,
    transfers: Vec<TransferSpec>,
    /// The position of each stage.
    stage_at: Vec<usize>,
    /// The model's layers (a relay runs the empty range `layers..layers`).
    layers: usize,
}

impl Layout {
    fn new(problem: &PipelineProblem, plan: &PipelinePlan, network: &Network) -> Layout {
        let n = problem.layers();
        let work = problem.work();
        let passes: Vec<Pass> = work.passes().into_iter().map(|(p, _)| p).collect();
        let mut layout = Layout {
            nodes: vec![problem.source],
            ranges: vec![(n, n)],
            hops: Vec::new(),
            transfers: Vec::new(),
            stage_at: Vec::new(),
            layers: n,
        };
        let stages = &plan.stages;
        let routes = &plan.routes;
        let per_pass = |layer: usize| passes.iter().map(|&p| work.input_bytes(layer, p)).collect();
        // The input; a stage on the source runs at position 0.
        let first = (stages[0].start, stages[0].end);
        if routes.input.len() == 1 {
            layout.ranges[0] = first;
            layout.stage_at.push(0);
            layout.at_source("input", &routes.input, per_pass(0));
        } else {
            let at = layout.follow("input", &routes.input, per_pass(0), Some(first), network);
            layout.stage_at.push(at);
        }
        for (k, route) in routes.forward.iter().enumerate() {
            let next = &stages[k + 1];
            let what = format!("stage {k} -> {}", k + 1);
            let at = layout.follow(
                &what,
                route,
                per_pass(next.start),
                Some((next.start, next.end)),
                network,
            );
            layout.stage_at.push(at);
        }
        let token = problem.table.layers[n - 1].out_bytes_per_token;
        let bytes = vec![token; passes.len()];
        if layout.nodes.len() > 1 {
            layout.follow("output", &routes.output, bytes, None, network);
        } else {
            // One stage, on the source: the token is already there.
            layout.at_source("output", &routes.output, bytes);
        }
        layout
    }

    /// Appends a transfer that stays at position 0 (no hop).
    fn at_source(&mut self, what: &str, route: &[usize], bytes: Vec<f64>) {
        self.transfers.push(TransferSpec {
            what: what.into(),
            route: route.to_vec(),
            hops: (0, 0),
            from: 0,
            to: 0,
            bytes,
        });
    }

    /// Appends the transfer along `route` from the last position: a relay position per
    /// intermediate node and, at the end, a position running `dest` (or position 0 when `dest`
    /// is `None`: the ring closes at the source). A route of one node is one hop within it.
    /// Returns the receiving position.
    fn follow(
        &mut self,
        what: &str,
        route: &[usize],
        bytes: Vec<f64>,
        dest: Option<(usize, usize)>,
        network: &Network,
    ) -> usize {
        let from = self.nodes.len() - 1;
        let first_hop = self.hops.len();
        let steps: Vec<(usize, usize)> = if route.len() == 1 {
            vec![(route[0], route[0])]
        } else {
            route.windows(2).map(|w| (w[0], w[1])).collect()
        };
        let mut to = from;
        for (h, &(u, v)) in steps.iter().enumerate() {
            let arc = (u != v).then(|| network.arc(u, v).expect("routes were checked"));
            self.hops.push(HopSpec {
                from: u,
                to: v,
                arc,
            });
            if h + 1 < steps.len() {
                self.nodes.push(v);
                self.ranges.push((self.layers, self.layers));
                to = self.nodes.len() - 1;
            } else if let Some(range) = dest {
                self.nodes.push(v);
                self.ranges.push(range);
                to = self.nodes.len() - 1;
            } else {
                to = 0;
            }
        }
        self.transfers.push(TransferSpec {
            what: what.into(),
            route: route.to_vec(),
            hops: (first_hop, self.hops.len()),
            from,
            to,
            bytes,
        });
        to
    }
}

/// Replays `plan` on `problem` (an inference workload priced in fp32) with the architecture
/// `arch` and compares it with the planner's evaluation.
pub fn replay_pipeline(
    problem: &PipelineProblem,
    arch: &ArchConfig,
    plan: &PipelinePlan,
    options: &ReplayOptions,
) -> Result<PipelineReplayReport> {
    let (prompt, generate) = inference_workload(problem.workload)?;
    let shared = shared(arch, &problem.table, options)?;
    let evaluation = evaluate(problem, plan)?;
    let network = Network::new(problem.node_count(), &problem.links);
    let layout = Layout::new(problem, plan, &network);
    let specs: Vec<LinkSpec> = layout
        .hops
        .iter()
        .map(|h| match h.arc {
            Some(a) => LinkSpec::one_way(network.arcs[a].rate_bps, network.arcs[a].latency_s),
            None => LinkSpec::one_way(f64::INFINITY, 0.0),
        })
        .collect();
    let mut hops = Vec::with_capacity(specs.len());
    let mut handles = Vec::with_capacity(specs.len());
    for spec in specs {
        let EmulatedLink {
            lower,
            upper,
            handle,
        } = EmulatedLink::start(spec).map_err(|e| Error::Solver(format!("emulated link: {e}")))?;
        hops.push(Hop {
            tx: lower,
            rx: upper,
        });
        handles.push(handle);
    }
    if hops.len() != layout.nodes.len() && !(hops.is_empty() && layout.nodes.len() == 1) {
        return Err(Error::Solver(format!(
            "replay: the plan's ring has {} positions and {} hops",
            layout.nodes.len(),
            hops.len()
        )));
    }
    // Weights and caches, built before the clock starts.
    let mut positions = ring::build(&shared, &layout.ranges, prompt + generate + 1, options.seed);
    let ids = ring::prompt_ids(prompt, shared.dims.vocab, options.seed);
    let results = ring::run(&mut positions, hops, &shared, ids, prompt, generate)?;
    drop(positions);
    let stats: Vec<LinkStats> = handles
        .into_iter()
        .map(|h| h.join().map_err(io))
        .collect::<Result<_>>()?;
    Ok(report(
        problem,
        &evaluation,
        &layout,
        &network,
        (&results, &stats),
        prompt,
    ))
}

/// The seconds from position `p`'s sends to the next receipt at position `q` (0: the token at
/// the source), summed over passes.
fn elapsed(results: &[PositionOut], p: usize, q: usize) -> f64 {
    let arrived = if q == 0 {
        &results[0].token_at
    } else {
        &results[q].got_at
    };
    arrived
        .iter()
        .zip(&results[p].sent_at)
        .map(|(b, a)| b - a)
        .sum()
}

/// The report of a finished run.
fn report(
    problem: &PipelineProblem,
    evaluation: &crate::problems::pipeline::evaluate::Evaluation,
    layout: &Layout,
    network: &Network,
    (results, stats): (&[PositionOut], &[LinkStats]),
    prompt: usize,
) -> PipelineReplayReport {
    let name = |i: usize| problem.nodes[i].name.clone();
    let m = layout.nodes.len();
    let stages = layout
        .stage_at
        .iter()
        .zip(&evaluation.stages)
        .map(|(&at, st)| StageRun {
            node: st.node.clone(),
            layers: (st.start, st.end),
            compute_s: results[at].compute_s,
            predicted_compute_s: st.compute_s,
        })
        .collect::<Vec<_>>();
    let transfers = layout
        .transfers
        .iter()
        .map(|t| {
            let hops: Vec<HopRun> = (t.hops.0..t.hops.1)
                .map(|h| {
                    let spec = &layout.hops[h];
                    let (rate, latency) = spec.arc.map_or((None, 0.0), |a| {
                        (Some(network.arcs[a].rate_bps), network.arcs[a].latency_s)
                    });
                    let airtime = |b: f64| rate.map_or(0.0, |r| 8.0 * b / r);
                    HopRun {
                        from: name(spec.from),
                        to: name(spec.to),
                        rate_bps: rate,
                        latency_s: latency,
                        measured_s: elapsed(results, h, (h + 1) % m),
                        predicted_s: t.bytes.iter().fold(0.0, |s, &b| s + airtime(b) + latency),
                        stats: stats[h],
                    }
                })
                .collect();
            let sent = &results[t.from].sent_bytes;
            let crosses = t.hops.1 > t.hops.0;
            TransferRun {
                what: t.what.clone(),
                route: t.route.iter().map(|&v| name(v)).collect(),
                bytes_prefill: if crosses { sent[0] } else { 0 },
                bytes_per_decode_step: if crosses {
                    sent.get(1).copied().unwrap_or(0)
                } else {
                    0
                },
                predicted_bytes_prefill: if crosses { t.bytes[0] } else { 0.0 },
                predicted_bytes_per_decode_step: match (crosses, t.bytes.get(1)) {
                    (true, Some(&b)) => Some(b),
                    (false, Some(_)) => Some(0.0),
                    (_, None) => None,
                },
                measured_s: if crosses {
                    elapsed(results, t.from, t.to)
                } else {
                    0.0
                },
                predicted_s: hops.iter().fold(0.0, |s, h| s + h.predicted_s),
                hops,
            }
        })
        .collect::<Vec<_>>();
    let source = &results[0];
    let measured_s = source.token_at.last().copied().unwrap_or(0.0);
    let accounted: f64 = stages.iter().map(|s| s.compute_s).sum::<f64>()
        + transfers.iter().map(|t| t.measured_s).sum::<f64>();
    PipelineReplayReport {
        model: problem.table.model.clone(),
        prompt_tokens: prompt,
        generate_tokens: problem.generate_tokens(),
        measured_s,
        predicted_s: evaluation.latency_s,
        error: measured_s / evaluation.latency_s - 1.0,
        prefill_s: source.token_at.first().copied().unwrap_or(0.0),
        stages,
        transfers,
        other_s: measured_s - accounted,
        tokens: source.tokens.clone(),
    }
}
