//! Runtimes (the cost model's v2 dimension): which inference framework runs a tier, on which of
//! its device's processors, with what efficiencies and fixed overheads.
//!
//! `instances/runtimes.csv` (next to `devices.csv`) holds rows
//! `runtime,device,unit,phase,dtype,compute_scale,memory_scale,layer_overhead_s,call_overhead_s,
//! attention_factor,source` (`attention_factor` optional, default 1).
//! `device`, `phase` and `dtype` may be `*`. A runtime named for a device, phase and dtype takes the
//! first row that matches, most specific first:
//!
//! 1. `(runtime, device, phase, dtype)`, then `(runtime, device, phase, *)`,
//!    `(runtime, device, *, dtype)`, `(runtime, device, *, *)`;
//! 2. the runtime's defaults: the same four with `device = *`;
//! 3. the device's own efficiencies (`devices.csv` / `units.csv`) with no overheads.
//!
//! Rows whose `runtime` is `*` are per-device corrections (`device` named): they multiply the
//! efficiencies of every runtime on that device and unit. The effective efficiency is
//! `min(1, unit efficiency x device correction x runtime scale)`. Every roofline evaluation of a
//! layer then adds `layer_overhead_s` (kernel launches and synchronisation of one layer) and
//! `call_overhead_s / rows` (one forward call's fixed cost, spread over the model's cost-table
//! rows so that a whole-model pass pays it once); attention FLOP (scores and weighted sum) count
//! `attention_factor` times. `edgeplan costs --fit` writes the shipped file
//! from `measurements.csv`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::arch::Dtype;
use super::latency::Phase;
use super::table::CsvFile;
use crate::error::Result;
use crate::limits;

/// The processor kinds a device can have.
pub const UNIT_KINDS: [&str; 3] = ["gpu", "cpu", "npu"];

/// A known runtime: its id, the processor it runs on (`None`: the device's default unit) and a
/// description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuntimeInfo {
    /// Id used in instance files and CSVs.
    pub id: &'static str,
    /// The unit it runs on, when fixed.
    pub unit: Option<&'static str>,
    /// Its class: `llama.cpp` (ggml kernels), `compiled` (graph-compiled GPU stacks), `eager`
    /// (operator-by-operator frameworks) or `on-device` (mobile CPU/NPU stacks).
    pub class: &'static str,
    /// What it is.
    pub about: &'static str,
}

/// The runtime classes.
pub const CLASSES: [&str; 4] = ["llama.cpp", "compiled", "eager", "on-device"];

