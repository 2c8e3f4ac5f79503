//! The independent evaluator of allocation plans.
//!
//! Every user's latency is recomputed by the split evaluator's pass-by-pass simulation
//! ([`crate::chain::evaluate`]) on a two-tier problem whose radio link runs at the
//! user's `n_k` blocks and whose server has the user's share of the compute (peak and bandwidth
//! scaled by `phi_k`), so it does not use the per-option coefficients of the MILP and the
//! heuristics. Server memory is recomputed from the layers each plan puts there, with shared
//! parameters counted once per model.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AllocPlan, AllocProblem, UserPlan};
use crate::chain::evaluate::evaluate as evaluate_split;
use crate::chain::SplitPlan;
use crate::error::{Error, Result};
use crate::solve::violation::{within, Violation};

/// One user's recomputed figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserEvaluation {
    /// End-to-end latency, s.
    pub latency_s: f64,
    /// Device compute, s.
    pub device_s: f64,
    /// Radio link (airtime plus round trips), s.
    pub link_s: f64,
    /// Server compute at the user's share, s.
    pub server_s: f64,
    /// Device energy, J.
    pub energy_j: f64,
}

/// Per-server use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerUse {
    /// Blocks handed out.
    pub resource_blocks: usize,
    /// Compute shares handed out.
    pub compute_share: f64,
    /// Memory used, bytes.
    pub memory_bytes: f64,
    /// Shared parameter bytes among them (stored once).
    pub shared_bytes: f64,
}

/// The evaluation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllocEvaluation {
    /// Per user.
    pub users: Vec<UserEvaluation>,
    /// Per server.
    pub servers: Vec<ServerUse>,
    /// Objective value.
    pub objective: f64,
    /// Violated constraints.
    pub violations: Vec<Violation>,
}

