//! The network of a pipeline instance: directed arcs of the undirected links, and routes.
//!
//! Link `k` between nodes `a` and `b` gives arc `2k` (`a -> b`) and arc `2k + 1` (`b -> a`).
//! Routes are simple paths found by Dijkstra's algorithm; ties between paths of equal weight go
//! to fewer hops, then to the path found first (lower node indices first), so a route is a
//! deterministic function of the instance.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::NetLink;

/// Arcs and adjacency of the network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Number of nodes.
    pub nodes: usize,
    /// `(from, to, rate bit/s, latency s)` of each arc.
    pub arcs: Vec<Arc>,
    /// Outgoing arcs of each node, by increasing head index.
    out: Vec<Vec<usize>>,
}

/// A directed arc.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arc {
    /// Tail node.
    pub from: usize,
    /// Head node.
    pub to: usize,
    /// Rate, bit/s.
    pub rate_bps: f64,
    /// One-way latency, s.
    pub latency_s: f64,
}

/// A Dijkstra label: weight, hops, node.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Label {
    weight: f64,
    hops: usize,
    node: usize,
}

impl Eq for Label {}

impl Ord for Label {
    fn cmp(&self, other: &Self) -> Ordering {
        // A max-heap: reverse, so the smallest (weight, hops, node) pops first.
        other
            .weight
            .total_cmp(&self.weight)
            .then(other.hops.cmp(&self.hops))
            .then(other.node.cmp(&self.node))
    }
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Network {
    /// The network of `nodes` nodes and `links`.
    pub fn new(nodes: usize, links: &[NetLink]) -> Network {
        let mut arcs = Vec::with_capacity(2 * links.len());
        for l in links {
            arcs.push(Arc {
                from: l.a,
                to: l.b,
                rate_bps: l.a_to_b_bps,
                latency_s: l.latency_s,
            });
            arcs.push(Arc {
                from: l.b,
                to: l.a,
                rate_bps: l.b_to_a_bps,
                latency_s: l.latency_s,
            });
        }
        let mut out = vec![Vec::new(); nodes];
        for (k, a) in arcs.iter().enumerate() {
            out[a.from].push(k);
        }
        for list in &mut out {
            list.sort_by_key(|&k| arcs[k].to);
        }
        Network { nodes, arcs, out }
    }

    /// The arc from `u` to `v`, if the nodes are linked.
    pub fn arc(&self, u: usize, v: usize) -> Option<usize> {
        self.out
            .get(u)?
            .iter()
            .copied()
            .find(|&k| self.arcs[k].to == v)
    }

    /// The arcs of a path of nodes (`None` when two consecutive nodes are not linked).
    pub fn path_arcs(&self, path: &[usize]) -> Option<Vec<usize>> {
        path.windows(2).map(|w| self.arc(w[0], w[1])).collect()
    }

    /// The path from `from` to `to` of least total `weight(arc)` (ties: fewer hops, then the
    /// path found first); `None` when `to` is unreachable. Weights must be non-negative.
    pub fn best_path(
        &self,
        from: usize,
        to: usize,
        cost: impl Fn(&Arc) -> f64,
    ) -> Option<Vec<usize>> {
        if from == to {
            return Some(vec![from]);
        }
        let n = self.nodes;
        let mut best = vec![(f64::INFINITY, usize::MAX); n];
        let mut pred = vec![usize::MAX; n];
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::new();
        best[from] = (0.0, 0);
        heap.push(Label {
            weight: 0.0,
            hops: 0,
            node: from,
        });
        while let Some(Label { weight, hops, node }) = heap.pop() {
            if done[node] {
                continue;
            }
            done[node] = true;
            if node == to {
                break;
            }
            for &k in &self.out[node] {
                let arc = &self.arcs[k];
                let w = weight + cost(arc);
                let candidate = (w, hops + 1);
                let current = best[arc.to];
                let better = candidate.0 < current.0
                    || (candidate.0 == current.0 && candidate.1 < current.1);
                if !done[arc.to] && better {
                    best[arc.to] = candidate;
                    pred[arc.to] = node;
                    heap.push(Label {
                        weight: w,
                        hops: hops + 1,
                        node: arc.to,
                    });
                }
            }
        }
        if pred[to] == usize::MAX {
            return None;
        }
        let mut path = vec![to];
        let mut v = to;
        while v != from {
            v = pred[v];
            path.push(v);
        }
        path.reverse();
        Some(path)
    }

    /// The path of least total latency.
    pub fn shortest_path(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        self.best_path(from, to, |a| a.latency_s)
    }

    /// The path that moves `bytes` bytes in `crossings` one-way crossings fastest (airtime
    /// `8 bytes / rate` plus `crossings` times the latency on every hop).
    pub fn fastest_path(
        &self,
        from: usize,
        to: usize,
        bytes: f64,
        crossings: f64,
    ) -> Option<Vec<usize>> {
        self.best_path(from, to, |a| transfer_time(a, bytes, crossings))
    }

    /// Whether each node is reachable from `from`.
    pub fn reachable(&self, from: usize) -> Vec<bool> {
        let mut seen = vec![false; self.nodes];
        let mut stack = vec![from];
        seen[from] = true;
        while let Some(u) = stack.pop() {
            for &k in &self.out[u] {
                let v = self.arcs[k].to;
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        seen
    }
}

/// Time to move `bytes` bytes over `arc` in `crossings` one-way crossings: airtime plus latency.
pub fn transfer_time(arc: &Arc, bytes: f64, crossings: f64) -> f64 {
    8.0 * bytes / arc.rate_bps + crossings * arc.latency_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(a: usize, b: usize, bps: f64, lat: f64) -> NetLink {
        NetLink {
            a,
            b,
            a_to_b_bps: bps,
            b_to_a_bps: bps,
            latency_s: lat,
        }
    }

    /// A square 0-1-2 with a slow direct 0-2 link: the shortest-latency path and the fastest
    /// path for many bytes differ.
    #[test]
    fn routes_follow_their_weights() {
        let net = Network::new(
            3,
            &[
                link(0, 1, 1e9, 0.010),
                link(1, 2, 1e9, 0.010),
                link(0, 2, 1e6, 0.005),
            ],
        );
        assert_eq!(net.shortest_path(0, 2), Some(vec![0, 2]));
        assert_eq!(net.fastest_path(0, 2, 1e6, 1.0), Some(vec![0, 1, 2]));
        assert_eq!(net.fastest_path(0, 2, 1.0, 1.0), Some(vec![0, 2]));
        assert_eq!(net.path_arcs(&[0, 1, 2]), Some(vec![0, 2]));
        assert_eq!(net.path_arcs(&[2, 1]), Some(vec![3]));
        assert_eq!(net.shortest_path(1, 1), Some(vec![1]));
        let island = Network::new(4, &[link(0, 1, 1e9, 0.0)]);
        assert_eq!(island.shortest_path(0, 3), None);
        assert_eq!(island.reachable(0), vec![true, true, false, false]);
        // Equal latency: fewer hops win.
        let tie = Network::new(
            3,
            &[
                link(0, 1, 1e9, 0.0),
                link(1, 2, 1e9, 0.0),
                link(0, 2, 1e9, 0.0),
            ],
        );
        assert_eq!(tie.shortest_path(0, 2), Some(vec![0, 2]));
    }
}
