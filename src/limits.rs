//! The valid range of every number edgeplan reads, and the size limits of what it allocates.
//!
//! Every numeric field of an instance, model config, device catalog, cost table, sweep, plan and
//! every numeric command-line flag is checked against one of these ranges when it is read; a
//! value outside is an exit-2 error naming the file (or option), the field and the range. The
//! ranges are wide enough for any physical deployment and narrow enough that every derived
//! quantity (a transfer time, a rate, an energy, a MILP coefficient) stays finite and within what
//! HiGHS solves accurately. `docs/input-ranges.md` lists them; a unit test keeps the two in step.

use std::path::Path;

use crate::error::{Error, Result};

/// A closed or half-open interval of valid values with its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest valid value.
    pub min: f64,
    /// Largest valid value.
    pub max: f64,
    /// True when `min` itself is invalid (the interval is `(min, max]`).
    pub min_open: bool,
    /// Unit named in errors (may be empty).
    pub unit: &'static str,
}

impl Range {
    /// `[min, max]`.
    pub const fn closed(min: f64, max: f64, unit: &'static str) -> Range {
        Range {
            min,
            max,
            min_open: false,
            unit,
        }
    }

    /// `(min, max]`.
    pub const fn above(min: f64, max: f64, unit: &'static str) -> Range {
        Range {
            min,
            max,
            min_open: true,
            unit,
        }
    }

    /// Whether `value` lies in the range (never for NaN or an infinity).
    pub fn contains(&self, value: f64) -> bool {
        value.is_finite()
            && value <= self.max
            && if self.min_open {
                value > self.min
            } else {
                value >= self.min
            }
    }

    /// The range as errors and the docs write it, e.g. `(0, 1e13] bit/s`.
    pub fn describe(&self) -> String {
        let open = if self.min_open { '(' } else { '[' };
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        format!("{open}{}, {}]{unit}", short(self.min), short(self.max))
    }

    /// What an error says: the range and the value found.
    fn message(&self, value: f64) -> String {
        format!(
            "expected a number in {}, got {}",
            self.describe(),
            shown(value)
        )
    }

    /// `value` of the field `field` of the file `path`, checked.
    pub fn check(&self, path: &Path, field: &str, value: f64) -> Result<f64> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(Error::field(path, field, self.message(value)))
        }
    }

    /// `value`, when given, checked as [`Range::check`] does.
    pub fn check_opt(&self, path: &Path, field: &str, value: Option<f64>) -> Result<Option<f64>> {
        value.map(|v| self.check(path, field, v)).transpose()
    }

    /// `value` of the option (command-line flag or generator parameter) `option`, checked.
    pub fn check_option(&self, option: &str, value: f64) -> Result<f64> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(Error::option(option, self.message(value)))
        }
    }
}

/// A value as an error shows it: as written for ordinary magnitudes, in exponent form for huge
/// or tiny ones (`1e308`, not 309 digits).
fn shown(x: f64) -> String {
    if x.is_finite() && x != 0.0 && (x.abs() >= 1e15 || x.abs() < 1e-6) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A number in the short form of the docs: `1e13`, `0.001`, `100`.
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e5 || x.abs() < 1e-3) {
        let s = format!("{x:e}");
        s.replace("e-0", "e-")
    } else {
        format!("{x}")
    }
}

