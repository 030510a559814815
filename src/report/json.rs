//! The JSON report (`--json`): the `Summary` as serde writes it, every key documented in
//! docs/output.md and docs/output.schema.json. Keys come out sorted (serde_json's map), so a
//! report diffs the same whatever the field order in the code.

use std::io::{self, Write};

use serde_json::Value;

use crate::results::summary::Summary;

pub fn to_value(s: &Summary) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

pub fn write(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(s))?;
    writeln!(out)
}
