#!/usr/bin/env bash
# tools/redis-cluster.sh - a Redis Cluster on loopback for upager's far-memory
# store: its tests, benchmarks and trying it out.
#
#   redis-cluster.sh start  DIR [--masters N] [--replicas R] [--port P]
#                               [--maxmemory BYTES]
#   redis-cluster.sh status DIR      one line per node: port pid role state
#   redis-cluster.sh seeds  DIR      host:port,host:port... (for a redis:// URI)
#   redis-cluster.sh stop   DIR      SIGTERM every node it started, wait, rm DIR
#                                    (no DIR: nothing to do)
#   redis-cluster.sh kill   DIR      SIGKILL every node it started, rm DIR
#   redis-cluster.sh signal DIR PORT SIG   send SIG (KILL, STOP, CONT...) to one node
#   redis-cluster.sh restart DIR PORT      start a (killed) node again from its
#                                          own directory; it rejoins as a replica
#   redis-cluster.sh wait-ok DIR [SECONDS] wait until every live node says
#                                          cluster_state:ok and every master
#                                          has its replicas connected
#
# Everything lives in DIR (created by start, which refuses an existing one):
# one sub-directory per node with its redis.conf, AOF, nodes.conf, log and
# pid file, plus DIR/ports.  N masters (default 3) with R replicas each
# (default 1) listen on 127.0.0.1 only, on consecutive ports from P (default:
# the first free run at or above 31000) whose cluster-bus ports (+10000) are
# free too.  Only processes whose pid file is in DIR and whose command line
# runs from DIR are ever signalled: no pkill, no guessing.
#
# The settings are the ones docs/far-memory.md recommends (and measured):
# cluster-node-timeout 2000, cluster-require-full-coverage no,
# cluster-allow-reads-when-down no, min-replicas-to-write 1, maxmemory with
# noeviction, appendonly yes + appendfsync everysec; and, to spare the
# servers work that is not the workload's, save "", rdbcompression no and
# AOF rewrites from 4x maxmemory (at least 1 GiB) of appends.
#
# Exit status: 0 done, 1 failure (with a message saying what to fix), 2 usage,
# 77 redis-server or redis-cli is not installed (tests skip on it).
set -euo pipefail

HOST=127.0.0.1

die() { echo "redis-cluster: $*" >&2; exit 1; }
usage() { sed -n '4,18p' "$0" >&2; exit 2; }

need_redis() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
		{ echo "redis-cluster: redis-server/redis-cli not installed (bash tools/setup.sh installs them)" >&2; exit 77; }
}

port_free() {
	# Nothing listening on the port (TCP, any address).
	[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

# The pid of the node on PORT if it runs and is ours, else nothing.
node_pid() {
	local dir=$1 port=$2 pid
	[ -f "$dir/$port/redis.pid" ] || return 0
	pid=$(cat "$dir/$port/redis.pid" 2>/dev/null) || return 0
	[[ "$pid" =~ ^[0-9]+$ ]] || return 0
	# Ours: a redis-server whose working directory is the node's
	# directory (redis rewrites its command line, so that is no witness).
	if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$dir/$port" ] &&
	   [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
		echo "$pid"
	fi
}

ports_of() {
	[ -f "$1/ports" ] || die "$1 is not a cluster directory made by 'start' (no $1/ports)"
	cat "$1/ports"
}

start_node() {
	local dir=$1 port=$2
	rm -f "$dir/$port/redis.pid"
	# In a session of its own (setsid -f): a node restarted by a test must
	# outlive the test process and its process group (Check kills the
	# group of each forked test).  redis writes the pid file itself.
	( cd "$dir/$port" && exec setsid -f redis-server "$dir/$port/redis.conf" \
		>>"$dir/$port/stdout.log" 2>&1 </dev/null )
}

redis_cmd() { redis-cli -h "$HOST" -p "$1" --no-auth-warning "${@:2}" 2>/dev/null; }

wait_ok() {
	local dir=$1 secs=${2:-30} replicas end port pid ok info
	replicas=$(cat "$dir/replicas")
	end=$((SECONDS + secs))
	while :; do
		ok=1
		for port in $(ports_of "$dir"); do
			pid=$(node_pid "$dir" "$port")
			[ -n "$pid" ] || continue
			# A stopped node answers nothing; it does not count.
			[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] && continue
			info=$(redis_cmd "$port" cluster info | tr -d '\r')
			case "$info" in *cluster_state:ok*) ;; *) ok=0; break ;; esac
			info=$(redis_cmd "$port" info replication | tr -d '\r')
			case "$info" in
			*role:master*)
				# A master owning slots needs its replicas online
				# (state=online: the sync is over, WAIT can count them).
				if redis_cmd "$port" cluster nodes | awk '$3 ~ /myself/ && NF > 8 {f=1} END {exit !f}' &&
				   [ "$(echo "$info" | grep -c '^slave[0-9]*:.*state=online')" -lt "$replicas" ]; then
					ok=0; break
				fi ;;
			esac
		done
		[ $ok = 1 ] && return 0
		[ $SECONDS -lt $end ] || die "cluster in $dir not ok after ${secs}s (see $dir/*/redis.log)"
		sleep 0.1
	done
}

