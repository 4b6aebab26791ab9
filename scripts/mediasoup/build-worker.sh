#!/usr/bin/env bash
# Builds mediasoup's C++ worker offline: the C++ sources come from mediasoup's npm package, the
# libraries and build tools from Debian bookworm (no meson wraps, nothing from GitHub).
# Prints the binary's path on its last line. A cached binary is reused at once.
# Usage: build-worker.sh [output dir]     (MEDIASOUP_VERSION, default: the version in node_modules)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=${MEDIASOUP_VERSION:-$(node -p "require('$ROOT/node_modules/mediasoup/package.json').version" 2>/dev/null || echo 3.15.8)}
OUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/mediasoup-worker/$VERSION}
if [ -x "$OUT/mediasoup-worker" ]; then echo "$OUT/mediasoup-worker"; exit 0; fi

pkgs="g++ make pkg-config meson ninja-build libuv1-dev libssl-dev libsrtp2-dev libusrsctp-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler"
if ! dpkg -s $pkgs >/dev/null 2>&1; then
  echo "mediasoup worker: installing Debian build dependencies" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; } >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "mediasoup worker: building $VERSION from source (several minutes on 2 cores)" >&2
src="$ROOT/node_modules/mediasoup"
if [ -d "$src/worker/src" ] && [ "$(node -p "require('$src/package.json').version")" = "$VERSION" ]; then
  mkdir -p "$work/package" && cp -r "$src/worker" "$work/package/worker"
else
  (cd "$work" && npm pack "mediasoup@$VERSION" --silent >/dev/null && tar xzf "mediasoup-$VERSION.tgz")
fi
python3 "$HERE/patch-worker.py" "$work/package" >&2
cd "$work/package/worker"
meson setup build --wrap-mode=nodownload --buildtype=release -Db_ndebug=true -Db_pie=true -Dms_disable_liburing=true >&2
ninja -C build fbs/FBS >&2   # generated FlatBuffers headers first: libwebrtc includes them
ninja -C build -j"$(nproc)" mediasoup-worker >&2
mkdir -p "$OUT"
cp build/mediasoup-worker "$OUT/mediasoup-worker.tmp" && mv "$OUT/mediasoup-worker.tmp" "$OUT/mediasoup-worker"
echo "$OUT/mediasoup-worker"
