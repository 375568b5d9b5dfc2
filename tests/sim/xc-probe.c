/*
 * xc-probe: a libxenctrl user, linked against the real libxenctrl and run
 * with libfakexen.so preloaded (`xdev-sim exec -- xc-probe`), as xdev's
 * library will be.  Prints one line per domain the hypervisor reports:
 * "domid name-less flags" from xc_domain_getinfolist, cross-checked with
 * xc_domain_getinfo.  Exit 1 if the two disagree or the interface fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xenctrl.h>

int main(void)
{
	xc_domaininfo_t list[64];
	xc_dominfo_t one;
	xc_interface *xch = xc_interface_open(NULL, NULL, 0);
	int n, i, bad = 0;

	if (!xch) {
		fprintf(stderr, "xc-probe: xc_interface_open: %s\n",
			strerror(errno));
		return 1;
	}
	n = xc_domain_getinfolist(xch, 0, 64, list);
	for (i = 0; i < n; i++) {
		unsigned f = list[i].flags;

		printf("%u%s%s%s\n", list[i].domain,
		       f & XEN_DOMINF_dying ? " dying" : "",
		       f & XEN_DOMINF_shutdown ? " shutdown" : "",
		       f & XEN_DOMINF_running ? " running" : "");
		if (xc_domain_getinfo(xch, list[i].domain, 1, &one) != 1 ||
		    one.domid != list[i].domain ||
		    one.shutdown != !!(f & XEN_DOMINF_shutdown) ||
		    one.dying != !!(f & XEN_DOMINF_dying))
			bad = 1;
	}
	xc_interface_close(xch);
	if (n < 0 || bad) {
		fprintf(stderr, "xc-probe: inconsistent domain info\n");
		return 1;
	}
	return 0;
}
