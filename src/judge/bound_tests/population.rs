//! Generated namespaces for the bound's property tests: settings, socket
//! records as the readers hand them, and the counters the kernel keeps.

use super::*;

/// One generated namespace: its settings, its records as the readers hand
/// them, and the counters the kernel keeps for them.
#[derive(Debug)]
pub(super) struct Population {
    pub(super) settings: KernelSettings,
    pub(super) marked: Vec<Socket>,
    pub(super) sockets: Vec<Socket>,
    pub(super) counters: Counters,
}

pub(super) fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The draws of one socket: which address, port and peer, and what it is.
#[derive(Clone, Debug)]
pub(super) struct SocketDraw {
    pub(super) local: usize,
    /// Below the range's start by up to 5, past its end by up to 5.
    pub(super) port_offset: u16,
    pub(super) remote: usize,
    pub(super) remote_port: usize,
    pub(super) what: u8,
    pub(super) state: usize,
    pub(super) marked: bool,
    /// A TIME_WAIT's time left; a young one's time already spent.
    pub(super) expires_ms: u32,
    pub(super) young_spent_ms: u32,
}

/// The draws of one namespace, before its sockets.
#[derive(Clone, Debug)]
pub(super) struct NamespaceDraw {
    pub(super) lo: u16,
    pub(super) len: u16,
    pub(super) reserved: u8,
    pub(super) tw_reuse: TwReuse,
    pub(super) timestamps: bool,
    pub(super) tw_reuse_delay_ms: Option<u32>,
    /// Sockets of no table (unix and others).
    pub(super) unseen: u64,
    /// Whether any TIME_WAIT is made: half without, which the forecast
    /// bound makes loose.
    pub(super) closes: bool,
    /// A burst of young TIME_WAITs: the fastest pace there is.
    pub(super) young: bool,
}

pub(super) fn population() -> impl Strategy<Value = Population> {
    let namespace = (
        (0..100u16, 5..125u16, 0..3u8),
        select(vec![TwReuse::Never, TwReuse::Always, TwReuse::LoopbackOnly]),
        prop::bool::weighted(0.7),
        select(vec![None, Some(1000), Some(2500), Some(100)]),
        0..20u64,
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |((lo, len, reserved), tw_reuse, timestamps, delay, unseen, closes, young)| {
                NamespaceDraw {
                    lo: 40000 + lo,
                    len,
                    reserved,
                    tw_reuse,
                    timestamps,
                    tw_reuse_delay_ms: delay,
                    unseen,
                    closes,
                    young,
                }
            },
        );
    // Sparse to over-full.
    (namespace, select(vec![1u64, 3]), select(vec![1u64, 2, 8]))
        .prop_flat_map(|(ns, times, over)| {
            let most = (u64::from(ns.len) * times / over).max(1) as usize;
            let socket = (
                (0..6usize, 0..ns.len + 10, 0..3usize, 0..4usize),
                (0..10u8, 0..2usize, prop::bool::weighted(0.3)),
                (0..60_001u32, 0..1500u32),
            )
                .prop_map(
                    |((local, port_offset, remote, remote_port), (what, state, marked), (e, y))| {
                        SocketDraw {
                            local,
                            port_offset,
                            remote,
                            remote_port,
                            what,
                            state,
                            marked,
                            expires_ms: e,
                            young_spent_ms: y,
                        }
                    },
                );
            (Just(ns), prop::collection::vec(socket, 0..most))
        })
        .prop_map(|(ns, sockets)| population_of(&ns, &sockets))
}

