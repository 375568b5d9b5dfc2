/*
 * xdev: xl's device commands on libxdev, plus what xl lacks (JSON output,
 * timeouts, forced and safe removal, a monitor, a live status line).
 *
 *   xdev [OPTION...] COMMAND [OPTION...] ARG...
 *
 * Options may come before or after the command; each command accepts
 * those that mean something to it, and refuses the others (a --force
 * given to an attach is a mistake worth saying so).  Exit codes: xdev.h.
 */
#define _GNU_SOURCE
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xdev-cli.h"

/* The library's defaults (docs/library.md), made explicit so that the
 * status line can show them. */
#define DEFAULT_INIT_MS 10000
#define DEFAULT_HOTPLUG_MS 40000
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_REMOVE_MS 10000

/* Which options a command takes (-v, -q, -h, --xenstore: all). */
#define O_JSON 1u
#define O_DRY_RUN 2u
#define O_WAIT 4u           /* --wait-connected */
#define O_MODE 8u           /* --force, --safe, --auto */
#define O_TIMEOUTS 16u      /* timeouts, hotplug mode and directory */
#define O_APPLY 32u         /* recover: --apply */

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	unsigned opts;
	const char *args, *help;
};

static const struct command commands[] = {
	{ "block-attach", cmd_block_attach,
	  O_JSON | O_DRY_RUN | O_WAIT | O_TIMEOUTS,
	  "<domain> <disk-spec>...", "attach a disk (xl's disk spec)" },
	{ "block-detach", cmd_block_detach, O_JSON | O_MODE | O_TIMEOUTS,
	  "<domain> <vdev|devid>", "detach a disk" },
	{ "block-list", cmd_block_list, O_JSON, "<domain>...",
	  "list the disks of domains" },
	{ "network-attach", cmd_network_attach,
	  O_JSON | O_DRY_RUN | O_WAIT | O_TIMEOUTS,
	  "<domain> [mac=..] [bridge=..] [mtu=..] [backend=..] [script=..] "
	  "[devid=..]", "attach a network device" },
	{ "network-detach", cmd_network_detach, O_JSON | O_MODE | O_TIMEOUTS,
	  "<domain> <devid|mac>", "detach a network device" },
	{ "network-list", cmd_network_list, O_JSON, "<domain>...",
	  "list the network devices of domains" },
	{ "monitor", cmd_monitor, O_JSON, "[<domain>...]",
	  "print device events until interrupted" },
	{ "recover", cmd_recover, O_JSON | O_DRY_RUN | O_APPLY | O_TIMEOUTS,
	  "[<domain>...]", "find devices an xdev process left half added or "
	  "half removed when it died; --apply: finish them" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

enum {
	OPT_INIT = 256, OPT_HOTPLUG_T, OPT_CONNECT, OPT_REMOVE, OPT_HOTPLUG,
	OPT_HOTPLUG_DIR, OPT_XENSTORE, OPT_APPLY, OPT_TIMEOUT, OPT_FORCE,
	OPT_AUTO, OPT_DRY_RUN, OPT_NATIVE,
};

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "apply", no_argument, NULL, OPT_APPLY },
	{ "wait-connected", no_argument, NULL, 'w' },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "safe", no_argument, NULL, 's' },
	{ "auto", no_argument, NULL, OPT_AUTO },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "init-timeout", required_argument, NULL, OPT_INIT },
	{ "hotplug-timeout", required_argument, NULL, OPT_HOTPLUG_T },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "remove-timeout", required_argument, NULL, OPT_REMOVE },
	{ "hotplug", required_argument, NULL, OPT_HOTPLUG },
	{ "hotplug-dir", required_argument, NULL, OPT_HOTPLUG_DIR },
	{ "native", required_argument, NULL, OPT_NATIVE },
	{ "xenstore", required_argument, NULL, OPT_XENSTORE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* xl's letters mean what they mean to xl (xl.c, xl_cmdtable.c): -N dry
 * run, -t the status line even without a terminal, -T timestamps, -f
 * before the command force execution (a no-op here), after block-detach
 * a forced removal. */
#define SHORT_OPTS "jvqnNwfstThV"

/* What the options said, before they are checked against the command. */
struct parsed {
	unsigned used;             /* O_* of the options given */
	const char *used_name[6];  /* per O_* bit: the last one given */
	int timeout_ms, step_ms[4];
	int modes;                 /* how many of --force, --safe, --auto */
	enum xdev_remove_mode mode;
	bool help, version, apply;
	bool global;               /* parsing the options before the command */
	bool t_given;              /* -t: once xdev's --timeout */
	const char *hotplug;
	const char *native;
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s [OPTION...] COMMAND [OPTION...] ARG...\n\n"
		"commands:\n", cli_prog);
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-15s %s\n  %-15s   %s\n", commands[i].name,
			commands[i].args, "", commands[i].help);
	fprintf(f, "\noptions:\n"
		"  -j, --json             JSON output (docs/cli.md)\n"
		"  -n, -N, --dry-run      attach: print the parsed spec, write "
		"nothing;\n"
		"                         recover: report only (the default)\n"
		"      --apply            recover: finish what it finds\n"
		"  -w, --wait-connected   attach: also wait for Connected\n"
		"  -f, --force            detach without waiting (-f before "
		"the command:\n"
		"                         xl's force execution, which changes "
		"nothing)\n"
		"  -s, --safe             detach, but never force it "
		"(block-detach's default)\n"
		"      --auto             detach, forcing past the timeout "
		"(network-detach's default)\n"
		"      --timeout S        the longest any one wait may take\n"
		"      --init-timeout S, --hotplug-timeout S, --connect-timeout S,"
		" --remove-timeout S\n"
		"                         one wait's timeout (10, 40, 10, 10)\n"
		"      --hotplug MODE     library, external, daemon or none "
		"($XDEV_HOTPLUG)\n"
		"      --hotplug-dir DIR  the hotplug scripts "
		"($XDEV_HOTPLUG_DIR)\n"
		"      --native auto|never  native hotplug where no script is "
		"named ($XDEV_NATIVE)\n"
		"      --xenstore PATH    the store's socket ($XENSTORED_PATH)\n"
		"  -v, --verbose          the library's log (twice: debug)\n"
		"  -q, --quiet            print only errors\n"
		"  -t                     the status line even without a "
		"terminal\n"
		"  -T                     date and pid before each message\n"
		"  -h, --help, -V, --version\n\n"
		"exit codes: 0 success, 1 failed, 2 invalid usage, 3 not found, "
		"4 timed out, 5 device exists,\n6 hotplug failed, 7 guest "
		"refused, 8 busy, 130 interrupted.  See xdev(1).\n");
}

