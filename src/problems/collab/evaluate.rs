//! The independent evaluator: recomputes every user's expected latency, device energy and
//! quality from the cost tables and the radio, request by request and round by round (its own
//! walk over the per-layer sums of [`super::part`], not the solvers' [`super::price`]), checks every constraint, and runs a seeded Monte
//! Carlo simulation ([`super::simulate`]) whose 95% intervals must contain the expectations.

use serde::Serialize;

use crate::costs::latency::Cost;
use crate::error::{Error, Result};
use crate::solve::format::{bytes, secs};

use super::part::Part;
use super::price::LIMIT_TOL;
use super::simulate::{inside, simulate, user_rng, Randomness};
use super::{cascade_quality, CollabPlan, CollabProblem, CollabUser, Mode, ModeKind, Objective};

/// The Monte Carlo estimate of one user's request latency and device energy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct McStats {
    /// Requests simulated.
    pub requests: usize,
    /// Mean latency, s.
    pub mean_latency_s: f64,
    /// Half-width of the 95% interval of the mean latency, s.
    pub latency_half_width_s: f64,
    /// Mean device energy, J.
    pub mean_energy_j: f64,
    /// Half-width of the 95% interval of the mean energy, J.
    pub energy_half_width_j: f64,
    /// 95th percentile of the latency, s.
    pub p95_latency_s: f64,
    /// Whether the expected latency and energy lie inside the intervals.
    pub agrees: bool,
}

/// One user's evaluated choice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserEvaluation {
    /// User name.
    pub name: String,
    /// The mode with its variant names (`speculative llama-3.2-1b-q4 -> llama-3-8b-fp16 k=4`).
    pub mode: String,
    /// Quality, percent.
    pub quality: f64,
    /// Whether it reaches the user's quality target (true without a target).
    pub meets_target: bool,
    /// Expected request latency at the plan's blocks, s.
    pub latency_s: f64,
    /// The user's latency limit, s.
    pub deadline_s: f64,
    /// Expected device energy per request, J.
    pub energy_j: f64,
    /// Resource blocks.
    pub resource_blocks: usize,
    /// Expected edge seconds per request with the whole server.
    pub edge_service_s: f64,
    /// Expected speculative rounds per request (0 in other modes).
    pub rounds: f64,
    /// The Monte Carlo estimate.
    pub monte_carlo: McStats,
}

/// The evaluation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The objective: weighted mean quality (percent) or weighted share of users served.
    pub objective: f64,
    /// Weighted mean quality, percent.
    pub mean_quality: f64,
    /// Weighted share of users reaching their quality target.
    pub served_share: f64,
    /// Weighted mean expected latency at the plan's blocks, s.
    pub mean_latency_s: f64,
    /// Weighted mean expected device energy per request, J.
    pub mean_energy_j: f64,
    /// Edge utilisation `sum_u rate_u s_u`.
    pub edge_utilisation: f64,
    /// Edge memory used (variants once, KV caches), bytes.
    pub edge_memory_bytes: f64,
    /// Resource blocks used.
    pub resource_blocks_used: usize,
    /// Variants held at the edge.
    pub held_variants: Vec<String>,
    /// Users per mode kind (`device`, `edge`, `cascade`, `speculative`, `split`).
    pub mode_counts: Vec<(String, usize)>,
    /// Per user, in instance order.
    pub users: Vec<UserEvaluation>,
    /// Weighted mean of the users' Monte Carlo mean latencies, s.
    pub mc_mean_latency_s: f64,
    /// Users whose Monte Carlo interval contains the expectation.
    pub mc_agreeing_users: usize,
    /// Whether every expectation lies inside its simulated interval at the 95% family-wise
    /// level: each of the `2 m` comparisons (latency and energy of the `m` users with random
    /// costs) at `1 - 0.05 / (2 m)` (Bonferroni), deterministic users exactly. With many users
    /// some per-user 95% intervals miss by chance; this is the test of the whole plan.
    pub mc_familywise_agrees: bool,
    /// Violated constraints, each naming the user or resource.
    pub violations: Vec<String>,
}

