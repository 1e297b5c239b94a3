#!/usr/bin/env bash
# Images, side by side:
#  1. unpack throughput of one layer (~190 MB, ~10,500 entries: /usr/include
#     and /usr/lib/python3.11 of this host), plain and gzipped: diyctl's
#     extractor (bench/unpack.c over the core library) against `bsdtar -x`
#     and `tar -x`, into a fresh directory on the same disk;
#  2. start-to-exit of /bin/true from an image (busybox + that layer): the
#     first start (unpack included, cache pruned before each run), a cached
#     start, and the same busybox as a directory rootfs.
# Runs inside a throwaway sandbox host (own net + mount namespaces), with
# hyperfine; the cache goes to a scratch directory (DIYCTL_DATA_ROOT), never
# to the host's /var/lib/diyctl. Prints markdown tables with ratios.
#   bench/image.sh [RUNS]     (default 10 runs per command)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
if [ "${DIYCTL_BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
    bash "$here/tools/deps.sh" >/dev/null
    [ -x "$here/build/diyctl" ] || bash "$here/tools/build.sh" --no-asan >/dev/null
    exec env DIYCTL_BENCH_INNER=1 unshare --net --mount --pid --fork --mount-proc --propagation private "$0" "$@"
fi
mount -t tmpfs tmpfs /run
ip link set lo up
work=$(mktemp -d /var/tmp/diyctl-bench-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DIYCTL_DATA_ROOT=$work/data

pkgs="libconfig libnl-3.0 libnl-route-3.0 libarchive json-c nettle libcap libseccomp libnftables"
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_GNU_SOURCE -I"$here/include" -I"$here/src" -I"$here/build" "$here/bench/unpack.c" \
    "$here/build/libdiyctl-core.a" $(pkg-config --libs $pkgs) -o "$work/unpack"

# The layer, as docker would write it (relative names), plain and gzipped.
tar -C / -cf "$work/layer.tar" usr/include usr/lib/python3.11
gzip -1 -k "$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
entries=$(tar -tf "$work/layer.tar" | wc -l)

table() { # JSON BASELINE-NAME TITLE
    python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = next(x for x in r if x["command"] == sys.argv[2])
print("\n" + sys.argv[3])
print("| command | median ms | mean ms | stddev ms | ratio to %s (median) |" % sys.argv[2])
print("|---|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['median']*1e3:.1f} | {x['mean']*1e3:.1f} | {x['stddev']*1e3:.1f} | {x['median']/base['median']:.2f} |")
PY
}

# Into a tmpfs (the extractor's own cost), and onto the disk (what a first
# start pays; noisy on a shared machine).
mkdir -p "$work/mem"
mount -t tmpfs -o size=1g tmpfs "$work/mem"
for where in mem disk; do
    out=$work/out
    [ $where = mem ] && out=$work/mem/out
    for f in layer.tar layer.tar.gz; do
        hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/u.json" \
            --prepare "rm -rf $out" \
            -n "diyctl $f" "$work/unpack $work/$f $out" \
            -n "bsdtar -x $f" "sh -c 'mkdir $out && bsdtar -xf $work/$f -C $out'" \
            -n "tar -x $f" "sh -c 'mkdir $out && tar -xf $work/$f -C $out'" >/dev/null
        table "$work/u.json" "bsdtar -x $f" \
            "unpack $f ($((size / 1000000)) MB uncompressed, $entries entries) into $([ $where = mem ] && echo a tmpfs || echo the disk)"
    done
    rm -rf "$out"
done
umount "$work/mem"

# Start latency: an image of busybox + the layer, against a directory rootfs.
bash "$here/examples/mkrootfs.sh" "$work/rootfs" >/dev/null
python3 - "$here" "$work" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
import test_image as ti
work = sys.argv[2]
base = ti.dir_tar(os.path.join(work, "rootfs"))
big = open(os.path.join(work, "layer.tar"), "rb").read()
ti.docker_save(os.path.join(work, "img.tar"), [{"tags": ["bench:1"], "layers": [base, big],
                                                "compress": ["gzip", None], "cmd": ["/bin/true"]}])
PY
cat > "$work/dir.conf" <<CONF
rootfs = { path = "$work/rootfs"; writable = "tmpfs"; };
process = { args = [ "/bin/true" ]; };
CONF
cat > "$work/img.conf" <<CONF
rootfs = { image = "$work/img.tar"; };
CONF
d=$here/build/diyctl
"$d" start "$work/img.conf"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/s.json" \
    --prepare true --prepare true --prepare "$d image prune" \
    -n "directory rootfs (tmpfs upper)" "$d start $work/dir.conf" \
    -n "image, cached" "$d start $work/img.conf" \
    -n "image, first start (unpack)" "$d start $work/img.conf" >/dev/null
table "$work/s.json" "directory rootfs (tmpfs upper)" "start-to-exit of /bin/true"
"$d" image prune >/dev/null
echo
echo "machine: $(nproc) cores, kernel $(uname -r); scratch on $(df --output=fstype "$work" | tail -1)"
