//! Seeded pipeline instances: random edge networks of `N` nodes drawn from the device catalog.
//!
//! The generator writes an instance *file* ([`PipelineInstanceFile`]): [`generate_spec`] draws
//! it, [`write_instance`] renders it as TOML with a comment line of the parameters, and
//! [`generate`] turns it into a [`PipelineProblem`] through the ordinary loader, so a saved
//! instance loads back to the same problem. Every draw comes from a ChaCha8 generator seeded
//! with [`GenParams::seed`], in a fixed order (node by node, then link by link).
//!
//! **Nodes.** Node 0, `src`, is the source: a [`GenParams::source_device`] (a phone by default)
//! where the prompt arrives and the tokens return. A node's usable memory is its catalog memory
//! times [`GenParams::memory_share`] (the rest is left to the operating system and other
//! applications), rounded down to 1 MB; every node but the source draws a background load
//! uniformly in `[0, max_background_load]` (rounded to 0.01).
//!
//! **Topologies.**
//! - `geometric` (a random geometric graph): every node stands uniformly in a square of side
//!   [`GenParams::area_m`]; the others are servers (drawn from [`GenParams::server_devices`])
//!   with probability [`GenParams::server_fraction`] and end devices (drawn from
//!   [`GenParams::devices`]) otherwise. Two nodes within [`GenParams::radius_m`] are linked; while
//!   the graph is not connected, the shortest link between two of its components is added.
//! - `tree` (an edge hierarchy): the source and the other end devices attach by radio to a base
//!   station (`bs-k`, a server of [`GenParams::server_devices`] at the cell site: MEC), the base
//!   stations by fibre to an aggregation site (`agg`, a server as well; left out below 5 nodes),
//!   and that to a regional cloud (`cloud`, [`GenParams::cloud_device`]). Base stations stand on
//!   a square grid [`GenParams::bs_spacing_m`] apart around the aggregation site; the source
//!   attaches to `bs-0`, every other device to a base station drawn uniformly, uniformly in the
//!   disc of radius [`GenParams::cell_radius_m`] around it. `B` base stations (default
//!   `ceil((N - 3) / 4)`, at least 1): `N - 2 - B` end devices with the aggregation site.
//!
//! **Link models.**
//! - *Radio* (a link with an end device at either end): `rate = W log2(1 + SNR)` over
//!   [`GenParams::radio_bandwidth_hz`] with the SNR of the alloc and cache generators
//!   ([`crate::costs::channel::snr_db`]): 3GPP TR 36.814 macro-cell path loss
//!   `128.1 + 37.6 log10(d[km])` (d at least 10 m), log-normal shadowing of 8 dB drawn once per
//!   link (reciprocal), 23 dBm at a device (UE power class 3) and 46 dBm at a server acting as
//!   base station, -174 dBm/Hz noise, 5 dB (server) or 9 dB (device) noise figure, capped at
//!   5G NR's highest spectral efficiency 7.4063 bit/s/Hz (TS 38.214). Device to server is the
//!   uplink SNR, server to device the downlink SNR; between two devices (a sidelink) both
//!   directions take the uplink SNR (23 dBm; the 5 dB noise figure makes it slightly
//!   optimistic). One-way latency [`GenParams::radio_latency_s`] (5 ms: the 5G user-plane
//!   latency budget of a few ms, ITU-R M.2410 asks 4 ms for eMBB, plus scheduling).
//! - *Wired*: a fixed rate ([`GenParams::wired_bps`] between two servers of a geometric network,
//!   [`GenParams::backhaul_bps`] from a base station to the aggregation site,
//!   [`GenParams::cloud_bps`] from there to the cloud, at [`GenParams::cloud_distance_m`]); one-way
//!   latency `distance / 2e8 m/s` (light in fibre, refractive index about 1.5) plus a per-hop
//!   switching and queueing delay [`GenParams::switch_delay_s`] (100 us by default).
//!
//! Rates are rounded to 1 kbit/s (at least 1 kbit/s), latencies to 1 us. Rates are long-term
//! averages: no fast fading, no interference between links sharing a cell, no contention.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::Normal;

