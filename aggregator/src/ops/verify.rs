//! `verify-metrics`: which series have gaps in a recent window, and which
//! went silent, since when. A gap is two consecutive points further apart
//! than `tolerance` collection intervals (metrics.yml `collection.interval`);
//! a series is silent when its last point in the window is older than that.
//!
//! The queries are the store's ([`crate::store::verify`]).

pub use crate::store::verify::{Gap, Report, verify};
