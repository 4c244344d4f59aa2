#!/bin/bash
# The whole test suite on a fresh Debian 12 machine, as root: installs the
# packages, builds with warnings as errors, runs the unit tests under
# ASan+UBSan, then every test (unit, corpus replays, format, and the
# end-to-end tests against a lab of real mail servers that ctest starts and
# tears down).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh

jobs=$(nproc)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DSPAMSTOP_WERROR=ON \
    -DSPAMSTOP_E2E=OFF
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -L unit)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPAMSTOP_WERROR=ON \
    -DSPAMSTOP_E2E=ON
cmake --build build -j "$jobs"
cd build
ctest --output-on-failure