/* SECONDS as milliseconds: positive, at most a day. */
static int seconds(const char *opt, const char *s, int *ret)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !isfinite(v) || v <= 0 || v > 86400) {
		cli_error("%s '%s': not a number of seconds above 0 and at "
			  "most 86400 (e.g. 30 or 0.5)", opt, s);
		return -1;
	}
	*ret = v * 1000 < 1 ? 1 : (int)(v * 1000);
	return 0;
}

static void mark(struct parsed *p, unsigned o, const char *name)
{
	p->used |= o;
	p->used_name[__builtin_ctz(o)] = name;
}

static int timeout_opt(struct parsed *p, int c, const char *arg)
{
	static const char *const names[] = { "--init-timeout",
					     "--hotplug-timeout",
					     "--connect-timeout",
					     "--remove-timeout" };
	int i = c == OPT_TIMEOUT ? -1 : c - OPT_INIT;

	mark(p, O_TIMEOUTS, i < 0 ? "--timeout" : names[i]);
	return seconds(i < 0 ? "--timeout" : names[i], arg,
		       i < 0 ? &p->timeout_ms : &p->step_ms[i]);
}

static void removal(struct parsed *p, enum xdev_remove_mode mode,
		    const char *name)
{
	if (!p->modes || p->mode != mode)
		p->modes++;
	p->mode = mode;
	mark(p, O_MODE, name);
}

/* An option getopt did not take (C '?': unknown, ':' its value missing);
 * WHICH is the word it was in. */
static int bad_option(int c, const char *which)
{
	char letter[3] = { '-', (char)optopt, 0 };

	/* a long option's optopt is its value, not a letter */
	if (optopt > 0 && optopt < 128)
		which = letter;
	if (c == ':')
		cli_error("option %s needs a value (see `%s --help`)", which,
			  cli_prog);
	else
		cli_error("invalid option '%s' (see `%s --help`)", which,
			  cli_prog);
	return EXIT_USAGE;
}