/// Every runtime an instance or a CSV may name.
pub const RUNTIMES: [RuntimeInfo; 17] = [
    RuntimeInfo {
        id: "llama.cpp-cuda",
        unit: Some("gpu"),
        class: "llama.cpp",
        about: "llama.cpp (ggml) with the CUDA backend",
    },
    RuntimeInfo {
        id: "llama.cpp-metal",
        unit: Some("gpu"),
        class: "llama.cpp",
        about: "llama.cpp with the Metal backend (Apple GPUs)",
    },
    RuntimeInfo {
        id: "llama.cpp-cpu",
        unit: Some("cpu"),
        class: "llama.cpp",
        about: "llama.cpp on the CPU (NEON/AVX kernels, llamafile sgemm)",
    },
    RuntimeInfo {
        id: "llama.cpp-vulkan",
        unit: Some("gpu"),
        class: "llama.cpp",
        about: "llama.cpp with the Vulkan backend",
    },
    RuntimeInfo {
        id: "llama.cpp-opencl",
        unit: Some("gpu"),
        class: "llama.cpp",
        about: "llama.cpp with the OpenCL backend (Adreno)",
    },
    RuntimeInfo {
        id: "ollama",
        unit: None,
        class: "llama.cpp",
        about: "Ollama (llama.cpp underneath) on the device's default unit",
    },
    RuntimeInfo {
        id: "mlc-llm",
        unit: Some("gpu"),
        class: "compiled",
        about: "MLC-LLM (TVM-compiled kernels; CUDA, Vulkan, Metal, OpenCL)",
    },
    RuntimeInfo {
        id: "tensorrt-llm",
        unit: Some("gpu"),
        class: "compiled",
        about: "NVIDIA TensorRT-LLM",
    },
    RuntimeInfo {
        id: "vllm",
        unit: Some("gpu"),
        class: "compiled",
        about: "vLLM at batch 1",
    },
    RuntimeInfo {
        id: "pytorch-eager",
        unit: None,
        class: "eager",
        about: "eager PyTorch (Hugging Face transformers generate)",
    },
    RuntimeInfo {
        id: "pytorch-compiled",
        unit: Some("gpu"),
        class: "compiled",
        about: "PyTorch with torch.compile and CUDA graphs (gpt-fast)",
    },
    RuntimeInfo {
        id: "executorch",
        unit: Some("cpu"),
        class: "on-device",
        about: "ExecuTorch with XNNPACK kernels on the CPU",
    },
    RuntimeInfo {
        id: "qnn-genie",
        unit: Some("npu"),
        class: "on-device",
        about: "Qualcomm QNN / Genie on the Hexagon NPU",
    },
    RuntimeInfo {
        id: "tinychat",
        unit: Some("gpu"),
        class: "compiled",
        about: "TinyChat (llm-awq W4A16 kernels)",
    },
    RuntimeInfo {
        id: "exllamav2",
        unit: Some("gpu"),
        class: "compiled",
        about: "ExLlamaV2",
    },
    RuntimeInfo {
        id: "mlx",
        unit: Some("gpu"),
        class: "compiled",
        about: "Apple MLX",
    },
    RuntimeInfo {
        id: "onnxruntime-genai",
        unit: None,
        class: "eager",
        about: "ONNX Runtime GenAI",
    },
];

/// The known runtime `id`, or an error listing them.
pub fn runtime_info(id: &str) -> std::result::Result<&'static RuntimeInfo, String> {
    RUNTIMES.iter().find(|r| r.id == id).ok_or_else(|| {
        format!(
            "unknown runtime `{id}`; known runtimes: {}",
            RUNTIMES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Checks a unit kind.
pub fn check_unit(unit: &str) -> std::result::Result<(), String> {
    if UNIT_KINDS.contains(&unit) {
        Ok(())
    } else {
        Err(format!(
            "unknown unit `{unit}`: expected {}",
            UNIT_KINDS.join(", ")
        ))
    }
}

/// What the roofline charges in one phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseCosts {
    /// Fraction of the unit's peak FLOP/s.
    pub compute_efficiency: f64,
    /// Fraction of the device's memory bandwidth.
    pub memory_efficiency: f64,
    /// Seconds added to every layer evaluation (kernel launches, synchronisation).
    pub layer_overhead_s: f64,
    /// Seconds of one forward call.
    pub call_overhead_s: f64,
    /// Attention FLOP (scores and weighted sum) cost this many matrix-product FLOP.
    pub attention_factor: f64,
}

/// A runtime resolved for one device, unit, dtype and model: what the roofline charges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeCosts {
    /// Runtime id.
    pub runtime: String,
    /// Unit it runs on.
    pub unit: String,
    /// Prefill (and training).
    pub prefill: PhaseCosts,
    /// Decode (and speculative verification).
    pub decode: PhaseCosts,
    /// Rows of the model's cost table (the call overhead is spread over them).
    pub rows: usize,
    /// Which rows of runtimes.csv supplied the values (for reports).
    pub matched: String,
}

impl RuntimeCosts {
    /// The costs of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhaseCosts {
        match phase {
            Phase::Prefill => &self.prefill,
            Phase::Decode => &self.decode,
        }
    }

    /// Fixed seconds added to one layer evaluation in `phase`.
    pub fn overhead_per_layer_s(&self, phase: Phase) -> f64 {
        let p = self.phase(phase);
        p.layer_overhead_s + p.call_overhead_s / self.rows.max(1) as f64
    }
}