/// A link rate: 1 kbit/s (slower than any link that carries LLM traffic) to 10 Tbit/s.
pub const RATE_BPS: Range = Range::closed(1e3, 1e13, "bit/s");
/// A network latency (round trip or one way): 0 to 60 s.
pub const LATENCY_S: Range = Range::closed(0.0, 60.0, "s");
/// A duration limit (deadline, latency limit, time slot, horizon): 1 us to 10^7 s (~116 days).
pub const DURATION_S: Range = Range::closed(1e-6, 1e7, "s");
/// A solver time limit: up to 10^6 s.
pub const TIME_LIMIT_S: Range = Range::above(0.0, 1e6, "s");
/// An electrical power (device, radio, server, PV): 0 to 1 MW.
pub const POWER_W: Range = Range::closed(0.0, 1e6, "W");
/// An energy budget: up to 10^12 J.
pub const ENERGY_J: Range = Range::above(0.0, 1e12, "J");
/// A memory or storage capacity: 1 byte to 1 PB.
pub const MEMORY_BYTES: Range = Range::closed(1.0, 1e15, "bytes");
/// A byte count of data (parameters, activations, KV cache, model files): 0 to 1 PB.
pub const BYTES: Range = Range::closed(0.0, 1e15, "bytes");
/// A parameter count: 0 to 10^14.
pub const PARAMS: Range = Range::closed(0.0, 1e14, "");
/// A compute peak: 1 MFLOP/s to 10^18 FLOP/s (an exaflop).
pub const FLOPS: Range = Range::closed(1e6, 1e18, "FLOP/s");
/// A memory bandwidth: 1 kB/s to 10^15 bytes/s.
pub const BANDWIDTH_BYTES_S: Range = Range::closed(1e3, 1e15, "bytes/s");
/// A signal-to-noise ratio: -50 to 100 dB.
pub const SNR_DB: Range = Range::closed(-50.0, 100.0, "dB");
/// A radio bandwidth: 1 kHz to 10 GHz.
pub const BANDWIDTH_HZ: Range = Range::closed(1e3, 1e10, "Hz");
/// A transmit power in dBm: -50 to 80 dBm.
pub const POWER_DBM: Range = Range::closed(-50.0, 80.0, "dBm");
/// A distance or position coordinate: -10^7 to 10^7 m.
pub const POSITION_M: Range = Range::closed(-1e7, 1e7, "m");
/// A strictly positive distance: up to 10^7 m.
pub const DISTANCE_M: Range = Range::above(0.0, 1e7, "m");
/// A carrier frequency: 100 MHz to 1 THz.
pub const FREQUENCY_HZ: Range = Range::closed(1e8, 1e12, "Hz");
/// A priority or user weight: 10^-6 to 10^6.
pub const WEIGHT: Range = Range::closed(1e-6, 1e6, "");
/// An objective weight (may be zero to drop a term): 0 to 10^6.
pub const OBJECTIVE_WEIGHT: Range = Range::closed(0.0, 1e6, "");
/// A fraction or efficiency in (0, 1].
pub const FRACTION: Range = Range::above(0.0, 1.0, "");
/// A share or probability in [0, 1].
pub const UNIT_INTERVAL: Range = Range::closed(0.0, 1.0, "");
/// A relative MIP gap: 0 to 1.
pub const MIP_GAP: Range = Range::closed(0.0, 1.0, "");
/// An absolute MIP gap: 0 to 10^9.
pub const MIP_ABS_GAP: Range = Range::closed(0.0, 1e9, "");
/// A carbon intensity: 0 to 10^4 gCO2/kWh.
pub const CARBON_G_PER_KWH: Range = Range::closed(0.0, 1e4, "gCO2/kWh");
/// An electricity price: 0 to 10^4 per kWh.
pub const PRICE_PER_KWH: Range = Range::closed(0.0, 1e4, "per kWh");
/// A multiplicative factor of a generator (load, spread, slack): 10^-3 to 10^3.
pub const FACTOR: Range = Range::closed(1e-3, 1e3, "");
/// A request rate: 0 to 10^6 per second.
pub const RATE_PER_S: Range = Range::closed(0.0, 1e6, "per s");
/// An exponent (Zipf, path loss): 0 to 10.
pub const EXPONENT: Range = Range::closed(0.0, 10.0, "");
/// A standard deviation in dB (shadowing): 0 to 50 dB.
pub const SIGMA_DB: Range = Range::closed(0.0, 50.0, "dB");
/// A token count of a batch job (a green fine-tuning job's tokens per epoch): 1 to 10^18.
pub const JOB_TOKENS: Range = Range::closed(1.0, 1e18, "tokens");
/// An efficiency of the roofline model (share of a peak reached): 0.1% to 100%.
pub const EFFICIENCY: Range = Range::closed(1e-3, 1.0, "");
/// A multiplier of runtimes.csv (efficiency scales, attention factor).
pub const RUNTIME_SCALE: Range = Range::closed(1e-3, 1e3, "");
/// A fixed overhead of runtimes.csv (per layer or per call).
pub const OVERHEAD_S: Range = Range::closed(0.0, 10.0, "s");
/// Work of one layer per token (or per token and context token): 0 to 10^15 FLOP.
pub const FLOP_PER_TOKEN: Range = Range::closed(0.0, 1e15, "FLOP");
/// A measured latency of one layer (profiles): 1 ns to 10^7 s (errors relative to it are
/// reported).
pub const MEASURED_S: Range = Range::closed(1e-9, 1e7, "s");
/// A measured energy of one layer (profiles): 0 to 10^12 J.
pub const MEASURED_J: Range = Range::closed(0.0, 1e12, "J");
/// A measured throughput (measurement CSVs): 10^-6 to 10^9 tokens/s.
pub const TOKENS_PER_S: Range = Range::closed(1e-6, 1e9, "tokens/s");
/// Share of a node's compute taken by other work.
pub const BACKGROUND_LOAD: Range = Range::closed(0.0, 0.99, "");
/// A request rate (throughput floor).
pub const REQUEST_RATE: Range = Range::above(0.0, 1e6, "requests/s");
/// A quality score in percent (accuracy on a benchmark): 0 to 100.
pub const QUALITY_PCT: Range = Range::closed(0.0, 100.0, "%");
/// The sharpness `gamma` of a cascade's router: 1 (random routing) to 100.
pub const ROUTER_SHARPNESS: Range = Range::closed(1.0, 100.0, "");
/// The utilisation cap `rho_max` of a processor-sharing server: above 0, at most 0.99 (edge
/// times are priced at `1 / (1 - rho_max)`, at most 100 times the unloaded time).
pub const UTILISATION_CAP: Range = Range::above(0.0, 0.99, "");
/// Bytes of one token (or one draft token with its probabilities) on the radio: above 0, up to
/// 10^9.
pub const TOKEN_BYTES: Range = Range::above(0.0, 1e9, "bytes");

