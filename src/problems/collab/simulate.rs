//! The Monte Carlo simulation of the evaluator: escalations sampled request by request,
//! acceptances token by token.
//!
//! A request of one user costs a fixed part plus `X` times a varying part: `X` is 0 or 1 for a
//! cascade (escalated with probability `p`), the number of speculative rounds for speculative
//! decoding (each round drafts `k` tokens, accepts them one by one with probability `a` until
//! the first rejection, and yields the accepted ones plus one token of the target; the request
//! ends once `T` tokens exist, the last round's overshoot discarded), and 0 otherwise. Every
//! round costs the same time and energy (decode steps at the mean context), so the simulation
//! samples `X` and sums.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::costs::latency::Cost;

use super::evaluate::McStats;

/// What varies between the requests of one user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Randomness {
    /// Nothing: every request costs the same.
    None,
    /// A cascade: the varying part runs with probability `probability`.
    Escalation {
        /// The escalation fraction `p`.
        probability: f64,
    },
    /// Speculative decoding: the varying part runs once per round.
    Rounds {
        /// Acceptance rate `a` of one drafted token.
        acceptance: f64,
        /// Draft tokens per round `k`.
        draft_length: usize,
        /// Output tokens `T`.
        tokens: usize,
    },
}

impl Randomness {
    /// Whether requests differ.
    pub fn is_stochastic(&self) -> bool {
        !matches!(self, Randomness::None)
    }

    /// One request's count of the varying part.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match *self {
            Randomness::None => 0.0,
            Randomness::Escalation { probability } => {
                if rng.gen::<f64>() < probability {
                    1.0
                } else {
                    0.0
                }
            }
            Randomness::Rounds {
                acceptance,
                draft_length,
                tokens,
            } => {
                let mut produced = 0usize;
                let mut rounds = 0usize;
                while produced < tokens {
                    let mut accepted = 0usize;
                    while accepted < draft_length && rng.gen::<f64>() < acceptance {
                        accepted += 1;
                    }
                    produced += accepted + 1;
                    rounds += 1;
                }
                rounds as f64
            }
        }
    }
}

/// The random generator of user `user`: the instance's seed, one stream per user.
pub fn user_rng(seed: u64, user: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(user as u64);
    rng
}

/// Whether `expected` lies within `half_width` of `mean` (plus a rounding slack of `1e-9`
/// relative, which is all a deterministic user gets).
pub fn inside(expected: f64, mean: f64, half_width: f64) -> bool {
    (expected - mean).abs() <= half_width + 1e-9 * expected.abs().max(mean.abs()).max(1e-300)
}

/// Simulates `requests` requests costing `fixed + X varying` with `X` drawn from `randomness`
/// by `rng`, and compares the means with the expectation `expected`.
pub fn simulate(
    rng: &mut ChaCha8Rng,
    requests: usize,
    fixed: Cost,
    varying: Cost,
    randomness: Randomness,
    expected: Cost,
) -> McStats {
    if requests == 0 {
        return McStats::default();
    }
    let mut latency = Vec::with_capacity(requests);
    let mut energy = Vec::with_capacity(requests);
    for _ in 0..requests {
        let x = randomness.sample(rng);
        latency.push(fixed.latency_s + x * varying.latency_s);
        energy.push(fixed.energy_j + x * varying.energy_j);
    }
    let (mean_l, hw_l) = mean_and_half_width(&latency);
    let (mean_e, hw_e) = mean_and_half_width(&energy);
    latency.sort_by(f64::total_cmp);
    let rank = ((0.95 * requests as f64).ceil() as usize).clamp(1, requests);
    let p95 = latency[rank - 1];
    let agrees = if randomness.is_stochastic() {
        inside(expected.latency_s, mean_l, hw_l) && inside(expected.energy_j, mean_e, hw_e)
    } else {
        inside(expected.latency_s, mean_l, 0.0) && inside(expected.energy_j, mean_e, 0.0)
    };
    McStats {
        requests,
        mean_latency_s: mean_l,
        latency_half_width_s: hw_l,
        mean_energy_j: mean_e,
        energy_half_width_j: hw_e,
        p95_latency_s: p95,
        agrees,
    }
}

