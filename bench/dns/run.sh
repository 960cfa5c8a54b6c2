#!/usr/bin/env bash
# dnsperf against Portico's DNS server and against dnsmasq serving the same 1,000 names, in one
# run: ROUNDS rounds, each server once per round (order rotated every round), same dnsperf settings
# for all. Portico runs three ways: `portico` = one process with batched UDP I/O (recvmmsg/sendmmsg
# through native/udpmmsg.c; the `portico dns` default), `portico-wW` = W dgram worker processes (the
# previous default), `portico-dgram` = one process on dgram (the fallback when the addon is not
# built). Each measurement also records the load average and the CPU time (user + system, from
# /proc, workers included) the server spent per answered query: throughput on this shared 2-core
# machine depends on what else runs, CPU per query much less. Then the scale run
# (bench/dns/scale.ts: 10,000 Services + 100,000 endpoints, RSS and change-to-answer time of
# `portico dns`). Prints one line per measurement and the median / min / max per server, and writes
# bench/dns/results-<date>-<HHMM>.json.
# Usage: bench/dns/run.sh [seconds=10] [rounds=5] [clients=4] [workers=2] [scale=1]   (after the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
ROUNDS=${2:-5}
CLIENTS=${3:-4}
WORKERS=${4:-2}
SCALE=${5:-1}
N=1000
P_PORT=15353
PW_PORT=15355
PD_PORT=15356
M_PORT=15354
OUT=bench/dns/results-$(date +%F-%H%M).json
TMP=$(mktemp -d)
PIDS=()
stop_servers() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; PIDS=(); }
cleanup() { stop_servers; rm -rf "$TMP"; }
trap cleanup EXIT

for i in $(seq 0 $((N - 1))); do
  ip="198.18.$(( (i >> 8) & 255 )).$(( i & 255 ))"
  echo "svc-$i.bench.svc.cluster.local A" >> "$TMP/queries"
  echo "host-record=svc-$i.bench.svc.cluster.local,$ip" >> "$TMP/dnsmasq.conf"
done

# --optimize-for-size: what `portico dns` sets for itself (src/cli/dns.ts).
node --optimize-for-size dist/bench/dns/serve.js "$P_PORT" "$N" 1 recvmmsg > "$TMP/portico.out" 2> "$TMP/portico.err" &
PIDS+=($!)
SRV_PIDS=($!)
node dist/bench/dns/serve.js "$PW_PORT" "$N" "$WORKERS" > "$TMP/porticow.out" 2> "$TMP/porticow.err" &
PIDS+=($!)
SRV_PIDS+=($!)
node dist/bench/dns/serve.js "$PD_PORT" "$N" 1 dgram > "$TMP/porticod.out" 2> "$TMP/porticod.err" &
PIDS+=($!)
SRV_PIDS+=($!)
dnsmasq --keep-in-foreground --no-resolv --no-hosts --port="$M_PORT" --listen-address=127.0.0.1 \
  --bind-interfaces --conf-file="$TMP/dnsmasq.conf" --cache-size=10000 --user=root --pid-file="$TMP/dnsmasq.pid" 2> "$TMP/dnsmasq.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$TMP/portico.out" 2>/dev/null && grep -q ready "$TMP/porticow.out" 2>/dev/null && grep -q ready "$TMP/porticod.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'ready .* recvmmsg' "$TMP/portico.out" || { echo "portico: not on recvmmsg (is build/Release/portico_udpmmsg.node built?)" >&2; exit 1; }
sleep 0.5
SRV_PIDS+=("$(cat "$TMP/dnsmasq.pid")")
for port in "$P_PORT" "$PW_PORT" "$PD_PORT" "$M_PORT"; do
  dig @127.0.0.1 -p "$port" +short svc-1.bench.svc.cluster.local A | grep -q 198.18.0.1 || { echo "server on port $port not answering" >&2; exit 1; }
done

