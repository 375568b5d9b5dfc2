/*
 * xdev, the command line: what its files share.
 *
 *   xdev.c          main: options, dispatch, help, exit codes
 *   xdev-spec.c     xl's disk spec (xl-disk-configuration(5)) -> keys
 *   xdev-nicspec.c  xl's network spec (key=value ...) -> keys
 *   xdev-desc.c     keys -> xdev_desc (the library checks every value)
 *   xdev-store.c    our own store connection: domains, devices, nodes
 *   xdev-out.c      JSON and table output, error messages with hints
 *   xdev-progress.c the live status line on a terminal
 *   xdev-run.c      the event loop of one command: libev, signals
 *   xdev-attach.c   block/network-attach and -detach
 *   xdev-list.c     block-list, network-list
 *   xdev-monitor.c  monitor
 *
 * Nothing is written to the store before every argument has been parsed
 * and checked: a bad spec exits 2 with the store untouched.
 */
#ifndef XDEV_CLI_H
#define XDEV_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xdev.h"

/* Exit codes (documented in xdev(1) and docs/cli.md): a script can
 * tell the failures it handles differently apart without parsing text. */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the operation failed (any other cause) */
	EXIT_USAGE = 2,       /* invalid usage: bad option, bad spec */
	EXIT_NOT_FOUND = 3,   /* no such domain or device */
	EXIT_TIMEOUT = 4,     /* a wait ran out */
	EXIT_EXISTS = 5,      /* the device is already there */
	EXIT_HOTPLUG = 6,     /* the hotplug script failed */
	EXIT_REFUSED = 7,     /* the guest refused to let go (safe removal) */
	EXIT_BUSY = 8,        /* another operation holds the device */
	EXIT_INTERRUPTED = 130, /* SIGINT/SIGTERM cancelled the operation */
};

/* The options of every command; each command accepts a subset. */
struct cli {
	const char *cmd;           /* the command's name, for messages */
	bool json, quiet, dry_run, wait_connected;
	int verbose;
	enum xdev_remove_mode remove_mode;
	xdev_ctx_opts ctx;         /* timeouts, hotplug, store path */
	bool tty;                  /* stderr is a terminal: status line */
};

/* ---- specs: the keys of a description, as parsed ------------------------ */

#define SPEC_MAX 12
#define SPEC_ERR_LEN 768

/* One description's keys in canonical order, values malloc'd. */
struct spec {
	enum xdev_device_type type;
	int n;
	struct {
		const char *key;
		char *value;
	} kv[SPEC_MAX];
	char err[SPEC_ERR_LEN];    /* why a parse failed: what and what to do */
};

/* xl's disk spec, one or several components (as xl block-attach takes
 * them).  0, or -EINVAL with the message in SPEC->err. */
int spec_parse_disk(struct spec *spec, int argc, char **argv);
/* xl's network spec: key=value words, or comma-separated lists. */
int spec_parse_nic(struct spec *spec, int argc, char **argv);
/* Append KEY=VALUE (copied). */
int spec_add(struct spec *spec, const char *key, const char *value);
void spec_free(struct spec *spec);
/* A description of SPEC; every value checked by the library, whose
 * message (xdev_desc_error) ends up in SPEC->err on failure. */
int spec_to_desc(struct spec *spec, xdev_desc **ret);

/* ---- the store ------------------------------------------------------------ */

struct xs_handle;

/* A domain as the user named it, resolved. */
struct dom {
	uint32_t domid;
	char name[72];
	bool gone;                 /* a domain id whose domain is gone */
};

/* Our own connection (the library keeps its own); honours
 * ctx.xenstore_path, else libxenstore's XENSTORED_PATH.  NULL and a
 * message on failure. */
struct xs_handle *store_open(const struct cli *cli);
void store_close(struct xs_handle *xs);
/* Resolve a domid or a name: 0, or EXIT_NOT_FOUND / EXIT_USAGE with the
 * message printed. */
int store_domain(struct xs_handle *xs, const char *arg, struct dom *ret);
/* The same for a detach: a domain id whose domain is gone (destroyed)
 * is accepted, with DOM->gone set and DOM->name "": its devices are found
 * from their backends. */
