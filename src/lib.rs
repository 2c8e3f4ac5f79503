//! edgeplan plans how large language models are deployed at the mobile edge.
//!
//! The foundation is a per-layer cost table of a model ([`costs`]): parameters, bytes, forward
//! and backward FLOP per token, context-dependent attention FLOP, activation and KV-cache bytes,
//! generated from an architecture config, plus a roofline latency and energy model of devices
//! (overridden by profiled tables where present). On it, [`chain`] prices and simulates a
//! model's layer chain placed on the tiers device | edge | cloud. Problems ([`problems`]) are
//! built as MILPs with `good_lp` and solved by HiGHS ([`solve`]), or by heuristics, and every
//! plan is checked by an independent evaluator.
//!
//! Every problem has one shape, the [`formulation::Formulation`] trait (load or generate an
//! instance, solve it with a preset into a [`solve::Report`], read and evaluate a plan, render
//! both), implemented beside its instance files ([`instance`]); [`registry::ProblemKind`] lists
//! them, and the command line, the sweeps and the conformance suite go through it. Implemented:
//! cut-layer selection for split inference and split fine-tuning across device | edge | cloud
//! ([`problems::split`]); joint cut, resource-block and compute allocation for many users
//! sharing one or several edge servers ([`problems::alloc`]); parameter-sharing cache placement
//! of LLM variants on edge servers ([`problems::cache`]); energy-aware scheduling of edge LLM
//! jobs against grid carbon and on-site renewables ([`problems::green`]). Batch parameter sweeps
//! over generators or instances, with seeds and solver presets, run in parallel into a tidy,
//! resumable CSV, and their statistics, are in [`sweep`]. Measured cost tables come from a real
//! fp32 transformer timed layer by layer on the local CPU ([`costs::profiler`]), and [`replay`]
//! executes a split plan for real over emulated links to check the planner's prediction.
//!
//! The repository's `docs/` folder has the architecture, one guide per problem and a
//! walkthrough for adding a formulation; `examples/` has one program per problem.
//!
//! # Example
//!
//! Load a shipped instance, solve it exactly with HiGHS, and check the plan independently:
//!
//! ```
//! use edgeplan::problems::split::{self, evaluate::evaluate, Tier};
//! use edgeplan::solve::RunOptions;
//! use edgeplan::solve::{SolverPreset, Termination};
//!
//! let problem = edgeplan::instance::split::load("instances/split/llama2-7b-jetson.toml".as_ref())?;
//! let report = split::solve::solve(&problem, &SolverPreset::resolve("highs")?, &RunOptions::default())?;
//! assert_eq!(report.stats.termination, Termination::Optimal);
//!
//! let plan = report.plan.expect("a feasible instance has a plan");
//! // The embedding stays on the device (the instance's privacy rule).
//! assert_eq!(plan.assignment[0], Tier::Device);
//! let check = evaluate(&problem, &plan)?;
//! assert!(check.feasible());
//! println!("latency {:.3} s, device energy {:.2} J", check.latency_s, check.energy_j);
//! # Ok::<(), edgeplan::Error>(())
//! ```
//!
//! A cache instance: the greedy never beats the exact optimum, and both plans respect storage.
//!
//! ```
//! use edgeplan::problems::cache::solve::solve;
//! use edgeplan::solve::SolverPreset;
//!
//! let problem = edgeplan::instance::cache::load("instances/cache/cache-small.toml".as_ref())?;
//! let exact = solve(&problem, &SolverPreset::resolve("highs")?)?;
//! let greedy = solve(&problem, &SolverPreset::resolve("greedy")?)?;
//! let (best, quick) = (exact.stats.objective.unwrap(), greedy.stats.objective.unwrap());
//! assert!(quick <= best + 1e-9);
//! assert!(exact.evaluation.unwrap().feasible() && greedy.evaluation.unwrap().feasible());
//! println!("hit ratio: optimum {best:.4}, greedy {quick:.4}");
//! # Ok::<(), edgeplan::Error>(())
//! ```
//!
//! Any instance file through the registry, as `edgeplan solve` does:
//!
//! ```
//! use edgeplan::registry::ProblemKind;
//! use edgeplan::solve::{RunOptions, SolverPreset};
//!
//! let path = std::path::Path::new("instances/green/green-day.toml");
//! let kind = ProblemKind::of_instance(path)?;
//! assert_eq!(kind, ProblemKind::Green);
//! let instance = kind.formulation().load(path)?;
//! let solved = instance.solve(&SolverPreset::resolve("greedy")?, &RunOptions::default())?;
//! assert!(solved.feasible());
//! println!("{}", solved.text());
//! # Ok::<(), edgeplan::Error>(())
//! ```

#![deny(missing_docs)]

pub mod chain;
pub mod costs;
pub mod error;
pub mod files;
pub mod formulation;
pub mod instance;
pub mod limits;
pub mod problems;
pub mod registry;
pub mod replay;
pub mod solve;
pub mod sweep;

pub use error::{Error, Result};
