//! Why no plan fits, in the instance's terms: the users no option serves (for the best mode of
//! each allowed kind, every limit it breaks), else the shared resource that the users' smallest
//! needs already exceed.

use super::price::{self, Options, Priced, LIMIT_TOL};
use super::{CollabProblem, Mode, ModeKind};

/// Reasons, one line each (never empty).
pub fn explain(problem: &CollabProblem, options: &Options) -> Vec<String> {
    let mut out = Vec::new();
    let stranded = options.stranded();
    if !stranded.is_empty() {
        for u in stranded {
            out.push(user_reasons(problem, u));
        }
        return out;
    }
    let edge = &problem.edge;
    let min_of = |f: &dyn Fn(&Priced) -> f64| -> f64 {
        options
            .options
            .iter()
            .map(|list| list.iter().map(f).fold(f64::INFINITY, f64::min))
            .sum()
    };
    let blocks = min_of(&|p| p.min_blocks.unwrap_or(0) as f64);
    if blocks > edge.resource_blocks as f64 {
        out.push(format!(
            "the users' fewest resource blocks add up to {blocks:.0}, but the edge has {}",
            edge.resource_blocks
        ));
    }
    let load = min_of(&|p| p.load);
    if load > edge.max_utilisation * (1.0 + LIMIT_TOL) {
        out.push(format!(
            "the users' smallest edge loads add up to a utilisation of {load:.4}, above the cap \
             of {:.4}",
            edge.max_utilisation
        ));
    }
    // Memory: every user's least KV cache, plus the lightest variant when every user needs the
    // edge.
    let kv = min_of(&|p| p.edge_private_bytes);
    let all_edge = options
        .options
        .iter()
        .all(|list| list.iter().all(|p| p.edge_variant().is_some()));
    let lightest = if all_edge && !problem.users.is_empty() {
        options
            .options
            .iter()
            .flatten()
            .filter_map(|p| p.edge_variant())
            .map(|v| problem.variants[v].weight_bytes())
            .fold(f64::INFINITY, f64::min)
    } else {
        0.0
    };
    let memory = kv + if lightest.is_finite() { lightest } else { 0.0 };
    if memory > edge.memory_bytes * (1.0 + LIMIT_TOL) {
        out.push(format!(
            "the users' smallest edge memory needs add up to {:.3} GB (KV caches{}), but the \
             edge has {:.3} GB",
            memory / 1e9,
            if lightest > 0.0 && lightest.is_finite() {
                " and the lightest variant every user needs"
            } else {
                ""
            },
            edge.memory_bytes / 1e9
        ));
    }
    if out.is_empty() {
        out.push(format!(
            "every user has an option on its own and the users' smallest needs exceed no \
             shared resource, but the options must fit the edge together: {} resource blocks, a \
             utilisation of {:.4} and {:.3} GB of memory (each held variant's weights once)",
            edge.resource_blocks,
            edge.max_utilisation,
            edge.memory_bytes / 1e9
        ));
    }
    out
}

/// Why user `u` has no feasible option: for each allowed mode kind, its best mode's broken
/// limits.
fn user_reasons(problem: &CollabProblem, u: usize) -> String {
    let user = &problem.users[u];
    let modes = price::candidate_modes(problem);
    let mut parts = Vec::new();
    for kind in ModeKind::ALL {
        if !problem.allows(kind) {
            continue;
        }
        let of_kind: Vec<Mode> = modes.iter().copied().filter(|m| m.kind() == kind).collect();
        match best_of(problem, u, &of_kind) {
            None => parts.push(format!("{}: no mode of this kind offered", kind.name())),
            Some(text) => parts.push(format!("{}: {text}", kind.name())),
        }
    }
    if parts.is_empty() {
        parts.push("no mode is allowed".into());
    }
    format!(
        "user {} has no feasible option ({})",
        user.name,
        parts.join("; ")
    )
}

/// `best <mode> <broken limits>` of the best of `modes` for user `u`: the fewest broken limits,
/// then the lowest latency with all blocks; `None` without modes.
fn best_of(problem: &CollabProblem, u: usize, modes: &[Mode]) -> Option<String> {
    let n = problem.edge.resource_blocks;
    let (p, reasons) = modes
        .iter()
        .map(|&m| {
            let p = price::price(problem, u, m);
            let r = broken(problem, u, &p);
            (p, r)
        })
        .min_by(|a, b| {
            a.1.len()
                .cmp(&b.1.len())
                .then(a.0.timing.latency(n).total_cmp(&b.0.timing.latency(n)))
        })?;
    Some(format!(
        "best {} {}",
        p.mode.label(&problem.variants),
        if reasons.is_empty() {
            "meets every limit".to_string()
        } else {
            reasons.join(", ")
        }
    ))
}

/// Why the baseline `name`, restricted to `modes`, found no plan: the users none of its modes
/// serves, else that its choices do not fit the edge together.
pub fn baseline(problem: &CollabProblem, name: &str, modes: &[Mode]) -> Vec<String> {
    let mut out = Vec::new();
    for (u, user) in problem.users.iter().enumerate() {
        let served = modes
            .iter()
            .any(|&m| price::price(problem, u, m).min_blocks.is_some());
        if !served {
            let why = best_of(problem, u, modes).unwrap_or_else(|| "no mode offered".into());
            out.push(format!("{name}: user {} cannot take it ({why})", user.name));
        }
    }
    if out.is_empty() {
        out.push(format!(
            "{name}: every user can take one of its modes, but no choice of them fits the edge \
             together ({} resource blocks, a utilisation of {:.4}, {:.3} GB of memory)",
            problem.edge.resource_blocks,
            problem.edge.max_utilisation,
            problem.edge.memory_bytes / 1e9
        ));
    }
    out
}

/// The limits `p` breaks for user `u`.
fn broken(problem: &CollabProblem, u: usize, p: &Priced) -> Vec<String> {
    let user = &problem.users[u];
    let edge = &problem.edge;
    let n = edge.resource_blocks;
    let mut out = Vec::new();
    if p.device_bytes > user.memory_bytes {
        out.push(format!(
            "needs {:.3} GB of device memory, has {:.3} GB",
            p.device_bytes / 1e9,
            user.memory_bytes / 1e9
        ));
    }
    if let Some(t) = p.edge_variant() {
        let need = problem.variants[t].weight_bytes() + p.edge_private_bytes;
        if need > edge.memory_bytes {
            out.push(format!(
                "needs {:.3} GB of edge memory, the edge has {:.3} GB",
                need / 1e9,
                edge.memory_bytes / 1e9
            ));
        }
        if p.load > edge.max_utilisation {
            out.push(format!(
                "its edge load alone is {:.4}, above the utilisation cap {:.4}",
                p.load, edge.max_utilisation
            ));
        }
    }
    let radio = p.timing.uses_radio();
    if radio && n == 0 {
        out.push("needs the radio, the edge has no resource blocks".into());
        return out;
    }
    let latency = p.timing.latency(n);
    if latency > user.deadline_s * (1.0 + LIMIT_TOL) {
        out.push(format!(
            "takes {latency:.3} s{} against a deadline of {:.3} s",
            if radio {
                format!(" with all {n} blocks")
            } else {
                String::new()
            },
            user.deadline_s
        ));
    }
    if let Some(limit) = user.energy_limit_j {
        let energy = p.timing.energy(n, user);
        if energy > limit * (1.0 + LIMIT_TOL) {
            out.push(format!(
                "uses {energy:.3} J of device energy against a limit of {limit:.3} J"
            ));
        }
    }
    out
}
