//! The writers: the text report, the JSON, the CSV and the HTML page, each from the same
//! `results::summary::Summary` (a sweep: its steps), so no two formats can disagree.

pub mod ascii;
pub mod chart;
pub mod compare;
pub mod csv;
pub mod figures;
pub mod hgrm;
pub mod html;
pub mod json;
pub mod locust;
pub mod sweep;
pub mod tables;
pub mod text;
