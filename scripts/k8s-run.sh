#!/usr/bin/env bash
# A distributed blast run on Kubernetes, end to end with kubectl (docs/distributed.md):
# creates an Indexed Job of N blast pods that all start their load at one wall-clock instant
# (--start-at, computed here as now + --lead), waits for it, collects each pod's JSON report
# from its log, and merges them with a local blast into OUT/merged.json and OUT/merged.html.
#
#   scripts/k8s-run.sh [options] N URL -- BLAST_ARGS...
#
# Each pod runs `blast BLAST_ARGS URL`: -c and --rate are per pod (4 pods of -c 256 open
# 1,024 connections; 4 pods of --rate 10k send 40k/s in all).
#
# Options:
#   --image IMAGE       the blast image (deploy/kubernetes/Dockerfile)  [blast:latest]
#   --name NAME         the Job's name                                  [blast-<UTC time>]
#   --namespace NS      the namespace                                   [kubectl's current]
#   --cpus N            CPUs per pod, requested and limited alike (Guaranteed QoS: whole
#                       cores with the static CPU manager); blast gets -t N unless
#                       BLAST_ARGS set -t                               [2]
#   --memory SIZE       memory per pod, requested and limited alike    [1Gi]
#   --lead SECONDS      from now to the start, for scheduling and pulling the image  [60]
#   --start-at TIME     the start instead (RFC 3339, UTC)
#   --out DIR           where the logs, reports and merged report go    [k8s-results/NAME]
#   --wait SECONDS      the longest to wait for the Job to finish       [7200]
#   --dry-run           print the Job's manifest and do nothing else
#   --from-logs DIR     no cluster: collect and merge the reports in DIR/*.log (pod logs
#                       saved earlier, or written by deploy/kubernetes/blast-pod.sh)
# Environment: BLAST, the blast that merges (default: blast on PATH, else this checkout's
# target/release/blast); KUBECTL (default kubectl).
# Bad arguments: one line on stderr, exit 2. Exit 1: the Job or the merge failed.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
die() {
    echo "k8s-run: $*" >&2
    exit 2
}

image=blast:latest name="" namespace="" cpus=2 memory=1Gi lead=60 start_at="" out=""
wait_s=7200 dry_run=false from_logs=""
while [ $# -gt 0 ]; do
    case "$1" in
    --image | --name | --namespace | --cpus | --memory | --lead | --start-at | --out | --wait | --from-logs)
        [ $# -ge 2 ] || die "$1 needs a value"
        value=$2
        case "$1" in
        --image) image=$value ;;
        --name) name=$value ;;
        --namespace) namespace=$value ;;
        --cpus) cpus=$value ;;
        --memory) memory=$value ;;
        --lead) lead=$value ;;
        --start-at) start_at=$value ;;
        --out) out=$value ;;
        --wait) wait_s=$value ;;
        --from-logs) from_logs=$value ;;
        esac
        shift 2
        ;;
    --dry-run)
        dry_run=true
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    --) break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
    esac
done

# The blast that merges the reports.
local_blast() {
    if [ -n "${BLAST:-}" ]; then
        echo "$BLAST"
    elif command -v blast >/dev/null 2>&1; then
        command -v blast
    elif [ -x "$here/../target/release/blast" ]; then
        echo "$here/../target/release/blast"
    else
        echo "k8s-run: no blast to merge with: put one on PATH, or set BLAST" >&2
        exit 1
    fi
}

# The JSON report between blast-pod.sh's markers in a pod's log.
extract_report() {
    awk '/^----- end of blast report -----$/ { inside = 0 }
         inside { print }
         /^----- blast report -----$/ { inside = 1 }' "$1"
}