impl AllocEvaluation {
    /// Whether every constraint holds.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Evaluates `plan`; errors only when its shape does not match the instance.
pub fn evaluate(problem: &AllocProblem, plan: &AllocPlan) -> Result<AllocEvaluation> {
    let users = problem.users.len();
    if plan.users.len() != users {
        return Err(Error::option(
            "users",
            format!(
                "the plan has {} users, the instance {users}",
                plan.users.len()
            ),
        ));
    }
    let mut violations = Vec::new();
    let mut out = Vec::with_capacity(users);
    let mut servers: Vec<ServerUse> = problem
        .servers
        .iter()
        .map(|_| ServerUse {
            resource_blocks: 0,
            compute_share: 0.0,
            memory_bytes: 0.0,
            shared_bytes: 0.0,
        })
        .collect();
    // Shared layers stored per (server, model key): the lowest cut of its users.
    let mut lowest_cut: LowestCuts = Default::default();
    for (k, p) in plan.users.iter().enumerate() {
        check_shape(problem, k, p)?;
        let (user, server) = evaluate_user(problem, k, p, &mut violations)?;
        out.push(user);
        if let Some(s) = server {
            add_private_use(problem, k, p, s, &mut servers[s], &mut lowest_cut);
        }
    }
    add_shared_bytes(problem, &lowest_cut, &mut servers);
    check_servers(problem, &servers, &mut violations);
    let latencies: Vec<f64> = out.iter().map(|u| u.latency_s).collect();
    Ok(AllocEvaluation {
        objective: problem.objective.value(&problem.users, &latencies),
        users: out,
        servers,
        violations,
    })
}

/// Per (server, model sharing key): the lowest cut of its users there, and one such user.
type LowestCuts = BTreeMap<(usize, String), (usize, usize)>;

/// The error when user `k`'s plan `p` names a cut beyond its model or a server that does not
/// exist.
fn check_shape(problem: &AllocProblem, k: usize, p: &UserPlan) -> Result<()> {
    let n = problem.users[k].table.len();
    if p.cut > n {
        return Err(Error::Option {
            field: format!("users[{k}].cut"),
            message: format!("cut {} beyond the model's {n} layers", p.cut),
        });
    }
    if let Some(s) = p.server {
        if s >= problem.servers.len() {
            return Err(Error::Option {
                field: format!("users[{k}].server"),
                message: format!("server {s} does not exist"),
            });
        }
    }
    Ok(())
}

/// User `k`'s figures under plan `p` (seconds, joules), by the split evaluator at the user's
/// blocks and compute share, and the server it offloads to; pushes the violated placement
/// rules and deadline.
fn evaluate_user(
    problem: &AllocProblem,
    k: usize,
    p: &UserPlan,
    violations: &mut Vec<Violation>,
) -> Result<(UserEvaluation, Option<usize>)> {
    let u = &problem.users[k];
    let n = u.table.len();
    let bad = |what: String| Violation {
        constraint: format!("users[{k}]"),
        message: format!("user {}: {what}", u.name),
    };
    let offloads = p.server.is_some() && p.cut < n;
    if offloads && p.resource_blocks == 0 {
        violations.push(bad("offloads with no resource block".into()));
    }
    if offloads && p.compute_share <= 0.0 {
        violations.push(bad("offloads with no compute share".into()));
    }
    let r = &u.rules;
    if r.embed_on_device && p.cut == 0 {
        violations.push(bad("the embedding must stay on the device".into()));
    }
    if r.min_device_layers.is_some_and(|m| p.cut < m)
        || r.max_device_layers.is_some_and(|m| p.cut > m)
    {
        violations.push(bad(format!(
            "{} device layers break the min/max rule",
            p.cut
        )));
    }
    let server = if offloads { p.server } else { None };
    let split = problem.user_split(
        k,
        server,
        p.resource_blocks.max(1) as f64,
        p.compute_share.max(1e-300),
    );
    let ev = evaluate_split(&split, &SplitPlan::from_cuts(n, p.cut.min(n), n))?;
    for v in ev.violations {
        violations.push(bad(v.message));
    }
    if let Some(d) = u.deadline_s {
        if !within(ev.latency_s, d) {
            violations.push(bad(format!(
                "latency {:.6} s exceeds the deadline {d} s",
                ev.latency_s
            )));
        }
    }
    let user = UserEvaluation {
        latency_s: ev.latency_s,
        device_s: ev.compute_s[0],
        link_s: ev.wireless.time_s,
        server_s: ev.compute_s[1],
        energy_j: ev.energy_j,
    };
    Ok((user, server))
}

/// Adds user `k`'s blocks, compute share and private bytes (per-layer, not shared) to its
/// server `s`'s use, and notes its cut for the shared layers.
fn add_private_use(
    problem: &AllocProblem,
    k: usize,
    p: &UserPlan,
    s: usize,
    used: &mut ServerUse,
    lowest_cut: &mut LowestCuts,
) {
    let n = problem.users[k].table.len();
    used.resource_blocks += p.resource_blocks;
    used.compute_share += p.compute_share;
    for l in p.cut..n {
        used.memory_bytes += problem.layer_bytes(k, l).1;
    }
    let key = (s, problem.sharing_key(k));
    let entry = lowest_cut.entry(key).or_insert((p.cut, k));
    if p.cut < entry.0 {
        *entry = (p.cut, k);
    }
}

/// Adds the shared parameter bytes each model stores once per server, from its lowest cut
/// there (plus a tied embedding stored again with the head).
fn add_shared_bytes(problem: &AllocProblem, lowest_cut: &LowestCuts, servers: &mut [ServerUse]) {
    for ((s, _), (cut, k)) in lowest_cut {
        let u = &problem.users[*k];
        let n = u.table.len();
        let mut shared: f64 = (*cut..n).map(|l| problem.layer_bytes(*k, l).0).sum();
        if *cut > 0 && shared > 0.0 {
            // The head is here but the embedding is not: a tied matrix is stored again.
            shared += problem.user_split(*k, None, 1.0, 1.0).tied_extra_bytes();
        }
        servers[*s].shared_bytes += shared;
        servers[*s].memory_bytes += shared;
    }
}

/// Pushes the servers' violated limits: blocks, compute shares (sum at most 1), memory (bytes).
fn check_servers(problem: &AllocProblem, servers: &[ServerUse], violations: &mut Vec<Violation>) {
    for (s, (srv, used)) in problem.servers.iter().zip(servers).enumerate() {
        if used.resource_blocks > srv.resource_blocks {
            violations.push(Violation {
                constraint: format!("servers[{s}].resource_blocks"),
                message: format!(
                    "server {}: {} blocks handed out, {} available",
                    srv.name, used.resource_blocks, srv.resource_blocks
                ),
            });
        }
        if !within(used.compute_share, 1.0) {
            violations.push(Violation {
                constraint: format!("servers[{s}].compute"),
                message: format!(
                    "server {}: compute shares sum to {:.6}",
                    srv.name, used.compute_share
                ),
            });
        }
        if !within(used.memory_bytes, srv.memory_bytes) {
            violations.push(Violation {
                constraint: format!("servers[{s}].memory"),
                message: format!(
                    "server {}: needs {:.3} GB, has {:.3} GB",
                    srv.name,
                    used.memory_bytes / 1e9,
                    srv.memory_bytes / 1e9
                ),
            });
        }
    }
}