/// The sample mean and the half-width `1.96 s / sqrt(n)` of its 95% interval (0 for one
/// sample).
fn mean_and_half_width(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, 1.96 * (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cover_the_tokens_with_at_most_k_plus_one_each() {
        let mut rng = user_rng(7, 3);
        for &(a, k, t) in &[(0.0, 3, 10), (1.0, 3, 10), (0.7, 2, 33), (0.9, 5, 1)] {
            let r = Randomness::Rounds {
                acceptance: a,
                draft_length: k,
                tokens: t,
            };
            for _ in 0..200 {
                let x = r.sample(&mut rng);
                assert!(x >= (t as f64 / (k + 1) as f64).ceil() && x <= t as f64);
            }
        }
        // a = 0: one token per round; a = 1: k + 1 per round.
        let zero = Randomness::Rounds {
            acceptance: 0.0,
            draft_length: 3,
            tokens: 10,
        };
        assert_eq!(zero.sample(&mut rng), 10.0);
        let one = Randomness::Rounds {
            acceptance: 1.0,
            draft_length: 3,
            tokens: 10,
        };
        assert_eq!(one.sample(&mut rng), 3.0);
        let none = Randomness::Rounds {
            acceptance: 0.5,
            draft_length: 3,
            tokens: 0,
        };
        assert_eq!(none.sample(&mut rng), 0.0);
    }

    #[test]
    fn escalation_frequency_and_interval() {
        let mut rng = user_rng(11, 0);
        let fixed = Cost {
            latency_s: 1.0,
            energy_j: 2.0,
        };
        let varying = Cost {
            latency_s: 3.0,
            energy_j: 0.5,
        };
        let r = Randomness::Escalation { probability: 0.25 };
        let expected = Cost {
            latency_s: 1.75,
            energy_j: 2.125,
        };
        let s = simulate(&mut rng, 20000, fixed, varying, r, expected);
        assert!((s.mean_latency_s - 1.75).abs() < 0.05, "{s:?}");
        // sd of the latency is 3 sqrt(p (1 - p)) = 1.299: half-width 1.96 * 1.299 / sqrt(n).
        assert!((s.latency_half_width_s - 1.96 * 1.299 / 20000f64.sqrt()).abs() < 2e-3);
        assert_eq!(s.p95_latency_s, 4.0);
        assert_eq!(s.requests, 20000);
        // A far-off expectation is outside.
        let wrong = Cost {
            latency_s: 2.0,
            energy_j: 2.125,
        };
        let mut rng = user_rng(11, 0);
        assert!(!simulate(&mut rng, 20000, fixed, varying, r, wrong).agrees);
    }

    #[test]
    fn deterministic_requests_agree_exactly_and_empty_runs_are_finite() {
        let mut rng = user_rng(1, 1);
        let fixed = Cost {
            latency_s: 0.123,
            energy_j: 4.5,
        };
        let s = simulate(
            &mut rng,
            50,
            fixed,
            Cost::default(),
            Randomness::None,
            fixed,
        );
        assert!(s.agrees && s.latency_half_width_s < 1e-15 && s.p95_latency_s == 0.123);
        let off = Cost {
            latency_s: 0.124,
            energy_j: 4.5,
        };
        assert!(!simulate(&mut rng, 50, fixed, Cost::default(), Randomness::None, off).agrees);
        let empty = simulate(&mut rng, 0, fixed, Cost::default(), Randomness::None, fixed);
        assert_eq!(empty.requests, 0);
        assert!(empty.mean_latency_s.is_finite());
    }

    #[test]
    fn users_get_distinct_streams() {
        let a: Vec<f64> = (0..4).map(|_| user_rng(5, 0).gen::<f64>()).collect();
        assert!(a.iter().all(|x| *x == a[0]));
        assert_ne!(user_rng(5, 0).gen::<f64>(), user_rng(5, 1).gen::<f64>());
        assert_ne!(user_rng(5, 0).gen::<f64>(), user_rng(6, 0).gen::<f64>());
    }
}
