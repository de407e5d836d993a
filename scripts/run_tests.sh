#!/bin/sh
# Runs every test of `make test` and prints one closing line
# "N passed, N failed". STRATA_SOAK=1 makes the fault, model and fuzz tests
# run far longer (`make soak`).
cd "$(dirname "$0")/.."
passed=0
failed=0
failures=""
soak=${STRATA_SOAK:-0}
export STRATA_SOAK=$soak
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
log=build/test-logs
mkdir -p $log

run_one() { # name, command...
    name=$1
    shift
    start=$(date +%s)
    if "$@" >"$log/$(echo $name | tr / _).log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS $name ($(($(date +%s) - start))s)"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAIL $name ($(($(date +%s) - start))s)"
        tail -40 "$log/$(echo $name | tr / _).log" | sed 's/^/    /'
    fi
}

run_one layering sh scripts/check_layers.sh
run_one format sh scripts/check_format.sh
for t in build/asan/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "unit/$(basename "$t")" "$t"
done
fuzz_secs=20
[ "$soak" = 1 ] && fuzz_secs=600
for f in build/fuzz/bin/fuzz_*; do
    [ -x "$f" ] || continue
    n=$(basename "$f")
    mkdir -p "build/fuzz/corpus/$n"
    seeds=""
    [ -d "tests/fuzz/corpus/$n" ] && seeds="tests/fuzz/corpus/$n"
    run_one "fuzz/$n" "$f" -max_total_time=$fuzz_secs -rss_limit_mb=2048 \
        -artifact_prefix=build/fuzz/ "build/fuzz/corpus/$n" $seeds
done
if ls tests/py/test_*.py >/dev/null 2>&1; then
    PYTEST=/usr/bin/python3
    if "$PYTEST" -m pytest -q -p no:cacheprovider tests/py >"$log/pytest.log" 2>&1; then rc=0; else rc=$?; fi
    p=$(grep -Eo '[0-9]+ passed' "$log/pytest.log" | tail -1 | cut -d' ' -f1)
    f=$(grep -Eo '[0-9]+ (failed|error)' "$log/pytest.log" | awk '{s+=$1} END {print s+0}')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ]; then
        [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
        failures="$failures pytest"
        grep -E '^(FAILED|ERROR)|Error' "$log/pytest.log" | head -40 | sed 's/^/    /'
    fi
    echo "pytest: ${p:-0} passed, ${f:-0} failed (log: $log/pytest.log)"
fi
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
