//! Device profiles (`instances/devices.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::table::{csv_error, CsvFile};
use crate::error::{Error, Result};

/// A compute device: datasheet peaks, power and the efficiency factors of the roofline model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Identifier, e.g. `jetson-orin-nano-8gb`.
    pub name: String,
    /// Class: phone, sbc, jetson, laptop, edge-gpu, cloud-gpu, cpu.
    pub class: String,
    /// Dense FP16 peak, FLOP/s.
    pub peak_flops: f64,
    /// Memory bandwidth, bytes/s.
    pub mem_bw_bytes_per_s: f64,
    /// Memory capacity, bytes.
    pub memory_bytes: f64,
    /// Idle power, W.
    pub power_idle_w: f64,
    /// Busy power, W.
    pub power_busy_w: f64,
    /// Fraction of peak FLOP/s reached by LLM kernels.
    pub compute_efficiency: f64,
    /// Fraction of peak bandwidth reached by LLM kernels.
    pub memory_efficiency: f64,
    /// Radio transmit power, W, when known.
    pub tx_power_w: Option<f64>,
    /// Where the figures come from.
    pub source: String,
}

/// All devices of a `devices.csv`, by name.
#[derive(Debug, Clone, Default)]
pub struct DeviceCatalog {
    /// Devices by name.
    pub devices: BTreeMap<String, Device>,
}

impl DeviceCatalog {
    /// Reads a devices CSV. Required columns: `device,class,peak_flops,mem_bw_bytes_per_s,
    /// memory_bytes,power_idle_w,power_busy_w,efficiency`; optional: `compute_efficiency,
    /// memory_efficiency` (default `efficiency`), `tx_power_w`, `source`.
    pub fn load(path: &Path) -> Result<DeviceCatalog> {
        let mut csv = CsvFile::open(path)?;
        let idx = csv.require(
            path,
            [
                "device",
                "class",
                "peak_flops",
                "mem_bw_bytes_per_s",
                "memory_bytes",
                "power_idle_w",
                "power_busy_w",
                "efficiency",
            ],
        )?;
        let compute_col = csv.column("compute_efficiency");
        let memory_col = csv.column("memory_efficiency");
        let tx_col = csv.column("tx_power_w");
        let source_col = csv.column("source");
        let reader = &mut csv.reader;

        let mut catalog = DeviceCatalog::default();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let bad = |message: String| Error::CsvLine {
                path: path.to_path_buf(),
                line,
                message,
            };
            let number = |i: usize, name: &str, positive: bool| -> Result<f64> {
                let text = record.get(i).unwrap_or("");
                let v: f64 = text.parse().map_err(|_| {
                    bad(format!("column `{name}`: expected a number, got `{text}`"))
                })?;
                if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
                    return Err(bad(format!(
                        "column `{name}`: expected a finite {} number, got `{text}`",
                        if positive { "positive" } else { "non-negative" }
                    )));
                }
                Ok(v)
            };
            let fraction = |v: f64, name: &str| -> Result<f64> {
                if v <= 0.0 || v > 1.0 {
                    return Err(bad(format!(
                        "column `{name}`: expected a fraction in (0, 1], got {v}"
                    )));
                }
                Ok(v)
            };
            let optional = |col: Option<usize>, name: &str| -> Result<Option<f64>> {
                match col {
                    Some(i) if !record.get(i).unwrap_or("").is_empty() => {
                        Ok(Some(number(i, name, true)?))
                    }
                    _ => Ok(None),
                }
            };
            let name = record.get(idx[0]).unwrap_or("").to_string();
            if name.is_empty() {
                return Err(bad("column `device`: empty device name".into()));
            }
            let efficiency = fraction(number(idx[7], "efficiency", true)?, "efficiency")?;
            let compute_efficiency = match optional(compute_col, "compute_efficiency")? {
                Some(v) => fraction(v, "compute_efficiency")?,
                None => efficiency,
            };
            let memory_efficiency = match optional(memory_col, "memory_efficiency")? {
                Some(v) => fraction(v, "memory_efficiency")?,
                None => efficiency,
            };
            let device = Device {
                class: record.get(idx[1]).unwrap_or("").to_string(),
                peak_flops: number(idx[2], "peak_flops", true)?,
                mem_bw_bytes_per_s: number(idx[3], "mem_bw_bytes_per_s", true)?,
                memory_bytes: number(idx[4], "memory_bytes", true)?,
                power_idle_w: number(idx[5], "power_idle_w", false)?,
                power_busy_w: number(idx[6], "power_busy_w", false)?,
                compute_efficiency,
                memory_efficiency,
                tx_power_w: optional(tx_col, "tx_power_w")?,
                source: source_col
                    .and_then(|i| record.get(i))
                    .unwrap_or("")
                    .to_string(),
                name: name.clone(),
            };
            if catalog.devices.insert(name.clone(), device).is_some() {
                return Err(bad(format!("device `{name}` is listed twice")));
            }
        }
        Ok(catalog)
    }

    /// Looks a device up by name.
    pub fn get(&self, name: &str, path: &Path) -> Result<&Device> {
        self.devices.get(name).ok_or_else(|| Error::Unknown {
            what: "device",
            name: name.to_string(),
            hint: format!(
                "not in {}; known devices: {}",
                path.display(),
                self.devices.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }
}
