//! A stand-in for `tc netem` on kernels built without it (`CONFIG_NET_SCH_NETEM` unset and
//! no modules, as on some VM kernels): iptables sends a host's packets to an NFQUEUE, and
//! this thread, joined to the host's network namespace, holds each one for the delay
//! before it tells the kernel to pass it, or tells it to drop it at the loss rate. The
//! packets stay in the kernel (only their ids come up), so the link really is slow and
//! lossy, as with netem.
//!
//! The netlink messages are written by hand (`nfnetlink_queue`, copy mode META): a bind,
//! the packet notices, and a verdict per packet.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
/// The netfilter hook of packets a host sends (`NF_INET_LOCAL_OUT`).
const HOOK_LOCAL_OUT: u8 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;

/// What the emulator did, for the test's report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub packets: u64,
    pub dropped: u64,
    pub delayed: u64,
}

/// A running emulator; [`Emulator::stop`] passes what it holds and returns its counts.
pub struct Emulator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Counts, String>>>,
}

impl Emulator {
    /// Serves NFQUEUE `queue` inside network namespace `ns` (a name under /run/netns):
    /// packets the host sends wait `delay`; packets both ways are dropped with
    /// probability `loss_percent` / 100. Returns once the queue is bound.
    ///
    /// # Errors
    /// The namespace cannot be joined or the queue cannot be bound (no nfnetlink_queue).
    pub fn start(ns: &str, queue: u16, delay: Duration, loss_percent: u32) -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let path = format!("/run/netns/{ns}");
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let socket = match bind(&path, queue) {
                Ok(socket) => {
                    let _ = ready_tx.send(Ok(()));
                    socket
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error.clone()));
                    return Err(error);
                }
            };
            serve(&socket, queue, delay, loss_percent, &stopping)
        });
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Emulator {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err("the NFQUEUE thread did not start".into()),
        }
    }

    pub fn stop(mut self) -> Result<Counts, String> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .map_or(Err("already stopped".into()), |thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("the NFQUEUE thread panicked".into()))
            })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A netlink socket, closed on drop.
struct Socket(libc::c_int);

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Joins the namespace (this thread only) and binds the queue in copy mode META.
fn bind(netns_path: &str, queue: u16) -> Result<Socket, String> {
    let namespace =
        std::fs::File::open(netns_path).map_err(|error| format!("open {netns_path}: {error}"))?;
    // SAFETY: setns(2) on a namespace file we opened; it changes only this thread.
    if unsafe {
        libc::setns(
            std::os::fd::AsRawFd::as_raw_fd(&namespace),
            libc::CLONE_NEWNET,
        )
    } != 0
    {
        return Err(os_error("setns into the endpoint's namespace"));
    }
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(os_error("netlink socket"));
    }
    let socket = Socket(fd);
    // SAFETY: an all-zero sockaddr_nl is valid; the family is set below.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind(2) with a sockaddr_nl of the right size.
    if unsafe {
        libc::bind(
            socket.0,
            (&raw const address).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    } != 0
    {
        return Err(os_error("bind the netlink socket"));
    }
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 5_000,
    };
    // SAFETY: setsockopt(2) with a timeval of the right size.
    unsafe {
        libc::setsockopt(
            socket.0,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let mut command = vec![NFQNL_CFG_CMD_BIND, 0];
    command.extend_from_slice(&0u16.to_be_bytes());
    send(
        &socket,
        NFQNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
        queue,
        &[(NFQA_CFG_CMD, &command)],
    )?;
    expect_ack(&socket, "bind the queue")?;
    let mut params = 0u32.to_be_bytes().to_vec();
    params.push(NFQNL_COPY_META);
    send(
        &socket,
        NFQNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
        queue,
        &[(NFQA_CFG_PARAMS, &params)],
    )?;
    expect_ack(&socket, "set the copy mode")?;
    Ok(socket)
}

/// Sends one nfnetlink message of the queue subsystem with the given attributes.
fn send(
    socket: &Socket,
    message: u16,
    flags: u16,
    queue: u16,
    attributes: &[(u16, &[u8])],
) -> Result<(), String> {
    let mut body = vec![libc::AF_UNSPEC as u8, 0];
    body.extend_from_slice(&queue.to_be_bytes());
    for (kind, payload) in attributes {
        let length = u16::try_from(4 + payload.len()).map_err(|_| "attribute too long")?;
        body.extend_from_slice(&length.to_ne_bytes());
        body.extend_from_slice(&kind.to_ne_bytes());
        body.extend_from_slice(payload);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let length = u32::try_from(16 + body.len()).map_err(|_| "message too long")?;
    let mut bytes = Vec::with_capacity(16 + body.len());
    bytes.extend_from_slice(&length.to_ne_bytes());
    bytes.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | message).to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(&body);
    // SAFETY: send(2) of a buffer we own, with its length.
    let sent = unsafe { libc::send(socket.0, bytes.as_ptr().cast(), bytes.len(), 0) };
    if sent < 0 {
        return Err(os_error("send to nfnetlink"));
    }
    Ok(())
}

fn receive(socket: &Socket, buffer: &mut [u8]) -> Option<usize> {
    // SAFETY: recv(2) into a buffer we own, with its length.
    let received = unsafe { libc::recv(socket.0, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
    usize::try_from(received).ok().filter(|length| *length > 0)
}

fn expect_ack(socket: &Socket, what: &str) -> Result<(), String> {
    let mut buffer = vec![0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let Some(length) = receive(socket, &mut buffer) else {
            continue;
        };
        if length >= 20 && u16::from_ne_bytes([buffer[4], buffer[5]]) == NLMSG_ERROR {
            let code = i32::from_ne_bytes([buffer[16], buffer[17], buffer[18], buffer[19]]);
            return if code == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{what}: {}",
                    std::io::Error::from_raw_os_error(-code)
                ))
            };
        }
    }
    Err(format!("{what}: no answer from nfnetlink"))
}

