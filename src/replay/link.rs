//! An emulated radio link over real loopback TCP.
//!
//! The planner charges a one-way message of `b` payload bytes `8·b / rate + rtt / 2` seconds
//! (the uplink rate going up, the downlink rate going down), and messages in one direction
//! queue behind each other. [`EmulatedLink`] reproduces exactly that over real sockets, so a
//! replay of split inference pays the planned communication time:
//!
//! ```text
//! lower endpoint <-TCP-> proxy <-TCP-> upper endpoint
//! (device, sends up)                   (server, sends down)
//! ```
//!
//! Per direction the proxy runs a reader thread and a delivery thread. The reader takes a
//! frame's send time (`sent`), starts serializing it once the previous frame of that direction
//! has finished (`start = max(sent, busy_until)`), and hands it to the delivery thread with
//! `deliver_at = start + 8·len / rate + rtt / 2`. The delivery thread writes it out at that
//! instant, so a second message serializes while the first is still propagating (pipelining,
//! as on a real link).
//!
//! A frame is a 16-byte header, the payload length then the send time in nanoseconds since the
//! link started (both little-endian `u64`), followed by the payload. The sender stamps the
//! time itself because the planner's clock starts when a message is sent; a timestamp taken
//! when the proxy's reader gets to run would add that thread's scheduling delay on a busy
//! machine (a scheduler slice, ~3 ms on Linux).
//!
//! Shutdown: dropping an endpoint closes its socket; the proxy still delivers what that
//! endpoint had sent, then closes its side towards the peer, whose [`Endpoint::recv`] then
//! fails with [`io::ErrorKind::UnexpectedEof`]. Messages sent towards an endpoint that has
//! gone are discarded. Once both endpoints are dropped every proxy thread ends
//! ([`LinkHandle::join`]).
//!
//! ```
//! use edgeplan::replay::link::{EmulatedLink, LinkSpec};
//!
//! let spec = LinkSpec { uplink_bps: 100e6, downlink_bps: 400e6, rtt_s: 0.002 };
//! let EmulatedLink { mut lower, mut upper, handle } = EmulatedLink::start(spec)?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let hidden = upper.recv()?; // 1 ms serialization + 1 ms propagation
//!     upper.send(&hidden[..10])
//! });
//! lower.send(&[7; 12_500])?;
//! assert_eq!(lower.recv()?, vec![7; 10]);
//! server.join().expect("server thread")?;
//! drop(lower);
//! let stats = handle.join()?;
//! assert_eq!((stats.bytes_up, stats.bytes_down), (12_500, 10));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Largest payload a message may carry, in bytes (1 GiB): a corrupt length must not make the
/// proxy or an endpoint allocate without bound.
pub const MAX_MESSAGE_BYTES: u64 = 1 << 30;

/// Bytes of the frame header: payload length and send time, each a little-endian `u64`.
const HEADER_BYTES: usize = 16;

/// How long before a deadline the delivery thread stops sleeping and starts spinning, so that
/// delivery is accurate to ~0.1 ms despite the OS timer slack of a sleep.
const SPIN_WINDOW: Duration = Duration::from_micros(200);

/// Rates and delay of one link, as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// Device-to-server rate in bit/s; `f64::INFINITY` means no serialization delay.
    pub uplink_bps: f64,
    /// Server-to-device rate in bit/s; `f64::INFINITY` means no serialization delay.
    pub downlink_bps: f64,
    /// Round-trip time in seconds; each one-way message pays half of it.
    pub rtt_s: f64,
}

impl LinkSpec {
    /// A link that charges `8·b / rate_bps + latency_s` for a message of `b` bytes either way:
    /// one hop of a pipeline route as the planner prices it (a rate and a one-way latency; the
    /// round trip is twice the latency, so each message pays exactly `latency_s`).
    pub fn one_way(rate_bps: f64, latency_s: f64) -> LinkSpec {
        LinkSpec {
            uplink_bps: rate_bps,
            downlink_bps: rate_bps,
            rtt_s: 2.0 * latency_s,
        }
    }

