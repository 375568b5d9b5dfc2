/*
 * xdevd: the hotplug daemon of a driver domain (see xdevd.h, xdevd(8)).
 *
 *   xdevd [--domid N] [--hotplug-dir DIR] [--timeout SECONDS] [--syslog]
 *         [--verbose]
 *
 * Runs in the foreground until SIGTERM or SIGINT: then running scripts get
 * SIGTERM (SIGKILL two seconds later) and the daemon exits 0 once they have
 * ended; what they left half done is completed at the next start.  SIGHUP
 * looks at every device again.  Exit 1: no store, or the store went away;
 * exit 2: bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "xdevd.h"

#define WATCH_TOKEN "xdevd"
#define DEFAULT_TIMEOUT_S 40
#define DEFAULT_STATE_DIR "/run/xdevd"

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_ERR: return "error: ";
	case LOG_WARNING: return "warning: ";
	default: return "";
	}
}

void xdevd_log(struct xdevd *d, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !d->verbose)
		return;
	va_start(ap, fmt);
	if (d->syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "xdevd: %s", prio_name(prio));
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xdevd [--domid N] [--hotplug-dir DIR] [--timeout SECONDS]"
		" [--state-dir DIR]\n             [--native auto|never] [--syslog]\n"
		"Runs the hotplug scripts of the backends in this domain "
		"(see xdevd(8)).\n"
		"  -d, --domid N          this domain's id (default: read "
		"from the store)\n"
		"  -H, --hotplug-dir DIR  scripts named by a plain name "
		"(default %s)\n"
		"  -t, --timeout SECONDS  kill a script after this long "
		"(default %d)\n"
		"  -S, --state-dir DIR    what the add scripts acquired, kept "
		"across restarts\n"
		"                         (default %s)\n"
		"      --native auto|never  the default scripts' work done "
		"in-process (auto,\n"
		"                         the default) or by the scripts\n"
		"  -s, --syslog           log to syslog instead of stderr\n"
		"  -v, --verbose          log every decision\n",
		XDEV_HOTPLUG_DIR, DEFAULT_TIMEOUT_S, DEFAULT_STATE_DIR);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "xdevd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'xdevd --help'.\n");
	return 2;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > max || s[0] == '-')
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_args(struct xdevd *d, int argc, char **argv, bool *have_id)
{
	static const struct option opts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "hotplug-dir", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "native", required_argument, NULL, 'N' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t v;
	int c;

	while ((c = getopt_long(argc, argv, "d:H:t:S:svh", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			if (strcmp(optarg, "auto") && strcmp(optarg, "never"))
				return usage_error("--native '%s': auto or "
						   "never", optarg);
			d->native = !strcmp(optarg, "auto");
			break;
		case 'd':
			if (parse_u32(optarg, 0x7fef, &d->self))
				return usage_error("--domid '%s' is not a domain "
						   "id (0 to 32751)", optarg);
			*have_id = true;
			break;
		case 'H':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(d->hotplug_dir))
				return usage_error("--hotplug-dir '%s' must be an "
						   "absolute path", optarg);
			snprintf(d->hotplug_dir, sizeof(d->hotplug_dir), "%s",
				 optarg);
			break;
		case 't':
			if (parse_u32(optarg, 86400, &v) || v == 0)
				return usage_error("--timeout '%s' is not a number "
						   "of seconds (1 to 86400)",
						   optarg);
			d->timeout_s = v;
			break;
		case 'S':
			if (optarg[0] != '/' ||
			    strlen(optarg) >= sizeof(d->state_dir) - 40)
				return usage_error("--state-dir '%s' must be an "
						   "absolute path", optarg);
			snprintf(d->state_dir, sizeof(d->state_dir), "%s",
				 optarg);
			break;
		case 's': d->syslog = true; break;
		case 'v': d->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("xdevd %s\n", PACKAGE_VERSION); exit(0);
		default: return usage_error("%s", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The domain we run in: "domid" relative to our own home, as xl devd
 * finds it. */
