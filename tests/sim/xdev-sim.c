/*
 * xdev-sim: command line of the simulated Xen host (docs/simulated-host.md).
 *
 *   xdev-sim start [--dir DIR] [--daemon c|o] [--no-netns] [--trace FILE]
 *   xdev-sim stop | env | domain-list
 *   xdev-sim domain-create [--domid N] [--driver-domain|--bare] NAME
 *   xdev-sim fault DOMAIN [--device TYPE/DEVID[@FRONTEND]] [FAULT...]
 *   xdev-sim fault DOMAIN --clear
 *   xdev-sim kexec DOMAIN
 *   xdev-sim wait [--timeout SECONDS] PATH [VALUE]
 *   xdev-sim domain-destroy [--keep-store] DOMAIN
 *   xdev-sim domain-shutdown [--reason poweroff|reboot|suspend] DOMAIN
 *   xdev-sim domain-crash DOMAIN
 *   xdev-sim exec [--no-preload | --domain DOMAIN] -- COMMAND...
 *   xdev-sim run [start options] -- COMMAND...
 *   xdev-sim guest DOMAIN COMMAND...
 *   xdev-sim bench-store [--writes N] [--daemon c|o]
 *
 * Every command but start, run and bench-store acts on the host named by
 * --dir or $XDEV_SIM_DIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <xen/sched.h>
#include <xenstore.h>

#include "fakexen.h"
#include "sim-bench.h"
#include "sim-guest.h"
#include "simhost.h"

#define EXIT_USAGE 2

static const char *opt_dir;

static int usage(void)
{
	fputs("usage: xdev-sim [--dir DIR] COMMAND [ARGS]\n"
	      "  start [--daemon c|o] [--no-netns] [--no-drivers] [--trace FILE]\n"
	      "                      start a host; prints the environment to "
	      "eval\n"
	      "  stop                stop the host (nothing is left behind)\n"
	      "  env                 print the host's environment\n"
	      "  domain-create [--domid N] [--driver-domain|--bare] NAME\n"
	      "                      a guest (frontend drivers), a driver domain\n"
	      "                      (backend drivers) or a domain with no kernel\n"
	      "  fault DOMAIN [--device TYPE/DEVID[@FRONTEND]] [FAULT...]\n"
	      "                      set (no FAULT: remove) a rule; FAULT is one of\n"
	      "                      frontend-unresponsive frontend-refuse-close\n"
	      "                      backend-unresponsive backend-delete-on-close\n"
	      "                      slow=MS connect-delay=MS destroy-at=STATE\n"
	      "                      vif-late=MS\n"
	      "  fault DOMAIN --clear  remove every rule of DOMAIN\n"
	      "  kexec DOMAIN        the guest's frontends close and reconnect\n"
	      "  wait [--timeout S] PATH [VALUE]\n"
	      "                      wait (a watch) until PATH reads VALUE, or\n"
	      "                      without VALUE until it is gone; default 10 s\n"
	      "  domain-destroy [--keep-store] DOMAIN\n"
	      "  domain-shutdown [--reason poweroff|reboot|suspend] DOMAIN\n"
	      "  domain-crash DOMAIN\n"
	      "  domain-list\n"
	      "  exec [--no-preload] -- COMMAND...   run inside the host\n"
	      "  exec --domain DOMAIN -- COMMAND...  run inside dom0 or a driver\n"
	      "                      domain: its xenstore connection and network\n"
	      "                      namespace, no hypervisor access\n"
	      "  run [start options] -- COMMAND...   start, run, stop\n"
	      "  guest DOMAIN COMMAND...   act as the domain's kernel "
	      "(xdev-sim guest 1 help)\n"
	      "  bench-store [--writes N] [--daemon c|o]\n"
	      "DOMAIN is a domid or a name; DIR defaults to $XDEV_SIM_DIR.\n",
	      stderr);
	return EXIT_USAGE;
}

static int die(const char *what, const char *msg)
{
	fprintf(stderr, "xdev-sim %s: %s\n", what, msg);
	return 1;
}

static int open_host(const char *cmd, struct simhost *h)
{
	if (simhost_open(opt_dir, h)) {
		die(cmd, h->err);
		return -1;
	}
	return 0;
}

static void print_env(const struct simhost *h)
{
	printf("export XDEV_SIM_DIR='%s'\n", h->dir);
	printf("export XENSTORED_PATH='%s'\n", h->socket);
	printf("export XDEV_SIM_PRELOAD='%s'\n", h->preload);
}

static int parse_daemon(const char *s, enum simhost_daemon *ret)
{
	if (!strcmp(s, "c") || !strcmp(s, "xenstored"))
		*ret = SIMHOST_CXENSTORED;
	else if (!strcmp(s, "o") || !strcmp(s, "oxenstored"))
		*ret = SIMHOST_OXENSTORED;
	else
		return -1;
	return 0;
}

/* Options shared by start and run; returns the index of the first
 * operand or -1. */
