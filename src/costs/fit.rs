//! Fitting the runtime table (`runtimes.csv`) to published measurements, and the
//! leave-one-source-out check of the fit.
//!
//! **Model.** A row (device `d`, unit `u`, runtime `k`, dtype `q`) is priced as the layer-wise
//! roofline plus fixed overheads: per forward pass, `sum_l max(flop_l / (peak_u e_c),
//! bytes_l / (bw_d e_m)) + rows x tau_layer + tau_call`, summed over the decode steps. The
//! efficiencies are the unit's own ones (devices.csv / units.csv) times log-additive effects of
//! the device, the runtime's class `f` (`RuntimeInfo::class`), the runtime and its pairings,
//!
//! ```text
//! ln e_c = ln e_c(d, u) + D_c(d, u) + F_c(f) + R_c(k) + RQ_c(k, q) + RD_c(k, d)   (e_c <= 1)
//! ln e_m = ln e_m(d, u) + D_m(d, u) + F_m(f) + R_m(k) + RQ_m(k, q) + RD_m(k, d)   (e_m <= 1)
//! ln tau_layer = T0 + TF(f) + T(k) + TD(k, d)        ln tau_call = C0(p) + CF(f, p) + C(k, p)
//! ln alpha = A0 + AF(f) + A(k)     (an attention FLOP costs alpha matrix-product FLOP)
//! ```
//!
//! **Fit.** Maximum a posteriori with Gaussian priors (a ridge): minimise
//! `sum_rows (ln predicted - ln measured)^2 / s^2 + sum_params ((theta - mu) / sigma)^2` by
//! Levenberg-Marquardt with the exact Jacobian (the roofline's bound side is fixed at each step).
//! The priors shrink every effect towards zero (towards the unit's own efficiency and towards a
//! runtime's typical overheads), so an effect with few rows moves little and a runtime or device
//! without rows keeps the defaults: this is what lets a held-out source be predicted from the
//! others. The fitted effects become the rows of a [`RuntimeTable`] whose lookups (module
//! `runtime`) reproduce the fitted model for the device, runtime and dtype combinations seen,
//! and fall back to the runtime's defaults (`device = *`) for unseen devices.
//!
//! **Leave one source out.** Rows are grouped by source (`Measurement::source_key`); for each
//! group the table is refitted on the other groups and the group's rows are predicted through the
//! normal lookup and `LayerTimer` path.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::arch::Dtype;
use super::device::{DeviceCatalog, RuntimeChoice};
use super::latency::{
    decode_attention_flop, decode_work, prefill_attention_flop, prefill_work,
    verify_attention_flop, verify_work, Phase,
};
use super::runtime::{runtime_info, RuntimeRow, RuntimeTable};
use super::table::CostTable;
use super::validate::{predict, Measurement, Model};
use crate::error::Result;

/// Prior scales of the fit (log units, except the two prior means in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Priors {
    /// Expected log error of one row (the data's noise).
    pub row_sigma: f64,
    /// Device-and-unit correction `D`.
    pub device: f64,
    /// Runtime class effect `F`.
    pub class: f64,
    /// Runtime effect `R`.
    pub runtime: f64,
    /// Runtime x dtype effect `RQ`.
    pub runtime_dtype: f64,
    /// Runtime x device effect `RD`.
    pub runtime_device: f64,
    /// Prior mean of the per-layer overhead, s.
    pub layer_overhead_s: f64,
    /// Spread of `T0`.
    pub layer_overhead_global: f64,
    /// Spread of `TF(class)`.
    pub layer_overhead_class: f64,
    /// Spread of `T(k)`.
    pub layer_overhead_runtime: f64,
    /// Spread of `TD(k, d)`.
    pub layer_overhead_device: f64,
    /// Prior mean of the per-call overhead, s.
    pub call_overhead_s: f64,
    /// Spread of `C0`.
    pub call_overhead_global: f64,
    /// Spread of `CF(class)`.
    pub call_overhead_class: f64,
    /// Spread of `C(k)`.
    pub call_overhead_runtime: f64,
    /// Spread of `A0` (ln of the attention factor, prior mean 0).
    pub attention_global: f64,
    /// Spread of `AF(class)`.
    pub attention_class: f64,
    /// Spread of `A(k)`.
    pub attention_runtime: f64,
}

