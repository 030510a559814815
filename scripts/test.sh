#!/usr/bin/env bash
# Installs what the tests need, then runs formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test --release