impl Evaluation {
    /// No constraint violated.
    pub fn feasible(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks that a plan has the instance's shape (one choice per user, variants that exist,
/// modes allowed, a speculative pair with an acceptance rate, a cut inside the model, an
/// escalation in `[0, 1]`, a draft length in `1..=64`, at most a million blocks); the message
/// starts with the field (`users[3].draft_length: ...`).
pub fn check_shape(problem: &CollabProblem, plan: &CollabPlan) -> std::result::Result<(), String> {
    if plan.users.len() != problem.users.len() {
        return Err(format!(
            "users: expected {} choices (one per user), got {}",
            problem.users.len(),
            plan.users.len()
        ));
    }
    let nv = problem.variants.len();
    for (u, choice) in plan.users.iter().enumerate() {
        let field = |name: &str, text: String| format!("users[{u}].{name}: {text}");
        let kind = choice.mode.kind();
        if !problem.allows(kind) {
            let allowed: Vec<&str> = problem.modes.iter().map(|m| m.name()).collect();
            return Err(field(
                "mode",
                format!(
                    "expected one of the allowed modes [{}], got `{}`",
                    allowed.join(", "),
                    kind.name()
                ),
            ));
        }
        let variant = |name: &str, i: usize| -> std::result::Result<(), String> {
            if i < nv {
                Ok(())
            } else {
                Err(field(
                    name,
                    format!("expected a variant index below {nv}, got {i}"),
                ))
            }
        };
        match choice.mode {
            Mode::Device { variant: v } | Mode::Edge { variant: v } => variant("variant", v)?,
            Mode::Cascade {
                draft,
                target,
                escalation,
            } => {
                variant("draft", draft)?;
                variant("target", target)?;
                if !(escalation.is_finite() && (0.0..=1.0).contains(&escalation)) {
                    return Err(field(
                        "escalation",
                        format!("expected a fraction in [0, 1], got {escalation}"),
                    ));
                }
            }
            Mode::Speculative {
                draft,
                target,
                draft_length,
            } => {
                variant("draft", draft)?;
                variant("target", target)?;
                let rate = problem
                    .acceptance
                    .get(draft)
                    .and_then(|row| row.get(target))
                    .copied()
                    .flatten();
                if rate.is_none() {
                    return Err(field(
                        "target",
                        format!(
                            "expected a target that `{}` can draft for (same tokenizer family, \
                             larger), got `{}`",
                            problem.variants[draft].name, problem.variants[target].name
                        ),
                    ));
                }
                if !(1..=MAX_DRAFT_LENGTH).contains(&draft_length) {
                    return Err(field(
                        "draft_length",
                        format!(
                            "expected 1 to {MAX_DRAFT_LENGTH} draft tokens, got {draft_length}"
                        ),
                    ));
                }
            }
            Mode::Split { variant: v, cut } => {
                variant("variant", v)?;
                let rows = problem.variants[v].table.len();
                if cut < 1 || cut >= rows {
                    return Err(field(
                        "cut",
                        format!(
                            "expected 1 <= cut < {rows} (the rows of `{}`), got {cut}",
                            problem.variants[v].name
                        ),
                    ));
                }
            }
        }
        if choice.resource_blocks > MAX_BLOCKS {
            return Err(field(
                "resource_blocks",
                format!(
                    "expected at most {MAX_BLOCKS} resource blocks, got {}",
                    choice.resource_blocks
                ),
            ));
        }
    }
    Ok(())
}

/// The longest draft a plan may ask for.
pub const MAX_DRAFT_LENGTH: usize = 64;

/// The most resource blocks a plan may give one user.
pub const MAX_BLOCKS: usize = 1_000_000;

/// One stretch of a request: device work, then (or, when `parallel`, beside it) the uplink,
/// the link crossings and the edge work, then the downlink.
#[derive(Debug, Clone, Copy, Default)]
struct Stretch {
    /// Device compute.
    device: Cost,
    /// Whether the device works beside the remote branch instead of before it.
    parallel: bool,
    /// Bytes sent up.
    up_bytes: f64,
    /// Bytes sent down.
    down_bytes: f64,
    /// Link crossings, each half a round trip.
    crossings: f64,
    /// Edge seconds with the whole server (before the processor-sharing inflation).
    edge_s: f64,
}

/// A user's request: stretches every request runs, and stretches run `X` times, `X` drawn
/// from `randomness` (an escalation, or one speculative round).
#[derive(Debug, Clone)]
struct Walk {
    fixed: Vec<Stretch>,
    varying: Vec<Stretch>,
    randomness: Randomness,
    /// `E[X]`.
    count: f64,
    quality: f64,
    /// Device bytes: weights and KV cache of the device part.
    device_bytes: f64,
    /// Edge KV-cache bytes.
    edge_kv_bytes: f64,
}

/// The radio and edge a user's stretches are timed with.
struct Link<'a> {
    user: &'a CollabUser,
    bandwidth_hz: f64,
    rtt_s: f64,
    inflation: f64,
    /// Resource blocks (at least 1 for the airtime).
    blocks: f64,
}

impl Link<'_> {
    fn airtime(&self, bytes: f64, snr: f64) -> f64 {
        if bytes == 0.0 {
            return 0.0;
        }
        8.0 * bytes / (self.blocks * self.bandwidth_hz * (1.0 + snr).log2())
    }