int store_domain_or_gone(struct xs_handle *xs, const char *arg,
			 struct dom *ret);
/* "alice (3)", or "domain 3 (gone)", in BUF. */
const char *dom_label(const struct dom *dom, char *buf, size_t len);
/* DOM->name from DOM->domid ("" if it has none). */
void store_domain_name(struct xs_handle *xs, struct dom *dom);
/* Is DOMID still there (its /local/domain directory)? */
bool store_domain_exists(struct xs_handle *xs, uint32_t domid);
/* A node's value (malloc'd), or NULL. */
char *store_read(struct xs_handle *xs, const char *dir, const char *key);
/* S as a canonical decimal (no sign, no blank, no leading zero) of at
 * most MAX: 0 and *RET, else -1.  Every number read from a node a guest or
 * a driver domain can write goes through it. */
int parse_uint(const char *s, unsigned long long max,
	       unsigned long long *ret);
/* A canonical domid (< 0x7ff0), else -1. */
long parse_domid(const char *s);

/*
 * Who a device is comes from dom0's data only (issue 16): a guest owns
 * its whole frontend directory (backend, backend-id, mac, state ...) and
 * a driver domain its backend directory, so neither is ever read for a
 * device's identity.  xdev's record, /xdev/<fe>/<type>/<devid>, is
 * dom0's alone: its value is the backend directory, and its children
 * backend-id, vdev (vbd), mac (vif) and script; records written before
 * the children existed hold only the value.
 */
struct record {
	uint32_t backend_domid;
	char name[40];             /* vdev (vbd) or MAC (vif); "" if none */
};

/* The record of device (TYPE, FE, DEVID): 0 and *REC if it is valid (its
 * value exactly /local/domain/<b>/backend/<type>/<fe>/<devid>, b a
 * canonical domid, and backend-id, if there, b); -ENOENT if there is
 * none, -EINVAL if it is not valid (ignored; WARN: say so). */
int store_record(struct xs_handle *xs, uint32_t fe,
		 enum xdev_device_type type, uint32_t devid, bool warn,
		 struct record *rec);
/* The devices of TYPE of domain DOMID as dom0 knows them: those xdev
 * recorded, and those with a backend in dom0 (another toolstack's); each
 * once (a record wins), sorted by devid.  A malloc'd array; 0 or
 * -ENOMEM. */
int store_devices(struct xs_handle *xs, uint32_t domid,
		  enum xdev_device_type type, xdev_device_id **ret,
		  unsigned *ret_n);
/* A device of DOM named by devid, vdev (vbd) or MAC (vif): 0 and *RET,
 * or EXIT_NOT_FOUND with the message printed.  Looked up among
 * store_devices() (a name: the record's vdev or MAC; a record without
 * them, or a device without a record, by dom0's backend's dev or mac);
 * for a domain that is gone, then by devid only among the backend
 * directories other domains hold for it
 * (/local/domain/<be>/backend/<type>/<domid>/<devid>). */
int store_find_device(struct xs_handle *xs, const struct dom *dom,
		      enum xdev_device_type type, const char *which,
		      xdev_device_id *ret);

/* ---- output --------------------------------------------------------------- */

extern const char *cli_prog; /* "xdev" */

/* -T (xl's): date and pid before each message on stderr. */
extern bool cli_timestamps;
/* With -T, the stamp on stderr (else nothing). */
void cli_stamp(void);

/* Every message is written through term_escape(): it may quote the
 * store.  cli_error() also keeps the first message of the command for
 * the JSON error (out_error). */
__attribute__((format(printf, 1, 2)))
void cli_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void cli_warn(const char *fmt, ...);
/* S made safe to print on a terminal, in BUF (LEN bytes, at least 8):
 * bytes below 0x20, 0x7f, bytes that are not part of valid UTF-8 (and
 * the UTF-8 of C1 controls and of Unicode's invisible and bidirectional
 * format characters) as \xNN, a backslash as \\; cut, with "...", to fit
 * BUF.  Returns BUF.  For any text (non-JSON) output that can carry what
 * a store node holds: a guest's or a driver domain's bytes must not move
 * the cursor, clear the screen or forge a line. */