use super::{ConstraintsSpec, LinkSpec, NodeSpec, ObjectiveSpec, PipelineInstanceFile, RadioSpec};
use crate::costs::arch::Dtype;
use crate::costs::channel::{snr_db, SHADOWING_STD_DB};
use crate::costs::device::DeviceCatalog;
use crate::error::{Error, Result};
use crate::instance::common::{Sources, WorkloadSpec};
use crate::limits;
use crate::problems::pipeline::PipelineProblem;

/// Speed of light in optical fibre, m/s.
pub const FIBRE_M_PER_S: f64 = 2e8;

/// Transmit power of the source's radio when its device has none in the catalog, W (a USB 5G
/// modem's draw while transmitting, as in the shipped split instances).
pub const DEFAULT_TX_POWER_W: f64 = 1.5;

/// Parameters of [`generate`]. As a table (a sweep's `[fixed]` and `[grid]`), fields left out
/// take their [`Default`] value.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenParams {
    /// Nodes N, the source included. A sweep's grid calls it `network_nodes` (`nodes` is the
    /// column of branch-and-bound nodes in the run rows).
    #[serde(alias = "network_nodes")]
    pub nodes: usize,
    /// Seed of every draw.
    pub seed: u64,
    /// `geometric` or `tree`.
    pub topology: String,
    /// Model config name.
    pub model: String,
    /// Weight dtype.
    pub dtype: String,
    /// `latency`, `throughput`, `energy` or `weighted`.
    pub objective: String,
    /// Weight of latency (per s) for `weighted`.
    pub latency_weight: f64,
    /// Weight of energy (per J) for `weighted`.
    pub energy_weight: f64,
    /// `source` or `all`.
    pub energy_scope: String,
    /// `shortest` or `fastest`.
    pub routing: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub generate_tokens: usize,
    /// The source's device.
    pub source_device: String,
    /// Devices the other end devices draw from.
    pub devices: Vec<String>,
    /// Devices the servers (geometric servers, base stations, aggregation site) draw from.
    pub server_devices: Vec<String>,
    /// The regional cloud's device (tree).
    pub cloud_device: String,
    /// Geometric: probability that a node other than the source is a server.
    pub server_fraction: f64,
    /// Usable share of each node's memory.
    pub memory_share: f64,
    /// Largest background load of a node other than the source.
    pub max_background_load: f64,
    /// Geometric: side of the square, m.
    pub area_m: f64,
    /// Geometric: nodes within this distance are linked, m.
    pub radius_m: f64,
    /// Tree: base stations (`None`: `ceil((N - 3) / 4)`, at least 1).
    pub base_stations: Option<usize>,
    /// Tree: grid spacing of the base stations, m.
    pub bs_spacing_m: f64,
    /// Tree: end devices stand within this distance of their base station, m.
    pub cell_radius_m: f64,
    /// Radio bandwidth of a link with an end device, Hz.
    pub radio_bandwidth_hz: f64,
    /// One-way latency of a radio link, s.
    pub radio_latency_s: f64,
    /// Geometric: rate of a server-server link, bit/s.
    pub wired_bps: f64,
    /// Tree: rate of a base station's backhaul to the aggregation site, bit/s.
    pub backhaul_bps: f64,
    /// Tree: rate of the link to the cloud, bit/s.
    pub cloud_bps: f64,
    /// Tree: fibre distance to the cloud, m.
    pub cloud_distance_m: f64,
    /// Switching and queueing delay of a wired hop, s.
    pub switch_delay_s: f64,
    /// The embedding stays on the source.
    pub embed_on_source: bool,
    /// At most this many stages.
    pub max_stages: Option<usize>,
    /// Latency limit of one request, s.
    pub deadline_s: Option<f64>,
    /// Instance name (default `pipeline-<topology>-<N>n-s<seed>`).
    pub name: Option<String>,
}

