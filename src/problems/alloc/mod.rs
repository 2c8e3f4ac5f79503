//! Many users, one or several edge servers: joint cut-layer, resource-block and compute-share
//! allocation (docs/alloc.md).
//!
//! Each user `k` runs its own model on its own device and picks an **option**: run everything on
//! the device, or a server `m` and a cut `c` (layers `0..c` on the device, `c..n` on server `m`).
//! An offloading user gets an integer number of resource blocks `n_k >= 1` of server `m` (rate
//! `n_k * B_rb * log2(1 + SNR_km)` up and down) and a share `phi_k` of its compute. Its latency is
//!
//! ```text
//! L_k = a_kmc + f_kmc + S_kmc / n_k + w_kmc / phi_k
//! ```
//!
//! with `a` the device compute time, `f` the fixed link time (half a round trip per crossing),
//! `S` the airtime at one resource block and `w` the server compute time with the whole server;
//! all four come from the layer-chain cost model ([`crate::chain`]) of the user's model,
//! workload and devices. Server memory holds the shared (frozen) parameters of every model layer
//! that some user runs there once, plus every user's own KV cache, activations and trainable
//! state. The problem is solved exactly by the MILP in [`model`], by the heuristics in
//! [`heuristics`], checked by [`evaluate`], and an infeasible instance is explained by [`explain`].
//! The compute share models a server time-shared (or partitioned, as with MIG) among its users:
//! a user with share `phi` sees `phi` of the peak FLOP/s and of the memory bandwidth; batching
//! gains across users are not modelled, which makes offloading slightly pessimistic.

pub mod bound;
pub mod evaluate;
pub mod explain;
pub mod heuristics;
pub mod model;
pub mod outer;
pub mod render;
pub mod solve;

use serde::{Deserialize, Serialize};

use crate::chain::{
    Coefficients, Link, Objective, Rules, SplitProblem, Tier, TierResource, Workload,
};
use crate::costs::device::Device;
use crate::costs::table::CostTable;

/// An edge server: compute, memory and its radio resource.
#[derive(Debug, Clone)]
pub struct Server {
    /// Name (e.g. `bs-0`).
    pub name: String,
    /// The accelerator serving users.
    pub device: Device,
    /// The accelerator as its runtime runs each user's model (`runtime` named), else empty.
    pub runtime_devices: Vec<Device>,
    /// Memory for models, KV caches and training state, bytes.
    pub memory_bytes: f64,
    /// Resource blocks N shared by the server's users.
    pub resource_blocks: usize,
    /// Bandwidth of one resource block, Hz.
    pub rb_bandwidth_hz: f64,
    /// Round-trip time between a user and the server, s.
    pub rtt_s: f64,
}

impl Server {
    /// The accelerator that runs user `k`'s model.
    pub fn on(&self, k: usize) -> &Device {
        self.runtime_devices.get(k).unwrap_or(&self.device)
    }
}

/// A user: device, model, workload, channel and limits.
#[derive(Debug, Clone)]
pub struct User {
    /// Name.
    pub name: String,
    /// The user's model.
    pub table: CostTable,
    /// Shared-parameter key of the model (name and weight type): users with the same key share
    /// the frozen parameters stored on a server.
    pub model_key: String,
    /// Inference or fine-tuning.
    pub workload: Workload,
    /// The user's device.
    pub device: TierResource,
    /// Uplink SNR to each server, linear (not dB).
    pub snr_up: Vec<f64>,
    /// Downlink SNR from each server, linear.
    pub snr_down: Vec<f64>,
    /// Latency limit, s.
    pub deadline_s: Option<f64>,
    /// Weight in the weighted-sum objective.
    pub weight: f64,
    /// Placement rules (embedding on the device, min/max device layers; pins are not used).
    pub rules: Rules,
    /// Device radio transmit power, W.
    pub tx_power_w: f64,
    /// Device radio receive power, W.
    pub rx_power_w: f64,
}

