//! Reading a namespace's conntrack table for the NAT pools: its size and
//! counters (anyone may read them), then its entries (CAP_NET_ADMIN),
//! handed one at a time to the caller. Asked for by name, a table that
//! cannot be read is an error; otherwise the reason is kept for a note.

use std::net::IpAddr;
use std::path::Path;

use super::conntrack::{self, EntriesRead, Entry, TableFigures, Unreadable};
use crate::error::{Error, Result};

/// What the NAT read needs to know.
#[derive(Clone, Copy, Debug)]
pub struct NatRequest<'a> {
    /// The namespace's /proc/net.
    pub proc_dir: &'a Path,
    /// Whether NAT pools were asked for by name (`--pools nat`).
    pub required: bool,
    /// The one NAT address asked for (`--source`): the kernel may leave out
    /// every entry whose reply goes elsewhere.
    pub replies_to: Option<IpAddr>,
    /// Whether this process may dump the table (CAP_NET_ADMIN in its
    /// effective set; true where that set is unknown, so the dump decides).
    pub may_dump: bool,
}

/// What reading conntrack gave.
#[derive(Debug, Default)]
pub struct NatRead {
    /// The table's size and counters; `None` where there is no table.
    pub figures: Option<TableFigures>,
    /// How the entries were read, where they were.
    pub read: Option<EntriesRead>,
    /// Why the entries could not be read (the figures still were); entries
    /// handed on before the failure are then to be dropped.
    pub unread: Option<Unreadable>,
}

/// Reads the table, handing each entry to `each`.
pub fn read_nat(request: NatRequest, each: &mut dyn FnMut(&Entry)) -> Result<NatRead> {
    let Some(mut figures) =
        conntrack::read_figures(Path::new(conntrack::NETFILTER_DIR), request.proc_dir)
    else {
        if request.required {
            return Err(Error::NoConntrack);
        }
        return Ok(NatRead::default());
    };
    // An empty table has no NAT pools; skipping its dump (a walk of the
    // host's whole conntrack hash) keeps a sweep of idle namespaces cheap.
    // Asked for by name, the dump still runs, so a missing privilege shows
    // before the first NAT entry appears. Skipped, a process without the
    // privilege is still told so: whether entries would be hidden from it
    // must not come and go with whether the table happens to hold any.
    if figures.entries == 0 && !request.required {
        return Ok(NatRead {
            figures: Some(figures),
            read: None,
            unread: (!request.may_dump).then_some(Unreadable::Privilege),
        });
    }
    match conntrack::read_entries(request.proc_dir, request.replies_to, each) {
        Ok(read) => {
            if read.from == conntrack::EntriesFrom::Netlink
                && let Some(counters) = conntrack::netlink_counters()
            {
                figures.insert_failed = counters.insert_failed;
                figures.drop = counters.drop;
                figures.early_drop = counters.early_drop;
            }
            Ok(NatRead {
                figures: Some(figures),
                read: Some(read),
                unread: None,
            })
        }
        Err(Unreadable::Privilege) if request.required => Err(Error::privilege(
            "--pools nat",
            "CAP_NET_ADMIN".into(),
            "cap_net_admin".into(),
        )),
        Err(Unreadable::Failed(error)) if request.required => Err(error),
        // The table's size is judged even where its entries are hidden.
        Err(why) => Ok(NatRead {
            figures: Some(figures),
            read: None,
            unread: Some(why),
        }),
    }
}
