//! blast: an HTTP/1.1 load generator. The folders follow the data flow (docs/design.md):
//! `run` turns the command line into a plan, `engine` runs it on one runtime per core,
//! `http` writes the requests and frames the answers, `check` judges them, `results` keeps
//! the books and derives the summary, `report` writes it, `live` serves the run while it
//! goes (Prometheus metrics, a dashboard). `serve` is the built-in target,
//! `tls` the https layer, `units` the number formats they share.

pub mod check;
pub mod engine;
pub mod http;
pub mod live;
pub mod report;
pub mod results;
pub mod run;
pub mod serve;
pub mod tls;
pub mod units;
