//! The replay engine shared by split ([`super::runner`]) and pipeline ([`super::pipeline`])
//! replays: a **ring of positions**, each a thread that either runs a contiguous range of a real
//! transformer's layers (random weights, [`engine`]) or relays, joined by **hops**, each one
//! direction of an [`EmulatedLink`](super::link::EmulatedLink) over loopback TCP.
//!
//! ```text
//! position 0 --hop 0--> position 1 --hop 1--> ... position m-1 --hop m-1--> position 0
//! (the source: prompt out, token in)
//! ```
//!
//! Position 0 is where the prompt arrives and the tokens return (split's device, a pipeline's
//! source node); it may run layers itself. Each pass (the prefill of the prompt, then one decode
//! pass per generated token) starts at position 0 with the prompt's token ids or the last token,
//! goes once around the ring — each position receives the message, runs its layers on it (or
//! forwards the bytes unchanged when it has none: store and forward) and sends the result on —
//! and ends when the sampled token is back at position 0. The position holding the head samples
//! (arg-max); the positions after it relay the token. One pass is in flight at a time, as the
//! planner prices one request alone.
//!
//! As in the planner, only the last prompt row crosses a cut placed just before the head in
//! prefill: a position whose next computing position starts with the head keeps that row only.
//!
//! Messages are a one-byte tag, the shape, then little-endian `u32` token ids or `f32` values;
//! the payload bytes counted per hop are the ids and values only (the planner's bytes). Every
//! position records when it held each pass's input and when it sent its output, on one clock,
//! so the time of each hop, transfer and stage can be read off afterwards.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use super::link::Endpoint;
use crate::costs::profiler::engine::{Activation, Dims, KvCache, Layer};
use crate::error::{Error, Result};

/// A message on a link.
fn encode(a: &Activation) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + a.bytes());
    match a {
        Activation::Tokens(ids) => {
            out.push(0);
            out.extend((ids.len() as u32).to_le_bytes());
            for id in ids {
                out.extend(id.to_le_bytes());
            }
        }
        Activation::Hidden(x) => {
            out.push(1);
            out.extend((x.nrows() as u32).to_le_bytes());
            out.extend((x.ncols() as u32).to_le_bytes());
            for v in x.iter() {
                out.extend(v.to_le_bytes());
            }
        }
        Activation::Sampled(t) => {
            out.push(2);
            out.extend(t.to_le_bytes());
        }
    }
    out
}

/// The little-endian `u32` at byte `i` of a message.
fn word(bytes: &[u8], i: usize) -> std::io::Result<u32> {
    let b = bytes.get(i..i + 4).ok_or_else(malformed)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn malformed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed message")
}

/// A message read off a link.
fn decode(bytes: &[u8]) -> std::io::Result<Activation> {
    match bytes.first() {
        Some(0) => {
            let n = word(bytes, 1)? as usize;
            Ok(Activation::Tokens(
                (0..n)
                    .map(|i| word(bytes, 5 + 4 * i))
                    .collect::<std::io::Result<_>>()?,
            ))
        }
        Some(1) => {
            let (r, c) = (word(bytes, 1)? as usize, word(bytes, 5)? as usize);
            let values = (0..r * c)
                .map(|i| word(bytes, 9 + 4 * i).map(f32::from_bits))
                .collect::<std::io::Result<Vec<f32>>>()?;
            Ok(Activation::Hidden(
                ndarray::Array2::from_shape_vec((r, c), values).map_err(|_| malformed())?,
            ))
        }
        Some(2) => Ok(Activation::Sampled(word(bytes, 1)?)),
        _ => Err(malformed()),
    }
}

/// The payload bytes of an encoded message (what [`Activation::bytes`] gives for it), read from
/// its header, so that a relay counts what it forwards without decoding it.
fn payload_bytes(bytes: &[u8]) -> std::io::Result<u64> {
    let expected = match bytes.first() {
        Some(0) => 4 * u64::from(word(bytes, 1)?),
        Some(1) => 4 * u64::from(word(bytes, 1)?) * u64::from(word(bytes, 5)?),
        Some(2) => 4,
        _ => return Err(malformed()),
    };
    let header = match bytes[0] {
        0 => 5,
        1 => 9,
        _ => 1,
    };
    if bytes.len() as u64 != header + expected {
        return Err(malformed());
    }
    Ok(expected)
}

/// The prompt: `prompt` pseudo-random token ids below `vocab`.
pub(crate) fn prompt_ids(prompt: usize, vocab: usize, seed: u64) -> Vec<u32> {
    (0..prompt as u64)
        .map(|i| ((i + seed).wrapping_mul(2_654_435_761) % vocab as u64) as u32)
        .collect()
}

/// One position of the ring: the random weights of its layers and their KV caches (none for a
/// relay).
pub(crate) struct Position {
    layers: Vec<(usize, Layer)>,
    caches: Vec<KvCache>,
    /// First layer of the next position (before the ring closes) that runs layers: when it is
    /// the head, only the last prefill row is sent.
    next_first: Option<usize>,
}

