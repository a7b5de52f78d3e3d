//! p2pmon aggregator: the central service. Agents deliver batches to the
//! ingest listener; the aggregator authenticates the host, checks every
//! record, stores it in the embedded store, and fans it out to WebSocket
//! clients; FluxCP and the dashboard read the query API.
//!
//! - [`config`]: aggregator.yml and metrics.yml.
//! - [`auth`]: join tokens, host credentials, API tokens.
//! - [`ingest`]: enrollment, hello, batches, and every ingest limit.
//! - [`store`]: SQLite (WAL): raw points, 1 min and 1 h rollups, retention;
//!   [`tsdb`]: the same points forwarded to InfluxDB (optional).
//! - [`state`]: what is kept in memory (latest values, host status, counters).
//! - [`api`]: the query API; [`fanout`]: the WebSocket feed; [`web`]: the
//!   dashboard pages and their sessions.
//! - [`alerting`]: rules, alerts, channels, automatic actions.
//! - [`coordinator`]: events the coordinator pushes; [`uptime`]: uptime as
//!   an SLA counts it, from `server_up` minutes.
//! - [`server`]: wiring and shutdown; [`limits`]: listener timeouts and
//!   connection caps; [`cli`]: the commands; [`ops`]:
//!   cleanup, backup and restore.

pub mod access_log;
pub mod after_store;
pub mod alerting;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod coordinator;
pub mod exposition;
pub mod fanout;
pub mod feed;
pub mod ingest;
pub mod limits;
pub mod live;
pub mod ops;
pub mod players;
pub mod refusal;
pub mod server;
pub mod state;
pub mod status_page;
pub mod store;
pub mod tsdb;
pub mod uptime;
pub mod web;
