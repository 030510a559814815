//! The books and what they come to: per-core `Stats` and per-second rows while running, the
//! `Summary` derived once after (the report as data), the objective's verdict, and reports
//! read back, merged and compared.

pub mod compare;
pub mod failures;
pub mod merge;
pub mod numbers;
pub mod record;
pub mod series;
pub mod slo;
pub mod stats;
pub mod summary;
pub mod tally;
pub mod usage;