/// What the allocation minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocObjective {
    /// The largest user latency (the round time of parallel split learning; fairness).
    MinMax,
    /// The sum of user latencies.
    Sum,
    /// The sum of user latencies weighted by [`User::weight`].
    WeightedSum,
}

impl AllocObjective {
    /// Parses `min-max`, `sum` or `weighted-sum`.
    pub fn parse(text: &str) -> Option<AllocObjective> {
        match text {
            "min-max" => Some(AllocObjective::MinMax),
            "sum" => Some(AllocObjective::Sum),
            "weighted-sum" => Some(AllocObjective::WeightedSum),
            _ => None,
        }
    }

    /// Objective value of the given user latencies.
    pub fn value(self, users: &[User], latencies: &[f64]) -> f64 {
        match self {
            AllocObjective::MinMax => latencies.iter().copied().fold(0.0, f64::max),
            AllocObjective::Sum => latencies.iter().sum(),
            AllocObjective::WeightedSum => {
                users.iter().zip(latencies).map(|(u, l)| u.weight * l).sum()
            }
        }
    }
}

/// A validated allocation instance: plain data.
#[derive(Debug, Clone)]
pub struct AllocProblem {
    /// Instance name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Edge servers (one for the single-server problem).
    pub servers: Vec<Server>,
    /// Users.
    pub users: Vec<User>,
    /// Objective.
    pub objective: AllocObjective,
}

/// One user's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserPlan {
    /// Serving server (`None`: the whole model runs on the device).
    pub server: Option<usize>,
    /// Layers `0..cut` run on the device, the rest on the server.
    pub cut: usize,
    /// Resource blocks (0 when local).
    pub resource_blocks: usize,
    /// Fraction of the server's compute (0 when local).
    pub compute_share: f64,
}

/// A plan for every user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocPlan {
    /// Per user, in instance order.
    pub users: Vec<UserPlan>,
}

/// A placement choice of one user with its latency terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserOption {
    /// Server, or `None` for all on the device.
    pub server: Option<usize>,
    /// Device layers `0..cut`.
    pub cut: usize,
    /// Device compute time, s.
    pub device_s: f64,
    /// Fixed link time (half a round trip per crossing), s.
    pub fixed_s: f64,
    /// Airtime with one resource block, s (`S`; `S / n` with `n` blocks).
    pub airtime_rb_s: f64,
    /// Server compute time with the whole server, s (`w`; `w / phi` with share `phi`).
    pub server_s: f64,
    /// The user's own bytes on the server (KV cache, activations, trainable state).
    pub server_private_bytes: f64,
}

impl UserOption {
    /// Latency with `n` resource blocks and compute share `phi` (terms absent when zero).
    pub fn latency(&self, n: f64, phi: f64) -> f64 {
        let mut l = self.device_s + self.fixed_s;
        if self.airtime_rb_s > 0.0 {
            l += self.airtime_rb_s / n;
        }
        if self.server_s > 0.0 {
            l += self.server_s / phi;
        }
        l
    }
}

/// Per-user options and the per-model shared-parameter bytes, computed once per instance.
#[derive(Debug, Clone)]
pub struct Options {
    /// `options[k]`: the feasible options of user `k` (device memory and rules already applied).
    pub options: Vec<Vec<UserOption>>,
    /// Distinct model keys.
    pub models: Vec<String>,
    /// Model index of each user.
    pub user_model: Vec<usize>,
    /// `shared[i][l]`: bytes of layer `l` of model `i` stored once per server however many users
    /// run it there.
    pub shared: Vec<Vec<f64>>,
    /// `tied[i]`: bytes of model `i`'s tied embedding matrix, stored again on a server that runs
    /// the head but not the embedding (0 when untied).
    pub tied: Vec<f64>,
}

