#!/bin/bash
# The whole test suite on a fresh Debian 12 machine, as root: installs the
# packages, builds with warnings as errors, runs the unit tests under
# ASan+UBSan and the engine's parallel tests under TSan, then every test
# (unit, corpus replays, format, and the end-to-end tests against a lab of
# real mail servers that ctest starts and tears down), after a short
# libFuzzer run per target.  SPAMSTOP_FULL=1 adds the long reliability
# forms.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh

jobs=$(nproc)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DSPAMSTOP_WERROR=ON \
    -DSPAMSTOP_E2E=OFF
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -L unit)

# ThreadSanitizer on the engine's parallel tests (docs/reliability.md):
# only the tests with several host threads (the whole unit takes minutes).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Tsan -DSPAMSTOP_WERROR=ON \
    -DSPAMSTOP_E2E=OFF
cmake --build build-tsan -j "$jobs" --target unit_engine
for t in test_parallel_hosts test_max_fail test_lock_refuses \
    test_stop_flag_rolls_back; do
    out=$(CMOCKA_TEST_FILTER=$t TSAN_OPTIONS=halt_on_error=1 \
        build-tsan/tests/unit_engine 2>&1) || {
        echo "$out"
        exit 1
    }
    # a filter that matches nothing runs nothing: that is a failure too
    grep -q '^\[  PASSED  \] 1 test' <<<"$out" || {
        echo "$out"
        echo "tsan: $t did not run"
        exit 1
    }
    echo "tsan: $t passed"
done

# Every libFuzzer target briefly (clang, ASan+UBSan), new inputs kept in a
# scratch corpus, SPAMSTOP_FUZZ_SECONDS (default 5, 0 skips) per target;
# the seed corpora are also replayed by ctest (corpus_NAME).
if [[ ${SPAMSTOP_FUZZ_SECONDS:-5} != 0 ]]; then
    CC=clang cmake -S . -B build-fuzz -DSPAMSTOP_FUZZ=ON -DSPAMSTOP_E2E=OFF
    fuzz_tmp=$(mktemp -d)
    for src in tests/fuzz/fuzz_*.c; do
        name=${src##*/fuzz_}
        name=${name%.c}
        cmake --build build-fuzz -j "$jobs" --target "fuzz_$name"
        mkdir "$fuzz_tmp/$name"
        "build-fuzz/tests/fuzz_$name" -max_total_time="${SPAMSTOP_FUZZ_SECONDS:-5}" -rss_limit_mb=2048 \
            "$fuzz_tmp/$name" "tests/fuzz/corpus/$name"
    done
    rm -rf "$fuzz_tmp"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPAMSTOP_WERROR=ON \
    -DSPAMSTOP_E2E=ON
cmake --build build -j "$jobs"
cd build
ctest --output-on-failure