impl Default for GenParams {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        GenParams {
            nodes: 8,
            seed: 0,
            topology: "geometric".into(),
            model: "llama-3.2-1b".into(),
            dtype: "q4".into(),
            objective: "latency".into(),
            latency_weight: 1.0,
            energy_weight: 0.1,
            energy_scope: "source".into(),
            routing: "shortest".into(),
            prompt_tokens: 512,
            generate_tokens: 128,
            source_device: "phone-sd8gen3".into(),
            devices: names(&[
                "phone-sd8gen3",
                "rpi5",
                "jetson-orin-nano-8gb",
                "jetson-agx-orin-64gb",
                "laptop-m2-pro",
            ]),
            server_devices: names(&["l4", "rtx-4090"]),
            cloud_device: "a100-80gb-sxm".into(),
            server_fraction: 0.25,
            memory_share: 0.75,
            max_background_load: 0.0,
            area_m: 1000.0,
            radius_m: 500.0,
            base_stations: None,
            bs_spacing_m: 500.0,
            cell_radius_m: 250.0,
            radio_bandwidth_hz: 20e6,
            radio_latency_s: 0.005,
            wired_bps: 10e9,
            backhaul_bps: 10e9,
            cloud_bps: 10e9,
            cloud_distance_m: 500e3,
            switch_delay_s: 1e-4,
            embed_on_source: true,
            max_stages: None,
            deadline_s: None,
            name: None,
        }
    }
}

/// The topologies.
const TOPOLOGIES: [&str; 2] = ["geometric", "tree"];