    /// Latency and device energy of a stretch.
    fn cost(&self, s: &Stretch) -> Cost {
        let up = self.airtime(s.up_bytes, self.user.snr_up);
        let down = self.airtime(s.down_bytes, self.user.snr_down);
        let remote = s.crossings * self.rtt_s / 2.0 + up + down + s.edge_s * self.inflation;
        let latency_s = if s.parallel {
            s.device.latency_s.max(remote)
        } else {
            s.device.latency_s + remote
        };
        Cost {
            latency_s,
            energy_j: s.device.energy_j + self.user.tx_power_w * up + self.user.rx_power_w * down,
        }
    }

    fn total(&self, stretches: &[Stretch]) -> Cost {
        let mut c = Cost::default();
        for s in stretches {
            c += self.cost(s);
        }
        c
    }
}

/// The expected number of speculative rounds to produce `tokens` tokens, from the distribution
/// of the tokens produced so far, propagated round by round: `E[R] = sum_r P(R > r)`, the mass
/// still below `tokens` after `r` rounds (until it drops below `1e-15`; every round yields a
/// token, so `tokens` rounds always end it).
pub fn expected_rounds(acceptance: f64, draft_length: usize, tokens: usize) -> f64 {
    if tokens == 0 {
        return 0.0;
    }
    // gain[j]: j + 1 tokens in a round, j drafted tokens accepted before the first rejection
    // (or all k accepted).
    let mut gain = Vec::with_capacity(draft_length + 1);
    let mut all_accepted = 1.0;
    for _ in 0..draft_length {
        gain.push(all_accepted * (1.0 - acceptance));
        all_accepted *= acceptance;
    }
    gain.push(all_accepted);
    let mut produced = vec![0.0; tokens];
    produced[0] = 1.0;
    let mut rounds = 0.0;
    for _ in 0..=tokens {
        let below: f64 = produced.iter().sum();
        if below < 1e-15 {
            break;
        }
        rounds += below;
        let mut next = vec![0.0; tokens];
        for (n, &mass) in produced.iter().enumerate() {
            if mass == 0.0 {
                continue;
            }
            for (j, &g) in gain.iter().enumerate() {
                let m = n + j + 1;
                if m >= tokens {
                    break;
                }
                next[m] += mass * g;
            }
        }
        produced = next;
    }
    rounds
}