/// One row of runtimes.csv. `None` in `device`, `phase`, `dtype` (and `runtime`) is `*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeRow {
    /// Runtime id (`None`: a device correction for every runtime).
    pub runtime: Option<String>,
    /// Device (`None`: any).
    pub device: Option<String>,
    /// Unit the runtime runs on for this device (empty: the runtime's or device's default).
    pub unit: Option<String>,
    /// Phase (`None`: both).
    pub phase: Option<Phase>,
    /// Weight type (`None`: any).
    pub dtype: Option<Dtype>,
    /// Multiplies the unit's compute efficiency.
    pub compute_scale: f64,
    /// Multiplies the unit's memory efficiency.
    pub memory_scale: f64,
    /// Seconds per layer evaluation.
    pub layer_overhead_s: f64,
    /// Seconds per forward call.
    pub call_overhead_s: f64,
    /// Cost of an attention FLOP in matrix-product FLOP (column optional, default 1).
    pub attention_factor: f64,
    /// Where the values come from.
    pub source: String,
}

/// The rows of a runtimes.csv.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeTable {
    /// Rows in file order.
    pub rows: Vec<RuntimeRow>,
}

fn star(text: &str) -> Option<&str> {
    (text != "*" && !text.is_empty()).then_some(text)
}

fn phase_name(phase: Option<Phase>) -> &'static str {
    phase.map_or("*", Phase::name)
}

impl RuntimeTable {
    /// Reads a runtimes.csv (see the module docs).
    pub fn load(path: &Path) -> Result<RuntimeTable> {
        let mut csv = CsvFile::open(path)?;
        let idx = csv.require(
            path,
            [
                "runtime",
                "device",
                "unit",
                "phase",
                "dtype",
                "compute_scale",
                "memory_scale",
                "layer_overhead_s",
                "call_overhead_s",
            ],
        )?;
        let source_col = csv.column("source");
        let attention_col = csv.column("attention_factor");
        let mut table = RuntimeTable::default();
        for row in csv.rows(path) {
            let row = row?;
            let runtime = star(row.text(idx[0])).map(String::from);
            if let Some(r) = &runtime {
                runtime_info(r).map_err(|e| row.bad(format!("column `runtime`: {e}")))?;
            }
            let device = star(row.text(idx[1])).map(String::from);
            if runtime.is_none() && device.is_none() {
                return Err(row.bad(
                    "a row with runtime `*` corrects one device: name the device".to_string(),
                ));
            }
            let unit = star(row.text(idx[2])).map(String::from);
            if let Some(u) = &unit {
                check_unit(u).map_err(|e| row.bad(format!("column `unit`: {e}")))?;
            }
            let phase = match star(row.text(idx[3])) {
                None => None,
                Some(p) => Some(Phase::parse(p).ok_or_else(|| {
                    row.bad(format!(
                        "column `phase`: expected prefill, decode or *, got `{p}`"
                    ))
                })?),
            };
            let dtype = match star(row.text(idx[4])) {
                None => None,
                Some(d) => Some(Dtype::parse(d).ok_or_else(|| {
                    row.bad(format!(
                        "column `dtype`: expected fp32, fp16, int8, q4 or *, got `{d}`"
                    ))
                })?),
            };
            table.rows.push(RuntimeRow {
                runtime,
                device,
                unit,
                phase,
                dtype,
                compute_scale: row.range(idx[5], "compute_scale", limits::RUNTIME_SCALE)?,
                memory_scale: row.range(idx[6], "memory_scale", limits::RUNTIME_SCALE)?,
                layer_overhead_s: row.range(idx[7], "layer_overhead_s", limits::OVERHEAD_S)?,
                call_overhead_s: row.range(idx[8], "call_overhead_s", limits::OVERHEAD_S)?,
                attention_factor: row.filled(attention_col).map_or(Ok(1.0), |i| {
                    row.range(i, "attention_factor", limits::RUNTIME_SCALE)
                })?,
                source: source_col.map_or("", |i| row.text(i)).to_string(),
            });
        }
        Ok(table)
    }