impl Default for Priors {
    fn default() -> Priors {
        Priors {
            row_sigma: 0.07,
            device: 0.3,
            class: 0.5,
            runtime: 0.35,
            runtime_dtype: 0.3,
            runtime_device: 0.5,
            layer_overhead_s: 5e-6,
            layer_overhead_global: 2.0,
            layer_overhead_class: 1.0,
            layer_overhead_runtime: 0.7,
            layer_overhead_device: 0.7,
            call_overhead_s: 1e-4,
            call_overhead_global: 2.0,
            call_overhead_class: 1.0,
            call_overhead_runtime: 0.7,
            attention_global: 0.7,
            attention_class: 0.5,
            attention_runtime: 0.3,
        }
    }
}

impl Priors {
    /// Sets the field `name` (as serialised) to `value`; an error names the known fields.
    pub fn set(&mut self, name: &str, value: f64) -> std::result::Result<(), String> {
        let mut map = match serde_json::to_value(*self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err("priors do not serialise".into()),
        };
        if !map.contains_key(name) {
            return Err(format!(
                "unknown prior `{name}`; known: {}",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if !(value.is_finite() && value > 0.0 && value <= 100.0) {
            return Err(format!(
                "prior `{name}`: expected a number in (0, 100], got {value}"
            ));
        }
        map.insert(name.to_string(), serde_json::json!(value));
        *self =
            serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// What a fit produced.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The table.
    pub table: RuntimeTable,
    /// Levenberg-Marquardt iterations.
    pub iterations: usize,
    /// Root mean square of the rows' log errors.
    pub rms_log_error: f64,
}

/// One row prepared for the fit: its roofline work and the effects it uses.
struct Prepared {
    /// `(matrix-product flop / peak, attention flop / peak, bytes / bandwidth, count)`: seconds
    /// at efficiency 1.
    items: Vec<(f64, f64, f64, f64)>,
    /// Forward passes (1 for prefill, the generated tokens for decode).
    passes: f64,
    /// Cost-table rows.
    rows: f64,
    /// ln of the measured seconds.
    ln_measured: f64,
    /// ln of the unit's own efficiencies.
    base: (f64, f64),
    /// Parameter indices of the compute and memory effects.
    compute: Vec<usize>,
    memory: Vec<usize>,
    /// Parameter indices of ln tau_layer, ln tau_call and ln attention factor.
    layer: Vec<usize>,
    call: Vec<usize>,
    attention: Vec<usize>,
}

/// The parameter vector's layout.
#[derive(Default)]
struct Layout {
    names: Vec<String>,
    mean: Vec<f64>,
    sigma: Vec<f64>,
    index: BTreeMap<String, usize>,
}

impl Layout {
    fn param(&mut self, name: String, mean: f64, sigma: f64) -> usize {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.clone());
        self.mean.push(mean);
        self.sigma.push(sigma);
        self.index.insert(name, i);
        i
    }
}

/// The unit a measurement ran on.
fn unit_of(m: &Measurement, catalog: &DeviceCatalog) -> String {
    m.unit
        .clone()
        .or_else(|| runtime_info(&m.runtime).ok()?.unit.map(String::from))
        .or_else(|| catalog.devices.get(&m.device).map(|d| d.unit.clone()))
        .unwrap_or_default()
}

/// The class of runtime `k`.
fn class_of(k: &str) -> &'static str {
    runtime_info(k).map_or("", |r| r.class)
}

/// Decode steps are summed in at most this many chunks (the work is linear in the context, so a
/// chunk's midpoint is exact unless the bound side changes inside it).
const DECODE_CHUNKS: usize = 16;

fn prepare(
    m: &Measurement,
    table: &CostTable,
    catalog: &DeviceCatalog,
    layout: &mut Layout,
    priors: &Priors,
) -> Result<Prepared> {
    let unit = unit_of(m, catalog);
    let device = catalog
        .resolve(
            &m.device,
            RuntimeChoice {
                runtime: None,
                unit: Some(&unit),
            },
            m.dtype,
            table.len(),
        )
        .map_err(|e| crate::Error::CsvLine {
            path: m.path.clone(),
            line: m.line,
            message: e,
        })?;
    let (peak, bw) = (device.peak_flops, device.mem_bw_bytes_per_s);
    let mut items: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut push = |flop: f64, attention: f64, bytes: f64, count: f64| {
        items.push((
            (flop - attention) / peak,
            attention / peak,
            bytes / bw,
            count,
        ));
    };
    match m.phase {
        Phase::Prefill if m.context > 0 => {
            for l in &table.layers {
                let (f, b) = verify_work(l, m.context as f64, m.tokens);
                push(
                    f,
                    verify_attention_flop(l, m.context as f64, m.tokens),
                    b,
                    1.0,
                );
            }
        }
        Phase::Prefill => {
            for l in &table.layers {
                let (f, b) = prefill_work(l, m.tokens);
                push(f, prefill_attention_flop(l, m.tokens), b, 1.0);
            }
        }
        Phase::Decode => {
            let chunk = m.tokens.div_ceil(DECODE_CHUNKS);
            let mut start = 0;
            while start < m.tokens {
                let len = chunk.min(m.tokens - start);
                let mid = m.context as f64 + start as f64 + (len as f64 - 1.0) / 2.0;
                let (lo, hi) = (mid.floor() as usize, mid.ceil() as usize);
                for l in &table.layers {
                    let (f0, b0) = decode_work(l, lo);
                    let (f1, b1) = decode_work(l, hi);
                    let a = (decode_attention_flop(l, lo) + decode_attention_flop(l, hi)) / 2.0;
                    push((f0 + f1) / 2.0, a, (b0 + b1) / 2.0, len as f64);
                }
                start += len;
            }
        }
    }
    items.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.total_cmp(&b.2))
    });
    let mut merged: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(items.len());
    for it in items {
        match merged.last_mut() {
            Some(last) if last.0 == it.0 && last.1 == it.1 && last.2 == it.2 => last.3 += it.3,
            _ => merged.push(it),
        }
    }
    let (d, k, q) = (&m.device, &m.runtime, m.dtype);
    let class = class_of(k);
    let mut effects = |kind: &str| -> Vec<usize> {
        vec![
            layout.param(format!("D_{kind}|{d}|{unit}"), 0.0, priors.device),
            layout.param(format!("F_{kind}|{class}"), 0.0, priors.class),
            layout.param(format!("R_{kind}|{k}"), 0.0, priors.runtime),
            layout.param(format!("RQ_{kind}|{k}|{q}"), 0.0, priors.runtime_dtype),
            layout.param(format!("RD_{kind}|{k}|{d}"), 0.0, priors.runtime_device),
        ]
    };
    let compute = effects("c");
    let memory = effects("m");
    let layer = vec![
        layout.param(
            "T0".into(),
            priors.layer_overhead_s.ln(),
            priors.layer_overhead_global,
        ),
        layout.param(format!("TF|{class}"), 0.0, priors.layer_overhead_class),
        layout.param(format!("T|{k}"), 0.0, priors.layer_overhead_runtime),
        layout.param(format!("TD|{k}|{d}"), 0.0, priors.layer_overhead_device),
    ];
    // The call overhead of a prefill (time to first token: tokenisation, set-up, the first
    // sample) is not that of a decode step: one set of parameters per phase.
    let ph = m.phase.name();
    let call = vec![
        layout.param(
            format!("C0|{ph}"),
            priors.call_overhead_s.ln(),
            priors.call_overhead_global,
        ),
        layout.param(format!("CF|{class}|{ph}"), 0.0, priors.call_overhead_class),
        layout.param(format!("C|{k}|{ph}"), 0.0, priors.call_overhead_runtime),
    ];
    let attention = vec![
        layout.param("A0".into(), 0.0, priors.attention_global),
        layout.param(format!("AF|{class}"), 0.0, priors.attention_class),
        layout.param(format!("A|{k}"), 0.0, priors.attention_runtime),
    ];
    Ok(Prepared {
        items: merged,
        passes: match m.phase {
            Phase::Prefill => 1.0,
            Phase::Decode => m.tokens as f64,
        },
        rows: table.len() as f64,
        ln_measured: (m.tokens as f64 / m.tokens_per_s).ln(),
        base: (
            device.compute_efficiency.ln(),
            device.memory_efficiency.ln(),
        ),
        compute,
        memory,
        layer,
        call,
        attention,
    })
}

