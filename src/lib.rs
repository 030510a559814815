//! blast: an HTTP/1.1 load generator. See docs/design.md for the data flow.

pub mod app;
pub mod check;
pub mod chunked;
pub mod cli;
pub mod config;
pub mod conn;
pub mod engine;
pub mod health;
pub mod json_scan;
pub mod known_heads;
pub mod limits;
pub mod pacer;
pub mod plan;
pub mod report;
pub mod request;
pub mod response;
pub mod series;
pub mod serve;
pub mod signal;
pub mod stats;
pub mod sweep;
pub mod target;
pub mod ticker;
pub mod timeouts;
pub mod units;
pub mod worker;