    /// Writes the table as CSV, `header` lines first as `#` comments.
    pub fn write_csv<W: Write>(&self, mut out: W, header: &[String]) -> std::io::Result<()> {
        for line in header {
            writeln!(out, "# {line}")?;
        }
        writeln!(
            out,
            "runtime,device,unit,phase,dtype,compute_scale,memory_scale,layer_overhead_s,\
             call_overhead_s,attention_factor,source"
        )?;
        for r in &self.rows {
            writeln!(
                out,
                "{},{},{},{},{},{:.4},{:.4},{:.3e},{:.3e},{:.4},{}",
                r.runtime.as_deref().unwrap_or("*"),
                r.device.as_deref().unwrap_or("*"),
                r.unit.as_deref().unwrap_or(""),
                phase_name(r.phase),
                r.dtype.map_or("*".to_string(), |d| d.to_string()),
                r.compute_scale,
                r.memory_scale,
                r.layer_overhead_s,
                r.call_overhead_s,
                r.attention_factor,
                r.source
            )?;
        }
        Ok(())
    }

    /// The first row of `runtime` (or of the device corrections, `runtime = None`) matching
    /// `device`, `unit`, `phase` and `dtype`, most specific first (see the module docs).
    pub fn lookup(
        &self,
        runtime: Option<&str>,
        device: &str,
        unit: &str,
        phase: Phase,
        dtype: Dtype,
    ) -> Option<&RuntimeRow> {
        let devices: &[Option<&str>] = if runtime.is_some() {
            &[Some(device), None]
        } else {
            &[Some(device)]
        };
        for &d in devices {
            for (p, q) in [
                (Some(phase), Some(dtype)),
                (Some(phase), None),
                (None, Some(dtype)),
                (None, None),
            ] {
                let found = self.rows.iter().find(|r| {
                    r.runtime.as_deref() == runtime
                        && r.device.as_deref() == d
                        && r.phase == p
                        && r.dtype == q
                        && r.unit.as_deref().is_none_or(|u| u == unit)
                });
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    /// The unit a runtime row names for `device` (the most specific row of the runtime for the
    /// device that names one).
    pub fn unit_for(&self, runtime: &str, device: &str) -> Option<&str> {
        self.rows
            .iter()
            .filter(|r| {
                r.runtime.as_deref() == Some(runtime) && r.device.as_deref() == Some(device)
            })
            .find_map(|r| r.unit.as_deref())
    }
}

/// A label of the row that matched (`runtime/device/phase/dtype`), for reports.
pub fn row_label(row: &RuntimeRow) -> String {
    format!(
        "{}/{}/{}/{}",
        row.runtime.as_deref().unwrap_or("*"),
        row.device.as_deref().unwrap_or("*"),
        phase_name(row.phase),
        row.dtype.map_or("*".to_string(), |d| d.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        runtime: Option<&str>,
        device: Option<&str>,
        phase: Option<Phase>,
        dtype: Option<Dtype>,
        scale: f64,
    ) -> RuntimeRow {
        RuntimeRow {
            runtime: runtime.map(String::from),
            device: device.map(String::from),
            unit: None,
            phase,
            dtype,
            compute_scale: scale,
            memory_scale: scale,
            layer_overhead_s: 0.0,
            call_overhead_s: 0.0,
            attention_factor: 1.0,
            source: String::new(),
        }
    }

    /// The most specific row wins: device before the runtime's default, then phase and dtype.
    #[test]
    fn lookup_prefers_the_most_specific_row() {
        let k = Some("vllm");
        let table = RuntimeTable {
            rows: vec![
                row(k, None, None, None, 1.0),
                row(k, None, None, Some(Dtype::Q4), 2.0),
                row(k, Some("d"), None, None, 3.0),
                row(k, Some("d"), Some(Phase::Decode), None, 4.0),
                row(k, Some("d"), Some(Phase::Decode), Some(Dtype::Q4), 5.0),
                row(None, Some("d"), None, None, 6.0),
            ],
        };
        let scale = |device: &str, phase, dtype| {
            table
                .lookup(k, device, "gpu", phase, dtype)
                .map(|r| r.compute_scale)
        };
        assert_eq!(scale("d", Phase::Decode, Dtype::Q4), Some(5.0));
        assert_eq!(scale("d", Phase::Decode, Dtype::Fp16), Some(4.0));
        assert_eq!(scale("d", Phase::Prefill, Dtype::Q4), Some(3.0));
        assert_eq!(scale("e", Phase::Prefill, Dtype::Q4), Some(2.0));
        assert_eq!(scale("e", Phase::Prefill, Dtype::Fp16), Some(1.0));
        assert_eq!(
            table
                .lookup(Some("mlx"), "d", "gpu", Phase::Decode, Dtype::Q4)
                .map(|r| r.compute_scale),
            None
        );
        // Device corrections are found only under runtime `*` and never fall back to `device = *`.
        assert_eq!(
            table
                .lookup(None, "d", "gpu", Phase::Decode, Dtype::Q4)
                .map(|r| r.compute_scale),
            Some(6.0)
        );
        assert_eq!(
            table.lookup(None, "e", "gpu", Phase::Decode, Dtype::Q4),
            None
        );
    }

    /// A row naming a unit applies only to that unit.
    #[test]
    fn rows_apply_to_their_unit_only() {
        let mut r = row(Some("executorch"), Some("p"), None, None, 2.0);
        r.unit = Some("cpu".into());
        let table = RuntimeTable { rows: vec![r] };
        assert!(table
            .lookup(Some("executorch"), "p", "cpu", Phase::Prefill, Dtype::Q4)
            .is_some());
        assert!(table
            .lookup(Some("executorch"), "p", "gpu", Phase::Prefill, Dtype::Q4)
            .is_none());
        assert_eq!(table.unit_for("executorch", "p"), Some("cpu"));
    }

    /// Every runtime has a known class and, when fixed, a known unit; ids are unique.
    #[test]
    fn the_runtime_list_is_consistent() {
        for (i, r) in RUNTIMES.iter().enumerate() {
            assert!(CLASSES.contains(&r.class), "{}", r.id);
            assert!(r.unit.is_none_or(|u| UNIT_KINDS.contains(&u)), "{}", r.id);
            assert!(RUNTIMES[..i].iter().all(|o| o.id != r.id), "{}", r.id);
        }
        assert!(runtime_info("nope").unwrap_err().contains("llama.cpp-cuda"));
    }

    /// The CSV round-trips through write_csv and load.
    #[test]
    fn csv_round_trip() {
        let mut r = row(
            Some("vllm"),
            Some("d"),
            Some(Phase::Prefill),
            Some(Dtype::Int8),
            0.5,
        );
        r.layer_overhead_s = 1.5e-5;
        r.call_overhead_s = 2e-4;
        r.attention_factor = 1.25;
        r.unit = Some("gpu".into());
        let table = RuntimeTable {
            rows: vec![r, row(None, Some("d"), None, None, 1.5)],
        };
        let dir = std::env::temp_dir().join(format!("edgeplan-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runtimes.csv");
        let mut out = Vec::new();
        table.write_csv(&mut out, &["header".into()]).unwrap();
        std::fs::write(&path, out).unwrap();
        let back = RuntimeTable::load(&path).unwrap();
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[0].phase, Some(Phase::Prefill));
        assert_eq!(back.rows[0].dtype, Some(Dtype::Int8));
        assert_eq!(back.rows[0].attention_factor, 1.25);
        assert_eq!(back.rows[0].layer_overhead_s, 1.5e-5);
        assert_eq!(back.rows[1].runtime, None);
        // A correction row must name its device; an unknown runtime is refused with the list.
        std::fs::write(
            &path,
            "runtime,device,unit,phase,dtype,compute_scale,memory_scale,layer_overhead_s,call_overhead_s\n*,*,,*,*,1,1,0,0\n",
        )
        .unwrap();
        assert!(RuntimeTable::load(&path)
            .unwrap_err()
            .to_string()
            .contains("name the device"));
        std::fs::write(
            &path,
            "runtime,device,unit,phase,dtype,compute_scale,memory_scale,layer_overhead_s,call_overhead_s\nfoo,*,,*,*,1,1,0,0\n",
        )
        .unwrap();
        let e = RuntimeTable::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("unknown runtime `foo`"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