static int parse_start(int argc, char **argv, struct simhost_opts *o)
{
	static const struct option lo[] = {
		{ "daemon", required_argument, NULL, 'd' },
		{ "no-netns", no_argument, NULL, 'n' },
		{ "netns", no_argument, NULL, 'N' },
		{ "trace", required_argument, NULL, 'T' },
		{ "no-drivers", no_argument, NULL, 'D' },
		/* as documented: `start --dir D`, as well as `--dir D start` */
		{ "dir", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 } };
	int c;

	*o = (struct simhost_opts){ .dir = opt_dir, .netns = -1,
				    .daemon = simhost_default_daemon() };
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_daemon(optarg, &o->daemon)) {
				fprintf(stderr, "xdev-sim: --daemon: '%s' is "
					"neither c nor o\n", optarg);
				return -1;
			}
			break;
		case 'n': o->netns = 0; break;
		case 'N': o->netns = 1; break;
		case 'T': o->trace_file = optarg; break;
		case 'D': o->no_drivers = 1; break;
		case 'r': o->dir = optarg; break;
		default: return -1;
		}
	}
	return optind;
}

static int cmd_start(int argc, char **argv)
{
	struct simhost_opts o;
	struct simhost h;

	if (parse_start(argc, argv, &o) != argc)
		return usage();
	if (simhost_start(&o, &h))
		return die("start", h.err);
	print_env(&h);
	return 0;
}

