/* SPDX-License-Identifier: MIT */
/*
 * upagerctl - look at a running upagerd (man upagerctl).
 *
 *   upagerctl [--socket PATH] [--json] status|stats|clients|regions|stores
 *   upagerctl [--socket PATH] [--json] watch [--count N] [--interval SEC]
 *
 * It connects as a monitor (HELLO without a userfaultfd) and asks STATS.
 * Other clients' figures come back only for root or the daemon's owner.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "upager.h"

#define TIMEOUT_MS 5000

static const char *prog = "upagerctl";

struct ctl {
	int sock;
	struct proto_conn conn;
	uint64_t seq;
	bool json;
	const char *path;
	uint64_t features; /* PROTO_FEAT_* the daemon chose */
};

static const char *default_socket(void)
{
	static char path[256];
	const char *env = getenv("UPAGER_SOCKET"), *xdg;

	if (env && *env)
		return env;
	xdg = getenv("XDG_RUNTIME_DIR");
	if (geteuid() != 0 && xdg && *xdg) {
		snprintf(path, sizeof(path), "%s/upager/upagerd.sock", xdg);
		return path;
	}
	return "/run/upager/upagerd.sock";
}

static int rpc(struct ctl *c, struct proto_msg *req, struct proto_msg *rep)
{
	int err;

	req->hdr.seq = ++c->seq;
	err = proto_send(c->sock, req, NULL, 0, TIMEOUT_MS);
	if (!err)
		err = proto_recv_timeout(&c->conn, rep, TIMEOUT_MS);
	if (err) {
		fprintf(stderr, "%s: no answer from upagerd on %s: %s\n", prog,
			c->path, strerror(-err));
		return err;
	}
	if (rep->hdr.type == PROTO_REPLY && rep->u.reply.status) {
		err = rep->u.reply.status;
		fprintf(stderr, "%s: upagerd refused: %s%s\n", prog,
			strerror(-err),
			err == -EPERM ? " (other clients' figures are shown "
					"to root and the daemon's owner only)" :
					"");
		proto_msg_release(rep);
		return err;
	}
	return 0;
}

static int open_ctl(struct ctl *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct proto_msg req, rep;
	int err;

	if (strlen(c->path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog,
			c->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, c->path);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || proto_conn_init(&c->conn, c->sock))
		return -errno;
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		if (err == -ENOENT || err == -ECONNREFUSED)
			fprintf(stderr,
				"%s: upagerd is not running on %s (start it, "
				"or name its socket with --socket)\n",
				prog, c->path);
		else if (err == -EACCES)
			fprintf(stderr,
				"%s: permission denied on %s (run as root, or "
				"as a member of the socket's group)\n",
				prog, c->path);
		else
			fprintf(stderr, "%s: cannot connect to %s: %s\n", prog,
				c->path, strerror(-err));
		return err;
	}
	proto_msg_init(&req, PROTO_HELLO, 0);
	req.u.hello.version_min = PROTO_VERSION_MIN;
	req.u.hello.version_max = PROTO_VERSION_MAX;
	req.u.hello.features = PROTO_FEAT_STORE_URI; /* "stores" */
	strcpy(req.u.hello.name, "upagerctl");
	err = rpc(c, &req, &rep);
	if (err)
		return err;
	err = rep.hdr.type == PROTO_HELLO_REPLY ? rep.u.hello_reply.status :
						  -EPROTO;
	if (!err)
		c->features = rep.u.hello_reply.features;
	proto_msg_release(&rep);
	if (err)
		fprintf(stderr, "%s: upagerd refused the connection: %s\n",
			prog, strerror(-err));
	return err;
}

