#!/usr/bin/env bash
# mkrootfs.sh [DIR] - build a minimal busybox root file system for diyctl.
#
# DIR defaults to "rootfs" next to this script (examples/rootfs), which is
# what the example configs use (rootfs.path = "rootfs").
#
# The rootfs holds Debian's static busybox (package busybox-static), one
# symlink per applet, the usual empty mount points, a tiny /etc and a
# /www/index.html for the web examples. Running it again is quick: when the
# rootfs is already built from the same busybox by the same version of this
# script, it exits at once.
set -euo pipefail

# Bump when the layout below changes, so old rootfs get rebuilt.
LAYOUT_VERSION=1
MARKER_TEXT="diyctl busybox rootfs"

die() { echo "mkrootfs.sh: $*" >&2; exit 1; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-$script_dir/rootfs}

[ "$(id -u)" -eq 0 ] || die "must run as root (the rootfs is owned by root)"

busybox=/bin/busybox
# (No `| grep -q` or `| head` below: with pipefail, the writer's SIGPIPE would fail the script.)
status=$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)
if [ "$status" != "install ok installed" ]; then
	die "the Debian package busybox-static is not installed (apt-get install busybox-static, or run tools/deps.sh)"
fi
[ -x "$busybox" ] || die "$busybox is missing although busybox-static is installed"
# Make sure it is the static one: the container has no libc.
if command -v file >/dev/null 2>&1; then
	case $(file -L "$busybox") in
	*"statically linked"*) ;;
	*) die "$busybox is not statically linked (is the dynamic 'busybox' package installed instead of busybox-static?)" ;;
	esac
elif ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked (install busybox-static)"
fi

bb_help=$("$busybox" --help 2>&1 || true)
bb_version=${bb_help%%$'\n'*}
stamp_text="layout=$LAYOUT_VERSION busybox=$bb_version size=$(stat -L -c %s "$busybox")"
stamp=$dir/.diyctl-rootfs-stamp

# Quick exit when already built and up to date.
if [ -x "$dir/bin/busybox" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] &&
	cmp -s "$busybox" "$dir/bin/busybox"; then
	exit 0
fi

echo "mkrootfs.sh: building busybox rootfs in $dir" >&2
mkdir -p "$dir"
cd "$dir"

mkdir -p bin sbin usr/bin usr/sbin proc sys dev tmp run root etc www home
chmod 0755 bin sbin usr usr/bin usr/sbin proc sys dev run etc www home
chmod 1777 tmp
chmod 0700 root

# Copy to a temporary name and rename, so a half-written busybox never looks done.
cp "$busybox" bin/.busybox.new
chmod 0755 bin/.busybox.new
mv -f bin/.busybox.new bin/busybox

# One relative symlink per applet: usr/bin/wget -> ../../bin/busybox.
"$busybox" --list-full | while IFS= read -r applet; do
	case $applet in
	"" | bin/busybox | linuxrc) continue ;;   # linuxrc is an initrd init; not wanted at /
	esac
	slashes=${applet//[^\/]/}         # one "/" per directory level
	up=${slashes//\//../}
	ln -sfn "${up}bin/busybox" "$applet"
done

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo diyctl >etc/hostname
echo "$MARKER_TEXT" >etc/diyctl-rootfs
cat >www/index.html <<'EOF'
<!DOCTYPE html>
<html><head><title>diyctl</title></head>
<body><h1>Hello from a diyctl container</h1></body></html>
EOF
chmod 0644 etc/passwd etc/group etc/hostname etc/diyctl-rootfs www/index.html

echo "$stamp_text" >"$stamp"
echo "mkrootfs.sh: done ($(find . -type l | wc -l) applet links)" >&2