    /// Checks that both rates are positive (infinity allowed) and the round-trip time is finite
    /// and non-negative; the error names the bad field.
    pub fn validate(&self) -> Result<()> {
        for (field, rate) in [
            ("uplink_bps", self.uplink_bps),
            ("downlink_bps", self.downlink_bps),
        ] {
            if rate.is_nan() || rate <= 0.0 {
                return Err(Error::option(
                    field,
                    format!(
                        "expected a positive rate in bit/s (inf for no serialization delay), \
                         got {rate}"
                    ),
                ));
            }
        }
        if !self.rtt_s.is_finite() || self.rtt_s < 0.0 {
            return Err(Error::option(
                "rtt_s",
                format!(
                    "expected a finite non-negative time in seconds, got {}",
                    self.rtt_s
                ),
            ));
        }
        Ok(())
    }
}

/// One end of an emulated link: framed messages over a loopback TCP connection to the proxy.
///
/// `Send`, so each end can live in its own thread. Dropping it closes the connection.
#[derive(Debug)]
pub struct Endpoint {
    stream: TcpStream,
    /// When the link started; send times travel as nanoseconds since then.
    epoch: Instant,
}

impl Endpoint {
    /// Sends one message. Returns once the proxy has taken the bytes, not when they are
    /// delivered: the link's delay is paid on the receiving side, as with a real radio. A
    /// message towards a peer that has closed is discarded; `recv` tells that the peer has gone.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] for a payload over [`MAX_MESSAGE_BYTES`].
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let len = payload_len(payload.len())?;
        // Saturates after 584 years.
        let sent_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut header = [0u8; HEADER_BYTES];
        header[..8].copy_from_slice(&len.to_le_bytes());
        header[8..].copy_from_slice(&sent_ns.to_le_bytes());
        self.stream.write_all(&header)?;
        self.stream.write_all(payload)
    }

    /// A second handle on the same end, e.g. for a thread that only sends on it while another
    /// only receives (a tier that relays the token down while another position of the same
    /// node receives hidden states). The end closes when every handle is dropped.
    pub fn try_clone(&self) -> io::Result<Endpoint> {
        Ok(Endpoint {
            stream: self.stream.try_clone()?,
            epoch: self.epoch,
        })
    }

    /// Closes this end for every handle at once (see [`Endpoint::try_clone`]): the peer's
    /// `recv` then fails with [`io::ErrorKind::UnexpectedEof`] once what was sent has been
    /// delivered. Errors (an end already closed) are ignored.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Receives the next message, blocking until the link delivers it.
    ///
    /// When the peer has closed its end (and everything it sent has been delivered) this fails
    /// with [`io::ErrorKind::UnexpectedEof`]; a receive loop treats that as the end of the
    /// conversation.
    pub fn recv(&mut self) -> io::Result<Vec<u8>> {
        let mut header = [0u8; HEADER_BYTES];
        self.stream.read_exact(&mut header)?;
        let len = frame_len(&header)?;
        let mut payload = Vec::new();
        read_payload(&mut self.stream, len, &mut payload)?;
        Ok(payload)
    }
}

/// Payload bytes and messages that crossed the link, per direction (frame headers not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LinkStats {
    /// Payload bytes delivered from the lower (device) end to the upper (server) end.
    pub bytes_up: u64,
    /// Payload bytes delivered from the upper (server) end to the lower (device) end.
    pub bytes_down: u64,
    /// Messages delivered upwards.
    pub messages_up: u64,
    /// Messages delivered downwards.
    pub messages_down: u64,
}

/// Counters shared by the delivery threads and every [`LinkHandle`] reader.
#[derive(Debug, Default)]
struct Counters {
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    messages_up: AtomicU64,
    messages_down: AtomicU64,
}

impl Counters {
    fn of(&self, direction: Direction) -> (&AtomicU64, &AtomicU64) {
        match direction {
            Direction::Up => (&self.bytes_up, &self.messages_up),
            Direction::Down => (&self.bytes_down, &self.messages_down),
        }
    }

