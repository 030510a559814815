#!/bin/sh
# The entrypoint of a blast pod in a distributed run (scripts/k8s-run.sh, docs/distributed.md).
# Runs blast with the pod's arguments and keeps its JSON report, then prints the report to the
# pod's log between two marker lines: a finished pod's files cannot be copied out, but its log
# can be read, and the helper script collects the reports from the logs with `kubectl logs`.
# blast's stderr joins its stdout so that the log keeps the order things were written in.
# Exit status: 0 when a report was written (an --slo miss or a run without a success, blast's
# exit 1, is judged on the merged report, and a failed pod would stop its Job's other pods);
# otherwise blast's (2: bad arguments, or a --start-at the pod came up too late for).
set -u
report=${BLAST_REPORT:-/tmp/blast-report.json}
rm -f "$report"
"${BLAST:-blast}" "$@" --json "$report" 2>&1
status=$?
if [ -s "$report" ]; then
    echo "----- blast report -----"
    cat "$report"
    echo "----- end of blast report -----"
    exit 0
fi
exit "$status"
