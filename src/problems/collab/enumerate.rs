//! Brute force over every user's options: the oracle of the MILP on small instances.
//!
//! A depth-first search over the users in instance order, one option each, that prunes a
//! partial choice as soon as its blocks, utilisation or edge memory (each variant's weights
//! once) exceed the edge's (they only grow), or when even the best primary value of every
//! remaining user cannot beat the best plan found (and, at an equal primary value, even their
//! fewest-latency options cannot beat its tie-break). Leaves are compared by [`Score::better`]
//! on [`price::score`], so the optimum is the lexicographic one the MILP reports.

use super::price::{self, Options, Score, LIMIT_TOL};
use super::CollabProblem;

/// The most leaves (product of the users' option counts) [`enumerate`] accepts.
pub const ENUMERATE_LIMIT: f64 = 5e6;

/// Relative tolerance of the comparisons between leaves.
const TOL: f64 = 1e-12;

/// The lexicographic optimum as one option index per user (`Ok(None)`: no choice fits); an
/// error message when the product of the users' option counts exceeds [`ENUMERATE_LIMIT`].
pub fn enumerate(
    problem: &CollabProblem,
    options: &Options,
) -> std::result::Result<Option<Vec<usize>>, String> {
    let users = problem.users.len();
    let leaves: f64 = options.options.iter().map(|o| o.len() as f64).product();
    if leaves > ENUMERATE_LIMIT {
        return Err(format!(
            "brute force would visit {leaves:.3e} combinations of the users' options, more than \
             the limit of {ENUMERATE_LIMIT:.0e}; use the MILP (solver `highs`)"
        ));
    }
    if options.options.iter().any(|o| o.is_empty()) {
        return Ok(None);
    }
    // Per user, in weighted units: the best primary value and the least latency of any option.
    let mut suffix_primary = vec![0.0; users + 1];
    let mut suffix_latency = vec![0.0; users + 1];
    for u in (0..users).rev() {
        let w = problem.users[u].weight;
        let opts = &options.options[u];
        let best = opts
            .iter()
            .map(|p| w * price::primary_value(problem, u, p.quality))
            .fold(f64::NEG_INFINITY, f64::max);
        let fastest = opts
            .iter()
            .map(|p| w * p.min_latency())
            .fold(f64::INFINITY, f64::min);
        suffix_primary[u] = suffix_primary[u + 1] + best;
        suffix_latency[u] = suffix_latency[u + 1] + fastest;
    }
    let mut search = Search {
        problem,
        options,
        suffix_primary,
        suffix_latency,
        pick: vec![0; users],
        held: vec![0; problem.variants.len()],
        best: None,
    };
    search.visit(0, 0, 0.0, 0.0, 0.0, 0.0);
    Ok(search.best.map(|(_, pick)| pick))
}

struct Search<'a> {
    problem: &'a CollabProblem,
    options: &'a Options,
    suffix_primary: Vec<f64>,
    suffix_latency: Vec<f64>,
    pick: Vec<usize>,
    held: Vec<usize>,
    /// The best leaf: its score and its (weighted, unnormalised) primary and latency sums.
    best: Option<((f64, f64, Score), Vec<usize>)>,
}

impl Search<'_> {
    fn visit(&mut self, u: usize, blocks: usize, load: f64, memory: f64, primary: f64, lat: f64) {
        let problem = self.problem;
        let edge = &problem.edge;
        if let Some(((bp, bl, _), _)) = &self.best {
            let bound = primary + self.suffix_primary[u];
            let margin = 1e-9 * bp.abs().max(bound.abs()).max(1e-12);
            if bound < bp - margin {
                return;
            }
            if bound <= bp + margin && lat + self.suffix_latency[u] > bl * (1.0 + 1e-9) {
                return;
            }
        }
        if u == problem.users.len() {
            let chosen: Vec<&price::Priced> = self
                .pick
                .iter()
                .enumerate()
                .map(|(v, &o)| &self.options.options[v][o])
                .collect();
            let with_blocks: Vec<(&price::Priced, usize)> = chosen
                .iter()
                .map(|p| (*p, p.min_blocks.unwrap_or(0)))
                .collect();
            if !price::fits(problem, &with_blocks) {
                return;
            }
            let score = price::score(problem, &chosen);
            let better = match &self.best {
                None => true,
                Some(((_, _, s), _)) => score.better(s, TOL),
            };
            if better {
                self.best = Some(((primary, lat, score), self.pick.clone()));
            }
            return;
        }
        let w = problem.users[u].weight;
        for o in 0..self.options.options[u].len() {
            let p = &self.options.options[u][o];
            let n = blocks + p.min_blocks.unwrap_or(0);
            if n > edge.resource_blocks {
                continue;
            }
            let l = load + p.load;
            if l > edge.max_utilisation * (1.0 + LIMIT_TOL) {
                continue;
            }
            let mut m = memory + p.edge_private_bytes;
            let ev = p.edge_variant();
            if let Some(v) = ev {
                if self.held[v] == 0 {
                    m += problem.variants[v].weight_bytes();
                }
            }
            if m > edge.memory_bytes * (1.0 + LIMIT_TOL) {
                continue;
            }
            if let Some(v) = ev {
                self.held[v] += 1;
            }
            self.pick[u] = o;
            let value = w * price::primary_value(problem, u, p.quality);
            let latency = w * p.min_latency();
            self.visit(u + 1, n, l, m, primary + value, lat + latency);
            if let Some(v) = ev {
                self.held[v] -= 1;
            }
        }
    }
}