/// `(ln predicted seconds, gradient pieces)` of a prepared row at `theta`: the seconds, and the
/// derivative of ln seconds with respect to a compute effect, a memory effect, a layer-overhead,
/// a call-overhead and an attention parameter.
fn evaluate(p: &Prepared, theta: &[f64]) -> (f64, [f64; 5]) {
    let sum = |idx: &[usize]| idx.iter().map(|&i| theta[i]).sum::<f64>();
    let ln_ce = p.base.0 + sum(&p.compute);
    let ln_me = p.base.1 + sum(&p.memory);
    let (ce, c_free) = if ln_ce >= 0.0 {
        (1.0, 0.0)
    } else {
        (ln_ce.exp(), 1.0)
    };
    let (me, m_free) = if ln_me >= 0.0 {
        (1.0, 0.0)
    } else {
        (ln_me.exp(), 1.0)
    };
    let alpha = sum(&p.attention).exp();
    let (mut compute, mut attention, mut memory) = (0.0, 0.0, 0.0);
    for &(g, a, b, n) in &p.items {
        let (tc, tm) = ((g + alpha * a) / ce, b / me);
        if tc >= tm {
            compute += n * tc;
            attention += n * alpha * a / ce;
        } else {
            memory += n * tm;
        }
    }
    let layer = p.passes * p.rows * sum(&p.layer).exp();
    let call = p.passes * sum(&p.call).exp();
    let total = compute + memory + layer + call;
    (
        total.ln(),
        [
            -c_free * compute / total,
            -m_free * memory / total,
            layer / total,
            call / total,
            attention / total,
        ],
    )
}

