//! Per-layer cost tables: architecture configs, device profiles and the latency model.

pub mod arch;
pub mod channel;
pub mod device;
pub mod fit;
pub mod latency;
pub mod moe;
pub mod profiler;
pub mod runtime;
pub mod table;
pub mod validate;

pub use arch::{ArchConfig, Dtype, LoraTarget, ModelConfig};
pub use device::{ComputeUnit, Device, DeviceCatalog, RuntimeChoice};
pub use latency::{Cost, LayerTimer, Phase, Profile};
pub use table::{CostTable, LayerCost, LayerKind};
