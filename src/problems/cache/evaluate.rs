//! Independent evaluation of a placement: storage used per server (each block once), every
//! request's fastest in-time delivery and the expected hit ratio, recomputed from the raw rates,
//! block sizes and inference times (not from the MILP's demand sets).

use serde::Serialize;

use super::{CacheProblem, Placement, LIMIT_TOLERANCE};

/// Storage use of one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerUse {
    /// Server name.
    pub server: String,
    /// Models cached.
    pub models: usize,
    /// Distinct blocks stored.
    pub blocks: usize,
    /// Bytes stored (each block once).
    pub stored_bytes: f64,
    /// Bytes the same models would take stored independently (no sharing).
    pub independent_bytes: f64,
    /// Capacity, bytes.
    pub storage_bytes: f64,
}

/// Hits of one user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserHits {
    /// User name.
    pub user: String,
    /// Probability that a request of the user is a hit.
    pub hit_probability: f64,
    /// Requested models (with positive probability).
    pub requested: usize,
    /// Of these, the ones delivered in time.
    pub served: usize,
}

/// The evaluation of a placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheEvaluation {
    /// Expected hit ratio: mean over users of the probability that a request is a hit.
    pub hit_ratio: f64,
    /// Per server.
    pub servers: Vec<ServerUse>,
    /// Per user.
    pub users: Vec<UserHits>,
    /// Bytes saved by storing shared blocks once, over all servers.
    pub sharing_saved_bytes: f64,
    /// Violated constraints (storage), one sentence each.
    pub violations: Vec<String>,
}

impl CacheEvaluation {
    /// Whether the placement respects every server's storage.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Fastest time in which user `k` receives and runs model `i` from the servers in `holders`
/// (download, directly or relayed over the backhaul, plus on-device inference), s; `None` when no
/// holder can deliver it or the model does not fit the device.
pub fn delivery_latency(
    problem: &CacheProblem,
    k: usize,
    i: usize,
    holders: &[usize],
) -> Option<f64> {
    let user = &problem.users[k];
    let model = &problem.models[i];
    let inference = user.inference_s[model.base]?;
    let bits = 8.0 * model.bytes;
    let mut best = f64::INFINITY;
    // Relaying sends the model over the backhaul to the server with the best link to the user.
    let best_link = user.rate_bps.iter().copied().fold(0.0, f64::max);
    for &m in holders {
        let rate = user.rate_bps[m];
        if rate > 0.0 {
            best = best.min(bits / rate);
        }
        if let Some(backhaul) = problem.backhaul_bps {
            if best_link > 0.0 {
                best = best.min(bits / backhaul + bits / best_link);
            }
        }
    }
    best.is_finite().then_some(best + inference)
}

/// Evaluates `placement` (model indices per server).
pub fn evaluate(problem: &CacheProblem, placement: &Placement) -> CacheEvaluation {
    let mut violations = Vec::new();
    let mut servers = Vec::with_capacity(problem.servers.len());
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); problem.models.len()];
    let mut saved = 0.0;
    for (m, server) in problem.servers.iter().enumerate() {
        let models = placement.get(m).map(Vec::as_slice).unwrap_or(&[]);
        let mut stored = vec![false; problem.blocks.len()];
        let mut stored_bytes = 0.0;
        let mut independent = 0.0;
        for &i in models {
            holders[i].push(m);
            let model = &problem.models[i];
            for &j in &model.blocks {
                independent += problem.blocks[j].bytes;
                if !stored[j] {
                    stored[j] = true;
                    stored_bytes += problem.blocks[j].bytes;
                }
            }
        }
        if stored_bytes > server.storage_bytes * (1.0 + LIMIT_TOLERANCE) {
            violations.push(format!(
                "server {} stores {:.4} GB of blocks, above its storage of {:.4} GB",
                server.name,
                stored_bytes / 1e9,
                server.storage_bytes / 1e9
            ));
        }
        saved += independent - stored_bytes;
        servers.push(ServerUse {
            server: server.name.clone(),
            models: models.len(),
            blocks: stored.iter().filter(|&&s| s).count(),
            stored_bytes,
            independent_bytes: independent,
            storage_bytes: server.storage_bytes,
        });
    }
    let mut users = Vec::with_capacity(problem.users.len());
    let mut total = 0.0;
    for (k, user) in problem.users.iter().enumerate() {
        let mut probability = 0.0;
        let mut requested = 0;
        let mut served = 0;
        for &(i, p) in &user.requests {
            if p <= 0.0 {
                continue;
            }
            requested += 1;
            let in_time = delivery_latency(problem, k, i, &holders[i])
                .is_some_and(|l| l <= user.latency_limit_s * (1.0 + LIMIT_TOLERANCE));
            if in_time {
                probability += p;
                served += 1;
            }
        }
        total += probability;
        users.push(UserHits {
            user: user.name.clone(),
            hit_probability: probability,
            requested,
            served,
        });
    }
    CacheEvaluation {
        hit_ratio: total / problem.users.len().max(1) as f64,
        servers,
        users,
        sharing_saved_bytes: saved,
        violations,
    }
}

/// Why each user that no placement can serve is lost, one sentence per such user: it is covered
/// by no server (and nothing is relayed), none of its requested models fits its device, or even
/// the fastest requested delivery with the model on every server misses its latency limit.
pub fn unservable_users(problem: &CacheProblem) -> Vec<String> {
    let everywhere: Vec<usize> = (0..problem.servers.len()).collect();
    let mut out = Vec::new();
    for (k, user) in problem.users.iter().enumerate() {
        let requested: Vec<usize> = user
            .requests
            .iter()
            .filter(|r| r.1 > 0.0)
            .map(|r| r.0)
            .collect();
        let limit = user.latency_limit_s * (1.0 + LIMIT_TOLERANCE);
        let fastest = requested
            .iter()
            .filter_map(|&i| delivery_latency(problem, k, i, &everywhere).map(|l| (l, i)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let reason = if user.rate_bps.iter().all(|&r| r <= 0.0) {
            "no server covers it".to_string()
        } else if requested
            .iter()
            .all(|&i| user.inference_s[problem.models[i].base].is_none())
        {
            "none of its requested models fits its device's memory".to_string()
        } else {
            match fastest {
                Some((latency, i)) if latency > limit => {
                    let model = &problem.models[i];
                    let inference = user.inference_s[model.base].unwrap_or(0.0);
                    format!(
                        "its fastest request ({}, {:.2} GB) needs {:.1} s (download {:.1} s + \
                         inference {:.1} s), above its limit of {:.1} s",
                        model.name,
                        model.bytes / 1e9,
                        latency,
                        latency - inference,
                        inference,
                        user.latency_limit_s
                    )
                }
                _ => continue,
            }
        };
        out.push(format!("{}: {reason}", user.name));
    }
    out
}
