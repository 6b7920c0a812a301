#!/usr/bin/env bash
# Strata demo: a global, deduplicated view over three Prometheus servers.
#
#   scripts/demo.sh           start everything, print example commands, wait for Ctrl-C
#   scripts/demo.sh --check   start everything, wait until `up` through the querier shows
#                             both clusters deduplicated, print it and exit 0 (CI proof)
#
# Runs on 127.0.0.1 only:
#   Prometheus eu1 replica 0 and 1 (an HA pair) and us1 replica 0, scrape interval 1s,
#   each scraping the Prometheus servers and sidecars of its cluster and the querier;
#   one strata sidecar per Prometheus, uploading finished blocks to a local FILESYSTEM bucket;
#   a strata store gateway on that bucket; a strata compactor on it (block viewer on 10907);
#   an "edge" Prometheus (cluster edge) without a sidecar that remote-writes, as tenant
#   edge, to a strata receive (remote write on 19291, gRPC on 10908);
#   one strata querier on 10901 (gRPC) / 10902 (HTTP)
#   deduplicating on the `replica`, `receive_replica` and `ruler_replica` labels;
#   a strata rule (gRPC 10910, HTTP 10911) evaluating a recording rule and an alert over
#   the querier, sending the alert to an Alertmanager on 9093. Busy ports are replaced by free ones (printed).
# Data and logs live in a temp dir that is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.bin
GO=${GO:-go}
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