/// Largest number of layers (rows of a cost table) of one model.
pub const MAX_LAYERS: usize = 1_000;
/// Nodes of a pipeline network or an MoE instance.
pub const MAX_NODES: usize = 64;
/// Largest width of a model architecture (hidden, intermediate, heads, kv_heads, head_dim,
/// vocab, experts) in a model config.
pub const MAX_WIDTH: usize = 1_000_000;
/// Largest number of tokens in one prompt, generation or sequence.
pub const MAX_TOKENS: usize = 10_000_000;
/// Largest batch size, LoRA rank, step count or other small per-workload count.
pub const MAX_SMALL_COUNT: usize = 1_000_000;
/// Largest number of users of one instance: ten times what papers on edge allocation and
/// caching use; the alloc local search grows faster than linearly in it (10,000 users: 25 s on
/// two cores, `generate alloc --users 10000` then `solve --solver local-search`, median of 3).
pub const MAX_USERS: usize = 10_000;
/// Largest number of servers of one instance.
pub const MAX_SERVERS: usize = 10_000;
/// Largest number of models (variants) of one instance: cache libraries in the literature hold
/// hundreds; building the shared blocks of a library grows with the square of its size.
pub const MAX_MODELS: usize = 10_000;
/// Largest users x servers of a generated alloc instance (each pair draws its channel).
pub const MAX_USER_SERVER_PAIRS: usize = 1_000_000;
/// Largest number of model variants of a collab instance (speculative and cascade pairs grow
/// with its square).
pub const MAX_VARIANTS: usize = 64;
/// Longest speculative draft (tokens per round `k`) of a collab instance.
pub const MAX_DRAFT_LENGTH: usize = 64;
/// Largest number of escalation fractions a collab instance offers its cascades.
pub const MAX_ESCALATIONS: usize = 100;
/// Largest number of jobs of one instance.
pub const MAX_JOBS: usize = 100_000;
/// Largest number of requests of one batch job (a green inference job).
pub const MAX_REQUESTS: usize = 1_000_000_000_000_000;
/// Largest number of time slots of one instance (and of rows of a trace CSV).
pub const MAX_SLOTS: usize = 100_000;
/// Tokens of an MoE routing trace (generated or read): each distinct expert set of a block is a
/// term of the expectation and of the MILP.
pub const MAX_TRACE_TOKENS: usize = 100_000;
/// Largest number of cells of one instance's main table (users x servers x layers, jobs x
/// slots x levels, ...), checked before the instance is allocated.
pub const MAX_CELLS: usize = 100_000_000;
/// Largest number of seeds of a sweep.
pub const MAX_SEEDS: usize = 1_000_000;
/// Runs of one sweep (grid points x seeds x solvers) accepted unless the sweep file raises its
/// `run_limit`.
pub const MAX_SWEEP_RUNS: usize = 100_000;
/// Largest `run_limit` a sweep file may set.
pub const MAX_SWEEP_RUN_LIMIT: usize = 10_000_000;
/// Largest number of threads (HiGHS, sweep workers, the profiler): more than any edge server
/// has cores, and few enough that a thread pool always starts.
pub const MAX_THREADS: usize = 64;
/// Largest file edgeplan reads (instances, configs, CSVs, traces, plans, run files): 256 MiB.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// A count read from the file `path`: an integer in `min..=max`.
pub fn count(path: &Path, field: &str, value: i64, min: usize, max: usize) -> Result<usize> {
    match usize::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::field(
            path,
            field,
            format!("expected an integer in {min}..={max}, got {value}"),
        )),
    }
}

/// The length of the list `field` of the file `path`: 1 to `max` entries.
pub fn entries(path: &Path, field: &str, len: usize, max: usize) -> Result<usize> {
    count(path, field, i64::try_from(len).unwrap_or(i64::MAX), 1, max)
}

