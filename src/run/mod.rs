//! From the command line to a plan: flags (`cli`), the validated settings (`config`), the
//! target URL and the request mix, the health check and the open-files limit, and the plan
//! the engine runs; `app` runs it (or a sweep of runs) and hands the summary to the writers.

pub mod app;
pub mod cli;
pub mod config;
pub mod flow;
pub mod health;
pub mod limits;
pub mod mix;
pub mod openapi;
pub mod plan;
pub mod record;
pub mod sweep;
pub mod url;