/// Objective: weighted squared log errors plus the priors.
fn objective(rows: &[Prepared], layout: &Layout, theta: &[f64], priors: &Priors) -> f64 {
    let s2 = priors.row_sigma * priors.row_sigma;
    let data: f64 = rows
        .iter()
        .map(|p| {
            let r = evaluate(p, theta).0 - p.ln_measured;
            r * r / s2
        })
        .sum();
    let prior: f64 = theta
        .iter()
        .zip(&layout.mean)
        .zip(&layout.sigma)
        .map(|((t, m), s)| ((t - m) / s).powi(2))
        .sum();
    data + prior
}

/// Solves `a x = b` for a symmetric positive definite `a` (row-major `n x n`) by Cholesky.
fn cholesky_solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    Some(b)
}

/// Fits the runtime table to `measurements` (cost tables by model and dtype in `tables`).
pub fn fit(
    measurements: &[&Measurement],
    tables: &BTreeMap<(String, Dtype), CostTable>,
    catalog: &DeviceCatalog,
    priors: &Priors,
) -> Result<Fit> {
    let mut layout = Layout::default();
    let mut rows = Vec::with_capacity(measurements.len());
    for m in measurements {
        let table = &tables[&(m.model.clone(), m.dtype)];
        rows.push(prepare(m, table, catalog, &mut layout, priors)?);
    }
    let n = layout.names.len();
    let mut theta = layout.mean.clone();
    let mut current = objective(&rows, &layout, &theta, priors);
    let mut lambda = 1e-3;
    let s2 = priors.row_sigma * priors.row_sigma;
    let mut iterations = 0;
    for _ in 0..300 {
        iterations += 1;
        // Normal equations of the linearised problem.
        let mut h = vec![0.0; n * n];
        let mut g = vec![0.0; n];
        for p in &rows {
            let (ln_t, d) = evaluate(p, &theta);
            let r = ln_t - p.ln_measured;
            let mut grad: Vec<(usize, f64)> = Vec::with_capacity(20);
            for (idx, dv) in [
                (&p.compute, d[0]),
                (&p.memory, d[1]),
                (&p.layer, d[2]),
                (&p.call, d[3]),
                (&p.attention, d[4]),
            ] {
                for &i in idx.iter() {
                    grad.push((i, dv));
                }
            }
            for &(i, di) in &grad {
                g[i] += di * r / s2;
                for &(j, dj) in &grad {
                    h[i * n + j] += di * dj / s2;
                }
            }
        }
        for i in 0..n {
            let w = 1.0 / (layout.sigma[i] * layout.sigma[i]);
            h[i * n + i] += w;
            g[i] += w * (theta[i] - layout.mean[i]);
        }
        let mut improved = false;
        for _ in 0..30 {
            let mut a = h.clone();
            for i in 0..n {
                a[i * n + i] *= 1.0 + lambda;
            }
            let Some(step) = cholesky_solve(a, g.iter().map(|v| -v).collect(), n) else {
                lambda *= 10.0;
                continue;
            };
            let trial: Vec<f64> = theta.iter().zip(&step).map(|(t, s)| t + s).collect();
            let value = objective(&rows, &layout, &trial, priors);
            if value < current {
                let gain = current - value;
                theta = trial;
                current = value;
                lambda = (lambda / 3.0).max(1e-9);
                improved = gain > 1e-10 * current.max(1.0);
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    let rms_log_error = (rows
        .iter()
        .map(|p| (evaluate(p, &theta).0 - p.ln_measured).powi(2))
        .sum::<f64>()
        / rows.len().max(1) as f64)
        .sqrt();
    let table = to_table(measurements, catalog, &layout, &theta);
    Ok(Fit {
        table,
        iterations,
        rms_log_error,
    })
}

/// The runtime table of fitted parameters: device corrections, runtime defaults (per dtype) and
/// the runtime x device rows seen in the data.
fn to_table(
    measurements: &[&Measurement],
    catalog: &DeviceCatalog,
    layout: &Layout,
    theta: &[f64],
) -> RuntimeTable {
    let value = |name: String| layout.index.get(&name).map_or(0.0, |&i| theta[i]);
    let source = format!(
        "fitted by edgeplan costs --fit to {} rows",
        measurements.len()
    );
    let mut table = RuntimeTable::default();
    // Device corrections.
    let mut device_units: Vec<(String, String)> = measurements
        .iter()
        .map(|m| (m.device.clone(), unit_of(m, catalog)))
        .collect();
    device_units.sort();
    device_units.dedup();
    for (d, u) in &device_units {
        table.rows.push(RuntimeRow {
            runtime: None,
            device: Some(d.clone()),
            unit: Some(u.clone()),
            phase: None,
            dtype: None,
            compute_scale: value(format!("D_c|{d}|{u}")).exp(),
            memory_scale: value(format!("D_m|{d}|{u}")).exp(),
            layer_overhead_s: 0.0,
            call_overhead_s: 0.0,
            attention_factor: 1.0,
            source: source.clone(),
        });
    }
    // Per runtime: its dtypes, and the (device, unit) pairs it ran on.
    type Seen<'a> = (Vec<Dtype>, BTreeSet<(&'a str, String)>);
    let mut runtimes: BTreeMap<&str, Seen> = BTreeMap::new();
    for m in measurements {
        let e = runtimes.entry(&m.runtime).or_default();
        if !e.0.contains(&m.dtype) {
            e.0.push(m.dtype);
        }
        e.1.insert((&m.device, unit_of(m, catalog)));
    }
    let t0 = value("T0".into());
    for (k, (dtypes, devices)) in &runtimes {
        let mut dtypes = dtypes.clone();
        dtypes.sort();
        let class = class_of(k);
        let rc = value(format!("F_c|{class}")) + value(format!("R_c|{k}"));
        let rm = value(format!("F_m|{class}")) + value(format!("R_m|{k}"));
        let tau_call = |phase: Phase| {
            let ph = phase.name();
            (value(format!("C0|{ph}"))
                + value(format!("CF|{class}|{ph}"))
                + value(format!("C|{k}|{ph}")))
            .exp()
        };
        let tau_layer = t0 + value(format!("TF|{class}")) + value(format!("T|{k}"));
        let attention_factor =
            (value("A0".into()) + value(format!("AF|{class}")) + value(format!("A|{k}"))).exp();
        let default_unit = runtime_info(k).ok().and_then(|r| r.unit).map(String::from);
        let mut push = |device: Option<&str>, unit: Option<String>, dtype: Option<Dtype>| {
            for phase in [Phase::Prefill, Phase::Decode] {
                let (qc, qm) = dtype.map_or((0.0, 0.0), |q| {
                    (
                        value(format!("RQ_c|{k}|{q}")),
                        value(format!("RQ_m|{k}|{q}")),
                    )
                });
                let (dc, dm, dt) = device.map_or((0.0, 0.0, 0.0), |d| {
                    (
                        value(format!("RD_c|{k}|{d}")),
                        value(format!("RD_m|{k}|{d}")),
                        value(format!("TD|{k}|{d}")),
                    )
                });
                table.rows.push(RuntimeRow {
                    runtime: Some(k.to_string()),
                    device: device.map(String::from),
                    unit: unit.clone(),
                    phase: Some(phase),
                    dtype,
                    compute_scale: (rc + qc + dc).exp(),
                    memory_scale: (rm + qm + dm).exp(),
                    layer_overhead_s: (tau_layer + dt).exp(),
                    call_overhead_s: tau_call(phase),
                    attention_factor,
                    source: source.clone(),
                });
            }
        };
        push(None, default_unit.clone(), None);
        for &q in &dtypes {
            push(None, default_unit.clone(), Some(q));
        }
        for (d, u) in devices {
            let d = *d;
            push(Some(d), Some(u.clone()), None);
            for &q in &dtypes {
                push(Some(d), Some(u.clone()), Some(q));
            }
        }
    }
    table
}

/// One row's predictions.
#[derive(Debug, Clone, Serialize)]
pub struct RowCheck {
    /// The measurement.
    pub measurement: Measurement,
    /// Its source group.
    pub source_key: String,
    /// v1 prediction, tokens/s.
    pub v1: f64,
    /// v2 fitted on all rows, tokens/s.
    pub v2_in_sample: f64,
    /// v2 fitted without the row's source, tokens/s.
    pub v2_held_out: f64,
}

impl RowCheck {
    /// `predicted / measured - 1` of each model: (v1, v2 in sample, v2 held out).
    pub fn errors(&self) -> (f64, f64, f64) {
        let m = self.measurement.tokens_per_s;
        (
            self.v1 / m - 1.0,
            self.v2_in_sample / m - 1.0,
            self.v2_held_out / m - 1.0,
        )
    }
}

/// Every row predicted by v1, by v2 fitted on everything, and by v2 fitted without its source;
/// also the table fitted on everything.
pub fn check(
    measurements: &[Measurement],
    tables: &BTreeMap<(String, Dtype), CostTable>,
    catalog: &DeviceCatalog,
    priors: &Priors,
) -> Result<(Vec<RowCheck>, Fit)> {
    let all: Vec<&Measurement> = measurements.iter().collect();
    let full = fit(&all, tables, catalog, priors)?;
    let mut with_full = catalog.clone();
    with_full.runtimes = full.table.clone();
    let mut held_out = vec![f64::NAN; measurements.len()];
    let keys: Vec<String> = measurements.iter().map(|m| m.source_key()).collect();
    let mut groups: Vec<&String> = keys.iter().collect();
    groups.sort();
    groups.dedup();
    for g in groups {
        let train: Vec<&Measurement> = measurements
            .iter()
            .zip(&keys)
            .filter(|(_, k)| *k != g)
            .map(|(m, _)| m)
            .collect();
        let fold = fit(&train, tables, catalog, priors)?;
        let mut with_fold = catalog.clone();
        with_fold.runtimes = fold.table;
        for (i, m) in measurements.iter().enumerate() {
            if &keys[i] == g {
                let table = &tables[&(m.model.clone(), m.dtype)];
                held_out[i] = predict(m, table, &with_fold, Model::V2)?;
            }
        }
    }
    let mut rows = Vec::with_capacity(measurements.len());
    for (i, m) in measurements.iter().enumerate() {
        let table = &tables[&(m.model.clone(), m.dtype)];
        rows.push(RowCheck {
            measurement: m.clone(),
            source_key: keys[i].clone(),
            v1: predict(m, table, catalog, Model::V1)?,
            v2_in_sample: predict(m, table, &with_full, Model::V2)?,
            v2_held_out: held_out[i],
        });
    }
    Ok((rows, full))
}
