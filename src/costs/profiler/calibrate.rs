//! Fitting a device's roofline efficiencies to a profiled table, and how well the fitted
//! roofline predicts layers left out of the fit.
//!
//! The roofline predicts a row (layer, phase, tokens) as
//! `max(flop / (peak * e_c), bytes / (bandwidth * e_m))` with the row's FLOP and bytes from the
//! cost table ([`crate::costs::latency::prefill_work`], [`crate::costs::latency::decode_work`]).
//! The fit picks `e_c` and `e_m` minimising the squared log error over the fitted rows: a grid
//! over `[1e-3, 4]` in log space (400 x 400 points), then a finer grid around the best point.
//! Errors are reported as `predicted / measured - 1`. The embedding is left out of the fit and
//! of the fitted and held-out errors (reported on its own): a token lookup moves a few kB, so
//! its measured microseconds are per-call overhead that a roofline has no term for.

use serde::Serialize;

use crate::costs::device::Device;
use crate::costs::latency::{decode_work, prefill_work, Phase};
use crate::costs::table::{CostTable, LayerKind};

/// One measured row: table row, phase, tokens, latency (s).
pub type Row = (usize, Phase, usize, f64);

/// A row with its fitted prediction.
#[derive(Debug, Clone, Serialize)]
pub struct RowFit {
    /// Table row.
    pub layer: usize,
    /// Layer kind.
    pub kind: LayerKind,
    /// Phase.
    pub phase: Phase,
    /// Tokens (prompt or context).
    pub tokens: usize,
    /// Measured, s.
    pub measured_s: f64,
    /// Fitted roofline, s.
    pub predicted_s: f64,
    /// Whether the row was used in the fit.
    pub fitted: bool,
    /// Whether the roofline's compute term is the larger one.
    pub compute_bound: bool,
}

impl RowFit {
    /// `predicted / measured - 1`.
    pub fn error(&self) -> f64 {
        self.predicted_s / self.measured_s - 1.0
    }
}

/// Error statistics of a set of rows.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ErrorStats {
    /// Rows.
    pub count: usize,
    /// Median of `|predicted / measured - 1|`.
    pub median_abs: f64,
    /// Largest `|predicted / measured - 1|`.
    pub max_abs: f64,
}

impl ErrorStats {
    /// Statistics of `errors`.
    pub fn of(errors: impl Iterator<Item = f64>) -> ErrorStats {
        let mut abs: Vec<f64> = errors.map(f64::abs).collect();
        if abs.is_empty() {
            return ErrorStats::default();
        }
        abs.sort_by(f64::total_cmp);
        let n = abs.len();
        let median_abs = if n % 2 == 1 {
            abs[n / 2]
        } else {
            (abs[n / 2 - 1] + abs[n / 2]) / 2.0
        };
        ErrorStats {
            count: n,
            median_abs,
            max_abs: abs[n - 1],
        }
    }
}

/// The fitted efficiencies and the errors.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Fitted fraction of peak FLOP/s.
    pub compute_efficiency: f64,
    /// Fitted fraction of peak memory bandwidth.
    pub memory_efficiency: f64,
    /// Errors on the fitted rows.
    pub fitted: ErrorStats,
    /// Errors on the held-out rows.
    pub held_out: ErrorStats,
    /// Held-out errors per phase and layer kind (`prefill/block`, `decode/head`, ...).
    pub held_out_by_group: Vec<(String, ErrorStats)>,
    /// Errors of the embedding's rows (never fitted).
    pub embed: ErrorStats,
    /// Every row.
    pub rows: Vec<RowFit>,
}

