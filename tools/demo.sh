#!/usr/bin/env bash
# demo.sh - from a fresh Debian 12 machine to a shell in a container:
# install the dependencies, build diyctl, build the busybox rootfs
# (examples/rootfs) and start examples/hello.conf. Run as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/deps.sh
bash tools/build.sh --no-asan
bash examples/mkrootfs.sh
exec build/diyctl start examples/hello.conf
