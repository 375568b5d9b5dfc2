/* xdev-sim bench-store: the simulator's own cost (docs/simulated-host.md). */
#ifndef XDEV_SIM_BENCH_H
#define XDEV_SIM_BENCH_H
int sim_bench_main(int argc, char **argv);
#endif