/* One option: 0, or an exit code. */
static int option(struct cli *cli, struct parsed *p, int c, const char *arg)
{
	switch (c) {
	case 'j': cli->json = true; mark(p, O_JSON, "--json"); break;
	case 'v': cli->verbose++; break;
	case 'q': cli->quiet = true; break;
	case 'n': case 'N': case OPT_DRY_RUN:
		/* the name as given: xl users write -N */
		cli->dry_run = true;
		mark(p, O_DRY_RUN, c == 'n' ? "-n" : c == 'N' ? "-N (dry run)"
							  : "--dry-run");
		break;
	case OPT_APPLY: p->apply = true; mark(p, O_APPLY, "--apply"); break;
	case 'w':
		cli->wait_connected = true;
		mark(p, O_WAIT, "--wait-connected");
		break;
	case 'f':
		/* xl's global -f forces execution past its xend check:
		 * there is none here */
		if (!p->global)
			removal(p, XDEV_REMOVE_FORCE, "-f");
		break;
	case OPT_FORCE: removal(p, XDEV_REMOVE_FORCE, "--force"); break;
	case 's': removal(p, XDEV_REMOVE_SAFE, "--safe"); break;
	case OPT_AUTO: removal(p, XDEV_REMOVE_AUTO, "--auto"); break;
	case 't': cli->tty = true; p->t_given = true; break;
	case 'T': cli_timestamps = true; break;
	case OPT_TIMEOUT: case OPT_INIT: case OPT_HOTPLUG_T: case OPT_CONNECT:
	case OPT_REMOVE:
		return timeout_opt(p, c, arg) ? EXIT_USAGE : 0;
	case OPT_HOTPLUG:
		p->hotplug = arg;
		mark(p, O_TIMEOUTS, "--hotplug");
		break;
	case OPT_HOTPLUG_DIR:
		cli->ctx.hotplug_dir = arg;
		mark(p, O_TIMEOUTS, "--hotplug-dir");
		break;
	case OPT_NATIVE:
		p->native = arg;
		mark(p, O_TIMEOUTS, "--native");
		break;
	case OPT_XENSTORE: cli->ctx.xenstore_path = arg; break;
	case 'h': p->help = true; break;
	case 'V': p->version = true; break;
	default:
		return bad_option(c, arg);
	}
	return 0;
}

/* Options from ARGV until STOP_AT_COMMAND's first non-option (or all,
 * permuting, after the command). */
static int options(struct cli *cli, struct parsed *p, int argc, char **argv,
		   bool stop_at_command)
{
	int c, r;

	optind = 0; /* GNU getopt: start afresh */
	opterr = 0; /* our messages name the option */
	p->global = stop_at_command;
	while ((c = getopt_long(argc, argv, stop_at_command ? "+:" SHORT_OPTS
							    : ":" SHORT_OPTS,
				long_opts, NULL)) != -1)
		if ((r = option(cli, p, c, c == '?' || c == ':'
				? argv[optind - 1] : optarg)))
			return -r;
	return optind;
}

static int hotplug_mode(struct cli *cli, const char *mode)
{
	if (!mode || !strcmp(mode, "library"))
		cli->ctx.hotplug = XDEV_HOTPLUG_LIBRARY;
	else if (!strcmp(mode, "external"))
		cli->ctx.hotplug = XDEV_HOTPLUG_EXTERNAL;
	else if (!strcmp(mode, "none"))
		cli->ctx.hotplug = XDEV_HOTPLUG_NONE;
	else if (!strcmp(mode, "daemon"))
		cli->ctx.hotplug = XDEV_HOTPLUG_DAEMON;
	else {
		cli_error("hotplug mode '%s': use library, external, daemon or "
			  "none", mode);
		return EXIT_USAGE;
	}
	return 0;
}

/* Native hotplug (docs/library.md): where no script is named, or never. */
static int native_mode(struct cli *cli, const char *mode)
{
	if (!mode || !*mode || !strcmp(mode, "auto"))
		cli->ctx.native = XDEV_NATIVE_AUTO;
	else if (!strcmp(mode, "never"))
		cli->ctx.native = XDEV_NATIVE_NEVER;
	else {
		cli_error("native hotplug '%s': use auto or never", mode);
		return EXIT_USAGE;
	}
	return 0;
}

