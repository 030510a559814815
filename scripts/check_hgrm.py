"""Checks a `blast --hgrm` file against the latency histogram of the same run's JSON report,
decoded by the Python hdrhistogram package (an HdrHistogram implementation independent of the
Rust crate blast uses). Prints what disagrees and exits 1, or exits 0.

    python3 scripts/check_hgrm.py REPORT.json KEY FILE.hgrm

KEY is the report's histogram: `data` (the latency) or `uncorrected_data` (rate mode, from the
actual send). Every row must be the first recorded value (its highest equivalent, in ms) at
which the share of the count reaches the row's percentile, with the count up to it; the last
row is the maximum at 100%; the footer's mean, deviation, maximum and count are the
histogram's.
"""
import json
import sys

from hdrh.histogram import HdrHistogram


def rows_and_footer(path):
    rows, footer = [], {}
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"], lines[0]
    assert lines[1] == "", "a blank line after the header"
    for line in lines[2:]:
        if line.startswith("#["):
            for part in line.strip("#[]").split(","):
                name, value = part.split("=")
                footer[name.strip()] = float(value)
        else:
            fields = line.split()
            rows.append((fields[0], float(fields[1]), int(fields[2]), fields[3:]))
    return rows, footer


def main(report_path, key, hgrm_path):
    with open(report_path) as f:
        report = json.load(f)
    h = HdrHistogram.decode(report["histogram"][key])
    total = h.get_total_count()
    recorded, cum = [], 0
    for item in h.get_recorded_iterator():
        cum += item.count_at_value_iterated_to
        recorded.append((h.get_highest_equivalent_value(item.value_iterated_to), cum))
    rows, footer = rows_and_footer(hgrm_path)
    ms = lambda ns: f"{ns / 1e6:.3f}"
    problems = []
    if footer["Total count"] != total:
        problems.append(f"count {footer['Total count']} != {total}")
    if f"{footer['Max']:.3f}" != ms(h.get_highest_equivalent_value(h.get_max_value())):
        problems.append(f"max {footer['Max']} != {ms(h.get_max_value())}")
    if abs(footer["Mean"] - h.get_mean_value() / 1e6) > 0.002:
        problems.append(f"mean {footer['Mean']} != {h.get_mean_value() / 1e6}")
    if abs(footer["StdDeviation"] - h.get_stddev() / 1e6) > 0.002:
        problems.append(f"stdev {footer['StdDeviation']} != {h.get_stddev() / 1e6}")
    for value, quantile, count, inverse in rows[:-1]:
        first = next((v, c) for v, c in recorded if 100.0 * c / total >= 100.0 * quantile - 1e-9)
        if (value, count) != (ms(first[0]), first[1]):
            problems.append(f"row {value} {quantile} {count}: expected {ms(first[0])} {first[1]}")
        # The percentile is printed to 12 decimals, so 1/(1-q) read back from it is off by up
        # to 5e-13 * (1/(1-q))^2: 0.024 at 218,453 (the deep rows of a long run).
        exact = 1 / (1 - quantile)
        if abs(float(inverse[0]) - exact) > 0.01 + 1e-12 * exact * exact:
            problems.append(f"row {value} {quantile}: 1/(1-Percentile) {inverse[0]}")
    value, quantile, count, inverse = rows[-1]
    if (quantile, count, inverse) != (1.0, total, []) or value != ms(recorded[-1][0]):
        problems.append(f"last row {rows[-1]}")
    if len(rows) < 10:
        problems.append(f"only {len(rows)} rows")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