impl GenParams {
    /// Checks every parameter against its range (counts first); the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: String| Err(Error::option(field, message));
        let least = if self.topology == "tree" { 3 } else { 2 };
        limits::count_option("nodes", self.nodes as u64, least, limits::MAX_NODES)?;
        limits::seed_option(self.seed)?;
        if !TOPOLOGIES.contains(&self.topology.as_str()) {
            return bad(
                "topology",
                format!("expected geometric or tree, got \"{}\"", self.topology),
            );
        }
        if Dtype::parse(&self.dtype).is_none() {
            return bad(
                "dtype",
                format!("expected fp32, fp16, int8 or q4, got \"{}\"", self.dtype),
            );
        }
        let one_of = |field: &str, value: &str, list: &[&str]| -> Result<()> {
            if list.contains(&value) {
                Ok(())
            } else {
                bad(
                    field,
                    format!("expected one of {}, got \"{value}\"", list.join(", ")),
                )
            }
        };
        one_of(
            "objective",
            &self.objective,
            &["latency", "throughput", "energy", "weighted"],
        )?;
        one_of("energy_scope", &self.energy_scope, &["source", "all"])?;
        one_of("routing", &self.routing, &["shortest", "fastest"])?;
        limits::OBJECTIVE_WEIGHT.check_option("latency_weight", self.latency_weight)?;
        limits::OBJECTIVE_WEIGHT.check_option("energy_weight", self.energy_weight)?;
        if self.objective == "weighted" && self.latency_weight == 0.0 && self.energy_weight == 0.0 {
            return bad(
                "energy_weight",
                "at least one of latency_weight and energy_weight must be positive".into(),
            );
        }
        if self.prompt_tokens < 1 || self.prompt_tokens > limits::MAX_TOKENS {
            return bad(
                "prompt_tokens",
                format!(
                    "expected 1 to {}, got {}",
                    limits::MAX_TOKENS,
                    self.prompt_tokens
                ),
            );
        }
        if self.generate_tokens > limits::MAX_TOKENS {
            return bad(
                "generate_tokens",
                format!(
                    "expected at most {}, got {}",
                    limits::MAX_TOKENS,
                    self.generate_tokens
                ),
            );
        }
        for (field, list) in [
            ("devices", &self.devices),
            ("server_devices", &self.server_devices),
        ] {
            if list.is_empty() {
                return bad(field, "expected at least one device".into());
            }
        }
        for (field, name) in [
            ("source_device", &self.source_device),
            ("cloud_device", &self.cloud_device),
            ("model", &self.model),
        ] {
            if name.trim().is_empty() {
                return bad(field, "expected a name, got an empty one".into());
            }
        }
        limits::UNIT_INTERVAL.check_option("server_fraction", self.server_fraction)?;
        limits::FRACTION.check_option("memory_share", self.memory_share)?;
        limits::BACKGROUND_LOAD.check_option("max_background_load", self.max_background_load)?;
        for (field, v) in [
            ("area_m", self.area_m),
            ("radius_m", self.radius_m),
            ("bs_spacing_m", self.bs_spacing_m),
            ("cell_radius_m", self.cell_radius_m),
            ("cloud_distance_m", self.cloud_distance_m),
        ] {
            limits::DISTANCE_M.check_option(field, v)?;
        }
        if let Some(b) = self.base_stations {
            let most = self.nodes.saturating_sub(2).max(1);
            limits::count_option("base_stations", b as u64, 1, most)?;
        }
        limits::BANDWIDTH_HZ.check_option("radio_bandwidth_hz", self.radio_bandwidth_hz)?;
        limits::LATENCY_S.check_option("radio_latency_s", self.radio_latency_s)?;
        limits::LATENCY_S.check_option("switch_delay_s", self.switch_delay_s)?;
        for (field, v) in [
            ("wired_bps", self.wired_bps),
            ("backhaul_bps", self.backhaul_bps),
            ("cloud_bps", self.cloud_bps),
        ] {
            limits::RATE_BPS.check_option(field, v)?;
        }
        // The longest fibre hop must stay a valid latency.
        let longest = self
            .cloud_distance_m
            .max(self.area_m * std::f64::consts::SQRT_2)
            .max(self.bs_spacing_m * (self.nodes as f64).sqrt());
        if longest / FIBRE_M_PER_S + self.switch_delay_s > limits::LATENCY_S.max {
            return bad(
                "cloud_distance_m",
                format!(
                    "a fibre hop of {longest} m takes more than {} s",
                    limits::LATENCY_S.max
                ),
            );
        }
        if let Some(k) = self.max_stages {
            limits::count_option("max_stages", k as u64, 1, limits::MAX_NODES)?;
        }
        if let Some(d) = self.deadline_s {
            limits::DURATION_S.check_option("deadline_s", d)?;
        }
        if let Some(name) = &self.name {
            if name.trim().is_empty() {
                return bad("name", "expected a non-empty instance name".into());
            }
        }
        Ok(())
    }

    /// The instance name.
    pub fn instance_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("pipeline-{}-{}n-s{}", self.topology, self.nodes, self.seed))
    }

    /// The parameters as one line, for the header of a generated file.
    pub fn summary(&self) -> String {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "none".into());
        let geometry = match self.topology.as_str() {
            "tree" => format!(
                "base_stations={} bs_spacing_m={} cell_radius_m={} backhaul_bps={} cloud_bps={} \
                 cloud_distance_m={} cloud_device={}",
                opt(self.base_stations.map(|b| b.to_string())),
                self.bs_spacing_m,
                self.cell_radius_m,
                self.backhaul_bps,
                self.cloud_bps,
                self.cloud_distance_m,
                self.cloud_device,
            ),
            _ => format!(
                "area_m={} radius_m={} server_fraction={} wired_bps={}",
                self.area_m, self.radius_m, self.server_fraction, self.wired_bps
            ),
        };
        format!(
            "nodes={} seed={} topology={} model={}@{} objective={} energy_scope={} routing={} \
             prompt_tokens={} generate_tokens={} source_device={} devices={} server_devices={} \
             memory_share={} max_background_load={} {geometry} radio_bandwidth_hz={} \
             radio_latency_s={} switch_delay_s={} embed_on_source={} max_stages={} deadline_s={}",
            self.nodes,
            self.seed,
            self.topology,
            self.model,
            self.dtype,
            match self.objective.as_str() {
                "weighted" => format!("weighted({},{})", self.latency_weight, self.energy_weight),
                other => other.to_string(),
            },
            self.energy_scope,
            self.routing,
            self.prompt_tokens,
            self.generate_tokens,
            self.source_device,
            self.devices.join(","),
            self.server_devices.join(","),
            self.memory_share,
            self.max_background_load,
            self.radio_bandwidth_hz,
            self.radio_latency_s,
            self.switch_delay_s,
            self.embed_on_source,
            opt(self.max_stages.map(|k| k.to_string())),
            opt(self.deadline_s.map(|d| d.to_string())),
        )
    }

    /// Base stations of a tree of `nodes` nodes.
    fn base_station_count(&self) -> usize {
        self.base_stations
            .unwrap_or_else(|| self.nodes.saturating_sub(3).div_ceil(4).max(1))
    }
}