/// (packet id, hook) of every packet notice in one datagram.
fn packet_notices(datagram: &[u8]) -> Vec<(u32, u8)> {
    let mut notices = Vec::new();
    let mut offset = 0;
    while offset + 16 <= datagram.len() {
        let length = u32::from_ne_bytes([
            datagram[offset],
            datagram[offset + 1],
            datagram[offset + 2],
            datagram[offset + 3],
        ]) as usize;
        if length < 16 || offset + length > datagram.len() {
            break;
        }
        let kind = u16::from_ne_bytes([datagram[offset + 4], datagram[offset + 5]]);
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET {
            // After the netlink header (16) and the nfgenmsg (4): attributes.
            let mut attribute = offset + 20;
            let end = offset + length;
            while attribute + 4 <= end {
                let attribute_length =
                    u16::from_ne_bytes([datagram[attribute], datagram[attribute + 1]]) as usize;
                let attribute_kind =
                    u16::from_ne_bytes([datagram[attribute + 2], datagram[attribute + 3]]) & 0x3fff;
                if attribute_length < 4 || attribute + attribute_length > end {
                    break;
                }
                if attribute_kind == NFQA_PACKET_HDR && attribute_length >= 4 + 7 {
                    let payload = &datagram[attribute + 4..];
                    let id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    notices.push((id, payload[6]));
                    break;
                }
                attribute += (attribute_length + 3) & !3;
            }
        }
        offset += (length + 3) & !3;
    }
    notices
}

fn verdict(socket: &Socket, queue: u16, id: u32, verdict: u32) -> Result<(), String> {
    let mut header = verdict.to_be_bytes().to_vec();
    header.extend_from_slice(&id.to_be_bytes());
    send(
        socket,
        NFQNL_MSG_VERDICT,
        NLM_F_REQUEST,
        queue,
        &[(NFQA_VERDICT_HDR, &header)],
    )
}

fn serve(
    socket: &Socket,
    queue: u16,
    delay: Duration,
    loss_percent: u32,
    stop: &AtomicBool,
) -> Result<Counts, String> {
    let mut counts = Counts::default();
    // Packets the host sent, in arrival order: one delay for all keeps the deadlines
    // sorted, and the order of a TCP stream's segments unchanged.
    let mut held: VecDeque<(Instant, u32)> = VecDeque::new();
    let mut random = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut buffer = vec![0u8; 65536];
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if let Some(length) = receive(socket, &mut buffer) {
            for (id, hook) in packet_notices(&buffer[..length]) {
                counts.packets += 1;
                // xorshift64: a cheap, seeded coin for the loss.
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                if random % 100 < u64::from(loss_percent) {
                    counts.dropped += 1;
                    verdict(socket, queue, id, NF_DROP)?;
                } else if hook == HOOK_LOCAL_OUT && !stopping {
                    counts.delayed += 1;
                    held.push_back((Instant::now() + delay, id));
                } else {
                    verdict(socket, queue, id, NF_ACCEPT)?;
                }
            }
        }
        let now = Instant::now();
        while let Some(&(due, id)) = held.front() {
            if due > now && !stopping {
                break;
            }
            held.pop_front();
            verdict(socket, queue, id, NF_ACCEPT)?;
        }
        if stopping && held.is_empty() {
            return Ok(counts);
        }
    }
}
