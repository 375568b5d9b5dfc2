/*
 * sim-guest: the "xdev-sim guest DOMID CMD ARGS..." subcommand, which acts
 * as domain DOMID's xenstore frontend for one command (see sim-guest.c).
 */
#ifndef XDEV_SIM_GUEST_H
#define XDEV_SIM_GUEST_H

/* ARGV[0] is the domid, ARGV[1] the command.  Returns the exit status:
 * 0 success, 1 failure, 2 usage error. */
int sim_guest_main(int argc, char **argv);

#endif