/// What a node is, for the link models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An end device (radio links).
    Device,
    /// A server (wired to other servers; a base station to devices).
    Server,
}

/// A drawn node: name, device, role, position (m).
struct Drawn {
    spec: NodeSpec,
    role: Role,
    at: [f64; 2],
}

/// Draws the instance file; the device catalog gives the nodes' memory and the source's radio.
pub fn generate_spec(params: &GenParams, catalog: &DeviceCatalog) -> Result<PipelineInstanceFile> {
    params.validate()?;
    let catalog_path = Path::new("the device catalog");
    for name in params
        .devices
        .iter()
        .chain(&params.server_devices)
        .chain([&params.source_device, &params.cloud_device])
    {
        catalog.get(name, catalog_path).map_err(|e| {
            let field = if params.devices.contains(name) {
                "devices"
            } else if params.server_devices.contains(name) {
                "server_devices"
            } else if *name == params.source_device {
                "source_device"
            } else {
                "cloud_device"
            };
            Error::option(field, e.to_string())
        })?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let shadowing = Normal::new(0.0, SHADOWING_STD_DB).expect("a positive standard deviation");
    let (nodes, links) = match params.topology.as_str() {
        "tree" => tree(params, catalog, &mut rng, &shadowing)?,
        _ => geometric(params, catalog, &mut rng, &shadowing)?,
    };
    let source = catalog.get(&params.source_device, catalog_path)?;
    let radio = source.tx_power_w.is_none().then_some(RadioSpec {
        tx_power_w: Some(DEFAULT_TX_POWER_W),
        rx_power_w: None,
    });
    let weighted = params.objective == "weighted";
    let file = PipelineInstanceFile {
        problem: "pipeline".into(),
        name: Some(params.instance_name()),
        description: Some(format!(
            "Generated: {} network of {} nodes and {} links, {}@{}, {}",
            params.topology,
            params.nodes,
            links.len(),
            params.model,
            params.dtype,
            params.objective
        )),
        models_dir: None,
        devices: None,
        profiles_dir: None,
        model: params.model.clone(),
        dtype: Some(params.dtype.clone()),
        source: "src".into(),
        routing: (params.routing != "shortest").then(|| params.routing.clone()),
        workload: WorkloadSpec {
            mode: "inference".into(),
            prompt_tokens: Some(params.prompt_tokens as i64),
            generate_tokens: Some(params.generate_tokens as i64),
            ..WorkloadSpec::default()
        },
        nodes: nodes.into_iter().map(|d| d.spec).collect(),
        links,
        radio,
        objective: ObjectiveSpec {
            kind: Some(params.objective.clone()),
            latency_weight: weighted.then_some(params.latency_weight),
            energy_weight: weighted.then_some(params.energy_weight),
            energy_scope: (params.energy_scope != "source").then(|| params.energy_scope.clone()),
        },
        constraints: ConstraintsSpec {
            deadline_s: params.deadline_s,
            embed_on_source: params.embed_on_source,
            max_stages: params.max_stages.map(|k| k as i64),
            ..ConstraintsSpec::default()
        },
    };
    Ok(file)
}

/// A node of `device` (memory: the catalog's times the usable share, rounded down to 1 MB) with
/// a background load drawn for every node but the source.
fn node(
    params: &GenParams,
    catalog: &DeviceCatalog,
    name: String,
    device: &str,
    role: Role,
    at: [f64; 2],
    rng: &mut ChaCha8Rng,
) -> Result<Drawn> {
    let memory = catalog
        .get(device, Path::new("the device catalog"))?
        .memory_bytes;
    let memory_bytes = ((memory * params.memory_share) / 1e6).floor().max(1.0) * 1e6;
    let background_load = if name == "src" {
        None
    } else {
        let u: f64 = rng.gen();
        let load = (u * params.max_background_load * 100.0).round() / 100.0;
        (load > 0.0).then_some(load.min(params.max_background_load))
    };
    Ok(Drawn {
        spec: NodeSpec {
            name,
            device: device.to_string(),
            memory_bytes: Some(memory_bytes),
            background_load,
            available: None,
            use_profile: None,
            runtime: None,
            unit: None,
        },
        role,
        at,
    })
}

/// A uniform draw from a list.
fn pick<'a>(list: &'a [String], rng: &mut ChaCha8Rng) -> &'a str {
    &list[rng.gen_range(0..list.len())]
}

