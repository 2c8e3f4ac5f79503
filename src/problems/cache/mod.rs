//! Parameter-sharing cache placement at the edge, TrimCaching style (docs/cache.md).
//!
//! A **model library** is a set of models, each a list of parameter **blocks** with sizes in
//! bytes. Models derived from one base LLM share blocks: LoRA variants share the whole frozen
//! backbone and add their own adapter, top-layer fine-tunes share the embedding and the bottom
//! blocks, fully fine-tuned copies share nothing ([`library`]). A block stored on an edge server
//! counts once against its storage `Q_m`, however many cached models contain it.
//!
//! User `k` requests model `i` with probability `p_ki`. The request is a **hit** when some server
//! `m` caching `i` delivers it in time:
//!
//! ```text
//! download_kmi = 8 s_i / r_km                                  (m covers k)
//!              = 8 s_i / B_backhaul + 8 s_i / max_m' r_km'      (relayed over the backhaul)
//! hit_ki       = exists m caching i:  download_kmi + t_ki <= T_k
//! ```
//!
//! with `s_i` the bytes of model `i` (all its blocks: the user holds none of them), `r_km` the
//! downlink rate from server `m` to user `k` (0 where `m` does not cover `k`), `t_ki` the
//! on-device inference time of the request (prefill and decode, from the cost tables and the
//! roofline or a profiled table; infinite when the model and its KV cache do not fit the device)
//! and `T_k` the user's latency limit. Relaying is allowed when the instance gives a backhaul rate.
//! The objective is the **expected hit ratio** `(1/K) sum_k sum_i p_ki hit_ki`.
//!
//! Solved exactly by the MILP of [`model`], by the greedy and baselines of [`heuristics`], and
//! checked by [`evaluate`], which recomputes every request's best delivery from the raw rates,
//! sizes and inference times.

pub mod evaluate;
pub mod heuristics;
pub mod improve;
pub mod library;
pub mod model;
pub mod render;
pub mod solve;

use serde::{Deserialize, Serialize};

/// Relative tolerance of latency and storage limits (a delivery within `T (1 + 1e-9)` is in
/// time), so that a limit written as the exact latency of a plan is met.
pub const LIMIT_TOLERANCE: f64 = 1e-9;

/// A parameter block: bytes stored once per server that holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    /// What the block holds, e.g. `llama-3.2-1b@q4 backbone L0-L12`.
    pub name: String,
    /// Size, bytes.
    pub bytes: f64,
}

/// How a model of the library derives from its base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "variant", rename_all = "kebab-case")]
pub enum Variant {
    /// The base model itself.
    Base,
    /// The frozen base plus a LoRA adapter of `rank` on the target matrices.
    Lora {
        /// Adapter rank.
        rank: usize,
        /// Adapted matrices (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
        targets: Vec<String>,
    },
    /// The top `layers` transformer blocks and the head fine-tuned, the rest shared.
    TopLayers {
        /// Fine-tuned blocks.
        layers: usize,
    },
    /// Every parameter fine-tuned: shares nothing.
    Full,
}

/// A model of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibraryModel {
    /// Name (unique).
    pub name: String,
    /// Index of its base in [`CacheProblem::bases`].
    pub base: usize,
    /// How it derives from the base.
    pub variant: Variant,
    /// Its blocks, indices into [`CacheProblem::blocks`], increasing.
    pub blocks: Vec<usize>,
    /// Sum of its block sizes: the bytes a user downloads, bytes.
    pub bytes: f64,
}

/// An edge server's cache.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheServer {
    /// Name (unique).
    pub name: String,
    /// Storage for model blocks `Q_m`, bytes.
    pub storage_bytes: f64,
}

/// A user: channel to each server, latency limit, requests and on-device inference times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheUser {
    /// Name (unique).
    pub name: String,
    /// Downlink rate from each server, bit/s (0: the server does not cover the user).
    pub rate_bps: Vec<f64>,
    /// Limit on download plus inference time, s.
    pub latency_limit_s: f64,
    /// On-device inference time of a request to a model of each base, s (`None`: the model and
    /// its KV cache do not fit the device's memory).
    pub inference_s: Vec<Option<f64>>,
    /// Requested models and their probabilities `(model, p)`, summing to 1.
    pub requests: Vec<(usize, f64)>,
}

/// A validated cache-placement instance: plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheProblem {
    /// Instance name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Names of the base models (`model@dtype`).
    pub bases: Vec<String>,
    /// Parameter blocks.
    pub blocks: Vec<Block>,
    /// The model library.
    pub models: Vec<LibraryModel>,
    /// Edge servers.
    pub servers: Vec<CacheServer>,
    /// Users.
    pub users: Vec<CacheUser>,
    /// Backhaul rate between servers, bit/s (`None`: no relaying; a user is served only by the
    /// servers covering it).
    pub backhaul_bps: Option<f64>,
}

