//! Replays split inference for real: device and server threads run their layers of a real
//! transformer and exchange the hidden states over loopback TCP through an emulated link
//! ([`link`]), and the measured latency is compared with the planner's prediction ([`runner`]).

pub mod link;
pub mod runner;

pub use runner::{instance_architecture, replay, ReplayOptions, ReplayReport};
