//! Resource bounds: a million socket records through the model, judged and
//! printed, with every byte the model allocates counted. Memory grows with
//! the distinct tuples and local addresses, not with the sockets, and the
//! output stays within NRPE's 64 KiB even with `--top 100` and the longest
//! addresses there are.
//!
//! The counting allocator is the whole test binary's, but it counts per
//! thread: the model is built, judged and printed on the test's own
//! thread, and the tests running beside it on other threads count apart.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use check_ephemeral::judge::{self, Selection, Thresholds};
use check_ephemeral::model::{Kind, Model, PoolsBuilder};
use check_ephemeral::read::ports::PortRange;
use check_ephemeral::read::settings::{KernelSettings, TwReuse};
use check_ephemeral::read::socket::{Protocol, Sink, Socket, TcpState};
use check_ephemeral::report::{self, Context};

/// Counts the bytes the calling thread has allocated now and the most at
/// any moment.
struct Counting;

thread_local! {
    // Const-initialised and without a destructor: the allocator may use
    // them, as they never allocate.
    // Signed: a block another thread allocated may be freed here.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let now = LIVE.get() + by as isize;
    LIVE.set(now);
    PEAK.set(PEAK.get().max(now));
}

fn shrank(by: usize) {
    LIVE.set(LIVE.get() - by as isize);
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most bytes it held at once
/// above what was live before, on this thread.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.get();
    PEAK.set(base);
    let r = f();
    (r, (PEAK.get() - base).max(0) as usize)
}

const MIB: usize = 1 << 20;
/// The documented bound: what one distinct (source, destination, port)
/// tuple may cost, hash table slack included.
const BYTES_PER_TUPLE: usize = 160;
/// What one local address may cost: its ports as a list or a bit set over
/// the range, whichever is smaller, with the growth slack of a list.
fn bytes_per_address(range_len: usize) -> usize {
    2 * range_len / 8 + 256
}

fn settings() -> KernelSettings {
    KernelSettings {
        range: PortRange {
            lo: 32768,
            hi: 60999,
        },
        reserved: "40000-40099".parse().expect("reserved"),
        tw_reuse: TwReuse::LoopbackOnly,
        timestamps: true,
        tw_reuse_delay_ms: Some(1000),
    }
}

/// `records` sockets over `tuples` tuples from 256 sources: record `i`
/// belongs to tuple `i % tuples` and gets a port no other record of that
/// tuple has (up to 9 records per tuple).
fn feed(builder: &mut PoolsBuilder, records: usize, tuples: usize) {
    let range = settings().range;
    let len = range.len();
    for port in 0..1000u16 {
        let s = Socket::new(
            Protocol::Tcp,
            TcpState::LISTEN,
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), range.lo + port * 7),
            (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        );
        builder.marked(&s);
    }
    for i in 0..records {
        let t = i % tuples;
        let k = i / tuples;
        let source = IpAddr::V4(Ipv4Addr::new(10, 1, 0, (t % 256) as u8));
        let d = (t / 256) as u32;
        let destination = IpAddr::V4(Ipv4Addr::from(0x0a02_0000 + d));
        let offset = (k * 2833 + t * 7) % len;
        let state = if k.is_multiple_of(3) {
            TcpState::TIME_WAIT
        } else {
            TcpState::ESTABLISHED
        };
        let mut s = Socket::new(
            Protocol::Tcp,
            state,
            (source, range.lo + offset as u16),
            (destination, 5432),
        );
        s.expires_ms = (i % 60_000) as u32;
        builder.socket(&s);
    }
}

fn model(records: usize, tuples: usize) -> (Model, usize) {
    peak_of(|| {
        let mut builder = PoolsBuilder::new(&settings());
        feed(&mut builder, records, tuples);
        builder.finish()
    })
}

