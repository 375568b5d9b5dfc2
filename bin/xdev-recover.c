/*
 * recover: find the devices an xdev actor (a manager, another xdev
 * command) left half added or half removed when it died, and with
 * --apply finish them: an interrupted add rolled back, an interrupted
 * removal finished (xdev_ctx_recover, docs/library.md).  A dry run by
 * default (-n, or xl's -N, says so explicitly): it reports and changes
 * nothing.  Domains may be gone (a guest destroyed while its device was
 * half added): a domid is taken as it is.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xdev-cli.h"

struct recovered {
	const struct cli *cli;
	json_object *array;
	int failed;
	int first_error;           /* the first failure's code */
};

static void on_found(void *user, const xdev_recovered *f)
{
	struct recovered *r = user;
	const char *op = f->op == XDEV_OP_ADD ? "add" : "removal";
	const char *done = f->op == XDEV_OP_ADD ? "rolled back" : "finished";
	json_object *o = json_object_new_object();
	char msg[600];

	if (!r->cli->dry_run && f->result && !r->failed++)
		r->first_error = f->result;
	json_object_object_add(o, "domid",
			       json_object_new_int64(f->id.frontend_domid));
	json_object_object_add(o, "type", json_object_new_string(
					       dev_type_name(f->id.type)));
	json_object_object_add(o, "devid", json_object_new_int64(f->id.devid));
	json_object_object_add(o, "backend_domid",
			       json_object_new_int64(f->id.backend_domid));
	json_object_object_add(o, "interrupted",
			       json_object_new_string(f->op == XDEV_OP_ADD
							      ? "add"
							      : "remove"));
	json_object_object_add(o, "owner_pid",
			       json_object_new_int64(f->owner_pid));
	json_object_object_add(o, "action", r->cli->dry_run ? NULL
				: json_object_new_string(f->op == XDEV_OP_ADD
							 ? "rolled back"
							 : "finished"));
	json_object_object_add(o, "result", r->cli->dry_run ? NULL
				: json_object_new_string(
					  f->result ? xdev_strerror(f->result)
						    : "ok"));
	json_object_object_add(o, "message", r->cli->dry_run || !f->message[0]
				? NULL : json_text(f->message));
	json_object_array_add(r->array, o);
	if (r->cli->json || r->cli->quiet)
		return;
	if (r->cli->dry_run)
		snprintf(msg, sizeof(msg), "would be %s", done);
	else if (!f->result)
		snprintf(msg, sizeof(msg), "%s", done);
	else
		snprintf(msg, sizeof(msg), "not %s: %s%s%s", done,
			 xdev_strerror(f->result), f->message[0] ? ": " : "",
			 f->message);
	{
		char safe[700];

		printf("%s %u of domain %u (backend %u): %s by process %d "
		       "interrupted; %s\n", dev_type_name(f->id.type),
		       f->id.devid, f->id.frontend_domid, f->id.backend_domid,
		       op, (int)f->owner_pid,
		       term_escape(msg, safe, sizeof(safe)));
	}
}

/* Some could not be finished: the first one's error is the command's. */
static int recover_failed(struct recovered *rec)
{
	cli_error_code(rec->first_error);
	cli_error("%d of the interrupted operations could not be finished: "
		  "see each one's result", rec->failed);
	return EXIT_FAILED;
}

/* A domain as given: a domid as it is (its domain may be gone), or a
 * name of a living one. */
static int domain_arg(const struct cli *cli, const char *arg, uint32_t *ret)
{
	struct xs_handle *xs;
	struct dom dom;
	int r;

	if (*arg && strspn(arg, "0123456789") == strlen(arg) &&
	    strlen(arg) <= 5 && atol(arg) < 0x7ff0) {
		*ret = (uint32_t)atol(arg);
		return 0;
	}
	xs = store_open(cli);
	if (!xs)
		return EXIT_FAILED;
	r = store_domain(xs, arg, &dom);
	store_close(xs);
	if (r)
		return r;
	*ret = dom.domid;
	return 0;
}

int cmd_recover(struct cli *cli, int argc, char **argv)
{
	struct recovered rec = { .cli = cli };
	unsigned flags = cli->dry_run ? XDEV_RECOVER_DRY_RUN : 0;
	struct run run = { 0 };
	int i, n = 0, r = 0;
	uint32_t domid;

	if ((r = run_open(&run, cli)))
		return r;
	rec.array = json_object_new_array();
	for (i = 0; !r && i < (argc ? argc : 1); i++) {
		domid = XDEV_DOMID_ANY;
		if (argc && (r = domain_arg(cli, argv[i], &domid)))
			break;
		r = xdev_ctx_recover(run.ctx, domid, flags, on_found, &rec);
		if (r >= 0)
			n += r, r = 0;
	}
	run_close(&run);
	if (r < 0)
		r = cli_fail(cli, r, "recover", "");
	else if (!r && rec.failed)
		r = recover_failed(&rec);
	/* -j: what was found goes in a failure's object */
	if (cli->json && r)
		cli_error_results(rec.array);
	else if (cli->json)
		out_json(rec.array, false);
	json_object_put(rec.array);
	if (r)
		return r;
	if (!cli->json && !cli->quiet && !n)
		printf("nothing interrupted\n");
	else if (!cli->json && !cli->quiet && cli->dry_run)
		printf("a dry run: `%s recover --apply` finishes them\n",
		       cli_prog);
	return EXIT_OK;
}
