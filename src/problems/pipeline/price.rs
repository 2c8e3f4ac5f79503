//! Per-layer and per-transfer coefficients of a pipeline instance, computed once and shared by
//! the MILP, the enumeration and the heuristics. Each is summed over the workload's passes; the
//! independent evaluator does not use them (it re-prices a plan pass by pass).

use super::network::{transfer_time, Network};
use super::{EnergyScope, Pass, PipelineProblem, Routing, Stage, Workload};
use crate::costs::latency::Cost;

/// What one item of a plan (a layer on a node, or a transfer) adds to the plan's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// Added end-to-end latency of one request, s.
    pub latency_s: f64,
    /// Added energy in the instance's scope, J (including the source's idle power during the
    /// added latency).
    pub energy_j: f64,
}

/// A layer on a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// Its totals.
    pub item: Item,
    /// Compute time on the node per request, s (the node's busy time).
    pub busy_s: f64,
}

/// A transfer along a route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transfer {
    /// Its totals (all passes; in fine-tuning the gradients back as well).
    pub item: Item,
    /// The route of the data (nodes, ends included).
    pub route: Vec<usize>,
    /// Fine-tuning: the route of the gradients back (empty when none cross).
    pub back: Vec<usize>,
    /// Airtime per request on each arc used, s.
    pub arcs: Vec<(usize, f64)>,
}

/// The coefficients of an instance.
#[derive(Debug, Clone)]
pub struct Coefficients {
    /// Layers `L`.
    pub layers: usize,
    /// Nodes `N`.
    pub nodes: usize,
    /// The network.
    pub network: Network,
    /// `place[l][i]`: layer `l` on node `i` (`None`: not allowed there: the node is unavailable,
    /// the pair is forbidden, the layer is pinned elsewhere, or the embedding must stay on the
    /// source).
    pub place: Vec<Vec<Option<Placement>>>,
    /// Bytes layer `l` needs on its node.
    pub memory: Vec<f64>,
    /// Extra bytes on the head's node when the head is tied and runs away from the embedding.
    pub tied_extra: f64,
    /// `input[j]`: the input from the source to a first stage on `j` (`None`: unreachable).
    pub input: Vec<Option<Transfer>>,
    /// `output[i]`: the token from a last stage on `i` back to the source (`None`: unreachable;
    /// a default transfer for fine-tuning).
    pub output: Vec<Option<Transfer>>,
    /// `cut[(p * N + i) * N + j]`: layers `..p` end on `i`, layer `p` starts on `j` (`i != j`,
    /// `1 <= p < L`; `None`: unreachable).
    cut: Vec<Option<Transfer>>,
    /// Memory of each node, bytes.
    pub capacity: Vec<f64>,
}

/// Bytes and one-way crossings of a transfer, summed over the passes.
#[derive(Debug, Clone, Copy, Default)]
struct Volume {
    bytes: f64,
    crossings: f64,
}