impl AllocProblem {
    /// The split problem of user `k` served by server `m` with `rbs` resource blocks and the
    /// whole server (or only the device when `server` is `None`). Shared by the option pricing
    /// and, with scaled resources, by the evaluator.
    pub fn user_split(
        &self,
        k: usize,
        server: Option<usize>,
        rbs: f64,
        share: f64,
    ) -> SplitProblem {
        let u = &self.users[k];
        let (edge, wireless) = match server {
            Some(m) => {
                let s = &self.servers[m];
                let mut device = s.on(k).clone();
                device.share(share);
                let rb = rbs * s.rb_bandwidth_hz;
                (
                    Some(TierResource {
                        device,
                        memory_bytes: f64::INFINITY,
                        profile: None,
                        profile_path: None,
                    }),
                    Some(Link {
                        uplink_bps: rb * (1.0 + u.snr_up[m]).log2(),
                        downlink_bps: rb * (1.0 + u.snr_down[m]).log2(),
                        rtt_s: s.rtt_s,
                    }),
                )
            }
            None => (None, None),
        };
        SplitProblem {
            name: u.name.clone(),
            description: None,
            source: None,
            table: u.table.clone(),
            workload: u.workload,
            tiers: [Some(u.device.clone()), edge, None],
            wireless,
            backhaul: None,
            tx_power_w: u.tx_power_w,
            rx_power_w: u.rx_power_w,
            objective: Objective::Latency,
            deadline_s: None,
            device_energy_budget_j: None,
            rules: Rules::default(),
        }
    }

    /// Bytes of layer `l` of user `k`'s model that are shared with other users of the same model
    /// on a server (frozen weights), and the bytes that are the user's own.
    pub fn layer_bytes(&self, k: usize, l: usize) -> (f64, f64) {
        let u = &self.users[k];
        let layer = &u.table.layers[l];
        // The split model's per-layer memory is shared + private.
        let split = self.user_split(k, None, 1.0, 1.0);
        let total = split.layer_memory_bytes(layer);
        let shared = match u.workload {
            Workload::Finetune {
                training: crate::chain::Training::Full,
                ..
            } => 0.0,
            _ => layer.param_bytes,
        };
        (shared, total - shared)
    }

    /// Prices every option of every user.
    pub fn options(&self) -> Options {
        let mut models: Vec<String> = Vec::new();
        let mut user_model = Vec::with_capacity(self.users.len());
        let mut shared: Vec<Vec<f64>> = Vec::new();
        let mut tied = Vec::new();
        for (k, u) in self.users.iter().enumerate() {
            let key = self.sharing_key(k);
            let i = match models.iter().position(|m| *m == key) {
                Some(i) => i,
                None => {
                    models.push(key);
                    shared.push(
                        (0..u.table.len())
                            .map(|l| self.layer_bytes(k, l).0)
                            .collect(),
                    );
                    let split = self.user_split(k, None, 1.0, 1.0);
                    tied.push(
                        if shared.last().is_some_and(|s| s.iter().any(|b| *b > 0.0)) {
                            split.tied_extra_bytes()
                        } else {
                            0.0
                        },
                    );
                    models.len() - 1
                }
            };
            user_model.push(i);
        }
        let options = (0..self.users.len())
            .map(|k| self.user_options(k))
            .collect();
        Options {
            options,
            models,
            user_model,
            shared,
            tied,
        }
    }

    /// Bytes each server holds for the given options: shared parameters once per model (from the
    /// lowest cut of its users there, plus a tied embedding copy when the embedding stays on the
    /// devices) and every user's private bytes.
    pub fn server_memory(&self, opts: &Options, choice: &[usize]) -> Vec<f64> {
        self.server_memory_of(opts, choice.iter().copied().enumerate())
    }

