/*
 * block-attach, network-attach, block-detach, network-detach: one library
 * operation each, started asynchronously on the command's loop so that
 * the status line can be drawn and a signal can cancel it (the library
 * then removes what an add wrote, or restores a device being removed).
 *
 * Order of work: parse and check every argument, then connect, then
 * write.  A bad spec never reaches the store.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xdev-cli.h"

/* One operation in flight. */
struct opstate {
	struct run run;
	const struct cli *cli;
	bool add;
	xdev_op *op;               /* NULL once completed */
	xdev_device_id id;
	int result;
	char message[512];
	int be_state;
};

/* What the operation waits for at backend state S (xenbus.h numbers),
 * and that wait's timeout: the library's steps (docs/library.md). */
static void show_step(struct opstate *s)
{
	const xdev_ctx_opts *o = &s->cli->ctx;
	char buf[160];

	if (!s->add) {
		snprintf(buf, sizeof(buf), "the backend to close (now %s)",
			 xenbus_state_name(s->be_state));
		progress_step(&s->run, buf, o->timeout_remove_ms);
	} else if (s->be_state < 2) {
		progress_step(&s->run, "the backend to reach InitWait",
			      o->timeout_init_ms);
	} else if (o->hotplug != XDEV_HOTPLUG_NONE) {
		progress_step(&s->run, s->cli->wait_connected
			      ? "the hotplug script, then Connected"
			      : "the hotplug script", o->timeout_hotplug_ms);
	} else {
		progress_step(&s->run, "the frontend to connect",
			      o->timeout_connect_ms);
	}
}

static void op_done(xdev_op *op, int result, void *user)
{
	struct opstate *s = user;

	s->result = result;
	snprintf(s->message, sizeof(s->message), "%s", xdev_op_message(op));
	s->op = NULL;
	run_stop(&s->run);
}

static void on_signal(struct run *run)
{
	struct opstate *s = run->user;

	/* The operation ends through its callback, with -ECANCELED or,
	 * past the point of no return, with its own result. */
	if (s->op)
		xdev_op_cancel(s->op);
}

static void on_event(struct run *run, const xdev_event *ev)
{
	struct opstate *s = run->user;

	if (ev->type != XDEV_EVENT_DEVICE_STATE ||
	    memcmp(&ev->device, &s->id, sizeof(s->id)))
		return;
	s->be_state = ev->backend_state;
	show_step(s);
}

/* ---- adding ------------------------------------------------------------------ */

static void print_dry_run(const struct cli *cli, const char *domain,
			  const struct spec *spec)
{
	json_object *o, *d;
	int i;

	if (!cli->json) {
		printf("%s %s: %s", cli->cmd, domain, dev_type_name(spec->type));
		for (i = 0; i < spec->n; i++)
			printf(" %s=%s", spec->kv[i].key, spec->kv[i].value);
		printf(" (dry run: nothing written)\n");
		return;
	}
	o = json_object_new_object();
	d = json_object_new_object();
	for (i = 0; i < spec->n; i++)
		json_object_object_add(d, spec->kv[i].key,
				       json_object_new_string(spec->kv[i].value));
	json_object_object_add(o, "command", json_object_new_string(cli->cmd));
	json_object_object_add(o, "domain", json_object_new_string(domain));
	json_object_object_add(o, "type", json_object_new_string(
		dev_type_name(spec->type)));
	json_object_object_add(o, "description", d);
	out_json(out_ok(o), false);
	json_object_put(o);
}

static void print_attached(const struct cli *cli, struct xs_handle *xs,
			   const struct dom *dom, const xdev_device_id *id)
{
	json_object *dev = out_device(xs, dom, id);
	json_object *st, *vdev;
	char name[160], dname[sizeof(dom->name) * 4];

	if (cli->json) {
		out_json(out_ok(dev), false);
	} else if (!cli->quiet) {
		/* the vdev may be a driver domain's dev node */
		json_object_object_get_ex(dev, "backend_state_name", &st);
		if (!json_object_object_get_ex(dev, "vdev", &vdev))
			json_object_object_get_ex(dev, "mac", &vdev);
		printf("attached %s %s (devid %u) to %s (%u): backend %u %s\n",
		       dev_type_name(id->type),
		       vdev ? term_escape(json_object_get_string(vdev), name,
					  sizeof(name)) : "?", id->devid,
		       term_escape(dom->name, dname, sizeof(dname)),
		       dom->domid, id->backend_domid,
		       st ? json_object_get_string(st) : "gone");
	}
	json_object_put(dev);
}

/* Start the add, wait for it, report. */
static int do_add(struct opstate *s, struct xs_handle *xs,
		  const struct dom *dom, const xdev_desc *desc)
{
	xdev_op_how how = { .cb = op_done, .user = s };
	unsigned flags = s->cli->wait_connected ? XDEV_ADD_WAIT_CONNECTED : 0;
	char what[200];
	int r;

	/* the library names the device once it knows it: a failure before
	 * (a bad backend domain) concerns no device */
	s->id.devid = UINT32_MAX;
	r = s->id.type == XDEV_VBD
		    ? xdev_vbd_add(s->run.ctx, dom->domid, desc, flags, &how,
				   &s->id, &s->op)
		    : xdev_vif_add(s->run.ctx, dom->domid, desc, flags, &how,
				   &s->id, &s->op);
	snprintf(what, sizeof(what), "%s %s to %s (%u)", s->cli->cmd,
		 dev_type_name(s->id.type), dom->name, dom->domid);
	if (s->id.devid != UINT32_MAX)
		cli_error_device(dom, &s->id);
	if (r < 0)
		return cli_fail(s->cli, r, what,
				xdev_ctx_last_message(s->run.ctx));
	progress_start(&s->run, what);
	show_step(s);
	run_loop(&s->run);
	progress_end(&s->run);
	if (s->result < 0)
		return cli_fail(s->cli, s->result, what, s->message);
	print_attached(s->cli, xs, dom, &s->id);
	return EXIT_OK;
}

