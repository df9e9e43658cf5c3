#!/usr/bin/env bash
# Canary gate: exit 0 when the canary track meets the SLOs, 1 when it does not (or when no
# canary traffic was measured). Used by the CI deploy job at each weight step and by
# hand (docs/runbooks/rollback.md). Needs curl and jq.
#   deploy/canary-gate.sh http://prometheus.monitoring.svc:9090
set -euo pipefail
prom="${1:?usage: canary-gate.sh PROMETHEUS_URL}"

query() {
  curl -sfG "$prom/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result | length as $n | if $n == 0 then "none" else .[0].value[1] end'
}

errors=$(query 'greenscore:request_errors:ratio_rate5m{track="canary"}')
p99=$(query 'greenscore:request_latency_seconds:p99_5m{track="canary"}')
target=$(query 'max(greenscore_latency_sla_target_seconds)')
firing=$(query 'count(ALERTS{alertname=~"GreenScore.*",alertstate="firing",track="canary"})')
echo "canary: 5xx ratio ${errors}, p99 ${p99} s (objective ${target} s), firing alerts ${firing}"

if [[ "$errors" == none || "$p99" == none || "$p99" == NaN ]]; then
  echo "gate: no canary traffic measured" >&2
  exit 1
fi
if [[ "$firing" != none && "$firing" != 0 ]]; then
  echo "gate: canary alerts are firing" >&2
  exit 1
fi
awk -v e="$errors" -v p="$p99" -v t="$target" 'BEGIN { exit !(e < 0.001 && (t == "none" || p <= t)) }' || {
  echo "gate: canary misses its SLOs" >&2
  exit 1
}
echo "gate: passed"
