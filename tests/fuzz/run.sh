#!/bin/sh
# make fuzz: run each libFuzzer harness for SECONDS, one after the other,
# from the build directory.
#
#   run.sh SECONDS SEEDS HARNESS...
#
# A harness tests/fuzz/fuzz_<name> starts from the seeds in SEEDS/<name>
# (read only: the source tree's) and from what its earlier runs found,
# tests/fuzz/work/<name>, where libFuzzer adds the inputs that reach new
# code.  Any finding - a crash, a sanitizer's report, a leak, a broken
# promise (FUZZ_ASSERT), a timeout - fails the harness: its input is kept
# as tests/fuzz/findings/<name>-<kind>-<hash>, the end of its log is
# shown, and the whole log stays in tests/fuzz/logs/<name>.log.  Each
# harness prints its run count; the last line is make check's summary,
# one test per harness: "N passed, N failed, N skipped".
set -u
seconds=$1
seeds=$2
shift 2
passed=0
failed=0
mkdir -p tests/fuzz/findings tests/fuzz/logs
for harness in "$@"; do
	name=${harness##*/fuzz_}
	log=tests/fuzz/logs/$name.log
	mkdir -p "tests/fuzz/work/$name"
	start=$(date +%s)
	"$harness" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="tests/fuzz/findings/$name-" \
		"tests/fuzz/work/$name" "$seeds/$name" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	corpus=$(ls "tests/fuzz/work/$name" | wc -l)
	if [ "$rc" = 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
		passed=$((passed + 1))
		echo "fuzz: $name: ${runs:-?} runs in $took s, nothing found ($corpus inputs kept in tests/fuzz/work/$name)"
	else
		failed=$((failed + 1))
		echo "fuzz: $name: FAILED after ${runs:-?} runs in $took s (exit $rc); the end of $log:"
		tail -n 40 "$log"
		grep -E 'broken promise|ERROR: |runtime error|^SUMMARY' "$log" |
			head -n 5 | sed 's/^/fuzz: found: /'
		sed -n 's/^.*Test unit written to /fuzz: the input: /p' "$log"
	fi
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
