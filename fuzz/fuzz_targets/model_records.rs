//! Arbitrary socket records through the whole pure pipeline: model, judge
//! and text. The first bytes choose the kernel settings; the rest are
//! `inet_diag_msg` records of 72 bytes, each a `marked` or `socket` call.
//! No panic, no pool with more free ports than capacity, one `|` in the
//! output.

#![no_main]

use check_ephemeral::read::diag::wire::{self, MSG_LEN};
use check_ephemeral::judge::{self, Selection, Thresholds};
use check_ephemeral::report::{self, Context};
use check_ephemeral::model::{Kind, Pool, PoolsBuilder};
use check_ephemeral::read::ports::{PortRange, ReservedPorts};
use check_ephemeral::read::settings::{KernelSettings, TwReuse};
use check_ephemeral::read::socket::{Protocol, Sink};
use libfuzzer_sys::fuzz_target;

fn settings(head: &[u8; 8]) -> KernelSettings {
    let lo = u16::from_be_bytes([head[0], head[1]]).max(1);
    let len = u16::from_be_bytes([head[2], head[3]]) % 512;
    let hi = lo.saturating_add(len);
    let reserved = format!(
        "{}-{}",
        lo.saturating_add(u16::from(head[4] % 8)),
        lo.saturating_add(u16::from(head[4] % 8) + u16::from(head[5] % 4))
    );
    KernelSettings {
        range: PortRange { lo, hi },
        reserved: reserved
            .parse()
            .unwrap_or_else(|_| ReservedPorts::default()),
        tw_reuse: match head[6] % 3 {
            0 => TwReuse::Never,
            1 => TwReuse::Always,
            _ => TwReuse::LoopbackOnly,
        },
        timestamps: head[7] & 1 == 1,
        tw_reuse_delay_ms: (head[7] & 2 == 2).then_some(1000),
    }
}

fn check(pool: &Pool) {
    assert!(pool.free <= pool.capacity, "{pool:?}");
    assert!((0.0..=100.0).contains(&pool.used_pct()), "{pool:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((head, records)) = data.split_first_chunk::<8>() else {
        return;
    };
    let settings = settings(head);
    let mut builder = PoolsBuilder::new(&settings);
    let mut sockets = Vec::new();
    for chunk in records.chunks(MSG_LEN + 1) {
        let Some((&how, record)) = chunk.split_first() else {
            continue;
        };
        let protocol = if how & 2 == 0 {
            Protocol::Tcp
        } else {
            Protocol::Udp
        };
        if let Ok(socket) = wire::parse_record(record, protocol) {
            sockets.push((how & 1 == 1, socket));
        }
    }
    // The readers hand over every mark before the first socket.
    for (_, s) in sockets.iter().filter(|(marked, _)| *marked) {
        builder.marked(s);
    }
    for (_, s) in sockets.iter().filter(|(marked, _)| !*marked) {
        builder.socket(s);
    }
    let model = builder.finish();
    model.connect_pools().for_each(|p| check(&p));
    model
        .bind_addresses()
        .for_each(|a| check(&model.bind_pool(a)));
    model.udp_pools().for_each(|p| check(&p));

    let thresholds = Thresholds {
        used_warning: "70".parse().ok(),
        used_critical: "90".parse().ok(),
        free_warning: "@0:5".parse().ok(),
        free_critical: None,
    };
    let selection = Selection {
        kinds: Kind::ALL.to_vec(),
        sources: Vec::new(),
        destinations: Vec::new(),
    };
    let report = judge::judge(&model, &selection, &thresholds, 3);
    let text = report::render(&report, &model, &thresholds, &Context {
        top: 5,
        ..Context::default()
    });
    assert_eq!(text.matches('|').count(), 1, "{text}");
    assert!(text.starts_with("EPHEMERAL "), "{text}");
});