/// The random geometric network: positions, roles, devices, then links within the radius and
/// the shortest links joining components.
fn geometric(
    params: &GenParams,
    catalog: &DeviceCatalog,
    rng: &mut ChaCha8Rng,
    shadowing: &Normal,
) -> Result<(Vec<Drawn>, Vec<LinkSpec>)> {
    let mut nodes = Vec::with_capacity(params.nodes);
    for i in 0..params.nodes {
        let at = [
            params.area_m * rng.gen::<f64>(),
            params.area_m * rng.gen::<f64>(),
        ];
        let at = at.map(|v| (v * 10.0).round() / 10.0);
        let drawn = if i == 0 {
            node(
                params,
                catalog,
                "src".into(),
                &params.source_device,
                Role::Device,
                at,
                rng,
            )?
        } else if rng.gen::<f64>() < params.server_fraction {
            let device = pick(&params.server_devices, rng).to_string();
            node(
                params,
                catalog,
                format!("srv-{i}"),
                &device,
                Role::Server,
                at,
                rng,
            )?
        } else {
            let device = pick(&params.devices, rng).to_string();
            node(
                params,
                catalog,
                format!("dev-{i}"),
                &device,
                Role::Device,
                at,
                rng,
            )?
        };
        nodes.push(drawn);
    }
    let n = nodes.len();
    let dist = |i: usize, j: usize| {
        let (a, b) = (nodes[i].at, nodes[j].at);
        (a[0] - b[0]).hypot(a[1] - b[1])
    };
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if dist(i, j) <= params.radius_m {
                pairs.push((i, j));
            }
        }
    }
    // Join the components with the shortest missing links (ties: lower indices).
    let mut component: Vec<usize> = (0..n).collect();
    let find = |component: &mut Vec<usize>, mut x: usize| {
        while component[x] != x {
            component[x] = component[component[x]];
            x = component[x];
        }
        x
    };
    for &(i, j) in &pairs {
        let (a, b) = (find(&mut component, i), find(&mut component, j));
        component[a.max(b)] = a.min(b);
    }
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for i in 0..n {
            for j in i + 1..n {
                if find(&mut component, i) != find(&mut component, j)
                    && best.is_none_or(|(d, _, _)| dist(i, j) < d)
                {
                    best = Some((dist(i, j), i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        pairs.push((i, j));
        let (a, b) = (find(&mut component, i), find(&mut component, j));
        component[a.max(b)] = a.min(b);
    }
    pairs.sort_unstable();
    let links = pairs
        .into_iter()
        .map(|(i, j)| {
            let d = dist(i, j);
            if nodes[i].role == Role::Server && nodes[j].role == Role::Server {
                wired(params, &nodes[i], &nodes[j], params.wired_bps, d)
            } else {
                radio(params, &nodes[i], &nodes[j], d, rng.sample(shadowing))
            }
        })
        .collect();
    Ok((nodes, links))
}

/// The edge hierarchy: devices by radio to base stations, base stations by fibre to the
/// aggregation site, that to the regional cloud.
fn tree(
    params: &GenParams,
    catalog: &DeviceCatalog,
    rng: &mut ChaCha8Rng,
    shadowing: &Normal,
) -> Result<(Vec<Drawn>, Vec<LinkSpec>)> {
    let n = params.nodes;
    let with_agg = n >= 5;
    let stations = params.base_station_count();
    let aggregation = usize::from(with_agg);
    if 2 + aggregation + stations > n {
        return Err(Error::option(
            "base_stations",
            format!("{stations} base stations and the cloud leave no room in {n} nodes"),
        ));
    }
    let others = n - 2 - aggregation - stations;
    // Base stations on a grid centred on the aggregation site (the origin).
    let columns = (stations as f64).sqrt().ceil() as usize;
    let rows = stations.div_ceil(columns);
    let station_at = |k: usize| {
        let x = (k % columns) as f64 - (columns - 1) as f64 / 2.0;
        let y = (k / columns) as f64 - (rows - 1) as f64 / 2.0;
        [x * params.bs_spacing_m, y * params.bs_spacing_m]
    };
    let mut nodes = Vec::with_capacity(n);
    let mut home = Vec::with_capacity(others + 1);
    // The source first, then the cloud, the aggregation site, the stations, the devices.
    let in_cell = |centre: [f64; 2], rng: &mut ChaCha8Rng| {
        let r = params.cell_radius_m * rng.gen::<f64>().sqrt();
        let angle = 2.0 * std::f64::consts::PI * rng.gen::<f64>();
        [centre[0] + r * angle.cos(), centre[1] + r * angle.sin()]
            .map(|v| (v * 10.0).round() / 10.0)
    };
    let at = in_cell(station_at(0), rng);
    nodes.push(node(
        params,
        catalog,
        "src".into(),
        &params.source_device,
        Role::Device,
        at,
        rng,
    )?);
    home.push(0);
    nodes.push(node(
        params,
        catalog,
        "cloud".into(),
        &params.cloud_device,
        Role::Server,
        [0.0, 0.0],
        rng,
    )?);
    if with_agg {
        let device = pick(&params.server_devices, rng).to_string();
        nodes.push(node(
            params,
            catalog,
            "agg".into(),
            &device,
            Role::Server,
            [0.0, 0.0],
            rng,
        )?);
    }
    let first_station = nodes.len();
    for k in 0..stations {
        let device = pick(&params.server_devices, rng).to_string();
        nodes.push(node(
            params,
            catalog,
            format!("bs-{k}"),
            &device,
            Role::Server,
            station_at(k),
            rng,
        )?);
    }
    for d in 0..others {
        let k = rng.gen_range(0..stations);
        let at = in_cell(station_at(k), rng);
        let device = pick(&params.devices, rng).to_string();
        nodes.push(node(
            params,
            catalog,
            format!("dev-{}", d + 1),
            &device,
            Role::Device,
            at,
            rng,
        )?);
        home.push(k);
    }
    let mut links = Vec::with_capacity(n - 1);
    // Upstream: the aggregation site (or the stations, without one) to the cloud.
    let up = if with_agg { 2 } else { 1 };
    if with_agg {
        links.push(wired(
            params,
            &nodes[2],
            &nodes[1],
            params.cloud_bps,
            params.cloud_distance_m,
        ));
    }
    for k in 0..stations {
        let station = &nodes[first_station + k];
        let (rate, distance) = if with_agg {
            let [x, y] = station.at;
            (params.backhaul_bps, x.hypot(y))
        } else {
            (params.cloud_bps, params.cloud_distance_m)
        };
        links.push(wired(params, station, &nodes[up], rate, distance));
    }
    // Devices to their base stations (the source is node 0, the others follow the stations).
    let devices = std::iter::once(0).chain(first_station + stations..n);
    for (device, k) in devices.zip(home) {
        let station = &nodes[first_station + k];
        let [x, y] = nodes[device].at;
        let d = (x - station.at[0]).hypot(y - station.at[1]);
        links.push(radio(
            params,
            &nodes[device],
            station,
            d,
            rng.sample(shadowing),
        ));
    }
    Ok((nodes, links))
}

/// A fibre link: a fixed rate both ways; latency from the distance plus the switching delay.
fn wired(params: &GenParams, a: &Drawn, b: &Drawn, rate_bps: f64, distance_m: f64) -> LinkSpec {
    LinkSpec {
        a: a.spec.name.clone(),
        b: b.spec.name.clone(),
        bandwidth_bps: Some(rate_bps),
        a_to_b_bps: None,
        b_to_a_bps: None,
        latency_s: round_latency(distance_m / FIBRE_M_PER_S + params.switch_delay_s),
    }
}

/// A radio link at `distance_m` with shadowing `shadow_db`: uplink SNR from a device, downlink
/// SNR from a server.
fn radio(params: &GenParams, a: &Drawn, b: &Drawn, distance_m: f64, shadow_db: f64) -> LinkSpec {
    let (up, down) = snr_db(distance_m, shadow_db, params.radio_bandwidth_hz, 1.0, 1.0);
    let rate = |from: Role| {
        let snr = if from == Role::Server { down } else { up };
        let bps = params.radio_bandwidth_hz * (1.0 + 10f64.powf(snr / 10.0)).log2();
        ((bps / 1e3).round() * 1e3).max(limits::RATE_BPS.min)
    };
    LinkSpec {
        a: a.spec.name.clone(),
        b: b.spec.name.clone(),
        bandwidth_bps: None,
        a_to_b_bps: Some(rate(a.role)),
        b_to_a_bps: Some(rate(b.role)),
        latency_s: round_latency(params.radio_latency_s),
    }
}

/// A latency rounded to 1 us.
fn round_latency(s: f64) -> f64 {
    (s * 1e6).round() / 1e6
}

/// Draws an instance and loads it as a problem (profiles not used: the roofline only).
pub fn generate(
    params: &GenParams,
    catalog: &DeviceCatalog,
    models_dir: &Path,
) -> Result<PipelineProblem> {
    let file = generate_spec(params, catalog)?;
    file.build(
        Path::new("generated pipeline instance"),
        Sources {
            catalog,
            devices_path: Path::new("the device catalog"),
            models_dir,
            profiles_dir: None,
        },
    )
}

/// The instance file as TOML with a header line of the parameters.
pub fn write_instance(params: &GenParams, file: &PipelineInstanceFile) -> String {
    format!(
        "# generated by edgeplan generate pipeline: {}\n{}",
        params.summary(),
        toml::to_string(file).expect("a pipeline instance file serialises to TOML")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> DeviceCatalog {
        DeviceCatalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/devices.csv"))
            .unwrap()
    }

    fn models() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("instances/models")
    }

    /// Both topologies give connected networks of the asked size, the same for the same seed.
    #[test]
    fn networks_are_connected_and_seeded() {
        let catalog = catalog();
        for topology in ["geometric", "tree"] {
            for nodes in [3, 4, 5, 8, 13, 30] {
                for seed in 0..4 {
                    let params = GenParams {
                        nodes,
                        seed,
                        topology: topology.into(),
                        radius_m: 200.0,
                        ..GenParams::default()
                    };
                    let p = generate(&params, &catalog, &models()).unwrap();
                    assert_eq!(p.node_count(), nodes);
                    let net = crate::problems::pipeline::Network::new(nodes, &p.links);
                    assert!(net.reachable(p.source).iter().all(|&r| r), "{params:?}");
                    if topology == "tree" {
                        assert_eq!(p.links.len(), nodes - 1);
                    }
                    let again = generate_spec(&params, &catalog).unwrap();
                    assert_eq!(generate_spec(&params, &catalog).unwrap(), again);
                }
            }
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |p: GenParams| match p.validate() {
            Err(Error::Option { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let d = GenParams::default;
        assert_eq!(field(GenParams { nodes: 1, ..d() }), "nodes");
        assert_eq!(
            field(GenParams {
                topology: "ring".into(),
                ..d()
            }),
            "topology"
        );
        assert_eq!(
            field(GenParams {
                objective: "cost".into(),
                ..d()
            }),
            "objective"
        );
        assert_eq!(
            field(GenParams {
                memory_share: 0.0,
                ..d()
            }),
            "memory_share"
        );
        assert_eq!(
            field(GenParams {
                topology: "tree".into(),
                nodes: 5,
                base_stations: Some(4),
                ..d()
            }),
            "base_stations"
        );
    }
}