/// A count given as the option `option`: an integer in `min..=max`.
pub fn count_option(option: &str, value: u64, min: usize, max: usize) -> Result<usize> {
    match usize::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::option(
            option,
            format!("expected an integer in {min}..={max}, got {value}"),
        )),
    }
}

/// Checks a product of counts (the size of a table about to be allocated) against
/// [`MAX_CELLS`]; `what` names the factors, e.g. `"users x servers x layers"`.
pub fn cells(path: &Path, what: &str, factors: &[usize]) -> Result<usize> {
    cells_total(factors).ok_or_else(|| Error::field(path, what, cells_message(what, factors)))
}

/// [`cells`] for generator parameters: the error names the option `option`.
pub fn cells_option(option: &str, what: &str, factors: &[usize]) -> Result<usize> {
    cells_total(factors).ok_or_else(|| Error::option(option, cells_message(what, factors)))
}

/// The product of `factors` when it is at most [`MAX_CELLS`] (overflow-safe).
fn cells_total(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .filter(|&t| t <= MAX_CELLS)
}

/// What a product over [`MAX_CELLS`] is told: `users x servers = 10 x 20 exceeds ...`.
fn cells_message(what: &str, factors: &[usize]) -> String {
    let product: Vec<String> = factors.iter().map(|f| f.to_string()).collect();
    format!(
        "{what} = {} exceeds the limit of {MAX_CELLS}",
        product.join(" x ")
    )
}

/// A generator seed (option `seed`): 0 to `i64::MAX`, the largest a TOML integer holds, so a
/// written instance records the seed it was drawn with.
pub fn seed_option(seed: u64) -> Result<u64> {
    count_option("seed", seed, 0, i64::MAX as usize).map(|_| seed)
}

/// Checks that a number computed inside edgeplan (an objective, a metric) is finite; a non-finite
/// value is an internal error naming `what` (it means a range above is too wide, never a valid
/// answer).
pub fn finite(what: &str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::Internal(format!(
            "{what} is {value}: a non-finite result is never reported; please report this input"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_reject_non_finite_and_out_of_range() {
        assert!(RATE_BPS.contains(1e6));
        assert!(!RATE_BPS.contains(1e-300));
        assert!(!RATE_BPS.contains(f64::NAN));
        assert!(!RATE_BPS.contains(f64::INFINITY));
        assert!(!DURATION_S.contains(0.0));
        assert!(DURATION_S.contains(1e-6) && !DURATION_S.contains(1e-9));
        assert_eq!(RATE_BPS.describe(), "[1000, 1e13] bit/s");
        assert_eq!(DURATION_S.describe(), "[1e-6, 1e7] s");
        assert_eq!(TIME_LIMIT_S.describe(), "(0, 1e6] s");
        let err = SNR_DB
            .check(Path::new("a.toml"), "users[0].snr_db", -1000.0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "a.toml: field `users[0].snr_db`: expected a number in [-50, 100] dB, got -1000"
        );
        let huge = RATE_BPS
            .check_option("--rate", 1e308)
            .unwrap_err()
            .to_string();
        assert!(huge.ends_with("got 1e308"), "{huge}");
        let tiny = RATE_BPS
            .check_option("--rate", 5e-324)
            .unwrap_err()
            .to_string();
        assert!(tiny.ends_with("got 5e-324"), "{tiny}");
    }

    #[test]
    fn counts_and_cells() {
        let p = Path::new("x.toml");
        assert_eq!(count(p, "n", 5, 1, 10).unwrap(), 5);
        assert!(count(p, "n", -1, 1, 10).is_err());
        assert!(count(p, "n", 11, 1, 10).is_err());
        assert!(cells(p, "a x b", &[usize::MAX, 2]).is_err());
        assert!(cells(p, "a x b", &[10_000, 10_001]).is_err());
        assert_eq!(cells(p, "a x b", &[100, 100]).unwrap(), 10_000);
    }

    #[test]
    fn finite_is_an_internal_error() {
        assert!(finite("objective", 1.0).is_ok());
        let err = finite("objective", f64::NAN).unwrap_err();
        assert!(!err.is_bad_input());
    }

    /// Every range and limit above is listed in docs/input-ranges.md.
    #[test]
    fn documented() {
        let docs = include_str!("../docs/input-ranges.md");
        let source = include_str!("limits.rs");
        for line in source.lines() {
            let Some(rest) = line.strip_prefix("pub const ") else {
                continue;
            };
            let name = rest.split(':').next().unwrap();
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/input-ranges.md does not list `{name}`"
            );
        }
    }
}