const char *term_escape(const char *s, char *buf, size_t len);
/* A JSON string of S (NULL: null), each byte that is not part of valid
 * UTF-8 replaced by U+FFFD: the output stays UTF-8 whatever a node holds. */
json_object *json_text(const char *s);
/* The exit code for a library result, with a message saying what went
 * wrong and what to do, naming the device and domain. */
int cli_fail(const struct cli *cli, int r, const char *what,
	     const char *detail);
/* The exit code of a library result R (negative). */
int cli_exit_code(int r);

/*
 * With -j, a failure prints one object on stdout (docs/cli.md, "JSON"):
 *   {"ok": false, "error": {"code", "name", "message", "device"}}
 * The message is cli_error()'s first; these say the rest.  Set before
 * the command returns; main() prints it (out_error).
 */
/* The library's code (XDEV_E_* or -errno) of the failure. */
void cli_error_code(int code);
/* The device the failure concerns (its identity; domain name if known). */
void cli_error_device(const struct dom *dom, const xdev_device_id *id);
/* What a success would have printed, for a command whose result is an
 * array (block-list, network-list, recover): kept as "results". */
void cli_error_results(json_object *array);
/* Print the error object for exit code RC on stdout (PLAIN: one line). */
void out_error(int rc, bool plain);
/* "ok": true added to a success's object (the members it had stay). */
json_object *out_ok(json_object *obj);
/* A device's identity: domid, domain, type, devid, backend_domid. */
json_object *out_device_id(const struct dom *dom, const xdev_device_id *id);
const char *xenbus_state_name(int state);
/* "vbd", "vif" */
const char *dev_type_name(enum xdev_device_type type);
/* A device as its store nodes describe it (the JSON schema of
 * docs/cli.md): the caller owns the object. */
json_object *out_device(struct xs_handle *xs, const struct dom *dom,
			const xdev_device_id *id);
/* Print OBJ on stdout (pretty unless PLAIN), then a newline. */
void out_json(json_object *obj, bool plain);
/* The tables of block-list and network-list, as xl prints them. */
void out_table_header(enum xdev_device_type type);
void out_table_row(enum xdev_device_type type, json_object *dev);

/* ---- running operations ---------------------------------------------------- */

struct ev_loop;

/* One command's loop: the context on it, SIGINT/SIGTERM watched, and the
 * live status line.  run_open() prints its own errors. */
struct run {
	struct ev_loop *loop;
	xdev_ctx *ctx;
	const struct cli *cli;
	bool interrupted;          /* a signal arrived */
	void (*on_signal)(struct run *run);
	void (*on_event)(struct run *run, const xdev_event *ev);
	void *user;
	void *priv;                /* xdev-run.c's */
	struct progress *progress; /* xdev-progress.c's; NULL: none shown */
};

int run_open(struct run *run, const struct cli *cli);
void run_close(struct run *run);
/* Run the loop until run_stop(). */
void run_loop(struct run *run);
void run_stop(struct run *run);

/* The status line: shown only on a terminal and without -q. */
void progress_start(struct run *run, const char *what);
/* What is awaited now, and that wait's timeout (ms; 0: none). */
void progress_step(struct run *run, const char *awaited, int timeout_ms);
/* Remove the line (before any other output on stderr). */
void progress_clear(struct run *run);
/* Remove it for good (before the result is printed). */
void progress_end(struct run *run);
/* Redraw: the loop's timer calls it. */
void progress_tick(struct run *run);
/* For xdev-run.c: the loop's timer for the redraws. */
void run_tick_start(struct run *run, double interval);
void run_tick_stop(struct run *run);

/* ---- commands ------------------------------------------------------------- */

int cmd_block_attach(struct cli *cli, int argc, char **argv);
int cmd_block_detach(struct cli *cli, int argc, char **argv);
int cmd_network_attach(struct cli *cli, int argc, char **argv);
int cmd_network_detach(struct cli *cli, int argc, char **argv);
int cmd_block_list(struct cli *cli, int argc, char **argv);
int cmd_network_list(struct cli *cli, int argc, char **argv);
int cmd_monitor(struct cli *cli, int argc, char **argv);
int cmd_recover(struct cli *cli, int argc, char **argv);

#endif