static int attach(const struct cli *cli, struct spec *spec, const char *domain)
{
	struct opstate s = { .cli = cli, .add = true };
	struct xs_handle *xs;
	struct dom dom;
	xdev_desc *desc;
	int r;

	if (spec_to_desc(spec, &desc) < 0) {
		cli_error("%s", spec->err);
		return EXIT_USAGE;
	}
	if (cli->dry_run) {
		print_dry_run(cli, domain, spec);
		xdev_desc_free(desc);
		return EXIT_OK;
	}
	s.id.type = spec->type;
	xs = store_open(cli);
	r = xs ? store_domain(xs, domain, &dom) : EXIT_FAILED;
	s.run.user = &s;
	s.run.on_signal = on_signal;
	s.run.on_event = on_event;
	if (!r && !(r = run_open(&s.run, cli))) {
		r = do_add(&s, xs, &dom, desc);
		run_close(&s.run);
	}
	xdev_desc_free(desc);
	store_close(xs);
	return r;
}

int cmd_block_attach(struct cli *cli, int argc, char **argv)
{
	struct spec spec = { 0 };
	int r;

	if (argc < 2) {
		cli_error("block-attach needs a domain and a disk spec, e.g. "
			  "`%s block-attach alice 'format=raw, vdev=xvdb, "
			  "access=rw, target=/dev/vg/lv'`", cli_prog);
		return EXIT_USAGE;
	}
	if (spec_parse_disk(&spec, argc - 1, argv + 1) < 0) {
		cli_error("%s", spec.err);
		r = EXIT_USAGE;
	} else {
		r = attach(cli, &spec, argv[0]);
	}
	spec_free(&spec);
	return r;
}

int cmd_network_attach(struct cli *cli, int argc, char **argv)
{
	struct spec spec = { 0 };
	int r;

	if (argc < 1) {
		cli_error("network-attach needs a domain, e.g. `%s "
			  "network-attach alice bridge=xenbr0`", cli_prog);
		return EXIT_USAGE;
	}
	if (spec_parse_nic(&spec, argc - 1, argv + 1) < 0) {
		cli_error("%s", spec.err);
		r = EXIT_USAGE;
	} else {
		r = attach(cli, &spec, argv[0]);
	}
	spec_free(&spec);
	return r;
}

/* ---- removing ---------------------------------------------------------------- */

static void print_detached(const struct cli *cli, const struct dom *dom,
			   const xdev_device_id *id)
{
	json_object *o;

	if (cli->json) {
		o = out_device_id(dom, id);
		json_object_object_add(o, "detached", json_object_new_boolean(1));
		out_json(out_ok(o), false);
		json_object_put(o);
	} else if (!cli->quiet) {
		char label[100], safe[400];

		printf("detached %s %u from %s\n", dev_type_name(id->type),
		       id->devid, term_escape(dom_label(dom, label,
							  sizeof(label)),
					      safe, sizeof(safe)));
	}
}

static int do_remove(struct opstate *s, const struct dom *dom)
{
	xdev_op_how how = { .cb = op_done, .user = s };
	char what[200], label[100];
	int r;

	snprintf(what, sizeof(what), "%s %s %u from %s", s->cli->cmd,
		 dev_type_name(s->id.type), s->id.devid,
		 dom_label(dom, label, sizeof(label)));
	cli_error_device(dom, &s->id);
	r = xdev_device_remove(s->run.ctx, &s->id, s->cli->remove_mode, &how,
			       &s->op);
	if (r < 0)
		return cli_fail(s->cli, r, what,
				xdev_ctx_last_message(s->run.ctx));
	progress_start(&s->run, what);
	s->be_state = 4;
	show_step(s);
	run_loop(&s->run);
	progress_end(&s->run);
	if (s->result < 0)
		return cli_fail(s->cli, s->result, what, s->message);
	print_detached(s->cli, dom, &s->id);
	return EXIT_OK;
}

static int detach(const struct cli *cli, enum xdev_device_type type,
		  int argc, char **argv)
{
	struct opstate s = { .cli = cli };
	struct xs_handle *xs;
	struct dom dom;
	int r;

	if (argc != 2) {
		cli_error("%s needs a domain and a device (%s), e.g. `%s %s "
			  "alice %s`", cli->cmd, type == XDEV_VBD
			  ? "vdev or devid" : "devid or MAC", cli_prog,
			  cli->cmd, type == XDEV_VBD ? "xvdb" : "0");
		return EXIT_USAGE;
	}
	xs = store_open(cli);
	r = xs ? store_domain_or_gone(xs, argv[0], &dom) : EXIT_FAILED;
	if (!r)
		r = store_find_device(xs, &dom, type, argv[1], &s.id);
	s.run.user = &s;
	s.run.on_signal = on_signal;
	s.run.on_event = on_event;
	if (!r && !(r = run_open(&s.run, cli))) {
		r = do_remove(&s, &dom);
		run_close(&s.run);
	}
	store_close(xs);
	return r;
}

int cmd_block_detach(struct cli *cli, int argc, char **argv)
{
	return detach(cli, XDEV_VBD, argc, argv);
}

int cmd_network_detach(struct cli *cli, int argc, char **argv)
{
	return detach(cli, XDEV_VIF, argc, argv);
}
