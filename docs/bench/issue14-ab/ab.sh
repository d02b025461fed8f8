#!/bin/bash
# A/B: A = /tmp/perf-A (the branch at 7517943), B = /work/wt-perf (region_put wakes only a waiter)
D=/var/tmp/perf-b; O=/tmp/perf-m/ab; mkdir -p $O
echo "start $(date -u +%T) load $(cat /proc/loadavg)" > $O/log
for i in 1 2 3 4 5; do
  for v in A B; do
    if [ $v = A ]; then B=/tmp/perf-A/build/tools/upager-bench; else B=/work/wt-perf/build/tools/upager-bench; fi
    echo "$i $v rand-read load $(cut -d' ' -f1 /proc/loadavg)" >> $O/log
    $B rand-read --size 2G --budget 512M --runs 1 --accesses 10000 --backend upager --dir $D --keep --json > $O/rr-$v-$i.json 2>/dev/null
    echo "$i $v fault-latency load $(cut -d' ' -f1 /proc/loadavg)" >> $O/log
    $B fault-latency --size 2G --budget 512M --runs 1 --accesses 3000 --backend upager --dir $D --keep --json > $O/fl-$v-$i.json 2>/dev/null
  done
done
echo "end $(date -u +%T) load $(cat /proc/loadavg)" >> $O/log
echo done > $O/done