NAMES=(portico "portico-w$WORKERS" portico-dgram dnsmasq)
PORTS=("$P_PORT" "$PW_PORT" "$PD_PORT" "$M_PORT")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "dnsperf -c $CLIENTS -l $SECS, $N names, $ROUNDS rounds; $(nproc) CPUs; load average $LOAD_BEFORE"
: > "$TMP/rows"
cpu_ticks() { # pid -> utime + stime of it and its children (the UDP workers), in clock ticks
  local t=0 p
  for p in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
    t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
measure() { # name port round pid
  local load c0 c1
  load=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(cpu_ticks "$4")
  dnsperf -s 127.0.0.1 -p "$2" -d "$TMP/queries" -c "$CLIENTS" -l "$SECS" -v > "$TMP/perf" 2>&1 || true
  c1=$(cpu_ticks "$4")
  local qps avg p99 lost done cpu
  qps=$(awk '/Queries per second/ {print $4}' "$TMP/perf")
  avg=$(awk '/Average Latency/ {print $4}' "$TMP/perf")
  lost=$(awk '/Queries lost/ {print $3}' "$TMP/perf")
  # -v prints one line per response ending with its latency in seconds.
  p99=$(awk '/^> / {print $NF}' "$TMP/perf" | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int(NR*0.99)]; else print 0}')
  done=$(awk '/Queries completed/ {print $3}' "$TMP/perf")
  cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$done" 'BEGIN {printf "%.2f", n ? t * 1e6 / hz / n : 0}')
  printf '%-12s round %d  queries/s %9.0f  avg %8.3f ms  p99 %8.3f ms  lost %s  server CPU %6s us/query  load %s\n' "$1" "$3" "$qps" "$(awk -v x="$avg" 'BEGIN{print x*1000}')" "$(awk -v x="$p99" 'BEGIN{print x*1000}')" "$lost" "$cpu" "$load"
  echo "$1 $3 $qps $avg $p99 $lost $cpu $load" >> "$TMP/rows"
}
# Warm-up (not recorded): JIT, caches and socket buffers of every server, so round 1 is not special.
for port in "${PORTS[@]}"; do dnsperf -s 127.0.0.1 -p "$port" -d "$TMP/queries" -c "$CLIENTS" -l 2 > /dev/null 2>&1 || true; done
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2 3; do
    idx=$(( (k + r - 1) % 4 ))
    measure "${NAMES[$idx]}" "${PORTS[$idx]}" "$r" "${SRV_PIDS[$idx]}"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
RESTARTS=$(grep -c 'worker exited' "$TMP/porticow.err" || true)

summary() { # name [column=3] -> "median min max"
  awk -v n="$1" -v c="${2:-3}" '$1 == n {print $c}' "$TMP/rows" | sort -g | awk '{a[NR]=$1} END {printf "%.2f %.2f %.2f", a[int((NR+1)/2)], a[1], a[NR]}'
}
echo "summary (queries/s and server CPU us/query: median [min .. max]; load average before $LOAD_BEFORE, after $LOAD_AFTER; worker restarts $RESTARTS):"
for n in "${NAMES[@]}"; do
  read -r med min max <<< "$(summary "$n")"
  read -r cmed cmin cmax <<< "$(summary "$n" 7)"
  printf '  %-12s %9.0f q/s [%.0f .. %.0f]   CPU %s us/query [%s .. %s]\n' "$n" "$med" "$min" "$max" "$cmed" "$cmin" "$cmax"
done
read -r pmed _ _ <<< "$(summary portico)"
read -r pwmed _ _ <<< "$(summary "${NAMES[1]}")"
read -r pdmed _ _ <<< "$(summary portico-dgram)"
read -r mmed _ _ <<< "$(summary dnsmasq)"
RATIO=$(awk -v a="$pmed" -v b="$mmed" 'BEGIN {printf "%.2f", a / b}')
RATIOW=$(awk -v a="$pwmed" -v b="$mmed" 'BEGIN {printf "%.2f", a / b}')
RATIOD=$(awk -v a="$pdmed" -v b="$mmed" 'BEGIN {printf "%.2f", a / b}')
echo "  ratio portico / dnsmasq (medians): $RATIO; ${NAMES[1]} / dnsmasq: $RATIOW; portico-dgram / dnsmasq: $RATIOD"
# Per-round ratios: each round measures both servers back to back, under the same load.
awk -v p=portico -v n="$ROUNDS" '$1 == p {a[$2]=$3} $1 == "dnsmasq" {b[$2]=$3} END {s = "  per-round ratios:"; for (r = 1; r <= n; r++) s = s sprintf(" %.2f", a[r] / b[r]); print s}' "$TMP/rows"

stop_servers
SCALE_JSON=null
if [ "$SCALE" = 1 ]; then
  node dist/bench/dns/scale.js 10000 10 default,2 > "$TMP/scale" 2>&1 || true
  cat "$TMP/scale"
  SCALE_JSON=$(grep '^{' "$TMP/scale" | tail -1)
  [ -n "$SCALE_JSON" ] || SCALE_JSON=null
fi
{
  printf '{\n  "date": "%s",\n  "cpus": %s,\n  "loadavg_before": "%s",\n  "loadavg_after": "%s",\n' "$(date -Iseconds)" "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '  "dnsperf": {"clients": %s, "seconds": %s, "names": %s, "version": "%s"},\n' "$CLIENTS" "$SECS" "$N" "$(dnsperf -h 2>&1 | awk '/Version/ {print $2; exit}')"
  printf '  "workers": %s,\n  "worker_restarts": %s,\n  "ratio_median": %s,\n  "ratio_median_workers": %s,\n  "ratio_median_dgram": %s,\n  "runs": [\n' "$WORKERS" "$RESTARTS" "$RATIO" "$RATIOW" "$RATIOD"
  awk '{printf "%s    {\"server\": \"%s\", \"round\": %s, \"qps\": %s, \"avg_s\": %s, \"p99_s\": %s, \"lost\": %s, \"cpu_us_per_query\": %s, \"load1\": %s}", (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6, $7, $8} END {print ""}' "$TMP/rows"
  printf '  ],\n  "scale": %s\n}\n' "${SCALE_JSON:-null}"
} > "$OUT"
echo "wrote $OUT"