static const char *ctr_name(uint32_t id)
{
	static const char *names[] = {
		[PROTO_CTR_FAULTS_MISSING] = "faults_missing",
		[PROTO_CTR_FAULTS_WP] = "faults_wp",
		[PROTO_CTR_FAULTS_MINOR] = "faults_minor",
		[PROTO_CTR_PAGES_FILLED] = "pages_filled",
		[PROTO_CTR_PAGES_ZERO_FILLED] = "pages_zero_filled",
		[PROTO_CTR_PAGES_EVICTED] = "pages_evicted",
		[PROTO_CTR_PAGES_WRITTEN_BACK] = "pages_written_back",
		[PROTO_CTR_BYTES_READ] = "bytes_read",
		[PROTO_CTR_BYTES_WRITTEN] = "bytes_written",
		[PROTO_CTR_RESIDENT_BYTES] = "resident_bytes",
		[PROTO_CTR_RESIDENT_PEAK_BYTES] = "resident_peak_bytes",
		[PROTO_CTR_BUDGET_BYTES] = "budget_bytes",
		[PROTO_CTR_IO_ERRORS] = "io_errors",
		[PROTO_CTR_PINS_ACQUIRED] = "pins_acquired",
		[PROTO_CTR_PINS_RELEASED] = "pins_released",
		[PROTO_CTR_PINNED_BYTES] = "pinned_bytes",
		[PROTO_CTR_NOTIFIER_CALLBACKS] = "notifier_callbacks",
		[PROTO_CTR_BYTES_FAULTED_IN] = "bytes_faulted_in",
		[PROTO_CTR_CLIENTS] = "clients",
		[PROTO_CTR_REGIONS] = "regions",
		[PROTO_CTR_READ_ERRORS] = "read_errors",
		[PROTO_CTR_WRITE_ERRORS] = "write_errors",
		[PROTO_CTR_EVICT_BATCHES_BACKGROUND] = "evict_batches_background",
		[PROTO_CTR_EVICT_BATCHES_SYNC] = "evict_batches_sync",
		[PROTO_CTR_PAGES_SAMPLED] = "pages_sampled",
		[PROTO_CTR_PAGES_REFERENCED] = "pages_referenced",
		[PROTO_CTR_BUDGET_OVERSHOOT_PAGES] = "budget_overshoot_pages",
		[PROTO_CTR_PAGES_UNPOISONED] = "pages_unpoisoned",
		[PROTO_CTR_PAGES_DISCARDED] = "pages_discarded",
		[PROTO_CTR_EVICT_PIN_WAITS] = "evict_pin_waits",
		[PROTO_CTR_PAGES_READ_AHEAD] = "pages_read_ahead",
		[PROTO_CTR_RA_PAGES_USED] = "ra_pages_used",
		[PROTO_CTR_RA_PAGES_WASTED] = "ra_pages_wasted",
	};

	return id < sizeof(names) / sizeof(names[0]) && names[id] ? names[id] :
								     NULL;
}

static uint64_t ctr_get(const struct proto_msg *m, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < m->u.stats_reply.count; i++)
		if (m->u.stats_reply.counters[i].id == id)
			return m->u.stats_reply.counters[i].value;
	return 0;
}

static int ask(struct ctl *c, uint32_t scope, uint64_t id, uint32_t start,
	       unsigned want, struct proto_msg *rep)
{
	struct proto_msg req;
	int err;

	proto_msg_init(&req, PROTO_STATS, 0);
	req.u.stats.scope = scope;
	req.u.stats.id = id;
	req.u.stats.start = start;
	err = rpc(c, &req, rep);
	if (!err && rep->hdr.type != want) {
		proto_msg_release(rep);
		fprintf(stderr, "%s: unexpected answer from upagerd\n", prog);
		return -EPROTO;
	}
	return err;
}

static double mib(uint64_t b)
{
	return (double)b / (1 << 20);
}

/* @str inside a JSON string: quotes, backslashes and control bytes
 * escaped (client names and paths are the clients' and the user's). */
