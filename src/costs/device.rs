//! Device profiles (`instances/devices.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::table::CsvFile;
use crate::error::{Error, Result};
use crate::limits;

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
            let optional = |col: Option<usize>, name: &str, range| -> Result<Option<f64>> {
                row.filled(col)
                    .map(|i| row.range(i, name, range))
                    .transpose()
            };
            let name = row.text(idx[0]).to_string();
            if name.is_empty() {
                return Err(row.bad("column `device`: empty device name".into()));
            }
            let efficiency = row.range(idx[7], "efficiency", limits::EFFICIENCY)?;
            let compute_efficiency =
                optional(compute_col, "compute_efficiency", limits::EFFICIENCY)?
                    .unwrap_or(efficiency);
            let memory_efficiency = optional(memory_col, "memory_efficiency", limits::EFFICIENCY)?
                .unwrap_or(efficiency);
            let device = Device {
                class: row.text(idx[1]).to_string(),
                peak_flops: row.range(idx[2], "peak_flops", limits::FLOPS)?,
                mem_bw_bytes_per_s: row.range(
                    idx[3],
                    "mem_bw_bytes_per_s",
                    limits::BANDWIDTH_BYTES_S,
                )?,
                memory_bytes: row.range(idx[4], "memory_bytes", limits::MEMORY_BYTES)?,
                power_idle_w: row.range(idx[5], "power_idle_w", limits::POWER_W)?,
                power_busy_w: row.range(idx[6], "power_busy_w", limits::POWER_W)?,
                compute_efficiency,
                memory_efficiency,
                tx_power_w: optional(tx_col, "tx_power_w", limits::POWER_W)?,
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