cmd_start() {
	local dir=$1; shift
	local masters=3 replicas=1 port=31000 explicit_port=0 maxmemory=268435456
	while [ $# -gt 0 ]; do
		case "$1" in
		--masters) masters=${2:?}; shift 2 ;;
		--replicas) replicas=${2:?}; shift 2 ;;
		--port) port=${2:?}; explicit_port=1; shift 2 ;;
		--maxmemory) maxmemory=${2:?}; shift 2 ;;
		*) usage ;;
		esac
	done
	[[ "$masters" =~ ^[0-9]+$ && $masters -ge 3 ]] || die "--masters must be >= 3 (Redis Cluster needs 3 masters)"
	[[ "$replicas" =~ ^[0-9]+$ ]] || die "--replicas must be a number"
	[[ "$port" =~ ^[0-9]+$ && $port -ge 1024 && $port -le 55000 ]] || die "--port must be in 1024..55000 (the bus port is +10000)"
	[[ "$maxmemory" =~ ^[0-9]+$ ]] || die "--maxmemory must be bytes"
	need_redis
	case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
	[ ! -e "$dir" ] || die "$dir exists; give a new directory (or stop the cluster in it first)"

	# AOF rewrites only compact the log (docs/far-memory.md, "Cluster
	# settings"): from 4x maxmemory of appends, at least 1 GiB, rather
	# than Redis's 64 MiB, which every benchmark run crossed.
	local aof_rewrite_min=$((maxmemory * 4 > 1073741824 ? maxmemory * 4 : 1073741824))
	local n=$((masters * (replicas + 1))) p i free
	# The first run of n free ports (bus ports too) at or above port.
	while :; do
		free=1
		for ((i = 0; i < n; i++)); do
			p=$((port + i))
			if ! port_free "$p" || ! port_free $((p + 10000)); then free=0; break; fi
		done
		[ $free = 1 ] && break
		[ $explicit_port = 0 ] || die "ports $port..$((port + n - 1)) (or +10000) are in use; pick another --port"
		port=$((port + n))
		[ $port -le 55000 ] || die "no $n free consecutive ports found from 31000"
	done

	mkdir -p "$dir"
	echo "$replicas" >"$dir/replicas"
	: >"$dir/ports"
	local nodes=()
	for ((i = 0; i < n; i++)); do
		p=$((port + i))
		mkdir "$dir/$p"
		cat >"$dir/$p/redis.conf" <<EOF
