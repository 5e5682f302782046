#!/usr/bin/env bash
# physguard developer entry point: installs what is missing (Debian 12, as root), configures,
# builds and runs.
#
#   bash cmake/dev.sh demo     build and run the main demo
#   bash cmake/dev.sh test     build everything and run the whole test suite (what CI runs)
#
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mode=${1:-test}
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

packages=(cmake g++ ninja-build pkg-config libeigen3-dev libfmt-dev libbenchmark-dev doctest-dev)
if [ "$mode" = test ]; then
  packages+=(clang libclang-rt-14-dev gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm)
  packages+=(libmodbus-dev mosquitto mosquitto-clients libmosquitto-dev nlohmann-json3-dev python3-pymodbus python3-serial-asyncio)
fi

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

configure() {  # configure DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}

install_missing "${packages[@]}"

case "$mode" in
  demo)
    configure "$build" -DPHYSGUARD_BUILD_TESTS=OFF -DPHYSGUARD_BUILD_BENCHMARKS=OFF
    demo_target=$(cat examples/MAIN_DEMO)
    cmake --build "$build" -j "$jobs" --target "$demo_target"
    exec "$build/examples/$demo_target" "${@:2}"
    ;;
  test)
    echo "== g++: build and run the whole suite"
    # Tests and examples ON explicitly: a build directory configured by `demo` caches them OFF.
    # The benchmarks are compiled in the clang pass below (a compile-and-link check; at -O0 that
    # costs a third of g++ -O3, and the suite has to fit a CI budget).  Timing builds configure
    # their own Release directory (docs/performance.md).
    configure "$build" -DPHYSGUARD_BUILD_TESTS=ON -DPHYSGUARD_BUILD_EXAMPLES=ON \
      -DPHYSGUARD_BUILD_BENCHMARKS=OFF
    cmake --build "$build" -j "$jobs"
    (cd "$build" && ctest -j "$jobs" --output-on-failure --timeout 900 --no-tests=error)
    echo "== clang++ + ASan/UBSan: the whole suite again (every header on its own, unit tests, examples,"
    echo "   gateway, firmware host side, BATADAL, fuzz runs), -Werror; the benchmarks compile and link"
    configure "$build-clang" -DCMAKE_CXX_COMPILER=clang++ -DPHYSGUARD_BUILD_EXAMPLES=ON \
      -DPHYSGUARD_BUILD_TESTS=ON -DPHYSGUARD_BUILD_BENCHMARKS=ON -DPHYSGUARD_SANITIZE=ON
    cmake --build "$build-clang" -j "$jobs"
    # (the consumer-project tests are not defined in a sanitizer build: they configure a fresh
    # project with the installed package and its consumers' own flags)
    (cd "$build-clang" && ctest -j "$jobs" --output-on-failure --timeout 900 --no-tests=error)
    ;;
  *)
    echo "usage: bash cmake/dev.sh demo|test" >&2
    exit 2
    ;;
esac
