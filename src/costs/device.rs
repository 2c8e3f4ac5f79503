//! Device profiles (`instances/devices.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::table::CsvFile;
use super::table::Rule::{NonNegative, Positive};
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

        let mut catalog = DeviceCatalog::default();
        for row in csv.rows(path) {
            let row = row?;
            let fraction = |v: f64, name: &str| -> Result<f64> {
                if v <= 0.0 || v > 1.0 {
                    return Err(row.bad(format!(
                        "column `{name}`: expected a fraction in (0, 1], got {v}"
                    )));
                }
                Ok(v)
            };
            let optional = |col: Option<usize>, name: &str| -> Result<Option<f64>> {
                row.filled(col)
                    .map(|i| row.number(i, name, Positive))
                    .transpose()
            };
            let name = row.text(idx[0]).to_string();
            if name.is_empty() {
                return Err(row.bad("column `device`: empty device name".into()));
            }
            let efficiency = fraction(row.number(idx[7], "efficiency", Positive)?, "efficiency")?;
            let compute_efficiency = match optional(compute_col, "compute_efficiency")? {
                Some(v) => fraction(v, "compute_efficiency")?,
                None => efficiency,
            };
            let memory_efficiency = match optional(memory_col, "memory_efficiency")? {
                Some(v) => fraction(v, "memory_efficiency")?,
                None => efficiency,
            };
            let device = Device {
                class: row.text(idx[1]).to_string(),
                peak_flops: row.number(idx[2], "peak_flops", Positive)?,
                mem_bw_bytes_per_s: row.number(idx[3], "mem_bw_bytes_per_s", Positive)?,
                memory_bytes: row.number(idx[4], "memory_bytes", Positive)?,
                power_idle_w: row.number(idx[5], "power_idle_w", NonNegative)?,
                power_busy_w: row.number(idx[6], "power_busy_w", NonNegative)?,
                compute_efficiency,
                memory_efficiency,
                tx_power_w: optional(tx_col, "tx_power_w")?,
                source: source_col.map_or("", |i| row.text(i)).to_string(),
                name: name.clone(),
            };
            if catalog.devices.insert(name.clone(), device).is_some() {
                return Err(row.bad(format!("device `{name}` is listed twice")));
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
