//! The exact MILP (HiGHS), in two lexicographic stages.
//!
//! Binary `x[u][o]`: user `u` takes its option `o` (of [`Options`]); binary `y[v]`: the edge
//! holds variant `v` (only variants some option needs). Rows:
//!
//! - `sum_o x[u][o] = 1` per user;
//! - `sum_{o: edge variant v} x[u][o] <= y[v]` per user and variant (the aggregated linking,
//!   tighter than one row per option);
//! - blocks `sum n[u][o] x[u][o] <= N` (whole numbers, exact);
//! - utilisation `sum (load[u][o] / rho_max) x[u][o] <= 1`;
//! - memory, in units of the edge memory, `sum_v (W_v / M) y[v] + sum (kv[u][o] / M) x[u][o]
//!   <= 1`.
//!
//! So every coefficient is at most 1 or a small whole number (HiGHS 1.16 returned a wrong
//! optimum on badly scaled models, see the MoE placement model). The utilisation and memory
//! rows keep a margin of [`ROW_MARGIN`] against HiGHS's feasibility tolerance, and the decoded
//! choice is checked with [`price::fits`].
//!
//! **Stage 1** maximises the primary objective `sum_u w_u value[u][o] x[u][o] / W` (its bound is
//! the report's). **Stage 2**, when stage 1 has an incumbent and time is left, adds
//! `primary >= z1 - 1e-9 |z1|` (`z1` the primary value of stage 1's decoded choice) and
//! minimises the weighted mean latency at the fewest blocks; its choice is kept unless stage
//! 1's is lexicographically better ([`Score::better`]). Both stages get a complete MIP start
//! (stage 1: the given start when it fits; stage 2: stage 1's choice improved by the greedy's
//! local search, [`super::greedy::polish`]).
//!
//! [`Score::better`]: super::price::Score::better

use std::time::Instant;

use good_lp::constraint::{eq, geq, leq};
use good_lp::{variable, Expression, Variable};

use super::price::{self, Options, Priced, Score};
use super::CollabProblem;
use crate::error::Result;
use crate::solve::milp::{Milp, MilpSize, MipOptions, Values};
use crate::solve::report::{add_nodes, PrimalStatus, Termination};

/// What the utilisation and memory rows keep free, relative to their capacity (HiGHS accepts
/// rows violated by up to 1e-6).
pub const ROW_MARGIN: f64 = 2e-6;

/// Relative slack of stage 2's row on the primary objective.
const STAGE2_SLACK: f64 = 1e-9;

/// Share of the time limit given to stage 1 (stage 2 gets what is left).
const STAGE1_SHARE: f64 = 0.7;

/// The outcome of the MILP.
#[derive(Debug, Clone)]
pub struct MilpOutcome {
    /// One option index per user, when a choice was found.
    pub choice: Option<Vec<usize>>,
    /// Why stage 1 stopped.
    pub termination: Termination,
    /// Why stage 2 stopped (`None`: it did not run).
    pub tie_break: Option<Termination>,
    /// Stage 1's proven upper bound on the primary objective.
    pub bound: Option<f64>,
    /// Branch-and-bound nodes of both stages.
    pub nodes: Option<i64>,
    /// Size of stage 1's model.
    pub size: Option<MilpSize>,
    /// Whether the returned choice is the MIP start (HiGHS found nothing better).
    pub from_start: bool,
    /// Building, s.
    pub build_s: f64,
    /// Inside HiGHS, both stages, s.
    pub solve_s: f64,
    /// Inside HiGHS per stage (stage 2: 0 when it did not run), s.
    pub stage_s: [f64; 2],
}

/// Whether a choice of option indices fits the edge at its fewest blocks.
pub fn choice_fits(problem: &CollabProblem, options: &Options, choice: &[usize]) -> bool {
    chosen(options, choice).is_some_and(|c| {
        let with: Vec<(&Priced, usize)> =
            c.iter().map(|p| (*p, p.min_blocks.unwrap_or(0))).collect();
        price::fits(problem, &with)
    })
}

/// The options of a choice (`None` when an index is out of range).
pub fn chosen<'a>(options: &'a Options, choice: &[usize]) -> Option<Vec<&'a Priced>> {
    if choice.len() != options.options.len() {
        return None;
    }
    choice
        .iter()
        .enumerate()
        .map(|(u, &o)| options.options[u].get(o))
        .collect()
}

/// The score of a choice (`None` when an index is out of range).
pub fn choice_score(problem: &CollabProblem, options: &Options, choice: &[usize]) -> Option<Score> {
    chosen(options, choice).map(|c| price::score(problem, &c))
}

/// The built model.
struct Model {
    milp: Milp,
    x: Vec<Vec<Variable>>,
    y: Vec<Option<Variable>>,
    primary: Expression,
    latency: Expression,
}

