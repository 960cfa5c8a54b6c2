#!/bin/bash
# Under the bench lock: plain iptables-legacy-restore --noflush of the 10k and 30k texts, each in a fresh
# namespace, with the setsockopt calls traced (IPT_SO_SET_REPLACE carries the whole table blob).
# Texts rendered by the renderer before large cluster mode (every rule with its comment).
#   flock /work/bench.lock bench/iptables/evidence/legacy-evidence.sh FILE.rules...
set -u
out=/tmp/ipt-legacy-evidence
mkdir -p $out
for f in "$@"; do
  ns=portico-iptev-$$-$RANDOM
  ip netns add $ns
  b=$(basename $f .rules)
  echo "== $b $(date -u +%T) $(uptime)"
  dmesg | tail -1 > $out/$b.dmesg-before
  s=$(date +%s.%N)
  strace --seccomp-bpf -f -e trace=setsockopt -e signal=none -o $out/$b.strace ip netns exec $ns iptables-legacy-restore -w --noflush < $f > $out/$b.stdout 2> $out/$b.stderr
  rc=$?
  e=$(date +%s.%N)
  echo "rc=$rc seconds=$(echo "$e - $s" | bc)"
  cat $out/$b.stderr | tail -3
  grep -v '= 0$' $out/$b.strace | tail -3; grep -c setsockopt $out/$b.strace
  grep 'SET_REPLACE\|, 64,' $out/$b.strace | tail -4
  dmesg | tail -5 > $out/$b.dmesg-after
  diff $out/$b.dmesg-before $out/$b.dmesg-after | tail -5
  ip netns exec $ns iptables-legacy-save -t nat 2>/dev/null | grep -c '^-A' 
  ip netns del $ns
done
echo "== end $(date -u +%T) $(uptime)"