/// What every position shares.
pub(crate) struct Shared {
    /// The model's dimensions.
    pub dims: Dims,
    /// Threads of the matrix products.
    pub threads: usize,
    /// The pool they run on (positions compute one at a time).
    pub pool: Arc<rayon::ThreadPool>,
}

/// Builds the positions running `ranges[i]` (`start..end`, empty for a relay), with random
/// weights seeded by `seed` and KV caches of `capacity` positions. Done before the clock starts.
pub(crate) fn build(
    shared: &Shared,
    ranges: &[(usize, usize)],
    capacity: usize,
    seed: u64,
) -> Vec<Position> {
    let dims = &shared.dims;
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let layers: Vec<(usize, Layer)> = shared
                .pool
                .install(|| (a..b).map(|l| (l, Layer::random(dims, l, seed))).collect());
            let blocks = layers
                .iter()
                .filter(|(_, l)| matches!(l, Layer::Block(_)))
                .count();
            let next_first = ranges[i + 1..]
                .iter()
                .find_map(|&(a, b)| (a < b).then_some(a));
            Position {
                layers,
                caches: (0..blocks).map(|_| KvCache::new(dims, capacity)).collect(),
                next_first,
            }
        })
        .collect()
}

impl Position {
    /// Runs the position's layers on `x` (positions from `pos0`); returns the output and the
    /// seconds it took.
    fn run(&mut self, shared: &Shared, mut x: Activation, pos0: usize) -> (Activation, f64) {
        let start = Instant::now();
        let (dims, threads) = (&shared.dims, shared.threads);
        let (layers, caches) = (&self.layers, &mut self.caches);
        shared.pool.install(|| {
            let mut block = 0;
            for (_, layer) in layers {
                let cache = if matches!(layer, Layer::Block(_)) {
                    block += 1;
                    Some(&mut caches[block - 1])
                } else {
                    None
                };
                x = layer.forward(&x, cache, dims, pos0, threads);
            }
        });
        // Only the last row feeds the head (the planner's consumed tokens of the head).
        if let (Some(next), Activation::Hidden(h)) = (self.next_first, &x) {
            if next == dims.layers() - 1 && h.nrows() > 1 {
                x = Activation::Hidden(h.slice(ndarray::s![h.nrows() - 1.., ..]).to_owned());
            }
        }
        (x, start.elapsed().as_secs_f64())
    }
}

/// One hop of the ring: the sending end (held by position `i`) and the receiving end (held by
/// position `i + 1`, or 0 for the last hop) of one direction of an emulated link.
pub(crate) struct Hop {
    /// Where position `i` sends.
    pub tx: Endpoint,
    /// Where the next position receives.
    pub rx: Endpoint,
}

/// What one position measured, times in seconds since position 0 started the first pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct PositionOut {
    /// Time in its layers over all passes.
    pub compute_s: f64,
    /// Per pass: when it held the pass's input (position 0: when the pass began).
    pub got_at: Vec<f64>,
    /// Per pass: when it sent its output on its hop, just before the link stamps the message
    /// (position 0 of a one-position ring: when it sampled the token).
    pub sent_at: Vec<f64>,
    /// Per pass: payload bytes it sent on its hop.
    pub sent_bytes: Vec<u64>,
    /// Position 0: the tokens, in order.
    pub tokens: Vec<u32>,
    /// Position 0: when each token arrived.
    pub token_at: Vec<f64>,
}

/// Maps a link's I/O error to the replay's error.
pub(crate) fn io(e: std::io::Error) -> Error {
    Error::Solver(format!("replay link: {e}"))
}

/// Runs the ring: position `i` on its own thread, sending through `hops[i]` and receiving
/// through `hops[i - 1]` (position 0: the last hop); `hops` is empty for a ring of one position
/// and has one hop per position otherwise. One prefill pass of the prompt `ids`, then
/// `generate` decode passes. Returns what each position measured.
pub(crate) fn run(
    positions: &mut [Position],
    hops: Vec<Hop>,
    shared: &Shared,
    ids: Vec<u32>,
    prompt: usize,
    generate: usize,
) -> Result<Vec<PositionOut>> {
    let m = positions.len();
    if m == 0 || (m == 1 && !hops.is_empty()) || (m > 1 && hops.len() != m) {
        return Err(Error::Solver(format!(
            "replay: a ring of {m} positions needs {} hops, got {}",
            if m > 1 { m } else { 0 },
            hops.len()
        )));
    }
    // Position i sends on hops[i] and receives on hops[i - 1].
    let mut txs: Vec<Option<Endpoint>> = (0..m).map(|_| None).collect();
    let mut rxs: Vec<Option<Endpoint>> = (0..m).map(|_| None).collect();
    for (i, hop) in hops.into_iter().enumerate() {
        txs[i] = Some(hop.tx);
        rxs[(i + 1) % m] = Some(hop.rx);
    }
    let barrier = Barrier::new(m);
    let epoch = Instant::now();
    let ids = &ids;
    let results: Vec<Result<PositionOut>> = std::thread::scope(|scope| {
        let joins: Vec<_> = positions
            .iter_mut()
            .zip(txs.into_iter().zip(rxs))
            .enumerate()
            .map(|(i, (position, (tx, rx)))| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut ends = Ends {
                        tx,
                        rx,
                        done: false,
                    };
                    let run = Run {
                        shared,
                        epoch,
                        prompt,
                        generate,
                    };
                    let out = run.position(i, position, &mut ends, barrier, ids);
                    ends.done = out.is_ok();
                    out
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Solver("replay: a position panicked".into())))
            })
            .collect()
    });
    let mut outs = results.into_iter().collect::<Result<Vec<_>>>()?;
    // Times since position 0 started the first pass.
    let zero = outs[0].got_at.first().copied().unwrap_or(0.0);
    for out in &mut outs {
        for t in out
            .got_at
            .iter_mut()
            .chain(out.sent_at.iter_mut())
            .chain(out.token_at.iter_mut())
        {
            *t -= zero;
        }
    }
    Ok(outs)
}