impl Model {
    fn build(problem: &CollabProblem, options: &Options) -> Model {
        let mut milp = Milp::new();
        let nv = problem.variants.len();
        let mut needed = vec![false; nv];
        for p in options.options.iter().flatten() {
            if let Some(v) = p.edge_variant() {
                needed[v] = true;
            }
        }
        let variant = |v: usize| problem.variants[v].name.as_str();
        let y: Vec<Option<Variable>> = needed
            .iter()
            .enumerate()
            .map(|(v, &n)| {
                n.then(|| {
                    milp.add(
                        variable()
                            .binary()
                            .name(format!("edge_hosts[{}]", variant(v))),
                    )
                })
            })
            .collect();
        let x: Vec<Vec<Variable>> = options
            .options
            .iter()
            .enumerate()
            .map(|(u, list)| {
                let user = &problem.users[u].name;
                list.iter()
                    .map(|p| {
                        let mode = p.mode.label(&problem.variants).replace(" -> ", "_to_");
                        milp.add(variable().binary().name(format!("x[{user},{mode}]")))
                    })
                    .collect()
            })
            .collect();
        let total = problem.total_weight();
        let norm = if total > 0.0 && total.is_finite() {
            total
        } else {
            1.0
        };
        let edge = &problem.edge;
        let rho = edge.max_utilisation.max(1e-300);
        let mem = edge.memory_bytes.max(1e-300);
        let mut primary = Expression::with_capacity(0);
        let mut latency = Expression::with_capacity(0);
        let mut blocks = Expression::with_capacity(0);
        let mut load = Expression::with_capacity(0);
        let mut memory = Expression::with_capacity(0);
        for (v, yv) in y.iter().enumerate() {
            if let Some(yv) = yv {
                memory.add_mul(problem.variants[v].weight_bytes() / mem, *yv);
            }
        }
        for (u, list) in options.options.iter().enumerate() {
            let w = problem.users[u].weight / norm;
            let mut one = Expression::with_capacity(list.len());
            let mut link: Vec<Expression> = vec![Expression::with_capacity(0); nv];
            let mut linked = vec![false; nv];
            for (o, p) in list.iter().enumerate() {
                let xv = x[u][o];
                one.add_mul(1.0, xv);
                primary.add_mul(w * price::primary_value(problem, u, p.quality), xv);
                latency.add_mul(w * p.min_latency(), xv);
                let n = p.min_blocks.unwrap_or(0);
                if n > 0 {
                    blocks.add_mul(n as f64, xv);
                }
                if p.load > 0.0 {
                    load.add_mul(p.load / rho, xv);
                }
                if p.edge_private_bytes > 0.0 {
                    memory.add_mul(p.edge_private_bytes / mem, xv);
                }
                if let Some(v) = p.edge_variant() {
                    link[v].add_mul(1.0, xv);
                    linked[v] = true;
                }
            }
            let user = &problem.users[u].name;
            milp.constrain_named(format!("one_mode[{user}]"), eq(one, 1.0));
            for v in 0..nv {
                if let (true, Some(yv)) = (linked[v], y[v]) {
                    let row = std::mem::replace(&mut link[v], Expression::with_capacity(0));
                    let name = format!("edge_hosts[{user},{}]", variant(v));
                    milp.constrain_named(name, leq(row - yv, 0.0));
                }
            }
        }
        milp.constrain_named("resource_blocks", leq(blocks, edge.resource_blocks as f64));
        let cap = (1.0 + price::LIMIT_TOL) * (1.0 - ROW_MARGIN);
        milp.constrain_named("edge_utilisation", leq(load, cap));
        milp.constrain_named("edge_memory", leq(memory, cap));
        Model {
            milp,
            x,
            y,
            primary,
            latency,
        }
    }

    /// The complete start of a choice: every `x` and `y`.
    fn start(&self, options: &Options, choice: &[usize]) -> Vec<(Variable, f64)> {
        let mut held = vec![false; self.y.len()];
        let mut values = Vec::new();
        for (u, row) in self.x.iter().enumerate() {
            for (o, &xv) in row.iter().enumerate() {
                let on = choice[u] == o;
                values.push((xv, if on { 1.0 } else { 0.0 }));
                if on {
                    if let Some(v) = options.options[u][o].edge_variant() {
                        held[v] = true;
                    }
                }
            }
        }
        for (v, yv) in self.y.iter().enumerate() {
            if let Some(yv) = yv {
                values.push((*yv, if held[v] { 1.0 } else { 0.0 }));
            }
        }
        values
    }

    fn decode(x: &[Vec<Variable>], values: &Values) -> Vec<usize> {
        use good_lp::Solution;
        x.iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| values.value(*a.1).total_cmp(&values.value(*b.1)))
                    .map_or(0, |(o, _)| o)
            })
            .collect()
    }
}