    /// [`AllocProblem::server_memory`] for some users only: `(user, option)` pairs.
    pub fn server_memory_of(
        &self,
        opts: &Options,
        chosen: impl IntoIterator<Item = (usize, usize)>,
    ) -> Vec<f64> {
        let mut used = vec![0.0; self.servers.len()];
        let mut lowest: Vec<Vec<Option<usize>>> =
            vec![vec![None; opts.models.len()]; self.servers.len()];
        for (k, o) in chosen {
            let opt = &opts.options[k][o];
            if let Some(s) = opt.server {
                used[s] += opt.server_private_bytes;
                let slot = &mut lowest[s][opts.user_model[k]];
                *slot = Some(slot.map_or(opt.cut, |c| c.min(opt.cut)));
            }
        }
        for (s, models) in lowest.iter().enumerate() {
            for (i, cut) in models.iter().enumerate() {
                if let Some(c) = *cut {
                    used[s] += opts.shared[i][c..].iter().sum::<f64>();
                    if c > 0 {
                        used[s] += opts.tied[i];
                    }
                }
            }
        }
        used
    }

    /// Users share server-side parameters when they run the same model in the same weight type
    /// and do not train all of its weights.
    pub(crate) fn sharing_key(&self, k: usize) -> String {
        let u = &self.users[k];
        match u.workload {
            Workload::Finetune {
                training: crate::chain::Training::Full,
                ..
            } => format!("{}#user-{k}", u.model_key),
            _ => u.model_key.clone(),
        }
    }

    fn user_options(&self, k: usize) -> Vec<UserOption> {
        let u = &self.users[k];
        let n = u.table.len();
        let mut out = Vec::new();
        let private: Vec<f64> = (0..n).map(|l| self.layer_bytes(k, l).1).collect();
        let rules_ok = |cut: usize| {
            let r = &u.rules;
            !(r.embed_on_device && cut == 0)
                && r.min_device_layers.is_none_or(|m| cut >= m)
                && r.max_device_layers.is_none_or(|m| cut <= m)
        };
        // All on the device.
        let local = self.user_split(k, None, 1.0, 1.0);
        let local_coef = Coefficients::new(&local);
        let device_memory = |cut: usize| -> f64 {
            // A tied head on the device always comes with the embedding, so no extra copy.
            local_coef.memory[..cut].iter().sum()
        };
        let fits = |cut: usize| device_memory(cut) <= u.device.memory_bytes * (1.0 + 1e-9);
        if rules_ok(n) && fits(n) {
            let device_s = local_coef
                .compute
                .iter()
                .map(|c| c[0].map_or(0.0, |c| c.latency_s))
                .sum();
            out.push(UserOption {
                server: None,
                cut: n,
                device_s,
                fixed_s: 0.0,
                airtime_rb_s: 0.0,
                server_s: 0.0,
                server_private_bytes: 0.0,
            });
        }
        for m in 0..self.servers.len() {
            let split = self.user_split(k, Some(m), 1.0, 1.0);
            let coef = Coefficients::new(&split);
            let mut device_prefix = 0.0;
            let mut server_suffix: Vec<f64> = vec![0.0; n + 1];
            for l in (0..n).rev() {
                server_suffix[l] = server_suffix[l + 1]
                    + coef.compute[l][Tier::Edge.index()].map_or(0.0, |c| c.latency_s);
            }
            let mut private_suffix = vec![0.0; n + 1];
            for l in (0..n).rev() {
                private_suffix[l] = private_suffix[l + 1] + private[l];
            }
            for cut in 0..n {
                if cut > 0 {
                    device_prefix += coef.compute[cut - 1][0].map_or(0.0, |c| c.latency_s);
                }
                if !rules_ok(cut) || !fits(cut) {
                    continue;
                }
                let r = &coef.radio[cut];
                let airtime = r.tx_s + r.rx_s;
                out.push(UserOption {
                    server: Some(m),
                    cut,
                    device_s: device_prefix,
                    fixed_s: r.latency_s - airtime,
                    airtime_rb_s: airtime,
                    server_s: server_suffix[cut],
                    server_private_bytes: private_suffix[cut],
                });
            }
        }
        out
    }
}