    fn snapshot(&self) -> LinkStats {
        LinkStats {
            bytes_up: self.bytes_up.load(Ordering::Acquire),
            bytes_down: self.bytes_down.load(Ordering::Acquire),
            messages_up: self.messages_up.load(Ordering::Acquire),
            messages_down: self.messages_down.load(Ordering::Acquire),
        }
    }
}

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Lower (device) to upper (server), at the uplink rate.
    Up,
    /// Upper (server) to lower (device), at the downlink rate.
    Down,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// The proxy of a running link: its statistics and its threads.
///
/// Dropping the handle without joining leaves the proxy threads to end on their own once both
/// endpoints are dropped.
#[derive(Debug)]
pub struct LinkHandle {
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

impl LinkHandle {
    /// What has crossed so far. A message is counted when the proxy starts delivering it, so a
    /// receiver that holds a message sees it counted.
    pub fn stats(&self) -> LinkStats {
        self.counters.snapshot()
    }

    /// Waits for every proxy thread to end and returns the final statistics.
    ///
    /// Blocks until both endpoints have been dropped (and the proxy has delivered or dropped
    /// what was in flight). Fails only if a proxy thread panicked, which is a bug.
    pub fn join(self) -> io::Result<LinkStats> {
        let mut panicked = Vec::new();
        for thread in self.threads {
            let name = thread.thread().name().unwrap_or("link proxy").to_string();
            if thread.join().is_err() {
                panicked.push(name);
            }
        }
        if panicked.is_empty() {
            Ok(self.counters.snapshot())
        } else {
            Err(io::Error::other(format!(
                "link proxy thread(s) panicked: {}",
                panicked.join(", ")
            )))
        }
    }
}

/// A running emulated link: `lower` is the device side (sends up), `upper` the server side
/// (sends down), `handle` the proxy between them.
///
/// Destructure it (`let EmulatedLink { lower, upper, handle } = link`) to move each endpoint
/// into its own thread and keep the handle for statistics.
#[derive(Debug)]
pub struct EmulatedLink {
    /// The device end: what it sends travels up at the uplink rate.
    pub lower: Endpoint,
    /// The server end: what it sends travels down at the downlink rate.
    pub upper: Endpoint,
    /// The proxy: statistics and thread join.
    pub handle: LinkHandle,
}

impl EmulatedLink {
    /// Connects two endpoints through a proxy on `127.0.0.1` (ephemeral ports) that imposes
    /// `spec`, and starts the proxy's four threads.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] when `spec` is invalid (the message names the
    /// field), or with the operating system's error when sockets or threads cannot be made.
    pub fn start(spec: LinkSpec) -> io::Result<EmulatedLink> {
        spec.validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let half_rtt = Duration::try_from_secs_f64(spec.rtt_s / 2.0).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("rtt_s {} s is too long to schedule", spec.rtt_s),
            )
        })?;

        let (lower, proxy_lower) = connected_pair()?;
        let (proxy_upper, upper) = connected_pair()?;
        for stream in [&lower, &proxy_lower, &proxy_upper, &upper] {
            // Frames must leave as soon as they are written, not wait for Nagle's timer.
            stream.set_nodelay(true)?;
        }

        let epoch = Instant::now();
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::with_capacity(4);
        for (direction, rate_bps, source, dest) in [
            (Direction::Up, spec.uplink_bps, &proxy_lower, &proxy_upper),
            (
                Direction::Down,
                spec.downlink_bps,
                &proxy_upper,
                &proxy_lower,
            ),
        ] {
            let (queue_in, queue_out) = mpsc::channel();
            let schedule = Schedule {
                epoch,
                rate_bps,
                half_rtt,
            };
            let reader_source = source.try_clone()?;
            threads.push(spawn(
                format!("link-{}-read", direction.name()),
                move || read_frames(reader_source, schedule, queue_in),
            )?);
            let delivery = Delivery {
                direction,
                dest: dest.try_clone()?,
                counters: Arc::clone(&counters),
            };
            threads.push(spawn(
                format!("link-{}-deliver", direction.name()),
                move || delivery.run(queue_out),
            )?);
        }

        Ok(EmulatedLink {
            lower: Endpoint {
                stream: lower,
                epoch,
            },
            upper: Endpoint {
                stream: upper,
                epoch,
            },
            handle: LinkHandle { counters, threads },
        })
    }

    /// What has crossed so far (see [`LinkHandle::stats`]).
    pub fn stats(&self) -> LinkStats {
        self.handle.stats()
    }
}