static int read_self(struct xdevd *d)
{
	char *v = xs_read(d->xs, XBT_NULL, "domid", NULL);
	int r = v && !parse_u32(v, 0x7fef, &d->self) ? 0 : -1;

	if (r)
		xdevd_log(d, LOG_ERR, "cannot read this domain's id from the "
			  "store (node 'domid'); pass --domid");
	free(v);
	return r;
}

static void xs_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct xdevd *d = w->data;
	char **ev;

	(void)revents;
	while ((ev = xs_check_watch(d->xs))) {
		device_changed(d, ev[XS_WATCH_PATH]);
		free(ev);
	}
	if (errno != EAGAIN) {
		xdevd_log(d, LOG_ERR, "lost the store connection: %s",
			  strerror(errno));
		d->exit_code = 1;
		ev_io_stop(loop, w);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct xdevd *d = w->data;

	(void)revents;
	if (d->stopping)
		return;
	xdevd_log(d, LOG_INFO, "stopping (%d script(s) running)",
		  device_running_scripts(d));
	d->stopping = true;
	ev_io_stop(loop, &d->xs_io);
	device_stop_all(d);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	device_scan_all(w->data);
}

/* Once stopping, the loop ends when the last script has. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct xdevd *d = w->data;

	(void)revents;
	if (d->stopping && !device_running_scripts(d))
		ev_break(loop, EVBREAK_ALL);
}

static void start_watching(struct xdevd *d, ev_prepare *prep)
{
	ev_io_init(&d->xs_io, xs_cb, xs_fileno(d->xs), EV_READ);
	d->xs_io.data = d;
	ev_io_start(d->loop, &d->xs_io);
	ev_signal_init(&d->sig_term, stop_cb, SIGTERM);
	ev_signal_init(&d->sig_int, stop_cb, SIGINT);
	ev_signal_init(&d->sig_hup, hup_cb, SIGHUP);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	ev_signal_start(d->loop, &d->sig_term);
	ev_signal_start(d->loop, &d->sig_int);
	ev_signal_start(d->loop, &d->sig_hup);
	ev_prepare_init(prep, prepare_cb);
	prep->data = d;
	ev_prepare_start(d->loop, prep);
}

int main(int argc, char **argv)
{
	struct xdevd d = { .timeout_s = DEFAULT_TIMEOUT_S, .native = true };
	bool have_id = false;
	ev_prepare prep;
	int r;

	snprintf(d.hotplug_dir, sizeof(d.hotplug_dir), "%s", XDEV_HOTPLUG_DIR);
	snprintf(d.state_dir, sizeof(d.state_dir), "%s", DEFAULT_STATE_DIR);
	if ((r = parse_args(&d, argc, argv, &have_id)))
		return r;
	if (d.syslog)
		openlog("xdevd", LOG_PID, LOG_DAEMON);
	if (!(d.xs = xs_open(0))) {
		xdevd_log(&d, LOG_ERR, "cannot connect to the store: %s",
			  strerror(errno));
		return 1;
	}
	if (!have_id && read_self(&d)) {
		xs_close(d.xs);
		return 1;
	}
	snprintf(d.backend, sizeof(d.backend), "/local/domain/%" PRIu32
		 "/backend", d.self);
	if (!xs_watch(d.xs, d.backend, WATCH_TOKEN)) {
		xdevd_log(&d, LOG_ERR, "cannot watch %s: %s", d.backend,
			  strerror(errno));
		xs_close(d.xs);
		return 1;
	}
	d.loop = EV_DEFAULT;
	start_watching(&d, &prep);
	xdevd_log(&d, LOG_INFO, "domain %" PRIu32 ": watching %s", d.self,
		  d.backend);
	if (device_state_load(&d)) {
		xs_close(d.xs);
		return 1;
	}
	device_scan_all(&d); /* what was left half done, and what was
				removed while no daemon ran */
	ev_run(d.loop, 0);
	xdevd_log(&d, LOG_INFO, "stopped");
	device_free_all(&d);
	xs_close(d.xs);
	ev_loop_destroy(d.loop);
	return d.exit_code;
}