/// The walk of one user's request in `mode` (a mode [`check_shape`] accepted).
fn walk(problem: &CollabProblem, u: usize, mode: Mode) -> Walk {
    let user = &problem.users[u];
    let edge = &problem.edge;
    let v = &problem.variants;
    let (p, t) = (user.prompt_tokens, user.output_tokens);
    let context = p as f64 + t as f64 / 2.0;
    let tb = problem.token_bytes;
    let mut w = Walk {
        fixed: Vec::new(),
        varying: Vec::new(),
        randomness: Randomness::None,
        count: 0.0,
        quality: 0.0,
        device_bytes: 0.0,
        edge_kv_bytes: 0.0,
    };
    match mode {
        Mode::Device { variant } => {
            let dev = Part::whole(&v[variant], user.on(variant));
            w.fixed.push(Stretch {
                device: dev.answer(p, context, t),
                ..Stretch::default()
            });
            w.device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            w.quality = v[variant].quality;
        }
        Mode::Edge { variant } => {
            let srv = Part::whole(&v[variant], edge.on(variant));
            // The prompt goes up, the edge prefills; it decodes, the tokens come down.
            w.fixed.push(Stretch {
                up_bytes: p as f64 * tb,
                crossings: 1.0,
                edge_s: srv.prefill(p).latency_s,
                ..Stretch::default()
            });
            w.fixed.push(Stretch {
                edge_s: srv.passes(context, 1, t as f64).latency_s,
                crossings: 1.0,
                down_bytes: t as f64 * tb,
                ..Stretch::default()
            });
            w.edge_kv_bytes = srv.kv_bytes(p + t);
            w.quality = v[variant].quality;
        }
        Mode::Cascade {
            draft,
            target,
            escalation,
        } => {
            let dev = Part::whole(&v[draft], user.on(draft));
            w.fixed.push(Stretch {
                device: dev.answer(p, context, t),
                ..Stretch::default()
            });
            let srv = Part::whole(&v[target], edge.on(target));
            w.varying.push(Stretch {
                up_bytes: p as f64 * tb,
                crossings: 2.0,
                edge_s: srv.answer(p, context, t).latency_s,
                down_bytes: t as f64 * tb,
                ..Stretch::default()
            });
            w.randomness = Randomness::Escalation {
                probability: escalation,
            };
            w.count = escalation;
            w.device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            w.edge_kv_bytes = srv.kv_bytes(p + t);
            w.quality = cascade_quality(
                v[draft].quality,
                v[target].quality,
                escalation,
                problem.router_sharpness,
            );
        }
        Mode::Speculative {
            draft,
            target,
            draft_length: k,
        } => {
            let a = problem.acceptance[draft][target].unwrap_or(0.0);
            let dev = Part::whole(&v[draft], user.on(draft));
            let srv = Part::whole(&v[target], edge.on(target));
            // Both prefill: the device beside the prompt's trip up and the edge's prefill.
            w.fixed.push(Stretch {
                device: dev.prefill(p),
                parallel: true,
                up_bytes: p as f64 * tb,
                crossings: 1.0,
                edge_s: srv.prefill(p).latency_s,
                ..Stretch::default()
            });
            // A round: k draft steps, the drafts up, one verification pass of k + 1 tokens,
            // the accepted prefix and the target's token down.
            w.varying.push(Stretch {
                device: dev.passes(context, 1, k as f64),
                up_bytes: k as f64 * problem.draft_token_bytes,
                crossings: 2.0,
                edge_s: srv.passes(context, k + 1, 1.0).latency_s,
                down_bytes: 2.0 * tb,
                ..Stretch::default()
            });
            w.randomness = Randomness::Rounds {
                acceptance: a,
                draft_length: k,
                tokens: t,
            };
            w.count = expected_rounds(a, k, t);
            w.device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            w.edge_kv_bytes = srv.kv_bytes(p + t);
            w.quality = v[target].quality;
        }
        Mode::Split { variant, cut } => {
            let rows = v[variant].table.layers.len();
            let dev = Part::new(&v[variant], user.on(variant), 0..cut);
            let srv = Part::new(&v[variant], edge.on(variant), cut..rows);
            let activation = v[variant].table.layers[cut - 1].out_bytes_per_token;
            // Every token (prompt and generated) crosses up as an activation, every generated
            // token comes down: one round trip per generated token.
            w.fixed.push(Stretch {
                device: dev.answer(p, context, t),
                up_bytes: (p + t) as f64 * activation,
                crossings: 2.0 * t as f64,
                edge_s: srv.answer(p, context, t).latency_s,
                down_bytes: t as f64 * tb,
                ..Stretch::default()
            });
            w.device_bytes = dev.weight_bytes() + dev.kv_bytes(p + t);
            w.edge_kv_bytes = srv.kv_bytes(p + t);
            w.quality = v[variant].quality;
        }
    }
    w
}

/// Whether a walk sends anything over the radio in expectation.
fn uses_radio(w: &Walk) -> bool {
    let bytes = |s: &[Stretch]| s.iter().map(|s| s.up_bytes + s.down_bytes).sum::<f64>();
    bytes(&w.fixed) > 0.0 || w.count * bytes(&w.varying) > 0.0
}

/// `value > limit` beyond the relative tolerance of the limits.
fn over(value: f64, limit: f64) -> bool {
    value > limit * (1.0 + LIMIT_TOL)
}

/// [`Evaluation::mc_familywise_agrees`] of the evaluated users.
fn familywise_agrees(users: &[UserEvaluation]) -> bool {
    let random = |e: &UserEvaluation| {
        e.monte_carlo.latency_half_width_s > 0.0 || e.monte_carlo.energy_half_width_j > 0.0
    };
    let m = users.iter().filter(|e| random(e)).count();
    if m == 0 {
        return users.iter().all(|e| e.monte_carlo.agrees);
    }
    let z = statrs::distribution::Normal::new(0.0, 1.0)
        .map(|n| {
            use statrs::distribution::ContinuousCDF;
            n.inverse_cdf(1.0 - 0.025 / (2 * m) as f64)
        })
        .unwrap_or(f64::INFINITY);
    let widen = z / 1.96;
    users.iter().all(|e| {
        let mc = &e.monte_carlo;
        if !random(e) {
            return mc.agrees;
        }
        inside(
            e.latency_s,
            mc.mean_latency_s,
            mc.latency_half_width_s * widen,
        ) && inside(e.energy_j, mc.mean_energy_j, mc.energy_half_width_j * widen)
    })
}