/// Returns `(connecting side, accepted side)` of a fresh loopback connection.
fn connected_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    // On loopback the connect completes from the listen backlog, before accept is called.
    let client = TcpStream::connect(listener.local_addr()?)?;
    let client_addr: SocketAddr = client.local_addr()?;
    loop {
        let (accepted, peer) = listener.accept()?;
        // Another local process could race us to the ephemeral port; keep only our own peer.
        if peer == client_addr {
            return Ok((client, accepted));
        }
    }
}

/// Spawns a named proxy thread; an error it ends with is logged, since a closed or reset peer
/// is how a link normally ends.
fn spawn(
    name: String,
    body: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name).spawn(|| {
        if let Err(error) = body() {
            tracing::debug!(
                thread = thread::current().name().unwrap_or("link proxy"),
                %error,
                "link proxy thread ended on a socket error"
            );
        }
    })
}

/// The payload length as it goes in a frame header, or `InvalidInput` when it is too large.
fn payload_len(len: usize) -> io::Result<u64> {
    match u64::try_from(len) {
        Ok(len) if len <= MAX_MESSAGE_BYTES => Ok(len),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {len} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit"),
        )),
    }
}

/// The payload length from a received header, or `InvalidData` when it is too large.
fn frame_len(header: &[u8; HEADER_BYTES]) -> io::Result<u64> {
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[..8]);
    let len = u64::from_le_bytes(len);
    if len > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame announces {len} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"),
        ));
    }
    Ok(len)
}

/// Appends exactly `len` bytes from `source` to `buffer`; `UnexpectedEof` if it closes early.
/// Reads incrementally rather than preallocating `len` bytes on the peer's word.
fn read_payload(source: &mut TcpStream, len: u64, buffer: &mut Vec<u8>) -> io::Result<()> {
    let before = buffer.len();
    source.take(len).read_to_end(buffer)?;
    if (buffer.len() - before) as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of a message",
        ));
    }
    Ok(())
}

/// Fills `header`; `Ok(false)` on a clean close before its first byte.
fn read_header(source: &mut TcpStream, header: &mut [u8; HEADER_BYTES]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < HEADER_BYTES {
        match source.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of a frame header",
                ))
            }
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

/// How one direction of the link delays a frame.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// When the link started: the origin of the send times in frame headers.
    epoch: Instant,
    /// Bit/s; infinite for no serialization delay.
    rate_bps: f64,
    /// One-way propagation delay.
    half_rtt: Duration,
}

/// A frame (header included) and when it must reach the receiver.
struct Scheduled {
    deliver_at: Instant,
    frame: Vec<u8>,
}

/// `instant + seconds`, or an error when that cannot be represented (an absurdly slow rate).
fn after(instant: Instant, seconds: f64) -> io::Result<Instant> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|delay| instant.checked_add(delay))
        .ok_or_else(|| io::Error::other(format!("a delay of {seconds} s cannot be scheduled")))
}