log() { printf '%s demo: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building strata, prometheus, promtool and alertmanager into .bin/ (first builds take minutes)"
(cd "$ROOT" &&
  "$GO" build -o "$BIN/strata" ./cmd/strata &&
  "$GO" build -o "$BIN/" github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool &&
  GO=$GO ./scripts/build-alertmanager.sh)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")
PIDS=()
NAMES=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then
    log "stopping ${#PIDS[@]} processes"
    kill "${PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "${PIDS[@]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# pick_port VAR PREFERRED: sets VAR to PREFERRED, or the next port that is
# neither listening on 127.0.0.1 nor already picked.
TAKEN=" "
pick_port() {
  local p=$2
  while [[ $TAKEN == *" $p "* ]] || (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
    p=$((p + 1))
  done
  TAKEN+="$p "
  if [[ $p != "$2" ]]; then log "port $2 is busy, $1 uses $p"; fi
  printf -v "$1" '%s' "$p"
}

# start NAME CMD...: runs CMD in the background with output in $WORK/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}

# wait_ready NAME URL: waits up to 60s for URL to answer 200.
wait_ready() {
  local name=$1 url=$2
  for _ in $(seq 600); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$name is not ready at $url after 60s; its log:"
  tail -n 40 "$WORK/$name.log" >&2
  exit 1
}

REPLICAS=("eu1 0" "eu1 1" "us1 0")
declare -A PROM SC_GRPC SC_HTTP
pick_port Q_GRPC 10901
pick_port Q_HTTP 10902
pick_port ST_GRPC 10905
pick_port ST_HTTP 10906
pick_port C_HTTP 10907
pick_port R_GRPC 10908
pick_port R_HTTP 10909
pick_port R_WRITE 19291
pick_port EDGE 9099
pick_port RU_GRPC 10910
pick_port RU_HTTP 10911
pick_port AM 9093
i=0
for r in "${REPLICAS[@]}"; do
  pick_port "PROM[$r]" $((9090 + i))
  pick_port "SC_GRPC[$r]" $((10911 + i))
  pick_port "SC_HTTP[$r]" $((10921 + i))
  i=$((i + 1))
done

# targets CLUSTER KIND: YAML list of the cluster's Prometheus (KIND=prom) or sidecar HTTP (KIND=sidecar) addresses.
targets() {
  local out="" r
  for r in "${REPLICAS[@]}"; do
    [[ ${r% *} == "$1" ]] || continue
    if [[ $2 == prom ]]; then out+="\"127.0.0.1:${PROM[$r]}\", "; else out+="\"127.0.0.1:${SC_HTTP[$r]}\", "; fi
  done
  printf '[%s]' "${out%, }"
}

for r in "${REPLICAS[@]}"; do
  cluster=${r% *} replica=${r#* }
  name="prometheus-$cluster-$replica"
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels:
    cluster: "$cluster"
    replica: "$replica"
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: $(targets "$cluster" prom)}]
  - job_name: sidecar
    static_configs: [{targets: $(targets "$cluster" sidecar)}]
  - job_name: query
    static_configs: [{targets: ["127.0.0.1:$Q_HTTP"]}]
EOF
  start "$name" "$BIN/prometheus" \
    --config.file="$WORK/$name/prometheus.yml" --storage.tsdb.path="$WORK/$name/data" \
    --web.listen-address="127.0.0.1:${PROM[$r]}" \
    --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h --web.enable-lifecycle
done
for r in "${REPLICAS[@]}"; do
  wait_ready "prometheus-${r% *}-${r#* }" "http://127.0.0.1:${PROM[$r]}/-/ready"
done
log "3 Prometheus servers ready"

# The edge: a Prometheus that cannot have a sidecar pushes to a receiver.
start receive "$BIN/strata" receive --tsdb.path="$WORK/receive-data" --label='receive_replica="0"' \
  --remote-write.address="127.0.0.1:$R_WRITE" --grpc-address="127.0.0.1:$R_GRPC" --http-address="127.0.0.1:$R_HTTP"
mkdir -p "$WORK/prometheus-edge"
cat >"$WORK/prometheus-edge/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    cluster: edge
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$EDGE"]}]
  - job_name: receive
    static_configs: [{targets: ["127.0.0.1:$R_HTTP"]}]
remote_write:
  - url: http://127.0.0.1:$R_WRITE/api/v1/receive
    headers: {THANOS-TENANT: edge}
    queue_config: {batch_send_deadline: 1s}
EOF
start prometheus-edge "$BIN/prometheus" --config.file="$WORK/prometheus-edge/prometheus.yml" \
  --storage.tsdb.path="$WORK/prometheus-edge/data" --web.listen-address="127.0.0.1:$EDGE"
wait_ready receive "http://127.0.0.1:$R_HTTP/-/ready"
wait_ready prometheus-edge "http://127.0.0.1:$EDGE/-/ready"
log "receiver ready: remote write http://127.0.0.1:$R_WRITE/api/v1/receive (tenant edge, from the edge Prometheus)"

# The bucket: a local directory (FILESYSTEM). Sidecars upload every finished
# 2h block to it; the store gateway serves it.
mkdir -p "$WORK/bucket"
BUCKET="type: FILESYSTEM
config:
  directory: $WORK/bucket"

ENDPOINTS=()
for r in "${REPLICAS[@]}"; do
  name="sidecar-${r% *}-${r#* }"
  start "$name" "$BIN/strata" sidecar --prometheus.url="http://127.0.0.1:${PROM[$r]}" \
    --grpc-address="127.0.0.1:${SC_GRPC[$r]}" --http-address="127.0.0.1:${SC_HTTP[$r]}" \
    --tsdb.path="$WORK/prometheus-${r% *}-${r#* }/data" --objstore.config="$BUCKET"
  ENDPOINTS+=(--endpoint="127.0.0.1:${SC_GRPC[$r]}")
done
start store "$BIN/strata" store --objstore.config="$BUCKET" --sync-block-duration=1m --data-dir="$WORK/store-data" \
  --grpc-address="127.0.0.1:$ST_GRPC" --http-address="127.0.0.1:$ST_HTTP"
ENDPOINTS+=(--endpoint="127.0.0.1:$ST_GRPC" --endpoint="127.0.0.1:$R_GRPC" --endpoint="127.0.0.1:$RU_GRPC")
wait_ready store "http://127.0.0.1:$ST_HTTP/-/ready"
log "store gateway ready: blocks at http://127.0.0.1:$ST_HTTP/api/v1/blocks"
start compactor "$BIN/strata" compact --objstore.config="$BUCKET" --data-dir="$WORK/compact-data" --wait --wait-interval=5m \
  --deduplication.replica-label=replica --deduplication.func=penalty --http-address="127.0.0.1:$C_HTTP"
wait_ready compactor "http://127.0.0.1:$C_HTTP/-/ready"
log "compactor ready: block viewer at http://127.0.0.1:$C_HTTP/"
for r in "${REPLICAS[@]}"; do
  wait_ready "sidecar-${r% *}-${r#* }" "http://127.0.0.1:${SC_HTTP[$r]}/-/ready"
done
log "3 sidecars ready"

start querier "$BIN/strata" query "${ENDPOINTS[@]}" --query.replica-label=replica --query.replica-label=receive_replica --query.replica-label=ruler_replica \
  --grpc-address="127.0.0.1:$Q_GRPC" --http-address="127.0.0.1:$Q_HTTP"
wait_ready querier "http://127.0.0.1:$Q_HTTP/-/ready"
Q="http://127.0.0.1:$Q_HTTP"
log "querier ready: HTTP $Q, gRPC 127.0.0.1:$Q_GRPC"

# Alertmanager, and a ruler evaluating over the querier.
mkdir -p "$WORK/alertmanager"
cat >"$WORK/alertmanager/alertmanager.yml" <<EOF
route: {receiver: log, group_wait: 1s, group_interval: 5s, repeat_interval: 1h}
receivers: [{name: log}]
EOF
start alertmanager "$BIN/alertmanager" --config.file="$WORK/alertmanager/alertmanager.yml" \
  --storage.path="$WORK/alertmanager/data" --web.listen-address="127.0.0.1:$AM" --cluster.listen-address=
mkdir -p "$WORK/rule"
cat >"$WORK/rule/rules.yml" <<EOF
groups:
  - name: demo
    interval: 1s
    partial_response_strategy: warn
    rules:
      - record: cluster:up:count
        expr: count by (cluster) (up)
      - alert: ManyClusters
        expr: count(count by (cluster) (up)) >= 3
        for: 2s
        labels: {severity: info}
        annotations: {summary: "{{ \$value }} clusters report to the global view"}
EOF
wait_ready alertmanager "http://127.0.0.1:$AM/-/ready"
start rule "$BIN/strata" rule --query="$Q" --rule-file="$WORK/rule/rules.yml" --data-dir="$WORK/rule/data" \
  --label='ruler_replica="a"' --alert.label-drop=ruler_replica --alertmanagers.url="http://127.0.0.1:$AM" \
  --alert.query-url="$Q" --grpc-address="127.0.0.1:$RU_GRPC" --http-address="127.0.0.1:$RU_HTTP"
wait_ready rule "http://127.0.0.1:$RU_HTTP/-/ready"
log "ruler ready: rules http://127.0.0.1:$RU_HTTP/api/v1/rules, alerts in Alertmanager http://127.0.0.1:$AM"

if ((CHECK)); then
  # eu1: 2 Prometheus + 2 sidecars + querier; us1: 1 + 1 + querier — once each, deduplicated;
  # edge: its Prometheus and the receiver, through the receiver, as tenant edge.
  want_eu1=5 want_us1=3 want_edge=2
  out=""
  for _ in $(seq 180); do
    out=$("$BIN/promtool" query instant "$Q" up 2>&1 || true)
    eu1=$(grep -c 'cluster="eu1"' <<<"$out" || true)
    us1=$(grep -c 'cluster="us1"' <<<"$out" || true)
    edge=$(grep -c 'cluster="edge".*tenant_id="edge"' <<<"$out" || true)
    if [[ $eu1 == "$want_eu1" && $us1 == "$want_us1" && $edge == "$want_edge" ]] && ! grep -q 'replica=' <<<"$out"; then
      log "up through the querier, all clusters, deduplicated, the edge through the receiver:"
      printf '%s\n' "$out"
      break
    fi
    sleep 0.5
  done
  if [[ $eu1 != "$want_eu1" || $us1 != "$want_us1" || $edge != "$want_edge" ]]; then
    log "check FAILED: want $want_eu1 eu1, $want_us1 us1 and $want_edge edge (tenant_id=edge) series of up without a replica label; last answer:"
    printf '%s\n' "$out" >&2
    for n in "${NAMES[@]}"; do
      echo "----- $n (last 20 lines) -----" >&2
      tail -n 20 "$WORK/$n.log" >&2
    done
    exit 1
  fi
  # The ruler's alert reaches Alertmanager.
  alerts=""
  for _ in $(seq 120); do
    alerts=$(curl -fsS "http://127.0.0.1:$AM/api/v2/alerts" 2>/dev/null || true)
    if grep -q '"alertname":"ManyClusters"' <<<"$alerts" && ! grep -q ruler_replica <<<"$alerts"; then
      log "the ruler's alert ManyClusters is in Alertmanager:"
      printf '%s\n' "$alerts"
      log "check passed"
      exit 0
    fi
    sleep 0.5
  done
  log "check FAILED: the alert ManyClusters (without ruler_replica) is not in Alertmanager; its alerts:"
  printf '%s\n' "$alerts" >&2
  for n in "${NAMES[@]}"; do
    echo "----- $n (last 20 lines) -----" >&2
    tail -n 20 "$WORK/$n.log" >&2
  done
  exit 1
fi

cat <<EOF

Strata demo is running (data and logs in $WORK).

  open $Q

Prometheus: eu1/0 http://127.0.0.1:${PROM[eu1 0]}  eu1/1 http://127.0.0.1:${PROM[eu1 1]}  us1/0 http://127.0.0.1:${PROM[us1 0]}
Sidecars (gRPC): ${SC_GRPC[eu1 0]} ${SC_GRPC[eu1 1]} ${SC_GRPC[us1 0]}
Store gateway: gRPC 127.0.0.1:$ST_GRPC, blocks http://127.0.0.1:$ST_HTTP/api/v1/blocks
Compactor: block viewer http://127.0.0.1:$C_HTTP/ (merges the eu1 replicas' blocks into one copy)
Bucket: $WORK/bucket (the sidecars upload each Prometheus block there once it is 2h old)
Ruler: rules http://127.0.0.1:$RU_HTTP/api/v1/rules (also through the querier), its alert in Alertmanager http://127.0.0.1:$AM
Edge Prometheus http://127.0.0.1:$EDGE remote-writes to the receiver http://127.0.0.1:$R_WRITE/api/v1/receive
  (tenant edge: its series carry tenant_id="edge"; receiver gRPC 127.0.0.1:$R_GRPC)

Try:
  # deduplicated: one series per target; then both eu1 replicas
  curl -s '$Q/api/v1/query?query=up'
  curl -s '$Q/api/v1/query?query=up&dedup=false'
  curl -s '$Q/api/v1/label/cluster/values'
  curl -s '$Q/api/v1/query?query=up{tenant_id="edge"}'
  curl -s '$Q/api/v1/query?query=cluster:up:count'      # the ruler's recording rule
  curl -s '$Q/api/v1/rules'; curl -s '$Q/api/v1/alerts'   # rules of the ruler and of the Prometheus servers
  curl -s 'http://127.0.0.1:$AM/api/v2/alerts'           # the ruler's alert in Alertmanager
  curl -s '$Q/api/v1/stores'
  $BIN/promtool query instant $Q 'sum by (cluster) (up)'
  $BIN/promtool query range --start=\$(date -d -5min +%s) --end=\$(date +%s) --step=15s $Q 'up{cluster="eu1"}'
  # lose one eu1 replica: deduplicated queries keep answering from the other
  kill -9 \$(pgrep -f 'web.listen-address=127.0.0.1:${PROM[eu1 0]}')

Press Ctrl-C to stop everything and remove $WORK.
EOF

# Wait for Ctrl-C; report if a process dies on its own.
while true; do
  for idx in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$idx]}" 2>/dev/null; then
      log "${NAMES[$idx]} exited; its log:"
      tail -n 20 "$WORK/${NAMES[$idx]}.log" >&2
      unset "PIDS[$idx]"
    fi
  done
  sleep 1
done