impl Coefficients {
    /// Computes the coefficients of `problem`.
    pub fn new(problem: &PipelineProblem) -> Coefficients {
        let (n, nodes) = (problem.layers(), problem.node_count());
        let work = problem.work();
        let network = Network::new(nodes, &problem.links);
        let s = problem.source;
        let idle_w = problem.nodes[s].resource.device.power_idle_w;
        let allowed = allowed(problem);
        let place = (0..n)
            .map(|l| {
                (0..nodes)
                    .map(|i| {
                        allowed[l][i].then(|| {
                            let node = &problem.nodes[i];
                            let c = scaled(
                                work.layer_compute(&problem.table.layers[l], node.resource.timer()),
                                node.slowdown(),
                            );
                            let energy_j = idle_w * c.latency_s
                                + match (i == s, problem.energy_scope) {
                                    (true, _) => c.energy_j - idle_w * c.latency_s,
                                    (false, EnergyScope::All) => c.energy_j,
                                    (false, EnergyScope::Source) => 0.0,
                                };
                            Placement {
                                item: Item {
                                    latency_s: c.latency_s,
                                    energy_j,
                                },
                                busy_s: c.latency_s,
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        let passes = work.passes();
        let volume = |p: usize, backward: bool| -> Volume {
            let mut v = Volume::default();
            for &(pass, repeat) in &passes {
                if backward {
                    if pass == Pass::Train && work.gradient_crosses(p) {
                        v.bytes += repeat * work.input_bytes(p, pass);
                        v.crossings += repeat;
                    }
                } else {
                    let labels = if pass == Pass::Train {
                        work.label_bytes()
                    } else {
                        0.0
                    };
                    v.bytes += repeat * (work.input_bytes(p, pass) + labels);
                    v.crossings += repeat;
                }
            }
            v
        };
        let token = Volume {
            bytes: match problem.workload {
                Workload::Inference { .. } => {
                    passes.len() as f64 * problem.table.layers[n - 1].out_bytes_per_token
                }
                Workload::Finetune { .. } => 0.0,
            },
            crossings: if problem.is_inference() {
                passes.len() as f64
            } else {
                0.0
            },
        };
        let pricer = Pricer {
            problem,
            network: &network,
            idle_w,
        };
        let input = (0..nodes)
            .map(|j| pricer.transfer(s, j, volume(0, false), Volume::default()))
            .collect();
        let output = (0..nodes)
            .map(|i| pricer.transfer(i, s, token, Volume::default()))
            .collect();
        let mut cut = vec![None; n * nodes * nodes];
        for p in 1..n {
            let (fwd, bwd) = (volume(p, false), volume(p, true));
            for i in 0..nodes {
                for j in 0..nodes {
                    if i != j {
                        cut[(p * nodes + i) * nodes + j] = pricer.transfer(i, j, fwd, bwd);
                    }
                }
            }
        }
        Coefficients {
            layers: n,
            nodes,
            network,
            place,
            memory: (0..n).map(|l| problem.layer_memory_bytes(l)).collect(),
            tied_extra: problem.work().tied_extra_bytes(),
            input,
            output,
            cut,
            capacity: problem
                .nodes
                .iter()
                .map(|x| x.resource.memory_bytes)
                .collect(),
        }
    }

    /// The transfer when layers `..p` end on `i` and layer `p` starts on `j` (`i != j`).
    pub fn cut(&self, p: usize, i: usize, j: usize) -> Option<&Transfer> {
        self.cut[(p * self.nodes + i) * self.nodes + j].as_ref()
    }

    /// Memory a stage of layers `start..end` needs (the tied copy when it holds the head but
    /// not the embedding).
    pub fn stage_memory(&self, start: usize, end: usize) -> f64 {
        let tied = if end == self.layers && start > 0 {
            self.tied_extra
        } else {
            0.0
        };
        self.memory[start..end].iter().sum::<f64>() + tied
    }

    /// Prices a plan given as stages (routes by the instance's rule, as priced here): `None`
    /// when a layer is not allowed on its node or a transfer has no route. Memory, stage count
    /// and limits are not checked here.
    pub fn price(&self, stages: &[Stage]) -> Option<Priced> {
        let mut priced = Priced {
            busy_s: vec![0.0; self.nodes],
            arc_s: vec![0.0; self.network.arcs.len()],
            ..Priced::default()
        };
        let first = stages.first()?;
        let last = stages.last()?;
        priced.add(self.input[first.node].as_ref()?);
        for (k, st) in stages.iter().enumerate() {
            for l in st.start..st.end {
                let p = self.place[l][st.node].as_ref()?;
                priced.latency_s += p.item.latency_s;
                priced.energy_j += p.item.energy_j;
                priced.busy_s[st.node] += p.busy_s;
            }
            if let Some(next) = stages.get(k + 1) {
                priced.add(self.cut(next.start, st.node, next.node)?);
            }
        }
        priced.add(self.output[last.node].as_ref()?);
        priced.period_s = priced
            .busy_s
            .iter()
            .chain(&priced.arc_s)
            .fold(0.0, |a, &b| a.max(b));
        Some(priced)
    }
}

/// The totals of a priced plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Priced {
    /// One request's latency, s.
    pub latency_s: f64,
    /// Energy in the instance's scope, J.
    pub energy_j: f64,
    /// The pipeline's period, s per request.
    pub period_s: f64,
    /// Compute time per node per request, s.
    pub busy_s: Vec<f64>,
    /// Airtime per arc per request, s.
    pub arc_s: Vec<f64>,
}

impl Priced {
    fn add(&mut self, t: &Transfer) {
        self.latency_s += t.item.latency_s;
        self.energy_j += t.item.energy_j;
        for &(a, s) in &t.arcs {
            self.arc_s[a] += s;
        }
    }
}

/// Prices transfers on the network.
struct Pricer<'a> {
    problem: &'a PipelineProblem,
    network: &'a Network,
    idle_w: f64,
}

impl Pricer<'_> {
    /// The route of `volume` from `from` to `to` by the instance's rule.
    fn route(&self, from: usize, to: usize, volume: Volume) -> Option<Vec<usize>> {
        match self.problem.routing {
            Routing::Shortest => self.network.shortest_path(from, to),
            Routing::Fastest => self
                .network
                .fastest_path(from, to, volume.bytes, volume.crossings),
        }
    }

    /// A transfer of `fwd` from `from` to `to` and of `bwd` back (`None`: unreachable).
    fn transfer(&self, from: usize, to: usize, fwd: Volume, bwd: Volume) -> Option<Transfer> {
        let mut t = Transfer::default();
        if from == to {
            t.route = vec![from];
            return Some(t);
        }
        let route = self.route(from, to, fwd)?;
        self.add_path(&mut t, &route, fwd);
        t.route = route;
        if bwd.crossings > 0.0 {
            let back = self.route(to, from, bwd)?;
            self.add_path(&mut t, &back, bwd);
            t.back = back;
        }
        Some(t)
    }

    /// Adds the cost of moving `volume` along `path` to `t`.
    fn add_path(&self, t: &mut Transfer, path: &[usize], volume: Volume) {
        if volume.crossings == 0.0 {
            return;
        }
        let s = self.problem.source;
        let arcs = self.network.path_arcs(path).expect("routes follow links");
        for a in arcs {
            let arc = &self.network.arcs[a];
            let airtime = 8.0 * volume.bytes / arc.rate_bps;
            let time = transfer_time(arc, volume.bytes, volume.crossings);
            t.item.latency_s += time;
            t.item.energy_j += self.idle_w * time;
            if arc.from == s {
                t.item.energy_j += (self.problem.tx_power_w - self.idle_w) * airtime;
            }
            if arc.to == s {
                t.item.energy_j += (self.problem.rx_power_w - self.idle_w) * airtime;
            }
            match t.arcs.iter_mut().find(|(k, _)| *k == a) {
                Some(entry) => entry.1 += airtime,
                None => t.arcs.push((a, airtime)),
            }
        }
    }
}

/// Which node may run which layer: available nodes, no forbidden pair, pins, and the embedding
/// on the source when the rules say so.
pub fn allowed(problem: &PipelineProblem) -> Vec<Vec<bool>> {
    let (n, nodes) = (problem.layers(), problem.node_count());
    let mut ok: Vec<Vec<bool>> = (0..n)
        .map(|_| problem.nodes.iter().map(|x| x.available).collect())
        .collect();
    for &(l, i) in &problem.rules.forbidden {
        ok[l][i] = false;
    }
    for &(l, i) in &problem.rules.pinned {
        for (j, slot) in ok[l].iter_mut().enumerate().take(nodes) {
            if j != i {
                *slot = false;
            }
        }
    }
    if problem.rules.embed_on_source {
        for (j, slot) in ok[0].iter_mut().enumerate() {
            if j != problem.source {
                *slot = false;
            }
        }
    }
    ok
}

/// `c` with latency and energy multiplied by `factor`.
fn scaled(c: Cost, factor: f64) -> Cost {
    Cost {
        latency_s: c.latency_s * factor,
        energy_j: c.energy_j * factor,
    }
}
