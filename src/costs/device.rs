//! Device profiles (`instances/devices.csv`), the extra processors of a chip (`units.csv`) and
//! the runtimes that run on them (`runtimes.csv`), both read from beside the devices file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::arch::Dtype;
use super::latency::Phase;
use super::runtime::{check_unit, row_label, runtime_info, PhaseCosts, RuntimeCosts, RuntimeTable};
use super::table::CsvFile;
use crate::error::{Error, Result};
use crate::limits;

/// A processor of a device besides its default one (`units.csv`): it shares the device's memory
/// and bandwidth and has its own peak, power and efficiencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeUnit {
    /// Kind: gpu, cpu or npu.
    pub unit: String,
    /// Dense FP16 peak, FLOP/s.
    pub peak_flops: f64,
    /// Busy power of the device while this unit works, W.
    pub power_busy_w: f64,
    /// Fraction of peak FLOP/s reached by LLM kernels.
    pub compute_efficiency: f64,
    /// Fraction of the device's bandwidth this unit reaches.
    pub memory_efficiency: f64,
    /// Where the figures come from.
    pub source: String,
}

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
    /// Kind of the processor the row's peak describes (gpu, cpu or npu; column `unit`, default
    /// cpu for the classes `cpu` and `sbc`, else gpu).
    #[serde(default = "default_unit")]
    pub unit: String,
    /// Other processors of the chip (`units.csv`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<ComputeUnit>,
    /// The runtime the costs are for, resolved (`None`: the row's own efficiencies and no
    /// overheads, the v1 model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeCosts>,
}

fn default_unit() -> String {
    "gpu".to_string()
}

/// The default unit kind of a device class.
pub fn class_unit(class: &str) -> &'static str {
    match class {
        "cpu" | "sbc" => "cpu",
        _ => "gpu",
    }
}

impl Device {
    /// The unit kinds this device has, default first.
    pub fn unit_kinds(&self) -> Vec<&str> {
        std::iter::once(self.unit.as_str())
            .chain(self.units.iter().map(|u| u.unit.as_str()))
            .collect()
    }

    /// The device as seen by a user holding `share` of it (processor sharing): peaks and
    /// bandwidth scale with the share and the runtime's fixed overheads stretch with it, so every
    /// latency is the whole device's divided by `share`.
    pub fn share(&mut self, share: f64) {
        self.peak_flops *= share;
        self.mem_bw_bytes_per_s *= share;
        if let Some(r) = self.runtime.as_mut() {
            for p in [&mut r.prefill, &mut r.decode] {
                p.layer_overhead_s /= share;
                p.call_overhead_s /= share;
            }
        }
    }

    /// `(peak_flops, power_busy_w, compute_efficiency, memory_efficiency)` of unit `unit`.
    fn unit_figures(&self, unit: &str) -> Option<(f64, f64, f64, f64)> {
        if unit == self.unit {
            return Some((
                self.peak_flops,
                self.power_busy_w,
                self.compute_efficiency,
                self.memory_efficiency,
            ));
        }
        self.units.iter().find(|u| u.unit == unit).map(|u| {
            (
                u.peak_flops,
                u.power_busy_w,
                u.compute_efficiency,
                u.memory_efficiency,
            )
        })
    }
}

/// All devices of a `devices.csv`, by name.
#[derive(Debug, Clone, Default)]
pub struct DeviceCatalog {
    /// Devices by name.
    pub devices: BTreeMap<String, Device>,
    /// Runtime efficiencies and overheads (`runtimes.csv` beside the devices file; empty when
    /// there is none).
    pub runtimes: RuntimeTable,
    /// Where the runtime table came from, if anywhere.
    pub runtimes_path: Option<PathBuf>,
}

