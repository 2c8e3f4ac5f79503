//! The baselines: fixed policies that price their own modes with [`price::price`] (so they need
//! not be among the instance's modes, escalations or undominated options). Each returns every
//! user's priced mode, or `None` when the policy cannot serve every user within its limits or
//! no version of it fits the edge.
//!
//! - `all-device`: every user its best-quality device mode (ties: the lower latency).
//! - `all-edge`: every user in edge mode; tried with each variant as the one edge model for all,
//!   and with every user's own best edge variant; the best that fits.
//! - `cascade-fixed`: every user in a cascade escalating the instance's `baseline_escalation`;
//!   tried with each (draft, target) pair (the target of higher quality) for all, and with every
//!   user's own best pair; the best that fits.

use super::price::{self, Priced, Score};
use super::{CollabProblem, Mode};

/// Relative tolerance of the comparisons between candidates.
const TOL: f64 = 1e-12;

/// Whether the chosen modes (at their fewest blocks) fit the edge; false when one is infeasible.
pub fn fits_at_min(problem: &CollabProblem, chosen: &[Priced]) -> bool {
    let mut with = Vec::with_capacity(chosen.len());
    for p in chosen {
        match p.min_blocks {
            Some(n) => with.push((p, n)),
            None => return false,
        }
    }
    price::fits(problem, &with)
}

/// The score of chosen modes.
pub fn score_of(problem: &CollabProblem, chosen: &[Priced]) -> Score {
    let refs: Vec<&Priced> = chosen.iter().collect();
    price::score(problem, &refs)
}

/// Better for user `u`: a higher primary value, then a higher quality, then a lower latency.
fn user_better(problem: &CollabProblem, u: usize, a: &Priced, b: &Priced) -> bool {
    let (pa, pb) = (
        price::primary_value(problem, u, a.quality),
        price::primary_value(problem, u, b.quality),
    );
    if pa != pb {
        return pa > pb;
    }
    if a.quality != b.quality {
        return a.quality > b.quality;
    }
    a.min_latency() < b.min_latency()
}

/// Each user's best feasible mode among `modes` (`None` when a user has none).
fn per_user_best(problem: &CollabProblem, modes: &[Mode]) -> Option<Vec<Priced>> {
    (0..problem.users.len())
        .map(|u| {
            modes
                .iter()
                .map(|&m| price::price(problem, u, m))
                .filter(|p| p.min_blocks.is_some())
                .fold(None::<Priced>, |best, p| match best {
                    Some(b) if !user_better(problem, u, &p, &b) => Some(b),
                    _ => Some(p),
                })
        })
        .collect()
}

/// Every user in `mode` (`None` when one cannot take it).
fn everyone(problem: &CollabProblem, mode: Mode) -> Option<Vec<Priced>> {
    (0..problem.users.len())
        .map(|u| {
            let p = price::price(problem, u, mode);
            p.min_blocks.is_some().then_some(p)
        })
        .collect()
}

/// The best candidate that fits.
fn best_fitting(
    problem: &CollabProblem,
    candidates: impl Iterator<Item = Option<Vec<Priced>>>,
) -> Option<Vec<Priced>> {
    let mut best: Option<(Score, Vec<Priced>)> = None;
    for chosen in candidates.flatten() {
        if !fits_at_min(problem, &chosen) {
            continue;
        }
        let s = score_of(problem, &chosen);
        if best.as_ref().is_none_or(|(b, _)| s.better(b, TOL)) {
            best = Some((s, chosen));
        }
    }
    best.map(|(_, c)| c)
}

/// The modes the baseline `name` chooses from (empty for another name).
pub fn modes(problem: &CollabProblem, name: &str) -> Vec<Mode> {
    let nv = problem.variants.len();
    match name {
        "all-device" => (0..nv).map(|variant| Mode::Device { variant }).collect(),
        "all-edge" => (0..nv).map(|variant| Mode::Edge { variant }).collect(),
        "cascade-fixed" => {
            let escalation = problem.baseline_escalation;
            let mut modes = Vec::new();
            for draft in 0..nv {
                for target in 0..nv {
                    if problem.variants[target].quality > problem.variants[draft].quality {
                        modes.push(Mode::Cascade {
                            draft,
                            target,
                            escalation,
                        });
                    }
                }
            }
            modes
        }
        _ => Vec::new(),
    }
}

/// Every user on its device with its best-quality variant that meets its limits.
pub fn all_device(problem: &CollabProblem) -> Option<Vec<Priced>> {
    let modes = modes(problem, "all-device");
    best_fitting(problem, std::iter::once(per_user_best(problem, &modes)))
}

/// Every user in edge mode (see the module documentation).
pub fn all_edge(problem: &CollabProblem) -> Option<Vec<Priced>> {
    let modes = modes(problem, "all-edge");
    let common = modes.clone().into_iter().map(|m| everyone(problem, m));
    best_fitting(
        problem,
        common.chain(std::iter::once(per_user_best(problem, &modes))),
    )
}

/// Every user in a cascade with the fixed escalation (see the module documentation).
pub fn cascade_fixed(problem: &CollabProblem) -> Option<Vec<Priced>> {
    if !(0.0..=1.0).contains(&problem.baseline_escalation) {
        return None;
    }
    let modes = modes(problem, "cascade-fixed");
    let common = modes.clone().into_iter().map(|m| everyone(problem, m));
    best_fitting(
        problem,
        common.chain(std::iter::once(per_user_best(problem, &modes))),
    )
}

/// A baseline by solver name (`all-device`, `all-edge`, `cascade-fixed`).
pub fn baseline(problem: &CollabProblem, name: &str) -> Option<Option<Vec<Priced>>> {
    match name {
        "all-device" => Some(all_device(problem)),
        "all-edge" => Some(all_edge(problem)),
        "cascade-fixed" => Some(cascade_fixed(problem)),
        _ => None,
    }
}