/// The exact optimum (see the module documentation) under `mip` (its time limit covers both
/// stages); `start` (e.g. the greedy's choice) is passed as a complete MIP start when it fits,
/// and the returned choice is never lexicographically worse than it. A user without options
/// ends `Infeasible` without a solve.
pub fn milp(
    problem: &CollabProblem,
    options: &Options,
    mip: &MipOptions,
    start: Option<&[usize]>,
) -> Result<MilpOutcome> {
    let t0 = Instant::now();
    let mut outcome = MilpOutcome {
        choice: None,
        termination: Termination::Infeasible,
        tie_break: None,
        bound: None,
        nodes: None,
        size: None,
        from_start: false,
        build_s: 0.0,
        solve_s: 0.0,
        stage_s: [0.0; 2],
    };
    if options.options.iter().any(|o| o.is_empty()) {
        outcome.build_s = t0.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    let start = start.filter(|c| choice_fits(problem, options, c));
    let start_score = start.and_then(|c| choice_score(problem, options, c));

    // Stage 1.
    let mut model = Model::build(problem, options);
    if let Some(c) = start {
        let values = model.start(options, c);
        model.milp.set_start(values);
    }
    outcome.size = Some(model.milp.size());
    outcome.build_s = t0.elapsed().as_secs_f64();
    let stage1_limit = mip.time_limit_s.map(|t| (t * STAGE1_SHARE).max(0.01));
    let Model {
        milp, x, primary, ..
    } = model;
    let result = milp.maximise(
        primary,
        &MipOptions {
            time_limit_s: stage1_limit,
            ..mip.clone()
        },
    )?;
    outcome.termination = result.termination;
    outcome.bound = result.bound;
    outcome.nodes = result.nodes;
    outcome.solve_s = result.solve_s;
    outcome.stage_s[0] = result.solve_s;
    let mut best: Option<(Vec<usize>, Score)> = result
        .values
        .as_ref()
        .map(|v| Model::decode(&x, v))
        .filter(|c| choice_fits(problem, options, c))
        .and_then(|c| choice_score(problem, options, &c).map(|s| (c, s)));
    // Never worse than the start.
    if let (Some(c), Some(s)) = (start, start_score) {
        if best.as_ref().is_none_or(|(_, b)| s.better(b, 1e-12)) {
            best = Some((c.to_vec(), s));
            outcome.from_start = true;
        }
    }
    if result.primal_status == PrimalStatus::NoPlan && best.is_none() {
        outcome.choice = None;
        return Ok(outcome);
    }

    // Stage 2: the tie-break among the plans of stage 1's primary value.
    let left = mip.time_limit_s.map(|t| t - t0.elapsed().as_secs_f64());
    if let Some((c1, s1)) = best.clone() {
        // A start for the tie-break: the local search from stage 1's choice (never worse).
        let polished = super::greedy::polish(problem, options, &c1);
        let (c1, s1) = match choice_score(problem, options, &polished) {
            Some(s) if choice_fits(problem, options, &polished) && s.better(&s1, 1e-12) => {
                best = Some((polished.clone(), s));
                outcome.from_start = false;
                (polished, s)
            }
            _ => (c1, s1),
        };
        if left.is_none_or(|l| l > 0.01) {
            let mut model = Model::build(problem, options);
            let z1 = s1.primary;
            let row = model.primary.clone();
            model.milp.constrain_named(
                "primary_optimum",
                geq(row, z1 - STAGE2_SLACK * z1.abs().max(1e-12)),
            );
            let values = model.start(options, &c1);
            model.milp.set_start(values);
            let Model {
                milp, x, latency, ..
            } = model;
            let result2 = milp.minimise(
                latency,
                &MipOptions {
                    time_limit_s: left,
                    // Only stage 1, whose optimum is the reported objective, is exported.
                    write_model: None,
                    ..mip.clone()
                },
            )?;
            outcome.tie_break = Some(result2.termination);
            outcome.nodes = add_nodes(outcome.nodes, result2.nodes);
            outcome.solve_s += result2.solve_s;
            outcome.stage_s[1] = result2.solve_s;
            if let Some(c2) = result2
                .values
                .as_ref()
                .map(|v| Model::decode(&x, v))
                .filter(|c| choice_fits(problem, options, c))
            {
                if let Some(s2) = choice_score(problem, options, &c2) {
                    if !s1.better(&s2, 1e-12) && s2.better(&s1, 1e-12) {
                        best = Some((c2, s2));
                        outcome.from_start = false;
                    }
                }
            }
        }
    }
    outcome.choice = best.map(|(c, _)| c);
    Ok(outcome)
}
