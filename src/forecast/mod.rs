//! Stage 3, the forecast: how fast each pool fills and where it is heading,
//! from one snapshot of the model (see the README's "Forecast"), and with
//! `--trend` the growth across runs. Hands a [`Forecaster`] to `judge`.
//!
//! - `pace`: the pace of new closes, read from the ages of a pool's entries;
//! - `projection`: the use the pool settles at and when it fills, with
//!   `walk` for where `connect()` takes old TIME_WAIT entries over;
//! - `pools`: what the forecast needs of each connect, bind and TCP NAT
//!   pool of the model, and the forecast of a pool;
//! - `trend`: what one run keeps for the next (`--trend`), and the growth
//!   a second look shows;
//! - `upstream`: the provider NAT's pools, their closes projected over the
//!   provider's hold.
//!
//! The pace and the projection know nothing of sockets or addresses, so
//! any pool whose ports are held for a fixed time after a close can use
//! them.

pub mod pace;
pub mod pools;
pub mod projection;
pub mod trend;
pub mod upstream;
mod walk;

pub use pace::{Ages, BUCKETS, Pace, Seen, pace};
pub use pools::Forecaster;
pub use projection::{Forecast, Limits, PoolNow, forecast, forecast_at};
pub use walk::Walk;

#[cfg(test)]
mod tests;