static void json_str(const char *str)
{
	for (; *str; str++) {
		unsigned char ch = (unsigned char)*str;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
}

/*
 * status: the daemon at a glance, the figures an operator looks at first
 * (its budget and how full it is, who uses it, whether anything fails),
 * with the faults of all kinds summed.  stats: every counter the daemon
 * sends, by its name in struct upg_stats, nothing derived.
 */
static void print_status(const struct ctl *c, const struct proto_msg *rep)
{
	uint64_t budget = ctr_get(rep, PROTO_CTR_BUDGET_BYTES),
		 res = ctr_get(rep, PROTO_CTR_RESIDENT_BYTES),
		 peak = ctr_get(rep, PROTO_CTR_RESIDENT_PEAK_BYTES),
		 clients = ctr_get(rep, PROTO_CTR_CLIENTS),
		 regions = ctr_get(rep, PROTO_CTR_REGIONS),
		 faults = ctr_get(rep, PROTO_CTR_FAULTS_MISSING) +
			  ctr_get(rep, PROTO_CTR_FAULTS_WP) +
			  ctr_get(rep, PROTO_CTR_FAULTS_MINOR),
		 evicted = ctr_get(rep, PROTO_CTR_PAGES_EVICTED),
		 written = ctr_get(rep, PROTO_CTR_PAGES_WRITTEN_BACK),
		 errors = ctr_get(rep, PROTO_CTR_IO_ERRORS);

	if (c->json) {
		printf("{\"socket\": \"");
		json_str(c->path);
		printf("\", \"budget_bytes\": %" PRIu64
		       ", \"resident_bytes\": %" PRIu64
		       ", \"resident_peak_bytes\": %" PRIu64
		       ", \"clients\": %" PRIu64 ", \"regions\": %" PRIu64
		       ", \"faults\": %" PRIu64 ", \"pages_evicted\": %" PRIu64
		       ", \"pages_written_back\": %" PRIu64
		       ", \"io_errors\": %" PRIu64 "}",
		       budget, res, peak, clients, regions, faults, evicted,
		       written, errors);
		return;
	}
	printf("upagerd on %s\n"
	       "budget      %10.1f MiB\n"
	       "resident    %10.1f MiB (%.0f%% of the budget; peak %.1f MiB)\n"
	       "clients     %10" PRIu64 "\n"
	       "regions     %10" PRIu64 "\n"
	       "faults      %10" PRIu64 " (all kinds)\n"
	       "evicted     %10" PRIu64 " pages\n"
	       "written     %10" PRIu64 " pages\n"
	       "io errors   %10" PRIu64 "\n",
	       c->path, mib(budget), mib(res),
	       budget ? 100.0 * (double)res / (double)budget : 0.0, mib(peak),
	       clients, regions, faults, evicted, written, errors);
}

static void print_counters(const struct ctl *c, const struct proto_msg *rep)
{
	uint32_t i, shown = 0;

	if (c->json)
		printf("{");
	for (i = 0; i < rep->u.stats_reply.count; i++) {
		const char *n = ctr_name(rep->u.stats_reply.counters[i].id);
		uint64_t v = rep->u.stats_reply.counters[i].value;

		if (!n)
			continue; /* a newer daemon's: not named here */
		if (c->json)
			printf("%s\"%s\": %" PRIu64, shown ? ", " : "", n, v);
		else
			printf("%-26s %" PRIu64 "\n", n, v);
		shown++;
	}
	if (c->json)
		printf("}");
}

static int cmd_stats(struct ctl *c, bool all)
{
	struct proto_msg rep;
	int err = ask(c, PROTO_SCOPE_DAEMON, 0, 0, PROTO_STATS_REPLY, &rep);

	if (err)
		return err;
	if (all)
		print_counters(c, &rep);
	else
		print_status(c, &rep);
	if (c->json)
		printf("\n");
	proto_msg_release(&rep);
	return 0;
}

/* Every client record, across as many replies as it takes.  In JSON an
 * array, ended with a newline when @alone (not inside a watch tick). */
static int cmd_clients(struct ctl *c, bool alone)
{
	uint32_t start = 0, i, shown = 0;
	int err;

	if (c->json)
		printf("[");
	else
		printf("%6s %8s %6s %-16s %10s %10s %8s %8s %8s %7s %7s "
		       "%6s\n",
		       "ID", "PID", "UID", "NAME", "RES(MiB)", "SHARE(MiB)",
		       "FAULTS", "EVICTED", "WRITTEN", "PINNED", "INVAL",
		       "ERRORS");
	for (;;) {
		struct proto_msg rep;

		err = ask(c, PROTO_SCOPE_CLIENTS, 0, start,
			  PROTO_CLIENTS_REPLY, &rep);
		if (err)
			return err;
		for (i = 0; i < rep.u.clients_reply.count; i++, shown++) {
			struct proto_client_rec *x = &rep.u.clients_reply.recs[i];

			if (c->json) {
				printf("%s{\"id\": %" PRIu64 ", \"pid\": %u, "
				       "\"uid\": %u, \"name\": \"",
				       shown ? ", " : "", x->client_id, x->pid,
				       x->uid);
				json_str(x->name);
				printf("\", "
				       "\"resident_bytes\": %" PRIu64 ", "
				       "\"budget_share_bytes\": %" PRIu64 ", "
				       "\"cap_bytes\": %" PRIu64 ", "
				       "\"faults\": %" PRIu64 ", \"fills\": %" PRIu64
				       ", \"evictions\": %" PRIu64 ", "
				       "\"writebacks\": %" PRIu64 ", "
				       "\"pins\": %" PRIu64 ", "
				       "\"notifier_callbacks\": %" PRIu64 ", "
				       "\"errors\": %" PRIu64 "}",
				       x->resident_bytes,
				       x->budget_share_bytes, x->cap_bytes,
				       x->faults, x->fills, x->evictions,
				       x->writebacks, x->pins,
				       x->notifier_callbacks, x->errors);
			} else {
				printf("%6" PRIu64 " %8u %6u %-16.16s %10.1f %10.1f "
				       "%8" PRIu64 " %8" PRIu64 " %8" PRIu64
				       " %7" PRIu64 " %7" PRIu64 " %6" PRIu64
				       "\n",
				       x->client_id, x->pid, x->uid, x->name,
				       mib(x->resident_bytes),
				       mib(x->budget_share_bytes), x->faults,
				       x->evictions, x->writebacks, x->pins,
				       x->notifier_callbacks, x->errors);
			}
		}
		start += rep.u.clients_reply.count;
		i = start < rep.u.clients_reply.total &&
		    rep.u.clients_reply.count;
		proto_msg_release(&rep);
		if (!i)
			break;
	}
	if (c->json)
		printf(alone ? "]\n" : "]");
	return 0;
}

static int client_ids(struct ctl *c, uint64_t **ids, uint32_t *n)
{
	struct proto_msg rep;
	uint32_t i;
	int err;

	*n = 0;
	*ids = NULL;
	err = ask(c, PROTO_SCOPE_CLIENTS, 0, 0, PROTO_CLIENTS_REPLY, &rep);
	if (err)
		return err;
	*ids = calloc(rep.u.clients_reply.count + 1, sizeof(**ids));
	if (!*ids) {
		proto_msg_release(&rep);
		return -ENOMEM;
	}
	for (i = 0; i < rep.u.clients_reply.count; i++)
		(*ids)[(*n)++] = rep.u.clients_reply.recs[i].client_id;
	proto_msg_release(&rep);
	return 0;
}

static int cmd_regions(struct ctl *c)
{
	uint64_t *ids;
	uint32_t n, k, i, shown = 0;
	int err = client_ids(c, &ids, &n);

	if (err)
		return err;
	if (c->json)
		printf("[");
	else
		printf("%6s %6s %18s %10s %10s %10s %11s %8s %8s %8s %6s\n",
		       "CLIENT", "REGION", "ADDRESS", "LEN(MiB)", "RES(MiB)",
		       "DIRTY(MiB)", "PINNED(MiB)", "FILLS", "EVICTED",
		       "WRITTEN", "ERRORS");
	for (k = 0; k < n && !err; k++) {
		struct proto_msg rep;

		err = ask(c, PROTO_SCOPE_REGIONS, ids[k], 0,
			  PROTO_REGIONS_REPLY, &rep);
		if (err)
			break;
		for (i = 0; i < rep.u.regions_reply.count; i++, shown++) {
			struct proto_region_rec *x = &rep.u.regions_reply.recs[i];

			if (c->json)
				printf("%s{\"client\": %" PRIu64
				       ", \"region\": %" PRIu64
				       ", \"addr\": %" PRIu64
				       ", \"length\": %" PRIu64
				       ", \"resident_bytes\": %" PRIu64
				       ", \"dirty_bytes\": %" PRIu64
				       ", \"pinned_bytes\": %" PRIu64
				       ", \"fills\": %" PRIu64
				       ", \"evictions\": %" PRIu64
				       ", \"writebacks\": %" PRIu64
				       ", \"errors\": %" PRIu64 "}",
				       shown ? ", " : "", x->client_id,
				       x->region_id, x->addr, x->length,
				       x->resident_bytes, x->dirty_bytes,
				       x->pinned_bytes, x->fills, x->evictions,
				       x->writebacks, x->errors);
			else
				printf("%6" PRIu64 " %6" PRIu64 " %#18" PRIx64
				       " %10.1f %10.1f %10.1f %11.1f %8" PRIu64
				       " %8" PRIu64 " %8" PRIu64 " %6" PRIu64 "\n",
				       x->client_id, x->region_id, x->addr,
				       mib(x->length), mib(x->resident_bytes),
				       mib(x->dirty_bytes), mib(x->pinned_bytes),
				       x->fills, x->evictions, x->writebacks,
				       x->errors);
		}
		proto_msg_release(&rep);
	}
	if (c->json && !err)
		printf("]\n");
	free(ids);
	return err;
}

/* A master's state in one word (docs/far-memory.md, "Through upagerd"). */
static const char *store_state(const struct proto_store_rec *x)
{
	if (x->flags & PROTO_STORE_NO_MASTER)
		return "no-master";   /* no slot map yet */
	if (!(x->flags & PROTO_STORE_OWNS_SLOTS))
		return "not-master";  /* left the map (a failed-over master) */
	if (x->flags & (PROTO_STORE_READ_UP | PROTO_STORE_WRITE_UP))
		return "connected";
	if (x->queued || x->in_flight)
		return "failover";    /* down or failing over, requests wait */
	return "down";
}

static const char *store_conns(uint32_t flags)
{
	switch (flags & (PROTO_STORE_READ_UP | PROTO_STORE_WRITE_UP)) {
	case PROTO_STORE_READ_UP | PROTO_STORE_WRITE_UP:
		return "rd+wr";
	case PROTO_STORE_READ_UP:
		return "rd";
	case PROTO_STORE_WRITE_UP:
		return "wr";
	}
	return "-";
}

/*
 * stores: one line per master of every Redis store the daemon opened for
 * a client's region (its own uid's clients; everyone's for root and the
 * daemon's owner): connected, in failover, queued, errors.
 */
static int cmd_stores(struct ctl *c)
{
	uint32_t start = 0, i, shown = 0;
	int err;

	if (!(c->features & PROTO_FEAT_STORE_URI)) {
		fprintf(stderr, "%s: this upagerd does not open stores (it is "
				"older than this upagerctl)\n", prog);
		return -EOPNOTSUPP;
	}
	if (c->json)
		printf("[");
	else
		printf("%6s %6s %-20s %-21s %-10s %5s %5s %7s %8s %7s %8s "
		       "%6s %5s\n",
		       "CLIENT", "REGION", "STORE", "MASTER", "STATE", "CONN",
		       "SLOTS", "QUEUED", "INFLIGHT", "ERRORS", "CONNECTS",
		       "RETRY", "MAPS");
	for (;;) {
		struct proto_msg rep;

		err = ask(c, PROTO_SCOPE_STORES, 0, start, PROTO_STORES_REPLY,
			  &rep);
		if (err)
			return err;
		for (i = 0; i < rep.u.stores_reply.count; i++, shown++) {
			struct proto_store_rec *x = &rep.u.stores_reply.recs[i];

			if (c->json) {
				printf("%s{\"client\": %" PRIu64
				       ", \"region\": %" PRIu64
				       ", \"store\": \"",
				       shown ? ", " : "", x->client_id,
				       x->region_id);
				json_str(x->name);
				printf("\", \"master\": \"");
				json_str(x->addr);
				printf("\", \"state\": \"%s\", "
				       "\"owns_slots\": %s, \"read_up\": %s, "
				       "\"write_up\": %s, \"slots\": %u, "
				       "\"queued\": %" PRIu64
				       ", \"in_flight\": %" PRIu64
				       ", \"errors\": %" PRIu64
				       ", \"connects\": %" PRIu64
				       ", \"retrying\": %" PRIu64
				       ", \"map_refreshes\": %" PRIu64 "}",
				       store_state(x),
				       x->flags & PROTO_STORE_OWNS_SLOTS ?
					       "true" : "false",
				       x->flags & PROTO_STORE_READ_UP ?
					       "true" : "false",
				       x->flags & PROTO_STORE_WRITE_UP ?
					       "true" : "false",
				       x->slots, x->queued, x->in_flight,
				       x->errors, x->connects, x->retrying,
				       x->map_refreshes);
			} else {
				printf("%6" PRIu64 " %6" PRIu64 " %-20.20s "
				       "%-21.21s %-10s %5s %5u %7" PRIu64
				       " %8" PRIu64 " %7" PRIu64 " %8" PRIu64
				       " %6" PRIu64 " %5" PRIu64 "\n",
				       x->client_id, x->region_id, x->name,
				       x->addr[0] ? x->addr : "-",
				       store_state(x), store_conns(x->flags),
				       x->slots, x->queued, x->in_flight,
				       x->errors, x->connects, x->retrying,
				       x->map_refreshes);
			}
		}
		start += rep.u.stores_reply.count;
		i = start < rep.u.stores_reply.total &&
		    rep.u.stores_reply.count;
		proto_msg_release(&rep);
		if (!i)
			break;
	}
	if (c->json)
		printf("]\n");
	return 0;
}

/*
 * watch: status and clients every @interval_ms, @count times (-1: until
 * interrupted).  On a terminal each tick repaints the screen; otherwise
 * (a pipe, a file) nothing but text is written: with --json one JSON
 * object per line and per tick, {"tick": n, "time": seconds since the
 * epoch, "status": {...}, "clients": [...]}, else a header line per tick.
 */
static int cmd_watch(struct ctl *c, long count, long interval_ms)
{
	bool tty = isatty(STDOUT_FILENO);
	struct proto_msg rep;
	uint64_t tick;
	int err = 0;

	for (tick = 1; !err && count; tick++) {
		struct timespec wait = { interval_ms / 1000,
					 (interval_ms % 1000) * 1000000 };
		struct timeval now;

		gettimeofday(&now, NULL);
		err = ask(c, PROTO_SCOPE_DAEMON, 0, 0, PROTO_STATS_REPLY, &rep);
		if (err)
			break;
		if (c->json) {
			printf("{\"tick\": %" PRIu64 ", \"time\": %lld.%03ld, "
			       "\"status\": ",
			       tick, (long long)now.tv_sec,
			       (long)(now.tv_usec / 1000));
			print_status(c, &rep);
			printf(", \"clients\": ");
		} else if (tty) {
			printf("\033[H\033[2J");
			print_status(c, &rep);
		} else {
			printf("%s--- tick %" PRIu64 " at %lld.%03ld\n",
			       tick > 1 ? "\n" : "", tick,
			       (long long)now.tv_sec,
			       (long)(now.tv_usec / 1000));
			print_status(c, &rep);
		}
		proto_msg_release(&rep);
		err = cmd_clients(c, false);
		if (c->json && !err)
			printf("}\n");
		fflush(stdout);
		if (count > 0)
			count--;
		if (count && !err)
			nanosleep(&wait, NULL);
	}
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [--socket PATH] [--json] "
		   "status|stats|clients|regions|stores\n"
		   "       %s [--socket PATH] [--json] watch [--count N] "
		   "[--interval SEC]\n"
		   "  status   the daemon at a glance: budget, resident and "
		   "peak, clients,\n"
		   "           regions, faults of all kinds, evictions, "
		   "writebacks, I/O errors\n"
		   "  stats    every counter the daemon keeps, by its name "
		   "in struct upg_stats\n"
		   "  clients  one line per client; regions: one line per "
		   "region\n"
		   "  stores   one line per master of each Redis store the "
		   "daemon opened:\n"
		   "           state (connected, failover, down, not-master), "
		   "connections,\n"
		   "           slots, commands queued and in flight, errors\n"
		   "  watch    status and clients every SEC seconds (default "
		   "1), N times\n"
		   "           (default: until interrupted); with --json one "
		   "object per line\n"
		   "           and per tick: {\"tick\", \"time\", "
		   "\"status\", \"clients\"}\n"
		   "       %s --help | --version\n"
		   "Default socket: $UPAGER_SOCKET, else /run/upager/upagerd.sock "
		   "(root) or $XDG_RUNTIME_DIR/upager/upagerd.sock.\n",
		prog, prog, prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct ctl c = { .sock = -1 };
	const char *cmd;
	long count = -1, interval = 1000;
	int opt, err;

	c.path = default_socket();
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c.path = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			if (count <= 0) {
				fprintf(stderr, "%s: --count wants a number "
						"> 0\n", prog);
				return 2;
			}
			break;
		case 'i': {
			char *end;
			double sec = strtod(optarg, &end);

			if (end == optarg || *end || !(sec >= 0.001) ||
			    sec > 86400) {
				fprintf(stderr, "%s: --interval wants seconds "
						"between 0.001 and 86400 "
						"(e.g. 0.5)\n", prog);
				return 2;
			}
			interval = (long)(sec * 1000 + 0.5);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s (libupager %s)\n", prog,
			       UPAGER_VERSION_STRING, upg_version());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "status") && strcmp(cmd, "stats") &&
	    strcmp(cmd, "clients") && strcmp(cmd, "regions") &&
	    strcmp(cmd, "stores") && strcmp(cmd, "watch")) {
		fprintf(stderr, "%s: unknown command '%s' (status, stats, "
				"clients, regions, stores or watch)\n",
			prog, cmd);
		return 2;
	}
	err = open_ctl(&c);
	if (err) {
		if (c.sock >= 0)
			close(c.sock);
		proto_conn_fini(&c.conn);
		return 1;
	}
	if (!strcmp(cmd, "status")) {
		err = cmd_stats(&c, false);
	} else if (!strcmp(cmd, "stats")) {
		err = cmd_stats(&c, true);
	} else if (!strcmp(cmd, "clients")) {
		err = cmd_clients(&c, true);
	} else if (!strcmp(cmd, "regions")) {
		err = cmd_regions(&c);
	} else if (!strcmp(cmd, "stores")) {
		err = cmd_stores(&c);
	} else {
		err = cmd_watch(&c, count, interval);
	}
	close(c.sock);
	proto_conn_fini(&c.conn);
	return err ? 1 : 0;
}