/// A position's ends of its two hops. A position that fails (or panics) shuts both down, so
/// that every other position's `recv` fails instead of waiting forever — even where another
/// thread holds a clone of the same end (split's tiers that relay the token down).
struct Ends {
    tx: Option<Endpoint>,
    rx: Option<Endpoint>,
    done: bool,
}

impl Drop for Ends {
    fn drop(&mut self) {
        if !self.done {
            for end in self.tx.iter().chain(self.rx.iter()) {
                end.shutdown();
            }
        }
    }
}

/// What a position's thread needs besides its own state.
struct Run<'a> {
    shared: &'a Shared,
    epoch: Instant,
    prompt: usize,
    generate: usize,
}

impl Run<'_> {
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// Position `i`'s thread: after the barrier, every pass as described in the module docs.
    fn position(
        &self,
        i: usize,
        position: &mut Position,
        ends: &mut Ends,
        barrier: &Barrier,
        ids: &[u32],
    ) -> Result<PositionOut> {
        let relay = i > 0 && position.layers.is_empty();
        let mut out = PositionOut::default();
        let mut next_input = (i == 0).then(|| Activation::Tokens(ids.to_vec()));
        barrier.wait();
        for pass in 0..=self.generate {
            let pos0 = if pass == 0 { 0 } else { self.prompt + pass - 1 };
            let input = match (next_input.take(), ends.rx.as_mut()) {
                (Some(input), _) => {
                    out.got_at.push(self.now());
                    input
                }
                (None, Some(rx)) => {
                    let message = rx.recv().map_err(io)?;
                    out.got_at.push(self.now());
                    if relay {
                        // Store and forward, unchanged.
                        let tx = ends.tx.as_mut().ok_or_else(no_hop)?;
                        out.sent_bytes.push(payload_bytes(&message).map_err(io)?);
                        out.sent_at.push(self.now());
                        tx.send(&message).map_err(io)?;
                        continue;
                    }
                    decode(&message).map_err(io)?
                }
                (None, None) => return Err(no_hop()),
            };
            let output = if position.layers.is_empty() {
                input
            } else {
                let (output, seconds) = position.run(self.shared, input, pos0);
                out.compute_s += seconds;
                output
            };
            match ends.tx.as_mut() {
                Some(tx) => {
                    out.sent_bytes.push(output.bytes() as u64);
                    let message = encode(&output);
                    out.sent_at.push(self.now());
                    tx.send(&message).map_err(io)?;
                }
                None => out.sent_at.push(self.now()),
            }
            if i > 0 {
                continue;
            }
            // Position 0: the token closes the pass.
            let token = match ends.rx.as_mut() {
                Some(rx) => decode(&rx.recv().map_err(io)?).map_err(io)?,
                None => output,
            };
            let Activation::Sampled(token) = token else {
                return Err(Error::Solver(
                    "replay: the pass came back without a sampled token (the head must run)".into(),
                ));
            };
            out.token_at.push(self.now());
            out.tokens.push(token);
            next_input = Some(Activation::Tokens(vec![token]));
        }
        Ok(out)
    }
}

fn no_hop() -> Error {
    Error::Solver("replay: a position of a ring of several has no hop".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Every kind of message survives encoding, and the payload read from the header is
    /// [`Activation::bytes`]; a truncated message is refused.
    #[test]
    fn messages_round_trip_and_count_their_payload() {
        let cases = [
            Activation::Tokens(vec![1, 2, 70_000]),
            Activation::Hidden(Array2::from_shape_fn((3, 5), |(r, c)| r as f32 - c as f32)),
            Activation::Sampled(42),
        ];
        for a in cases {
            let bytes = encode(&a);
            assert_eq!(payload_bytes(&bytes).unwrap(), a.bytes() as u64);
            assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
            assert!(payload_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(decode(&[9]).is_err());
    }
}