port $p
bind $HOST
protected-mode no
daemonize no
dir $dir/$p
pidfile $dir/$p/redis.pid
logfile $dir/$p/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 2000
cluster-require-full-coverage no
cluster-allow-reads-when-down no
min-replicas-to-write 1
min-replicas-max-lag 10
maxmemory $maxmemory
maxmemory-policy noeviction
appendonly yes
appendfsync everysec
save ""
rdbcompression no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size $aof_rewrite_min
repl-diskless-sync yes
repl-diskless-sync-delay 0
EOF
		echo "$p" >>"$dir/ports"
		nodes+=("$HOST:$p")
	done
	for p in $(cat "$dir/ports"); do
		start_node "$dir" "$p"
	done
	# Wait for every node to answer PING.
	local end=$((SECONDS + 20))
	for p in $(cat "$dir/ports"); do
		until [ "$(redis_cmd "$p" ping)" = PONG ] && [ -n "$(node_pid "$dir" "$p")" ]; do
			[ $SECONDS -lt $end ] || { cmd_kill "$dir" >/dev/null 2>&1 || true; die "redis-server on port $p did not answer within 20 s (see $dir/$p/redis.log)"; }
			sleep 0.05
		done
	done
	if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" \
		--cluster-yes >"$dir/create.log" 2>&1; then
		cat "$dir/create.log" >&2
		cmd_kill "$dir" >/dev/null 2>&1 || true
		die "redis-cli --cluster create failed"
	fi
	if ! (wait_ok "$dir" 30); then
		cmd_kill "$dir" >/dev/null 2>&1 || true
		die "cluster did not become ok"
	fi
	echo "redis-cluster: $masters masters x $replicas replicas on $HOST:$port..$((port + n - 1)) in $dir"
}

# Send SIG to every node of DIR that is ours, wait for them to exit.
signal_all() {
	local dir=$1 sig=$2 port pid pids=() end
	for port in $(ports_of "$dir"); do
		pid=$(node_pid "$dir" "$port")
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill "-$sig" "$pid" 2>/dev/null || true
		pids+=("$pid")
	done
	end=$((SECONDS + 15))
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null; do
			if [ $SECONDS -ge $end ]; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.05
		done
	done
}

# Stopping what is not there is not an error (a fixture's cleanup runs
# after a failed start too); a directory that is not ours is.
cmd_stop() { [ -e "$1" ] || return 0; signal_all "$1" TERM; rm -rf "$1"; }
cmd_kill() { [ -e "$1" ] || return 0; signal_all "$1" KILL; rm -rf "$1"; }

cmd_status() {
	local dir=$1 port pid role state
	for port in $(ports_of "$dir"); do
		pid=$(node_pid "$dir" "$port")
		if [ -z "$pid" ]; then
			echo "$HOST:$port - down"
			continue
		fi
		if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ]; then
			echo "$HOST:$port $pid stopped"
			continue
		fi
		role=$(redis_cmd "$port" info replication | tr -d '\r' | sed -n 's/^role://p')
		state=$(redis_cmd "$port" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')
		echo "$HOST:$port $pid ${role:-?} ${state:-?}"
	done
}

cmd_seeds() {
	local dir=$1 out="" port
	for port in $(ports_of "$dir"); do out="$out${out:+,}$HOST:$port"; done
	echo "$out"
}

cmd_signal() {
	local dir=$1 port=${2:?port} sig=${3:?signal} pid
	pid=$(node_pid "$dir" "$port")
	[ -n "$pid" ] || die "no node of ours runs on port $port"
	kill "-$sig" "$pid"
	if [ "$sig" = KILL ] || [ "$sig" = 9 ]; then
		while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
	fi
}

cmd_restart() {
	local dir=$1 port=${2:?port}
	grep -qx "$port" "$dir/ports" || die "port $port is not a node of $dir"
	[ -z "$(node_pid "$dir" "$port")" ] || die "the node on $port still runs"
	port_free "$port" || die "port $port is taken by another process"
	start_node "$dir" "$port"
	local end=$((SECONDS + 20))
	until [ "$(redis_cmd "$port" ping)" = PONG ] && [ -n "$(node_pid "$dir" "$port")" ]; do
		[ $SECONDS -lt $end ] || die "redis-server on port $port did not answer within 20 s (see $dir/$port/redis.log)"
		sleep 0.05
	done
}

[ $# -ge 2 ] || usage
cmd=$1; dir=$2; shift 2
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
case "$cmd" in
start) cmd_start "$dir" "$@" ;;
stop) cmd_stop "$dir" ;;
kill) cmd_kill "$dir" ;;
status) cmd_status "$dir" ;;
seeds) cmd_seeds "$dir" ;;
signal) cmd_signal "$dir" "$@" ;;
restart) cmd_restart "$dir" "$@" ;;
wait-ok) wait_ok "$dir" "${1:-30}" ;;
*) usage ;;
esac