fn render(model: &Model, top: usize) -> String {
    let thresholds = Thresholds {
        used_warning: "0".parse().ok(),
        used_critical: "@0:100".parse().ok(),
        free_warning: "1000000:".parse().ok(),
        free_critical: "@0:1000000".parse().ok(),
    };
    let selection = Selection {
        kinds: Kind::ALL.to_vec(),
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let report = judge::judge(model, &selection, &thresholds, top);
    let context = Context {
        verbose: 3,
        top,
        notes: vec![
            (
                0,
                "a note as long as the longest the check writes, ".repeat(4),
            ),
            (
                2,
                "another one of the same length, for good measure, ".repeat(4),
            ),
        ],
        verbose_lines: (1..=3)
            .map(|level| (level, format!("verbose line {level}: {}", "x".repeat(200))))
            .collect(),
        ..Context::default()
    };
    report::render(&report, model, &thresholds, &context)
}

/// NRPE's limit on what a check may print.
const NRPE_MAX: usize = 64 * 1024;

#[test]
fn a_million_sockets_in_bounded_memory_and_output() {
    let len = settings().range.len();
    let addresses = 256;
    let bound =
        |tuples: usize| tuples * BYTES_PER_TUPLE + addresses * bytes_per_address(len) + 2 * MIB;

    // 100 000 tuples with one socket each, then the same tuples with ten
    // sockets each: a million records cost hardly more than a tenth.
    let (small, small_peak) = model(100_000, 100_000);
    // Some sockets sit on listeners' or reserved ports: not in any tuple.
    assert!(small.tuple_count() > 95_000, "{}", small.tuple_count());
    drop(small);
    let (big, big_peak) = model(1_000_000, 100_000);
    assert_eq!(big.totals.tcp_sockets, 1_000_000 + 1000);
    assert!(big.tuple_count() > 99_000, "{}", big.tuple_count());
    let _ = writeln_stderr(&format!(
        "peak bytes: 100k records {small_peak}, 1M records {big_peak}; bound {}",
        bound(100_000)
    ));
    assert!(big_peak <= bound(100_000), "1M records: {big_peak} bytes");
    assert!(
        big_peak <= small_peak + small_peak / 4 + addresses * bytes_per_address(len),
        "memory grew with the records: {small_peak} -> {big_peak} bytes"
    );

    // Judging and printing keep only the worst pools, whatever --top.
    let (text, render_peak) = peak_of(|| render(&big, 100));
    assert!(render_peak <= 4 * MIB, "rendering took {render_peak} bytes");
    assert!(text.len() <= NRPE_MAX, "{} bytes of output", text.len());
    assert_eq!(text.matches('|').count(), 1);
    drop(big);

    // The longest lines there are: IPv6 addresses of 39 characters on both
    // ends and as local addresses, every pool listed, every count large.
    let mut builder = PoolsBuilder::new(&settings());
    let long = |a: u16, b: u16| {
        IpAddr::V6(Ipv6Addr::new(
            0xfeed,
            0xface,
            0xcafe,
            0xbeef,
            0xdead,
            0xbeef,
            a | 0x1000,
            b | 0x1000,
        ))
    };
    for i in 0..20_000u32 {
        let t = (i % 2000) as u16;
        let s = Socket::new(
            Protocol::Tcp,
            TcpState::ESTABLISHED,
            (long(t, 0xffff), 32768 + (i / 2000) as u16 * 97 + t),
            (long(0xffff, t), 65535),
        );
        builder.socket(&s);
        let u = Socket::new(
            Protocol::Udp,
            TcpState(7),
            (long(t, t), 40200 + t),
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        );
        builder.socket(&u);
    }
    let worst = builder.finish();
    let text = render(&worst, 100);
    assert!(
        text.lines().count() > 200,
        "expected every listed pool: {text}"
    );
    assert!(text.len() <= NRPE_MAX, "{} bytes of output", text.len());
    let _ = writeln_stderr(&format!(
        "longest output with --top 100: {} bytes",
        text.len()
    ));
}

fn writeln_stderr(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{line}")
}