# Reports from DIR/*.log into DIR/*.json, then merged into OUT: prints the merged text.
collect_and_merge() {
    local logs=$1 dest=$2 reports=() missing=0 log json
    mkdir -p "$dest"
    for log in "$logs"/*.log; do
        [ -e "$log" ] || continue
        json="$dest/$(basename "$log" .log).json"
        extract_report "$log" >"$json"
        if [ -s "$json" ]; then
            reports+=("$json")
        else
            rm -f "$json"
            missing=$((missing + 1))
            echo "k8s-run: $(basename "$log" .log) left no report; its log ends:" >&2
            tail -n 3 "$log" | sed 's/^/    /' >&2
        fi
    done
    [ ${#reports[@]} -gt 0 ] || {
        echo "k8s-run: no report in $logs/*.log" >&2
        exit 1
    }
    [ "$missing" -eq 0 ] || echo "k8s-run: merging ${#reports[@]} reports; $missing pods left none" >&2
    local status=0
    "$(local_blast)" merge "${reports[@]}" --json "$dest/merged.json" --html "$dest/merged.html" \
        >"$dest/merged.txt" || status=$?
    cat "$dest/merged.txt"
    [ "$status" -ne 2 ] || exit 1
    echo "k8s-run: the merged report is $dest/merged.json (and .html, .txt)" >&2
    return "$status"
}

if [ -n "$from_logs" ]; then
    [ -d "$from_logs" ] || die "--from-logs: $from_logs is not a directory"
    collect_and_merge "$from_logs" "${out:-$from_logs}"
    exit $?
fi

[ $# -ge 2 ] || die "usage: k8s-run.sh [options] N URL -- BLAST_ARGS... (see --help)"
pods=$1 url=$2
shift 2
[ $# -eq 0 ] || [ "$1" = "--" ] || die "BLAST_ARGS come after --, not '$1'"
[ $# -eq 0 ] || shift
blast_args=("$@")

whole() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
whole "$pods" && [ "$pods" -le 10000 ] || die "N: '$pods' is not a number of pods (1 to 10000)"
whole "$cpus" || die "--cpus: '$cpus' is not a whole number of CPUs (Guaranteed QoS pins whole cores)"
whole "$lead" || die "--lead: '$lead' is not a number of seconds"
whole "$wait_s" || die "--wait: '$wait_s' is not a number of seconds"
[[ $memory =~ ^[1-9][0-9]*(Ki|Mi|Gi|Ti|k|M|G|T)?$ ]] || die "--memory: '$memory' is not a Kubernetes quantity (512Mi, 2Gi)"
[[ $url =~ ^https?://[^[:space:]]+$ ]] || die "URL: '$url' is not an http:// or https:// URL"
[ -z "$name" ] && name="blast-$(date -u +%Y%m%d-%H%M%S)"
[[ $name =~ ^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$ ]] ||
    die "--name: '$name' is not a Job name (lower-case letters, digits and '-', at most 52)"
if [ -z "$start_at" ]; then
    start_at=$(date -u -d "@$(($(date +%s) + lead))" +%Y-%m-%dT%H:%M:%SZ)
fi
for arg in "${blast_args[@]}"; do
    case "$arg" in
    --start-at | --start-at=*) die "BLAST_ARGS must not set --start-at: the helper sets one for every pod" ;;
    --json | --json=*) die "BLAST_ARGS must not set --json: each pod's report goes to its log" ;;
    -t | -t* | --threads | --threads=*) threads_given=true ;;
    esac
done
if [ -z "${threads_given:-}" ]; then
    blast_args=(-t "$cpus" "${blast_args[@]}")
fi
args=(--start-at "$start_at" "${blast_args[@]}" "$url")

for arg in "$image" "${args[@]}"; do
    [[ $arg != *[[:cntrl:]]* ]] || die "an argument holds a control character: $(printf '%q' "$arg")"
done

# A YAML double-quoted string (JSON's escapes, which YAML reads alike; no control
# characters, checked above).
yaml_string() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

manifest() {
    local listed="" arg
    for arg in "${args[@]}"; do
        listed+=$'\n'"            - $(yaml_string "$arg")"
    done
    cat <<EOF
# A distributed blast run: $pods pods, each starting its load at $start_at
# (scripts/k8s-run.sh; docs/distributed.md).
apiVersion: batch/v1
kind: Job
metadata:
  name: $name
  labels:
    app.kubernetes.io/name: blast
    app.kubernetes.io/instance: $name
spec:
  completionMode: Indexed
  completions: $pods
  parallelism: $pods
  # A pod that fails (it came up after the start, or its arguments are bad) fails alone:
  # the others go on, and their reports are merged.
  backoffLimitPerIndex: 0
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: blast
        app.kubernetes.io/instance: $name
    spec:
      restartPolicy: Never
      enableServiceLinks: false
      automountServiceAccountToken: false
      # One pod per node where there are enough nodes: clients that share a node share its
      # CPUs and network.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app.kubernetes.io/instance: $name
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        # The runtime's default profile blocks io_uring: blast then runs on epoll, and says so.
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: blast
          image: $(yaml_string "$image")
          imagePullPolicy: IfNotPresent
          command: ["blast-pod"]
          args:$listed
          # Requests equal to limits, in whole CPUs: Guaranteed QoS, so that the kubelet's
          # static CPU manager policy, where enabled, gives the pod cores of its own.
          resources:
            requests:
              cpu: "$cpus"
              memory: $memory
            limits:
              cpu: "$cpus"
              memory: $memory
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # The report, before the entrypoint prints it to the log.
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
EOF
}

rendered=$(manifest)
if $dry_run; then
    printf '%s\n' "$rendered"
    exit 0
fi

kubectl=${KUBECTL:-kubectl}
k() {
    if [ -n "$namespace" ]; then "$kubectl" --namespace "$namespace" "$@"; else "$kubectl" "$@"; fi
}
command -v "$kubectl" >/dev/null 2>&1 || die "kubectl is not installed (or set KUBECTL)"
local_blast >/dev/null
out=${out:-k8s-results/$name}
mkdir -p "$out/logs"
printf '%s\n' "$rendered" | k apply -f - >&2
echo "k8s-run: job/$name: $pods pods start at $start_at; reports in $out" >&2

# Until every index succeeded or failed, or --wait ran out.
deadline=$(($(date +%s) + wait_s))
while :; do
    counts=$(k get job "$name" -o jsonpath='{.status.succeeded}/{.status.failed}') || {
        echo "k8s-run: cannot read job/$name" >&2
        exit 1
    }
    IFS=/ read -r succeeded failed <<<"$counts"
    succeeded=${succeeded:-0} failed=${failed:-0}
    [ $((succeeded + failed)) -lt "$pods" ] || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "k8s-run: job/$name not finished after ${wait_s}s ($succeeded of $pods done); collecting what there is" >&2
        break
    fi
    sleep 5
done

for pod in $(k get pods -l "batch.kubernetes.io/job-name=$name" -o jsonpath='{.items[*].metadata.name}'); do
    k logs "$pod" >"$out/logs/$pod.log" 2>&1 || echo "k8s-run: no log from $pod" >&2
done
collect_and_merge "$out/logs" "$out"
