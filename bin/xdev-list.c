/*
 * block-list, network-list: xl's tables, or with -j a JSON array of the
 * devices (docs/cli.md).  Read straight from the store: a listing changes
 * nothing.  The devices of a domain are those dom0 knows: xdev's records
 * (/xdev/<domid>/<type>) and the backends in dom0 (another toolstack's
 * devices), each once - never the frontend directory, which the guest
 * writes (it could list a device twice, hide one, or name another's
 * backend).  What the device's nodes say is then shown as they say it.
 * As xl does, a domain that does not exist is reported and the others are
 * still listed; the exit code then says "not found".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <xenstore.h>

#include "xdev-cli.h"

/* The devices of TYPE of one domain, appended to ARRAY. */
static int list_domain(struct xs_handle *xs, const struct dom *dom,
		       enum xdev_device_type type, json_object *array)
{
	xdev_device_id *ids;
	unsigned n, i;

	if (store_devices(xs, dom->domid, type, &ids, &n) < 0) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	for (i = 0; i < n; i++)
		json_object_array_add(array, out_device(xs, dom, &ids[i]));
	free(ids);
	return EXIT_OK;
}

static void print(const struct cli *cli, enum xdev_device_type type,
		  json_object *array)
{
	size_t i;

	if (cli->json) {
		out_json(array, false);
		return;
	}
	out_table_header(type);
	for (i = 0; i < json_object_array_length(array); i++)
		out_table_row(type, json_object_array_get_idx(array, i));
}

static int list(struct cli *cli, enum xdev_device_type type, int argc,
		char **argv)
{
	json_object *array;
	struct xs_handle *xs;
	struct dom dom;
	int i, r, rc = EXIT_OK;

	if (argc < 1) {
		cli_error("%s needs at least one domain (id or name), e.g. `%s "
			  "%s alice`", cli->cmd, cli_prog, cli->cmd);
		return EXIT_USAGE;
	}
	xs = store_open(cli);
	if (!xs)
		return EXIT_FAILED;
	array = json_object_new_array();
	for (i = 0; i < argc; i++) {
		r = store_domain(xs, argv[i], &dom);
		if (!r)
			r = list_domain(xs, &dom, type, array);
		if (r && rc == EXIT_OK)
			rc = r;
	}
	/* -j: a failure's object holds the others' devices */
	if (rc && cli->json)
		cli_error_results(array);
	else
		print(cli, type, array);
	json_object_put(array);
	store_close(xs);
	return rc;
}

int cmd_block_list(struct cli *cli, int argc, char **argv)
{
	return list(cli, XDEV_VBD, argc, argv);
}

int cmd_network_list(struct cli *cli, int argc, char **argv)
{
	return list(cli, XDEV_VIF, argc, argv);
}