/// Which models each server caches: `placement[m]` lists model indices, increasing.
pub type Placement = Vec<Vec<usize>>;

/// A plan as written to and read from JSON: model names per server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachePlan {
    /// One entry per server, in instance order.
    pub servers: Vec<ServerPlan>,
}

/// The models one server caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPlan {
    /// Server name.
    pub server: String,
    /// Names of the cached models.
    pub models: Vec<String>,
}

impl CacheProblem {
    /// Checks the shape of a problem built in code (the instance loader guarantees it): block
    /// and base indices in range, one rate per server and one inference time per base for every
    /// user, requested models in range. The message names the bad part.
    pub fn check(&self) -> Result<(), String> {
        for model in &self.models {
            if model.base >= self.bases.len()
                || model.blocks.iter().any(|&j| j >= self.blocks.len())
            {
                return Err(format!(
                    "model {}: base or block index out of range",
                    model.name
                ));
            }
        }
        for user in &self.users {
            if user.rate_bps.len() != self.servers.len() {
                return Err(format!(
                    "user {}: {} rates for {} servers",
                    user.name,
                    user.rate_bps.len(),
                    self.servers.len()
                ));
            }
            if user.inference_s.len() != self.bases.len() {
                return Err(format!(
                    "user {}: {} inference times for {} bases",
                    user.name,
                    user.inference_s.len(),
                    self.bases.len()
                ));
            }
            if user.requests.iter().any(|r| r.0 >= self.models.len()) {
                return Err(format!("user {}: requests a model out of range", user.name));
            }
        }
        Ok(())
    }

    /// The plan of a placement, by names.
    pub fn plan(&self, placement: &Placement) -> CachePlan {
        CachePlan {
            servers: self
                .servers
                .iter()
                .zip(placement)
                .map(|(s, models)| ServerPlan {
                    server: s.name.clone(),
                    models: models
                        .iter()
                        .map(|&i| self.models[i].name.clone())
                        .collect(),
                })
                .collect(),
        }
    }

    /// The placement of a plan; errors name the unknown server or model.
    pub fn placement(&self, plan: &CachePlan) -> Result<Placement, String> {
        let mut placement = vec![Vec::new(); self.servers.len()];
        for (e, entry) in plan.servers.iter().enumerate() {
            let m = self
                .servers
                .iter()
                .position(|s| s.name == entry.server)
                .ok_or_else(|| {
                    format!(
                        "servers[{e}].server: unknown server \"{}\"; the instance has {}",
                        entry.server,
                        self.server_names()
                    )
                })?;
            for (j, name) in entry.models.iter().enumerate() {
                let i = self
                    .models
                    .iter()
                    .position(|model| &model.name == name)
                    .ok_or_else(|| format!("servers[{e}].models[{j}]: unknown model \"{name}\""))?;
                placement[m].push(i);
            }
        }
        for models in &mut placement {
            models.sort_unstable();
            models.dedup();
        }
        Ok(placement)
    }

    /// Checks that `plan` has this problem's shape (one entry per server, in instance order;
    /// known model names) and returns its placement.
    pub fn check_plan(&self, plan: &CachePlan) -> Result<Placement, String> {
        if plan.servers.len() != self.servers.len() {
            return Err(format!(
                "expected one entry per server ({}: {}), got {}",
                self.servers.len(),
                self.server_names(),
                plan.servers.len()
            ));
        }
        for (m, (entry, server)) in plan.servers.iter().zip(&self.servers).enumerate() {
            if entry.server != server.name {
                return Err(format!(
                    "servers[{m}].server: expected \"{}\" (one entry per server, in instance \
                     order), got \"{}\"",
                    server.name, entry.server
                ));
            }
        }
        self.placement(plan)
    }

    fn server_names(&self) -> String {
        let names: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }

    /// Bytes server `m` stores for `models`: each distinct block once.
    pub fn stored_bytes(&self, models: &[usize]) -> f64 {
        let mut seen = vec![false; self.blocks.len()];
        let mut total = 0.0;
        for &i in models {
            for &j in &self.models[i].blocks {
                if !seen[j] {
                    seen[j] = true;
                    total += self.blocks[j].bytes;
                }
            }
        }
        total
    }
}

/// Zipf probabilities of ranks `1..=n` with skew `s`: `p_r = r^-s / sum_q q^-s`.
pub fn zipf(n: usize, skew: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-skew)).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sums_to_one_and_decreases() {
        let p = zipf(5, 0.8);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p.windows(2).all(|w| w[0] > w[1]));
        // Skew 0 is uniform.
        assert!(zipf(4, 0.0).iter().all(|&q| (q - 0.25).abs() < 1e-12));
    }
}