/// Evaluates any plan of the right shape.
pub fn evaluate(problem: &CollabProblem, plan: &CollabPlan) -> Result<Evaluation> {
    check_shape(problem, plan).map_err(|m| Error::option("plan", m))?;
    let edge = &problem.edge;
    let inflation = 1.0 / (1.0 - edge.max_utilisation);
    let mut violations = Vec::new();
    let mut users = Vec::with_capacity(problem.users.len());
    let mut held = vec![false; problem.variants.len()];
    let mut edge_kv = 0.0;
    let mut utilisation = 0.0;
    let mut blocks_used = 0usize;
    for (u, (user, choice)) in problem.users.iter().zip(&plan.users).enumerate() {
        let w = walk(problem, u, choice.mode);
        let radio = uses_radio(&w);
        let n = choice.resource_blocks;
        blocks_used = blocks_used.saturating_add(n);
        if radio && n == 0 {
            violations.push(format!(
                "blocks.user: user {} sends over the radio with no resource block (timed at 1)",
                user.name
            ));
        }
        let link = Link {
            user,
            bandwidth_hz: edge.rb_bandwidth_hz,
            rtt_s: edge.rtt_s,
            inflation,
            blocks: n.max(1) as f64,
        };
        let fixed = link.total(&w.fixed);
        let varying = link.total(&w.varying);
        let expected = Cost {
            latency_s: fixed.latency_s + w.count * varying.latency_s,
            energy_j: fixed.energy_j + w.count * varying.energy_j,
        };
        let edge_service_s = w.fixed.iter().map(|s| s.edge_s).sum::<f64>()
            + w.count * w.varying.iter().map(|s| s.edge_s).sum::<f64>();
        utilisation += user.rate_per_s * edge_service_s;
        if let Some(t) = choice.mode.edge_variant() {
            held[t] = true;
            edge_kv += w.edge_kv_bytes;
        }
        if over(expected.latency_s, user.deadline_s) {
            violations.push(format!(
                "latency: user {} expects {} per request, over its deadline {}",
                user.name,
                secs(expected.latency_s),
                secs(user.deadline_s)
            ));
        }
        if let Some(limit) = user.energy_limit_j {
            if over(expected.energy_j, limit) {
                violations.push(format!(
                    "energy: user {} expects {:.4} J per request on the device, over its limit \
                     {:.4} J",
                    user.name, expected.energy_j, limit
                ));
            }
        }
        if over(w.device_bytes, user.memory_bytes) {
            violations.push(format!(
                "memory.device: user {} needs {} on the device (weights and KV cache), over its \
                 {}",
                user.name,
                bytes(w.device_bytes),
                bytes(user.memory_bytes)
            ));
        }
        let mut rng = user_rng(problem.mc_seed, u);
        let monte_carlo = simulate(
            &mut rng,
            problem.mc_requests,
            fixed,
            varying,
            w.randomness,
            expected,
        );
        let meets_target = user
            .quality_target
            .is_none_or(|q| w.quality >= q - LIMIT_TOL);
        users.push(UserEvaluation {
            name: user.name.clone(),
            mode: choice.mode.label(&problem.variants),
            quality: w.quality,
            meets_target,
            latency_s: expected.latency_s,
            deadline_s: user.deadline_s,
            energy_j: expected.energy_j,
            resource_blocks: n,
            edge_service_s,
            rounds: if matches!(w.randomness, Randomness::Rounds { .. }) {
                w.count
            } else {
                0.0
            },
            monte_carlo,
        });
    }
    if blocks_used > edge.resource_blocks {
        violations.push(format!(
            "blocks: the plan uses {blocks_used} resource blocks, over the edge's {}",
            edge.resource_blocks
        ));
    }
    if over(utilisation, edge.max_utilisation) {
        violations.push(format!(
            "utilisation: the edge is busy {:.4} of the time, over its cap rho_max {:.4}",
            utilisation, edge.max_utilisation
        ));
    }
    let weights: f64 = problem
        .variants
        .iter()
        .zip(&held)
        .filter(|(_, h)| **h)
        .map(|(v, _)| v.weight_bytes())
        .sum();
    let edge_memory = weights + edge_kv;
    if over(edge_memory, edge.memory_bytes) {
        violations.push(format!(
            "memory.edge: the edge holds {} (variants once, {} of KV caches), over its {}",
            bytes(edge_memory),
            bytes(edge_kv),
            bytes(edge.memory_bytes)
        ));
    }
    let total_weight: f64 = problem.users.iter().map(|u| u.weight).sum();
    let mean = |f: &dyn Fn(&UserEvaluation) -> f64| -> f64 {
        if total_weight > 0.0 {
            problem
                .users
                .iter()
                .zip(&users)
                .map(|(u, e)| u.weight * f(e))
                .sum::<f64>()
                / total_weight
        } else {
            0.0
        }
    };
    let mean_quality = mean(&|e| e.quality);
    let served_share = mean(&|e| if e.meets_target { 1.0 } else { 0.0 });
    let evaluation = Evaluation {
        objective: match problem.objective {
            Objective::Quality => mean_quality,
            Objective::Served => served_share,
        },
        mean_quality,
        served_share,
        mean_latency_s: mean(&|e| e.latency_s),
        mean_energy_j: mean(&|e| e.energy_j),
        edge_utilisation: utilisation,
        edge_memory_bytes: edge_memory,
        resource_blocks_used: blocks_used,
        held_variants: problem
            .variants
            .iter()
            .zip(&held)
            .filter(|(_, h)| **h)
            .map(|(v, _)| v.name.clone())
            .collect(),
        mode_counts: ModeKind::ALL
            .iter()
            .map(|k| {
                let count = plan.users.iter().filter(|c| c.mode.kind() == *k).count();
                (k.name().to_string(), count)
            })
            .collect(),
        mc_mean_latency_s: mean(&|e| e.monte_carlo.mean_latency_s),
        mc_agreeing_users: users.iter().filter(|e| e.monte_carlo.agrees).count(),
        mc_familywise_agrees: familywise_agrees(&users),
        users,
        violations,
    };
    check_finite(&evaluation)?;
    Ok(evaluation)
}

