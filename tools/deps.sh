#!/usr/bin/env bash
# deps.sh - install every Debian package diyctl needs to build, run and test.
#
# Checks with dpkg-query first and only calls apt-get (with one
# `apt-get update`) when something is missing, so a second run is instant.
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config
	libconfig-dev libnl-3-dev libnl-route-3-dev libarchive-dev libjson-c-dev
	libcap-dev libseccomp-dev libnftables-dev
	# images: SHA-256 digests (nettle)
	nettle-dev
	# run: firewall backends, links and routes
	nftables iptables iproute2
	# run: rootless containers (newuidmap/newgidmap)
	uidmap
	# test: rootfs, framework, sandboxes, fuzzers (clang + libFuzzer runtime)
	busybox-static python3 util-linux file clang libclang-rt-dev
	# ops: man pages (scdoc, man -l), the schema test (Debian's jsonschema),
	# the test that boots systemd in a sandbox
	scdoc man-db python3-jsonschema systemd
	# images: compressed test archives (zstd, xz, bzip2), bench/image.sh (bsdtar, hyperfine)
	zstd xz-utils bzip2 libarchive-tools hyperfine
	# security: the escape tests give a binary file capabilities (setcap)
	libcap2-bin
)

missing=()
installed=$(dpkg-query -W -f='${db:Status-Abbrev}|${Package}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
	if ! grep -qxE "ii ?\|$p" <<<"$installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run this script as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