static int run_child(const struct simhost *h, char **cmd, int preload)
{
	int status, r;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return die("exec", strerror(errno));
	if (pid == 0) {
		if ((r = simhost_setenv(h, preload, 1))) {
			fprintf(stderr, "xdev-sim: entering the host: %s\n",
				strerror(-r));
			_exit(126);
		}
		execvp(cmd[0], cmd);
		fprintf(stderr, "xdev-sim: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return die("exec", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

static int cmd_run(int argc, char **argv)
{
	struct simhost_opts o;
	struct simhost h;
	int i = parse_start(argc, argv, &o), rc;

	if (i < 0 || i >= argc)
		return usage();
	o.stop_with_starter = 1;
	if (simhost_start(&o, &h))
		return die("run", h.err);
	rc = run_child(&h, argv + i, 1);
	if (simhost_stop(&h))
		return die("run", h.err);
	return rc;
}

/* CMD inside domain DOMID, as `ip netns exec` does: this process enters
 * the domain and becomes CMD, so signals and the exit status are CMD's. */
static int exec_in_domain(struct simhost *h, uint32_t domid, char **cmd)
{
	if (simhost_domain_enter(h, domid))
		return die("exec", h->err);
	execvp(cmd[0], cmd);
	fprintf(stderr, "xdev-sim: %s: %s\n", cmd[0], strerror(errno));
	return 127;
}

static int cmd_exec(int argc, char **argv)
{
	const char *domain = NULL;
	struct simhost h;
	int preload = 1, i = 1;
	uint32_t id;

	for (; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--no-preload"))
			preload = 0;
		else if (!strcmp(argv[i], "--domain") && i + 1 < argc)
			domain = argv[++i];
		else
			break;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc || (domain && !preload))
		return usage();
	if (open_host("exec", &h))
		return 1;
	if (!domain)
		return run_child(&h, argv + i, preload);
	if (simhost_domain_find(&h, domain, &id))
		return die("exec", h.err);
	return exec_in_domain(&h, id, argv + i);
}

static int cmd_simple(const char *cmd, int argc)
{
	struct simhost h;

	if (argc != 1)
		return usage();
	if (open_host(cmd, &h))
		return 1;
	if (!strcmp(cmd, "env")) {
		print_env(&h);
		return 0;
	}
	return simhost_stop(&h) ? die(cmd, h.err) : 0;
}

static int parse_domid_opt(const char *arg, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || *ret == 0 || *ret >= FAKEXEN_NR_DOMIDS) {
		fprintf(stderr, "xdev-sim domain-create: --domid: '%s' is not a "
			"domid from 1 to %d\n", arg, FAKEXEN_NR_DOMIDS - 1);
		return -1;
	}
	return 0;
}

static int cmd_domain_create(int argc, char **argv)
{
	enum simhost_dom_kind kind = SIMHOST_DOM_GUEST;
	unsigned long want = 0;
	struct simhost h;
	uint32_t id;
	int i = 1;

	for (; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--domid") && i + 2 < argc) {
			if (parse_domid_opt(argv[++i], &want))
				return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--driver-domain")) {
			kind = SIMHOST_DOM_DRIVER;
		} else if (!strcmp(argv[i], "--bare")) {
			kind = SIMHOST_DOM_BARE;
		} else {
			return usage();
		}
	}
	if (i + 1 != argc)
		return usage();
	if (open_host("domain-create", &h))
		return 1;
	if (simhost_domain_create_kind(&h, argv[i], (uint32_t)want, kind, &id))
		return die("domain-create", h.err);
	printf("%u\n", id);
	return 0;
}

/* fault DOMAIN [--device SCOPE] [WORD...] | fault DOMAIN --clear */
static int cmd_fault(int argc, char **argv)
{
	const char *scope = "*";
	char words[1024] = "";
	struct simhost h;
	uint32_t id;
	int i = 2, r;

	if (argc < 2)
		return usage();
	if (open_host("fault", &h))
		return 1;
	if (simhost_domain_find(&h, argv[1], &id))
		return die("fault", h.err);
	if (argc == 3 && !strcmp(argv[2], "--clear"))
		return simhost_fault_clear(&h, id) ? die("fault", h.err) : 0;
	if (i + 1 < argc && !strcmp(argv[i], "--device")) {
		scope = argv[i + 1];
		i += 2;
	}
	for (; i < argc; i++) {
		if (strlen(words) + strlen(argv[i]) + 2 > sizeof(words))
			return die("fault", "too many faults");
		if (argv[i][0] == '-')
			return usage();
		strcat(words, words[0] ? " " : "");
		strcat(words, argv[i]);
	}
	r = simhost_fault_set(&h, id, scope, words);
	if (r == -EINVAL) {
		fprintf(stderr, "xdev-sim fault: %s\n", h.err);
		return EXIT_USAGE;
	}
	return r ? die("fault", h.err) : 0;
}

static int cmd_kexec(int argc, char **argv)
{
	struct simhost h;
	uint32_t id;

	if (argc != 2)
		return usage();
	if (open_host("kexec", &h))
		return 1;
	if (simhost_domain_find(&h, argv[1], &id))
		return die("kexec", h.err);
	return simhost_domain_kexec(&h, id) ? die("kexec", h.err) : 0;
}

static int parse_reason(const char *s, unsigned *ret)
{
	static const struct { const char *n; unsigned v; } t[] = {
		{ "poweroff", SHUTDOWN_poweroff }, { "reboot", SHUTDOWN_reboot },
		{ "suspend", SHUTDOWN_suspend } };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].n)) {
			*ret = t[i].v;
			return 0;
		}
	return -1;
}

static int cmd_domain_change(const char *cmd, int argc, char **argv)
{
	unsigned reason = SHUTDOWN_poweroff;
	int keep = 0, i = 1, r;
	struct simhost h;
	uint32_t id;

	for (; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--keep-store") &&
		    !strcmp(cmd, "domain-destroy")) {
			keep = 1;
		} else if (!strcmp(argv[i], "--reason") && i + 2 < argc &&
			   !strcmp(cmd, "domain-shutdown")) {
			if (parse_reason(argv[++i], &reason)) {
				fprintf(stderr, "xdev-sim %s: unknown reason "
					"'%s'\n", cmd, argv[i]);
				return EXIT_USAGE;
			}
		} else {
			return usage();
		}
	}
	if (i != argc - 1)
		return usage();
	if (open_host(cmd, &h))
		return 1;
	if (simhost_domain_find(&h, argv[i], &id))
		return die(cmd, h.err);
	if (!strcmp(cmd, "domain-destroy"))
		r = simhost_domain_destroy(&h, id, keep);
	else
		r = simhost_domain_shutdown(&h, id,
					    !strcmp(cmd, "domain-crash"), reason);
	return r ? die(cmd, h.err) : 0;
}