/* The options as the command's context wants them; 0 or an exit code. */
static int settle(struct cli *cli, struct parsed *p)
{
	int *t[4] = { &cli->ctx.timeout_init_ms, &cli->ctx.timeout_hotplug_ms,
		      &cli->ctx.timeout_connect_ms,
		      &cli->ctx.timeout_remove_ms };
	const int dflt[4] = { DEFAULT_INIT_MS, DEFAULT_HOTPLUG_MS,
			      DEFAULT_CONNECT_MS, DEFAULT_REMOVE_MS };
	int i;

	if (p->modes > 1) {
		cli_error("--force, --safe and --auto contradict each other: "
			  "give one");
		return EXIT_USAGE;
	}
	if (p->apply && cli->dry_run) {
		cli_error("--apply and --dry-run contradict each other: give "
			  "one");
		return EXIT_USAGE;
	}
	if (!strcmp(cli->cmd, "recover"))
		cli->dry_run = !p->apply; /* it changes nothing unless asked */
	/* xl's default per command (xl_block.c, xl_nic.c): block-detach
	 * is libxl_device_disk_safe_remove, network-detach
	 * libxl_device_nic_remove, which forces past its timeout */
	cli->remove_mode = p->modes ? p->mode
			 : !strcmp(cli->cmd, "block-detach") ? XDEV_REMOVE_SAFE
			 : XDEV_REMOVE_AUTO;
	for (i = 0; i < 4; i++)
		*t[i] = p->step_ms[i] ? p->step_ms[i]
			: p->timeout_ms ? p->timeout_ms : dflt[i];
	if (!cli->ctx.hotplug_dir && getenv("XDEV_HOTPLUG_DIR") &&
	    *getenv("XDEV_HOTPLUG_DIR"))
		cli->ctx.hotplug_dir = getenv("XDEV_HOTPLUG_DIR");
	i = hotplug_mode(cli, p->hotplug ? p->hotplug
					 : getenv("XDEV_HOTPLUG"));
	return i ? i : native_mode(cli, p->native ? p->native
						  : getenv("XDEV_NATIVE"));
}

static const struct command *find(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int dispatch(struct cli *cli, struct parsed *p, int argc, char **argv)
{
	const struct command *cmd = find(argv[0]);
	int n;

	if (!cmd) {
		cli_error("unknown command '%s': the commands are block-attach, "
			  "block-detach, block-list, network-attach, "
			  "network-detach, network-list, monitor, recover (`%s "
			  "--help`)",
			  argv[0], cli_prog);
		return EXIT_USAGE;
	}
	cli->cmd = cmd->name;
	n = options(cli, p, argc, argv, false);
	if (n < 0)
		return -n;
	if (p->help) {
		printf("usage: %s %s %s\n  %s\n", cli_prog, cmd->name,
		       cmd->args, cmd->help);
		return EXIT_OK;
	}
	if (p->used & ~cmd->opts) {
		/* the option that does not apply, not the last one given */
		cli_error("%s: %s does not apply to this command (see `%s %s "
			  "--help`)", cmd->name,
			  p->used_name[__builtin_ctz(p->used & ~cmd->opts)],
			  cli_prog, cmd->name);
		return EXIT_USAGE;
	}
	n = settle(cli, p);
	return n ? n : cmd->run(cli, argc - optind, argv + optind);
}

/* With -j, a failure is an object on stdout too (docs/cli.md): the
 * monitor's on one line, as its events are. */
static int finish(const struct cli *cli, const struct parsed *p, int rc)
{
	/* "-t 5" now leaves "5" as an argument: say why it went wrong */
	if (rc == EXIT_USAGE && p->t_given)
		cli_warn("-t takes no value: it is xl's -t (the status line "
			 "even without a terminal); a timeout is --timeout S");
	if (rc && cli->json)
		out_error(rc, cli->cmd && !strcmp(cli->cmd, "monitor"));
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli = { .tty = isatty(STDERR_FILENO) };
	struct parsed p = { 0 };
	int n;

	n = options(&cli, &p, argc, argv, true);
	if (n < 0)
		return finish(&cli, &p, -n);
	if (p.version) {
		printf("%s %s (libxdev %s)\n", cli_prog, PACKAGE_VERSION,
		       xdev_version());
		return EXIT_OK;
	}
	if (n >= argc && !p.help) {
		cli_error("no command given: the commands are listed below");
		usage(stderr);
		return finish(&cli, &p, EXIT_USAGE);
	}
	if (n >= argc || !strcmp(argv[n], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	return finish(&cli, &p, dispatch(&cli, &p, argc - n, argv + n));
}