pub(super) fn population_of(ns: &NamespaceDraw, draws: &[SocketDraw]) -> Population {
    let (lo, len) = (ns.lo, ns.len);
    let range = PortRange::new(lo, lo + len - 1).unwrap();
    let reserved = match ns.reserved {
        0 => String::new(),
        1 => format!("{lo}"),
        _ => format!("{}-{}", lo + 2, lo + 4),
    };
    let settings = KernelSettings {
        range,
        reserved: reserved.parse().unwrap(),
        tw_reuse: ns.tw_reuse,
        timestamps: ns.timestamps,
        tw_reuse_delay_ms: ns.tw_reuse_delay_ms,
    };
    let locals = [
        addr("127.0.0.1"),
        addr("127.0.0.2"),
        addr("::1"),
        addr("10.0.0.1"),
        addr("0.0.0.0"),
        addr("::"),
    ];
    let remotes = [addr("127.0.0.1"), addr("10.0.0.9"), addr("::1")];
    let mut p = Population {
        settings,
        marked: Vec::new(),
        sockets: Vec::new(),
        counters: Counters::default(),
    };
    let mut counts = Counts::default();
    let mut used = ns.unseen;
    for d in draws {
        let local = locals[d.local];
        let port = lo - 5 + d.port_offset;
        let remote = (remotes[d.remote], [80, 443, 5432, lo + 1][d.remote_port]);
        let v6 = local.is_ipv6();
        let tcp = |state| Socket::new(Protocol::Tcp, state, (local, port), remote);
        let what = match d.what {
            4..=7 if !ns.closes => 3,
            n => n,
        };
        match what {
            0 => {
                p.marked.push(tcp(TcpState::LISTEN));
                used += 1;
                *if v6 {
                    &mut counts.tcp6
                } else {
                    &mut counts.tcp
                } += 1;
            }
            1 => {
                // Bound, neither listening nor connected: only `used`.
                p.marked.push(tcp(TcpState::CLOSE));
                used += 1;
            }
            2 | 3 => {
                let s = tcp([TcpState::ESTABLISHED, TcpState::FIN_WAIT2][d.state]);
                if d.marked {
                    p.marked.push(s);
                }
                p.sockets.push(s);
                used += 1;
                *if v6 {
                    &mut counts.tcp6
                } else {
                    &mut counts.tcp
                } += 1;
            }
            4..=7 => {
                let mut s = tcp(TcpState::TIME_WAIT);
                s.expires_ms = if ns.young {
                    60_000 - d.young_spent_ms
                } else {
                    d.expires_ms
                };
                p.sockets.push(s);
                counts.time_wait += 1;
            }
            _ => {
                let s = Socket::new(Protocol::Udp, TcpState::CLOSE, (local, port), remote);
                p.sockets.push(s);
                used += 1;
                *if v6 {
                    &mut counts.udp6
                } else {
                    &mut counts.udp
                } += 1;
            }
        }
    }
    counts.sockets = Some(used);
    p.counters = Counters {
        sockstat: counts,
        conntrack: None,
    };
    p
}

pub(super) fn model_of(p: &Population) -> Model {
    let mut builder = PoolsBuilder::new(&p.settings);
    for s in &p.marked {
        builder.marked(s);
    }
    for s in &p.sockets {
        builder.socket(s);
    }
    builder.finish()
}

/// Every pool of the model: each tuple's, a new tuple's, each address's,
/// and UDP's.
pub(super) fn every_pool(model: &Model) -> Vec<Pool> {
    let mut pools: Vec<Pool> = model.connect_pools().collect();
    pools.push(model.new_connect_pool(crate::model::PoolName::NewTuple {
        source: None,
        destination: None,
        port: None,
    }));
    pools.extend(model.bind_addresses().map(|a| model.bind_pool(a)));
    pools.extend(model.udp_pools());
    pools
}

pub(super) fn range(choices: &[&'static str]) -> impl Strategy<Value = Option<Range>> + use<> {
    select(choices.to_vec()).prop_map(|text| (!text.is_empty()).then(|| text.parse().unwrap()))
}

pub(super) type RuleParts = (Selection, Thresholds, ForecastRule);

pub(super) fn rule_parts() -> impl Strategy<Value = RuleParts> {
    let kinds = prop::collection::vec(prop::bool::weighted(0.6), 4).prop_map(|chosen| {
        let all = [Kind::Connect, Kind::Bind, Kind::Udp, Kind::Nat];
        let mut kinds: Vec<Kind> = all
            .into_iter()
            .zip(chosen)
            .filter(|(_, c)| *c)
            .map(|(k, _)| k)
            .collect();
        if kinds.is_empty() {
            kinds.push(Kind::Connect);
        }
        kinds
    });
    // Sometimes narrowed: fewer pools, or one tuple that may hold nothing.
    let narrowing = (
        prop::bool::weighted(0.3),
        select(vec![addr("127.0.0.1"), addr("10.0.0.1"), addr("::1")]),
        prop::bool::weighted(0.5),
        select(vec![None, Some(5432), Some(80)]),
    );
    let selection =
        (kinds, narrowing).prop_map(|(kinds, (narrowed, source, one, port))| Selection {
            kinds,
            sources: match narrowed {
                true => vec![source],
                false => Vec::new(),
            },
            destinations: match narrowed && one {
                true => vec![super::super::super::Destination {
                    addr: addr("127.0.0.1"),
                    port,
                }],
                false => Vec::new(),
            },
        });
    let thresholds = (
        range(&["70", "30", "95", "", "@~:5", "10:"]),
        range(&["90", "50", "", "99"]),
        range(&["", "20:", "5:", "@0:3"]),
        range(&["", "2:", "10:"]),
    )
        .prop_map(
            |(used_warning, used_critical, free_warning, free_critical)| Thresholds {
                used_warning,
                used_critical,
                free_warning,
                free_critical,
            },
        );
    let forecast =
        (prop::bool::weighted(0.8), prop::bool::weighted(0.2)).prop_map(|(on, no_warning)| {
            let mut forecast = if on {
                ForecastRule::default()
            } else {
                ForecastRule::off()
            };
            if no_warning {
                forecast.full_in_warning = None;
            }
            forecast
        });
    (selection, thresholds, forecast)
}