static const char *state_name(uint32_t f)
{
	if (f & FAKEXEN_DOM_DYING)
		return "dying";
	if (f & FAKEXEN_DOM_CRASHED)
		return "crashed";
	if (f & FAKEXEN_DOM_SHUTDOWN)
		return "shutdown";
	if (f & FAKEXEN_DOM_PAUSED)
		return "paused";
	return "running";
}

static int cmd_domain_list(int argc)
{
	struct fakexen_dominfo d;
	struct simhost h;
	uint32_t id;
	int r;

	if (argc != 1)
		return usage();
	if (open_host("domain-list", &h))
		return 1;
	if ((r = fakexen_attach(h.dir)))
		return die("domain-list", strerror(-r));
	printf("%-24s %5s  %s\n", "Name", "ID", "State");
	for (id = 0; id < FAKEXEN_NR_DOMIDS; id++)
		if (!fakexen_domain_get(id, &d))
			printf("%-24s %5u  %s\n", d.name, id,
			       state_name(d.flags));
	return 0;
}

static int cmd_guest(int argc, char **argv)
{
	struct simhost h;
	char num[16];
	uint32_t id;

	if (argc < 3)
		return usage();
	if (open_host("guest", &h))
		return 1;
	if (simhost_domain_find(&h, argv[1], &id))
		return die("guest", h.err);
	if (simhost_setenv(&h, 0, 0))
		return die("guest", strerror(errno));
	snprintf(num, sizeof(num), "%u", id);
	argv[1] = num;
	return sim_guest_main(argc - 1, argv + 1);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Does PATH read WANT (NULL: is it absent)? */
static int path_matches(struct xs_handle *xs, const char *path,
			const char *want)
{
	char *v = xs_read(xs, XBT_NULL, path, NULL);
	int ok = want ? v && !strcmp(v, want) : !v;

	free(v);
	return ok;
}

static int cmd_wait(int argc, char **argv)
{
	struct simhost h;
	struct xs_handle *xs;
	double secs = 10;
	long long deadline;
	char *end, **ev;
	int i = 1, ok;

	if (i + 1 < argc && !strcmp(argv[i], "--timeout")) {
		secs = strtod(argv[i + 1], &end);
		if (*end || secs <= 0 || secs > 3600) {
			fprintf(stderr, "xdev-sim wait: --timeout: '%s' is not "
				"a number of seconds\n", argv[i + 1]);
			return EXIT_USAGE;
		}
		i += 2;
	}
	if (argc - i < 1 || argc - i > 2)
		return usage();
	if (open_host("wait", &h) || simhost_setenv(&h, 0, 0))
		return 1;
	xs = xs_open(0);
	if (!xs || !xs_watch(xs, argv[i], "wait"))
		return die("wait", strerror(errno));
	deadline = mono_ms() + (long long)(secs * 1000);
	while (!(ok = path_matches(xs, argv[i], argv[i + 1]))) {
		struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
		long long left = deadline - mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		while ((ev = xs_check_watch(xs)))
			free(ev);
	}
	xs_close(xs);
	if (!ok) {
		fprintf(stderr, "xdev-sim wait: %s did not become %s%s%s within "
			"%g s\n", argv[i], argv[i + 1] ? "'" : "gone",
			argv[i + 1] ? argv[i + 1] : "", argv[i + 1] ? "'" : "",
			secs);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc > 2 && !strcmp(argv[1], "--dir")) {
		opt_dir = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage();
	cmd = argv[1];
	argc--;
	argv++;
	if (!strcmp(cmd, "start"))
		return cmd_start(argc, argv);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "stop") || !strcmp(cmd, "env"))
		return cmd_simple(cmd, argc);
	if (!strcmp(cmd, "exec"))
		return cmd_exec(argc, argv);
	if (!strcmp(cmd, "domain-create"))
		return cmd_domain_create(argc, argv);
	if (!strcmp(cmd, "domain-destroy") || !strcmp(cmd, "domain-shutdown") ||
	    !strcmp(cmd, "domain-crash"))
		return cmd_domain_change(cmd, argc, argv);
	if (!strcmp(cmd, "domain-list"))
		return cmd_domain_list(argc);
	if (!strcmp(cmd, "fault"))
		return cmd_fault(argc, argv);
	if (!strcmp(cmd, "kexec"))
		return cmd_kexec(argc, argv);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc, argv);
	if (!strcmp(cmd, "guest"))
		return cmd_guest(argc, argv);
	if (!strcmp(cmd, "bench-store"))
		return sim_bench_main(argc, argv);
	fprintf(stderr, "xdev-sim: unknown command '%s'\n", cmd);
	return usage();
}
