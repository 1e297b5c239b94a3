#!/usr/bin/env bash
# Start-to-exit of /bin/true: diyctl against `unshare ... chroot` on the same
# busybox rootfs, inside a throwaway sandbox host (own net + mount namespace),
# (tests/integration/run.py --sandbox), with hyperfine. Prints a markdown table with the ratio to unshare+chroot.
#   bench/start-true.sh [RUNS]     (default 40 runs after 5 warm-ups)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-40}
if [ "${DIYCTL_BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
    bash "$here/tools/deps.sh" >/dev/null
    command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
    [ -n "${DIYCTL:-}" ] || [ -x "$here/build/diyctl" ] || bash "$here/tools/build.sh" --no-asan >/dev/null
    # the test runner's sandbox host: own net, mount, pid and cgroup namespace,
    # private /run; an interrupted run leaves nothing on the real host
    exec python3 "$here/tests/integration/run.py" --sandbox -- env DIYCTL_BENCH_INNER=1 bash "$0" "$@"
fi
work=$(mktemp -d /tmp/diyctl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash "$here/examples/mkrootfs.sh" "$work/rootfs" >/dev/null
cat > "$work/true.conf" <<CONF
rootfs = { path = "$work/rootfs"; };
namespaces = [ "mount", "uts", "ipc", "pid", "net" ];
process = { args = [ "/bin/true" ]; };
CONF
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/r.json" \
    -n unshare-chroot "unshare --fork --pid --mount --uts --ipc --net chroot $work/rootfs /bin/true" \
    -n diyctl "${DIYCTL:-$here/build/diyctl} start $work/true.conf" >/dev/null
python3 - "$work/r.json" <<'PY'
import json, sys, platform, os
r = json.load(open(sys.argv[1]))["results"]
base = next(x for x in r if x["command"] == "unshare-chroot")
print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, kernel {platform.release()}")
print("| command | median ms | mean ms | stddev ms | ratio (median) |")
print("|---|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['median']*1e3:.2f} | {x['mean']*1e3:.2f} | {x['stddev']*1e3:.2f} | {x['median']/base['median']:.2f} |")
PY