/// Refuses an evaluation holding a non-finite number (a bug or an instance out of range,
/// never a plan's fault).
fn check_finite(ev: &Evaluation) -> Result<()> {
    let mut numbers = vec![
        ("objective", ev.objective),
        ("mean_quality", ev.mean_quality),
        ("served_share", ev.served_share),
        ("mean_latency_s", ev.mean_latency_s),
        ("mean_energy_j", ev.mean_energy_j),
        ("edge_utilisation", ev.edge_utilisation),
        ("edge_memory_bytes", ev.edge_memory_bytes),
        ("mc_mean_latency_s", ev.mc_mean_latency_s),
    ];
    for e in &ev.users {
        let mc = &e.monte_carlo;
        numbers.extend([
            ("quality", e.quality),
            ("latency_s", e.latency_s),
            ("energy_j", e.energy_j),
            ("edge_service_s", e.edge_service_s),
            ("rounds", e.rounds),
            ("monte_carlo.mean_latency_s", mc.mean_latency_s),
            ("monte_carlo.latency_half_width_s", mc.latency_half_width_s),
            ("monte_carlo.mean_energy_j", mc.mean_energy_j),
            ("monte_carlo.energy_half_width_j", mc.energy_half_width_j),
            ("monte_carlo.p95_latency_s", mc.p95_latency_s),
        ]);
    }
    match numbers.iter().find(|(_, x)| !x.is_finite()) {
        Some((name, x)) => Err(Error::Internal(format!(
            "collab evaluation: {name} is {x} (an instance value out of range?)"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_by_distribution_match_the_recursion_and_the_limits() {
        for &a in &[0.0, 0.3, 0.66, 0.8, 0.95, 1.0] {
            for k in 1..=6 {
                for t in [0usize, 1, 2, 5, 17, 128] {
                    let mine = expected_rounds(a, k, t);
                    let theirs = super::super::price::expected_rounds(a, k, t);
                    assert!(
                        (mine - theirs).abs() <= 1e-10 * theirs.max(1.0),
                        "a={a} k={k} t={t}: {mine} vs {theirs}"
                    );
                }
            }
        }
        // One token a round at a = 0, k + 1 at a = 1.
        assert_eq!(expected_rounds(0.0, 3, 40), 40.0);
        assert_eq!(expected_rounds(1.0, 3, 10), 3.0);
        // Two tokens, k = 1: one round with probability a, else two.
        assert!((expected_rounds(0.7, 1, 2) - (0.7 + 2.0 * 0.3)).abs() < 1e-15);
    }
}