impl DeviceCatalog {
    /// Reads a devices CSV and, when they exist beside it, `units.csv` and `runtimes.csv`.
    pub fn load(path: &Path) -> Result<DeviceCatalog> {
        let mut catalog = DeviceCatalog::load_devices(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let units = dir.join("units.csv");
        if units.is_file() {
            catalog.load_units(&units)?;
        }
        let runtimes = dir.join("runtimes.csv");
        if runtimes.is_file() {
            catalog.set_runtimes(RuntimeTable::load(&runtimes)?, &runtimes)?;
        }
        Ok(catalog)
    }

    /// Installs a runtime table, checking that its devices exist (errors name `path`).
    pub fn set_runtimes(&mut self, table: RuntimeTable, path: &Path) -> Result<()> {
        for row in &table.rows {
            if let Some(d) = &row.device {
                if !self.devices.contains_key(d) {
                    return Err(Error::Syntax {
                        path: path.to_path_buf(),
                        message: format!(
                            "row {}: device `{d}` is not in the device catalog",
                            row_label(row)
                        ),
                    });
                }
            }
        }
        self.runtimes = table;
        self.runtimes_path = Some(path.to_path_buf());
        Ok(())
    }

    /// Reads `device,unit,peak_flops,power_busy_w[,compute_efficiency,memory_efficiency,source]`:
    /// extra processors of catalog devices.
    pub fn load_units(&mut self, path: &Path) -> Result<()> {
        let mut csv = CsvFile::open(path)?;
        let idx = csv.require(path, ["device", "unit", "peak_flops", "power_busy_w"])?;
        let compute_col = csv.column("compute_efficiency");
        let memory_col = csv.column("memory_efficiency");
        let source_col = csv.column("source");
        for row in csv.rows(path) {
            let row = row?;
            let name = row.text(idx[0]);
            let Some(device) = self.devices.get_mut(name) else {
                return Err(row.bad(format!("device `{name}` is not in the device catalog")));
            };
            let unit = row.text(idx[1]).to_string();
            check_unit(&unit).map_err(|e| row.bad(format!("column `unit`: {e}")))?;
            if device.unit_kinds().contains(&unit.as_str()) {
                return Err(row.bad(format!("device `{name}` already has a {unit} unit")));
            }
            let optional = |col: Option<usize>, field: &str, default: f64| -> Result<f64> {
                row.filled(col)
                    .map_or(Ok(default), |i| row.range(i, field, limits::EFFICIENCY))
            };
            device.units.push(ComputeUnit {
                peak_flops: row.range(idx[2], "peak_flops", limits::FLOPS)?,
                power_busy_w: row.range(idx[3], "power_busy_w", limits::POWER_W)?,
                compute_efficiency: optional(
                    compute_col,
                    "compute_efficiency",
                    device.compute_efficiency,
                )?,
                memory_efficiency: optional(
                    memory_col,
                    "memory_efficiency",
                    device.memory_efficiency,
                )?,
                source: source_col.map_or("", |i| row.text(i)).to_string(),
                unit,
            });
        }
        Ok(())
    }

    /// Reads a devices CSV alone. Required columns: `device,class,peak_flops,mem_bw_bytes_per_s,
    /// memory_bytes,power_idle_w,power_busy_w,efficiency`; optional: `compute_efficiency,
    /// memory_efficiency` (default `efficiency`), `tx_power_w`, `unit`, `source`.
    pub fn load_devices(path: &Path) -> Result<DeviceCatalog> {
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
        let unit_col = csv.column("unit");

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
            let class = row.text(idx[1]).to_string();
            let unit = match row.filled(unit_col) {
                Some(i) => {
                    let unit = row.text(i);
                    check_unit(unit).map_err(|e| row.bad(format!("column `unit`: {e}")))?;
                    unit.to_string()
                }
                None => class_unit(&class).to_string(),
            };
            let device = Device {
                unit,
                units: Vec::new(),
                runtime: None,
                class,
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

/// What a tier asks of its device: a runtime (`None`: the v1 model) and a unit (`None`: the
/// runtime's or the device's default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuntimeChoice<'a> {
    /// Runtime id.
    pub runtime: Option<&'a str>,
    /// Unit kind.
    pub unit: Option<&'a str>,
}

impl DeviceCatalog {
    /// Device `name` as it runs `choice` on a model of `rows` cost-table rows in `dtype`: the
    /// unit's peak and power, and (with a runtime) the efficiencies and overheads of
    /// runtimes.csv (module `runtime`). Errors are messages for the caller to place.
    pub fn resolve(
        &self,
        name: &str,
        choice: RuntimeChoice<'_>,
        dtype: Dtype,
        rows: usize,
    ) -> std::result::Result<Device, String> {
        let mut device = self
            .devices
            .get(name)
            .ok_or_else(|| {
                format!(
                    "unknown device `{name}`; known devices: {}",
                    self.devices.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?
            .clone();
        let info = choice.runtime.map(runtime_info).transpose()?;
        if let Some(u) = choice.unit {
            check_unit(u)?;
        }
        // The unit named, else the runtime's own, else the one runtimes.csv has for the runtime
        // on this device, else the device's default.
        let unit = choice
            .unit
            .or_else(|| {
                let r = info?;
                r.unit.or_else(|| self.runtimes.unit_for(r.id, name))
            })
            .unwrap_or(device.unit.as_str())
            .to_string();
        let Some((peak, power, ce, me)) = device.unit_figures(&unit) else {
            let by = info.map_or(String::new(), |r| {
                format!(" (runtime `{}` runs on it)", r.id)
            });
            return Err(format!(
                "device `{name}` has no {unit} unit{by}; its units: {} (add one to units.csv)",
                device.unit_kinds().join(", ")
            ));
        };
        device.peak_flops = peak;
        device.power_busy_w = power;
        device.compute_efficiency = ce;
        device.memory_efficiency = me;
        let Some(info) = info else {
            return Ok(device);
        };
        let mut matched = Vec::new();
        let mut phase_costs = |phase: Phase| {
            let correction = self.runtimes.lookup(None, name, &unit, phase, dtype);
            let row = self
                .runtimes
                .lookup(Some(info.id), name, &unit, phase, dtype);
            for r in [correction, row].into_iter().flatten() {
                let label = row_label(r);
                if !matched.contains(&label) {
                    matched.push(label);
                }
            }
            let (cc, cm) = correction.map_or((1.0, 1.0), |r| (r.compute_scale, r.memory_scale));
            let (rc, rm) = row.map_or((1.0, 1.0), |r| (r.compute_scale, r.memory_scale));
            let (layer_overhead_s, call_overhead_s, attention_factor) = row
                .map_or((0.0, 0.0, 1.0), |r| {
                    (r.layer_overhead_s, r.call_overhead_s, r.attention_factor)
                });
            PhaseCosts {
                compute_efficiency: (ce * cc * rc).min(1.0),
                memory_efficiency: (me * cm * rm).min(1.0),
                layer_overhead_s,
                call_overhead_s,
                attention_factor,
            }
        };
        let prefill = phase_costs(Phase::Prefill);
        let decode = phase_costs(Phase::Decode);
        device.compute_efficiency = prefill.compute_efficiency;
        device.memory_efficiency = decode.memory_efficiency;
        device.runtime = Some(RuntimeCosts {
            runtime: info.id.to_string(),
            unit,
            prefill,
            decode,
            rows,
            matched: if matched.is_empty() {
                "none (the unit's own efficiencies)".to_string()
            } else {
                matched.join(", ")
            },
        });
        Ok(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costs::runtime::RuntimeRow;

    fn catalog() -> DeviceCatalog {
        let mut c = DeviceCatalog::default();
        c.devices.insert(
            "p".into(),
            Device {
                name: "p".into(),
                class: "phone".into(),
                peak_flops: 4e12,
                mem_bw_bytes_per_s: 5e10,
                memory_bytes: 1e10,
                power_idle_w: 1.0,
                power_busy_w: 5.0,
                compute_efficiency: 0.4,
                memory_efficiency: 0.5,
                tx_power_w: None,
                source: String::new(),
                unit: "gpu".into(),
                units: vec![ComputeUnit {
                    unit: "cpu".into(),
                    peak_flops: 1e12,
                    power_busy_w: 4.0,
                    compute_efficiency: 0.3,
                    memory_efficiency: 0.6,
                    source: String::new(),
                }],
                runtime: None,
            },
        );
        let row =
            |runtime: Option<&str>, device: Option<&str>, scale: f64, overhead: f64| RuntimeRow {
                runtime: runtime.map(String::from),
                device: device.map(String::from),
                unit: None,
                phase: None,
                dtype: None,
                compute_scale: scale,
                memory_scale: scale,
                layer_overhead_s: overhead,
                call_overhead_s: 2.0 * overhead,
                attention_factor: 1.0,
                source: String::new(),
            };
        c.runtimes = RuntimeTable {
            rows: vec![
                row(Some("executorch"), None, 2.0, 1e-5),
                row(None, Some("p"), 1.5, 0.0),
                row(Some("mlc-llm"), None, 4.0, 0.0),
            ],
        };
        c
    }

    /// A runtime runs on its unit, with the unit's peak and power and the scaled efficiencies
    /// (capped at 1); without a runtime the row is unchanged (v1).
    #[test]
    fn resolve_picks_the_unit_and_scales_its_efficiencies() {
        let c = catalog();
        let v1 = c
            .resolve("p", RuntimeChoice::default(), Dtype::Q4, 10)
            .unwrap();
        assert_eq!(v1.peak_flops, 4e12);
        assert!(v1.runtime.is_none());
        let choice = RuntimeChoice {
            runtime: Some("executorch"),
            unit: None,
        };
        let d = c.resolve("p", choice, Dtype::Q4, 10).unwrap();
        let r = d.runtime.as_ref().unwrap();
        assert_eq!(
            (d.peak_flops, d.power_busy_w, r.unit.as_str()),
            (1e12, 4.0, "cpu")
        );
        assert!((r.prefill.compute_efficiency - 0.3 * 1.5 * 2.0).abs() < 1e-12);
        assert!(
            (r.decode.memory_efficiency - 1.0).abs() < 1e-12,
            "0.6 x 3 is capped at 1"
        );
        assert!((r.overhead_per_layer_s(Phase::Decode) - (1e-5 + 2e-5 / 10.0)).abs() < 1e-15);
        // MLC runs on the GPU: 0.4 x 1.5 x 4 capped at 1.
        let m = c
            .resolve(
                "p",
                RuntimeChoice {
                    runtime: Some("mlc-llm"),
                    unit: None,
                },
                Dtype::Q4,
                10,
            )
            .unwrap();
        assert_eq!(m.peak_flops, 4e12);
        assert_eq!(m.runtime.unwrap().prefill.compute_efficiency, 1.0);
        // A runtime without rows keeps the unit's own efficiencies and no overheads.
        let v = c
            .resolve(
                "p",
                RuntimeChoice {
                    runtime: Some("vllm"),
                    unit: None,
                },
                Dtype::Q4,
                10,
            )
            .unwrap();
        let vr = v.runtime.unwrap();
        assert!((vr.decode.memory_efficiency - 0.5 * 1.5).abs() < 1e-12);
        assert_eq!(vr.overhead_per_layer_s(Phase::Prefill), 0.0);
    }

    /// Unknown runtimes, units and missing processors are explained.
    #[test]
    fn resolve_explains_bad_choices() {
        let c = catalog();
        let e = c
            .resolve(
                "p",
                RuntimeChoice {
                    runtime: Some("qnn-genie"),
                    unit: None,
                },
                Dtype::Q4,
                10,
            )
            .unwrap_err();
        assert!(e.contains("no npu unit") && e.contains("gpu, cpu"), "{e}");
        let e = c
            .resolve(
                "p",
                RuntimeChoice {
                    runtime: Some("nope"),
                    unit: None,
                },
                Dtype::Q4,
                10,
            )
            .unwrap_err();
        assert!(e.contains("unknown runtime `nope`"), "{e}");
        let e = c
            .resolve(
                "p",
                RuntimeChoice {
                    runtime: None,
                    unit: Some("tpu"),
                },
                Dtype::Q4,
                10,
            )
            .unwrap_err();
        assert!(e.contains("unknown unit `tpu`"), "{e}");
        assert!(c
            .resolve("q", RuntimeChoice::default(), Dtype::Q4, 10)
            .unwrap_err()
            .contains("unknown device"));
    }
}
