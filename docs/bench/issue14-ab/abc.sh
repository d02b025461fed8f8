#!/bin/bash
# A = branch at 7517943; B = A + region_put wakes only a waiter; C = B + one UFFDIO_COPY for a staged single-page fill
D=/var/tmp/perf-b; O=/tmp/perf-m/abc; mkdir -p $O
echo "start $(date -u +%T) load $(cat /proc/loadavg)" > $O/log
for i in 1 2 3 4 5; do
  for v in A B C; do
    case $v in A) B=/tmp/perf-A/build/tools/upager-bench;; B) B=/work/wt-perf/build/tools/upager-bench;; C) B=/tmp/perf-C/build/tools/upager-bench;; esac
    echo "$i $v load $(cut -d' ' -f1 /proc/loadavg)" >> $O/log
    $B fault-latency --size 512M --budget 256M --runs 1 --accesses 5000 --backend upager --store-cache warm --upager-io buffered --dir $D --keep --json > $O/fl-$v-$i.json 2>/dev/null
    $B rand-read --size 2G --budget 512M --runs 1 --accesses 10000 --backend upager --dir $D --keep --json > $O/rr-$v-$i.json 2>/dev/null
  done
done
echo "end $(date -u +%T) load $(cat /proc/loadavg)" >> $O/log
echo done > $O/done
