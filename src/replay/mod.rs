//! Replays inference for real: the places of a plan are threads running their layers of a real
//! transformer (random weights), exchanging hidden states over loopback TCP through emulated
//! links ([`link`]) on one engine, a ring of positions (`ring`); the measured latency is
//! compared with the planner's prediction. Split plans (device | edge | cloud): [`runner`];
//! pipeline plans (stages on the nodes of a network, routes of several hops): [`pipeline`].

pub mod link;
pub mod pipeline;
mod ring;
pub mod runner;

pub use pipeline::{replay_pipeline, PipelineReplayReport};
pub use runner::{instance_architecture, replay, ReplayOptions, ReplayReport};