/// Reader thread: schedules each frame from `source` from its send time, serialized FIFO behind
/// the previous one, and queues it for delivery. Ends on a clean close or when the delivery
/// thread is gone.
fn read_frames(
    mut source: TcpStream,
    schedule: Schedule,
    queue: Sender<Scheduled>,
) -> io::Result<()> {
    let mut busy_until = schedule.epoch;
    loop {
        let mut header = [0u8; HEADER_BYTES];
        if !read_header(&mut source, &mut header)? {
            return Ok(());
        }
        let len = frame_len(&header)?;
        let mut sent_ns = [0u8; 8];
        sent_ns.copy_from_slice(&header[8..]);
        // A stamp from the future (impossible from our own endpoints) counts as now.
        let sent = schedule
            .epoch
            .checked_add(Duration::from_nanos(u64::from_le_bytes(sent_ns)))
            .map_or_else(Instant::now, |sent| sent.min(Instant::now()));
        let mut frame = Vec::with_capacity(HEADER_BYTES);
        frame.extend_from_slice(&header);
        read_payload(&mut source, len, &mut frame)?;

        let start = sent.max(busy_until);
        busy_until = after(start, 8.0 * len as f64 / schedule.rate_bps)?;
        let deliver_at = busy_until
            .checked_add(schedule.half_rtt)
            .ok_or_else(|| io::Error::other("delivery time overflows"))?;
        if queue.send(Scheduled { deliver_at, frame }).is_err() {
            // The delivery thread ended on a write error; nothing more can be delivered.
            return Ok(());
        }
    }
}

/// Delivery thread of one direction.
struct Delivery {
    direction: Direction,
    /// Where frames go.
    dest: TcpStream,
    counters: Arc<Counters>,
}

impl Delivery {
    /// Writes each queued frame at its deadline; when the reader ends, passes the close on.
    ///
    /// Once a write fails (the receiver is gone) later frames are discarded rather than the
    /// sender's socket being cut: that socket also carries the other direction, whose frames in
    /// flight must still arrive, and unread data at close would turn its FIN into a reset. The
    /// sender learns that the peer has gone from its own `recv`.
    fn run(self, queue: Receiver<Scheduled>) -> io::Result<()> {
        let (bytes, messages) = self.counters.of(self.direction);
        let mut dest = &self.dest;
        let mut failure = None;
        for Scheduled { deliver_at, frame } in queue {
            if failure.is_some() {
                continue;
            }
            wait_until(deliver_at);
            let payload = (frame.len() - HEADER_BYTES) as u64;
            // Counted before the write so that a receiver holding the message sees it counted.
            bytes.fetch_add(payload, Ordering::AcqRel);
            messages.fetch_add(1, Ordering::AcqRel);
            if let Err(error) = dest.write_all(&frame) {
                bytes.fetch_sub(payload, Ordering::AcqRel);
                messages.fetch_sub(1, Ordering::AcqRel);
                failure = Some(error);
            }
        }
        // The sender closed and everything it sent is delivered: the receiver sees EOF. An
        // error here only means the receiver is already gone.
        let _ = self.dest.shutdown(Shutdown::Write);
        failure.map_or(Ok(()), Err)
    }
}