/// Fits `device`'s efficiencies on the block and head rows whose layer satisfies `fit_layer`
/// and reports the errors on the others. Rows with a layer outside the table or a non-positive
/// latency are ignored.
pub fn calibrate(
    table: &CostTable,
    device: &Device,
    rows: &[Row],
    fit_layer: &dyn Fn(usize) -> bool,
) -> Fit {
    let work: Vec<(Row, f64, f64)> = rows
        .iter()
        .filter(|r| r.0 < table.layers.len() && r.3 > 0.0)
        .map(|&r| {
            let layer = &table.layers[r.0];
            let (flop, bytes) = match r.1 {
                Phase::Prefill => prefill_work(layer, r.2),
                Phase::Decode => decode_work(layer, r.2),
            };
            (
                r,
                flop / device.peak_flops,
                bytes / device.mem_bw_bytes_per_s,
            )
        })
        .collect();
    let predict = |c: f64, m: f64, ec: f64, em: f64| (c / ec).max(m / em);
    let in_fit = |layer: usize| fit_layer(layer) && table.layers[layer].kind != LayerKind::Embed;
    let loss = |ec: f64, em: f64| -> f64 {
        work.iter()
            .filter(|(r, ..)| in_fit(r.0))
            .map(|&((.., t), c, m)| (predict(c, m, ec, em).max(1e-15) / t).ln().powi(2))
            .sum()
    };
    let search = |lo: (f64, f64), hi: (f64, f64), steps: usize| -> (f64, f64) {
        let at = |lo: f64, hi: f64, i: usize| lo * (hi / lo).powf(i as f64 / (steps - 1) as f64);
        let mut best = (f64::INFINITY, lo.0, lo.1);
        for i in 0..steps {
            for j in 0..steps {
                let (ec, em) = (at(lo.0, hi.0, i), at(lo.1, hi.1, j));
                let l = loss(ec, em);
                if l < best.0 {
                    best = (l, ec, em);
                }
            }
        }
        (best.1, best.2)
    };
    let (ec, em) = search((1e-3, 1e-3), (4.0, 4.0), 400);
    let (ec, em) = search((ec / 1.05, em / 1.05), (ec * 1.05, em * 1.05), 101);
    let fits: Vec<RowFit> = work
        .iter()
        .map(|&((layer, phase, tokens, measured_s), c, m)| RowFit {
            layer,
            kind: table.layers[layer].kind,
            phase,
            tokens,
            measured_s,
            predicted_s: predict(c, m, ec, em),
            fitted: fit_layer(layer) && table.layers[layer].kind != LayerKind::Embed,
            compute_bound: c / ec >= m / em,
        })
        .collect();
    let mut groups: Vec<(String, ErrorStats)> = Vec::new();
    for phase in [Phase::Prefill, Phase::Decode] {
        for kind in [LayerKind::Block, LayerKind::Head] {
            let stats = ErrorStats::of(
                fits.iter()
                    .filter(|f| !f.fitted && f.phase == phase && f.kind == kind)
                    .map(RowFit::error),
            );
            if stats.count > 0 {
                let phase = match phase {
                    Phase::Prefill => "prefill",
                    Phase::Decode => "decode",
                };
                groups.push((format!("{phase}/{}", kind.name()), stats));
            }
        }
    }
    Fit {
        compute_efficiency: ec,
        memory_efficiency: em,
        fitted: ErrorStats::of(fits.iter().filter(|f| f.fitted).map(RowFit::error)),
        held_out: ErrorStats::of(
            fits.iter()
                .filter(|f| !f.fitted && f.kind != LayerKind::Embed)
                .map(RowFit::error),
        ),
        held_out_by_group: groups,
        embed: ErrorStats::of(
            fits.iter()
                .filter(|f| f.kind == LayerKind::Embed)
                .map(RowFit::error),
        ),
        rows: fits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costs::arch::Dtype;

    /// Rows generated by a roofline with known efficiencies (0.3 compute, 0.6 memory) are fitted
    /// back to those efficiencies, and the held-out rows are then predicted exactly.
    #[test]
    fn recovers_known_efficiencies() {
        let arch = crate::costs::arch::test_arch(256, 1024, 4, 2);
        let table = arch.cost_table("t", Dtype::Fp32);
        let device = Device {
            name: "d".into(),
            class: "cpu".into(),
            peak_flops: 1e11,
            mem_bw_bytes_per_s: 2e10,
            memory_bytes: 1e9,
            power_idle_w: 1.0,
            power_busy_w: 2.0,
            compute_efficiency: 1.0,
            memory_efficiency: 1.0,
            tx_power_w: None,
            source: "test".into(),
            unit: "cpu".into(),
            units: Vec::new(),
            runtime: None,
        };
        let mut rows = Vec::new();
        for l in 0..table.layers.len() {
            for p in [32, 128] {
                let (f, b) = prefill_work(&table.layers[l], p);
                rows.push((l, Phase::Prefill, p, (f / 3e10).max(b / 1.2e10)));
            }
            for c in [128, 160] {
                let (f, b) = decode_work(&table.layers[l], c);
                rows.push((l, Phase::Decode, c, (f / 3e10).max(b / 1.2e10)));
            }
        }
        let fit = calibrate(&table, &device, &rows, &|l| l % 2 == 0);
        assert!(
            (fit.compute_efficiency / 0.3 - 1.0).abs() < 0.01,
            "{}",
            fit.compute_efficiency
        );
        assert!(
            (fit.memory_efficiency / 0.6 - 1.0).abs() < 0.01,
            "{}",
            fit.memory_efficiency
        );
        assert!(fit.held_out.max_abs < 0.01, "{:?}", fit.held_out);
        let embed_rows = 4;
        assert_eq!(
            fit.held_out.count + fit.fitted.count + embed_rows,
            rows.len()
        );
        assert_eq!(fit.embed.count, embed_rows);
    }
}