/// Blocks until `deadline`: sleeps until [`SPIN_WINDOW`] before it, then spins, because a
/// plain sleep overshoots by the OS timer slack (tens of microseconds or more). It spins rather
/// than yields: on a busy machine a yield hands the core to another thread for a whole
/// scheduler slice (~3 ms on Linux).
fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN_WINDOW {
            thread::sleep(left - SPIN_WINDOW);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds from `start` to now.
    fn since(start: Instant) -> f64 {
        start.elapsed().as_secs_f64()
    }

    /// Runs link tests one at a time: each one's proxy threads spin near deadlines, and on a
    /// small machine concurrent links would measure each other's scheduling instead of the link.
    fn one_link_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static LINKS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        // A failed test poisons the lock; the next one may still run.
        LINKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Joins the proxy in a helper thread so that a proxy thread that never ends fails the test
    /// instead of hanging it.
    fn join_within(handle: LinkHandle, limit: Duration) -> LinkStats {
        let (done_in, done_out) = mpsc::channel();
        thread::spawn(move || done_in.send(handle.join()));
        done_out
            .recv_timeout(limit)
            .expect("proxy threads still running after both endpoints were dropped")
            .expect("no proxy thread panicked")
    }

    /// A payload whose bytes depend on their position, so reordering or truncation shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    const FAST: LinkSpec = LinkSpec {
        uplink_bps: f64::INFINITY,
        downlink_bps: f64::INFINITY,
        rtt_s: 0.0,
    };

    /// A device thread sends payloads of 0 B, 1 B, 100 kB and 3 MB up; a server thread echoes
    /// each one down reversed. Every payload arrives intact in both directions, and the
    /// statistics count exactly 3_100_001 payload bytes and 4 messages each way (frame headers
    /// are not payload).
    #[test]
    fn round_trip_keeps_contents_and_counts_payload() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let sizes = [0usize, 1, 100_000, 3_000_000];
        let EmulatedLink {
            mut lower,
            mut upper,
            handle,
        } = EmulatedLink::start(FAST)?;
        let server = thread::spawn(move || -> io::Result<()> {
            loop {
                match upper.recv() {
                    Ok(mut message) => {
                        message.reverse();
                        upper.send(&message)?;
                    }
                    Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        });
        let device = thread::spawn(move || -> io::Result<()> {
            for (seed, &size) in sizes.iter().enumerate() {
                let sent = pattern(size, seed as u8);
                lower.send(&sent)?;
                let mut echoed = lower.recv()?;
                echoed.reverse();
                assert_eq!(echoed.len(), size);
                assert!(echoed == sent, "payload of {size} bytes corrupted");
            }
            Ok(())
        });
        device.join().expect("device thread")?;
        server.join().expect("server thread")?;

        let total: u64 = sizes.iter().map(|&size| size as u64).sum();
        let expected = LinkStats {
            bytes_up: total,
            bytes_down: total,
            messages_up: 4,
            messages_down: 4,
        };
        assert_eq!(handle.stats(), expected);
        assert_eq!(join_within(handle, Duration::from_secs(2)), expected);
        Ok(())
    }

    /// 1 MB up at 80 Mbit/s with a 10 ms RTT: 8e6 bit / 80e6 bit/s = 0.1 s of serialization plus
    /// 5 ms of propagation, so 0.105 s; loopback and scheduling may add up to 15 ms. Down at
    /// 160 Mbit/s the same message takes 0.05 + 0.005 = 0.055 s.
    #[test]
    fn one_message_pays_serialization_plus_half_rtt() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let spec = LinkSpec {
            uplink_bps: 80e6,
            downlink_bps: 160e6,
            rtt_s: 0.010,
        };
        let EmulatedLink {
            mut lower,
            mut upper,
            handle,
        } = EmulatedLink::start(spec)?;
        let message = vec![1u8; 1_000_000];

        let start = Instant::now();
        lower.send(&message)?;
        assert_eq!(upper.recv()?.len(), message.len());
        let up_s = since(start);
        // Upper ends: 40 ms of scheduling slack on a loaded machine, still far below a
        // serialization counted twice (+0.1 s up, +0.05 s down).
        assert!((0.105..=0.145).contains(&up_s), "uplink took {up_s} s");

        let start = Instant::now();
        upper.send(&message)?;
        assert_eq!(lower.recv()?.len(), message.len());
        let down_s = since(start);
        assert!(
            (0.055..=0.095).contains(&down_s),
            "downlink took {down_s} s"
        );

        drop((lower, upper));
        join_within(handle, Duration::from_secs(2));
        Ok(())
    }

    /// Two 500 kB messages sent back to back at 40 Mbit/s each need 0.1 s on the air. With no
    /// RTT the second can only start once the first has finished (FIFO), so it arrives 0.2 s
    /// after the first send. With a 100 ms RTT the second serializes while the first
    /// propagates: they arrive at 0.15 s and 0.25 s, 0.1 s apart (not 0.2 s, which a
    /// stop-and-wait link would give).
    #[test]
    fn messages_queue_fifo_and_pipeline() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let message = vec![2u8; 500_000];
        for (rtt_s, first_s, second_s) in [(0.0, 0.1, 0.2), (0.1, 0.15, 0.25)] {
            let spec = LinkSpec {
                uplink_bps: 40e6,
                downlink_bps: 40e6,
                rtt_s,
            };
            let EmulatedLink {
                mut lower,
                mut upper,
                handle,
            } = EmulatedLink::start(spec)?;
            let start = Instant::now();
            lower.send(&message)?;
            lower.send(&message)?;
            upper.recv()?;
            let first = since(start);
            upper.recv()?;
            let second = since(start);
            assert!(
                (first_s..first_s + 0.040).contains(&first),
                "rtt {rtt_s}: first arrived after {first} s"
            );
            assert!(
                (second_s..second_s + 0.040).contains(&second),
                "rtt {rtt_s}: second arrived after {second} s"
            );
            let gap = second - first;
            // Stop-and-wait would give 0.2 s.
            assert!((0.09..0.14).contains(&gap), "rtt {rtt_s}: gap {gap} s");
            drop((lower, upper));
            join_within(handle, Duration::from_secs(2));
        }
        Ok(())
    }

    /// An infinite rate with no RTT adds no delay: 1 MB crosses loopback twice in well under
    /// 5 ms (about 0.3 ms on an idle machine). The first message also pays for fresh buffers,
    /// so it is a warm-up; of three timed messages the fastest counts, because the property
    /// is that the link adds nothing, and a busy scheduler can only add.
    #[test]
    fn infinite_rate_is_fast() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let EmulatedLink {
            mut lower,
            mut upper,
            handle,
        } = EmulatedLink::start(FAST)?;
        let message = vec![3u8; 1_000_000];
        lower.send(&message)?;
        upper.recv()?;
        let mut fastest = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            lower.send(&message)?;
            assert_eq!(upper.recv()?.len(), message.len());
            fastest = fastest.min(since(start));
        }
        assert!(fastest < 0.005, "1 MB took {fastest} s on an infinite link");
        drop((lower, upper));
        join_within(handle, Duration::from_secs(2));
        Ok(())
    }

    /// The device sends a last message and drops its end. The server still receives that
    /// message (what was in flight is delivered), then `UnexpectedEof`; sending towards the
    /// dropped end never panics. Once the server drops its end too, all four proxy threads end.
    /// The same holds the other way round, and when the leaving end had a message it never
    /// read (its close is then a reset, not a clean close).
    #[test]
    fn dropping_an_endpoint_ends_the_link() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        for (drop_lower, leave_unread) in
            [(true, false), (false, false), (true, true), (false, true)]
        {
            let spec = LinkSpec {
                uplink_bps: 1e9,
                downlink_bps: 1e9,
                rtt_s: 0.004,
            };
            let EmulatedLink {
                lower,
                upper,
                handle,
            } = EmulatedLink::start(spec)?;
            let (mut leaving, mut staying) = if drop_lower {
                (lower, upper)
            } else {
                (upper, lower)
            };
            if leave_unread {
                // Closing with unread data resets the connection instead of closing it.
                staying.send(b"never read")?;
                thread::sleep(Duration::from_millis(5));
            }
            leaving.send(b"goodbye")?;
            drop(leaving);
            assert_eq!(staying.recv()?, b"goodbye");
            let end = staying.recv().expect_err("the peer has closed");
            assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
            // The peer is gone: this may succeed (buffered) or fail, but must not panic.
            let _ = staying.send(b"anyone there?");
            drop(staying);
            let stats = join_within(handle, Duration::from_secs(2));
            let crossed = if drop_lower {
                (stats.bytes_up, stats.messages_up)
            } else {
                (stats.bytes_down, stats.messages_down)
            };
            assert_eq!(crossed, (7, 1));
        }
        Ok(())
    }

    /// The server sends a last reply and drops its end while the device is still sending.
    /// Uplink is instant and the RTT is 20 ms, so the device's messages reach the proxy's far
    /// side at 10 ms and find the server gone; the 10-byte reply serializes for 10 ms at
    /// 8 kbit/s and arrives at 20 ms. A failed delivery upwards must not cut the downlink: the
    /// device still receives the reply, then `UnexpectedEof`, and its sends never block.
    #[test]
    fn reply_in_flight_survives_a_failed_delivery_the_other_way() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let spec = LinkSpec {
            uplink_bps: f64::INFINITY,
            downlink_bps: 8e3,
            rtt_s: 0.020,
        };
        let EmulatedLink {
            mut lower,
            mut upper,
            handle,
        } = EmulatedLink::start(spec)?;
        upper.send(b"last reply")?;
        drop(upper);
        for _ in 0..3 {
            // Some of these are refused once the proxy has seen the server go; none may hang.
            let _ = lower.send(b"are you there?");
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(lower.recv()?, b"last reply");
        let end = lower.recv().expect_err("the server has closed");
        assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
        drop(lower);
        let stats = join_within(handle, Duration::from_secs(2));
        assert_eq!((stats.messages_down, stats.bytes_down), (1, 10));
        Ok(())
    }

    /// Bad specs are refused, and the error names the field: a zero uplink rate, a NaN
    /// downlink rate, a negative or infinite RTT. Infinite rates are valid (no serialization).
    #[test]
    fn spec_validation_names_the_bad_field() {
        let good = LinkSpec {
            uplink_bps: 1e6,
            downlink_bps: f64::INFINITY,
            rtt_s: 0.0,
        };
        assert!(good.validate().is_ok());
        let cases = [
            (
                LinkSpec {
                    uplink_bps: 0.0,
                    ..good
                },
                "uplink_bps",
            ),
            (
                LinkSpec {
                    downlink_bps: f64::NAN,
                    ..good
                },
                "downlink_bps",
            ),
            (
                LinkSpec {
                    rtt_s: -0.01,
                    ..good
                },
                "rtt_s",
            ),
            (
                LinkSpec {
                    rtt_s: f64::INFINITY,
                    ..good
                },
                "rtt_s",
            ),
        ];
        for (spec, field) in cases {
            match spec.validate() {
                Err(Error::Option { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{spec:?}: expected an error on `{field}`, got {other:?}"),
            }
            let error = EmulatedLink::start(spec).expect_err("invalid spec");
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            assert!(error.to_string().contains(field), "{error}");
        }
    }

    /// Delivery accuracy: 50 messages of 1 kB, one at a time, at 100 Mbit/s with a 2 ms RTT
    /// should each take 8e3 / 100e6 + 0.001 = 1.08 ms. The measured time includes two loopback
    /// hops and thread wake-ups, so it is never early; typically it is late by ~20-40 us. The
    /// worst case is loose because a loaded machine can preempt a thread for a whole scheduler
    /// slice.
    #[test]
    fn small_messages_are_delivered_on_time() -> io::Result<()> {
        let _serial = one_link_at_a_time();
        let spec = LinkSpec {
            uplink_bps: 100e6,
            downlink_bps: 100e6,
            rtt_s: 0.002,
        };
        let expected_s = 8.0 * 1000.0 / 100e6 + 0.001;
        let EmulatedLink {
            mut lower,
            mut upper,
            handle,
        } = EmulatedLink::start(spec)?;
        let message = vec![4u8; 1000];
        let mut errors_s = Vec::with_capacity(50);
        for _ in 0..50 {
            let start = Instant::now();
            lower.send(&message)?;
            upper.recv()?;
            errors_s.push(since(start) - expected_s);
        }
        errors_s.sort_by(f64::total_cmp);
        let mean = errors_s.iter().sum::<f64>() / errors_s.len() as f64;
        let (min, median, max) = (errors_s[0], errors_s[25], errors_s[49]);
        println!(
            "delivery error over 50 x 1 kB: min {:.1} us, mean {:.1} us, median {:.1} us, \
             max {:.1} us",
            min * 1e6,
            mean * 1e6,
            median * 1e6,
            max * 1e6
        );
        assert!(min >= 0.0, "a message arrived {} us early", -min * 1e6);
        assert!(median < 0.0005, "median lateness {} us", median * 1e6);
        assert!(max < 0.010, "worst lateness {} us", max * 1e6);
        drop((lower, upper));
        join_within(handle, Duration::from_secs(2));
        Ok(())
    }
}
