#!/usr/bin/env bash
# NAT networking cost: start (until READY) and stop (until torn down) of a
# NAT container with one port forward, with the iptables and the nftables
# firewall backends, alone and as the 100th concurrent container (99 others
# started one after another and kept running). Runs inside a throwaway
# sandbox host of the test runner (own net, mount, pid and cgroup
# namespaces; its cgroups are removed afterwards even if this is
# interrupted), so the real host is never touched.
#   bench/nat.sh [RUNS] [CONCURRENT]    (default 20 runs, 100 concurrent)
# Prints a markdown table (milliseconds; medians of RUNS each), with the
# same container without networking as the baseline.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
conc=${2:-100}
if [ "${DIYCTL_BENCH_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
    bash "$here/tools/deps.sh" >/dev/null
    [ -n "${DIYCTL:-}" ] || [ -x "$here/build/diyctl" ] || bash "$here/tools/build.sh" --no-asan >/dev/null
    exec python3 "$here/tests/integration/run.py" --sandbox -- env DIYCTL_BENCH_INNER=1 bash "$0" "$@"
fi
work=$(mktemp -d /var/tmp/diyctl-bench-nat.XXXXXX)
trap 'rm -rf "$work"' EXIT
bash "$here/examples/mkrootfs.sh" "$work/rootfs" >/dev/null
python3 - "${DIYCTL:-$here/build/diyctl}" "$work" "$runs" "$conc" <<'PY'
import os, re, statistics, subprocess, sys, time, platform

diyctl, work, runs, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def conf(name, port, mode="nat"):
    path = os.path.join(work, name + ".conf")
    net = ('network = { mode = "nat"; ports = ( { host = %d; container = 80; } ); };\n' % port
           if mode == "nat" else 'network = { mode = "none"; };\n')
    with open(path, "w") as f:
        f.write('name = "%s";\nrootfs = { path = "%s/rootfs"; writable = "tmpfs"; };\n'
                'process = { args = [ "/bin/sleep", "100000" ]; init = true; };\n%s'
                % (name, work, net))
    return path

def timed(argv):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        sys.exit("bench: %s failed: %s" % (" ".join(argv), p.stderr.strip()))
    return dt

def med(v):
    return statistics.median(v)

started = set()

def cleanup():
    for n in sorted(started):
        subprocess.run([diyctl, "stop", "-t", "1", n], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

def start(path, name):
    started.add(name)
    return timed([diyctl, "start", "-d", path])

def stop(name):
    dt = timed([diyctl, "stop", name])
    started.discard(name)
    return dt

rows = []
k = max(1, min(5, conc // 10))
try:
  for fw in ("iptables", "nftables", "none"):
      # "none": the same container without networking, for the baseline
      mode = "none" if fw == "none" else "nat"
      hc = os.path.join(work, "host-%s.conf" % fw)
      with open(hc, "w") as f:
          f.write('firewall = "%s";\n' % (fw if mode == "nat" else "iptables"))
      os.environ["DIYCTL_HOST_CONF"] = hc
      c = conf("web", 8080, mode)

      def probe(n, warm=0):
          """start and stop "web" n times (after warm unmeasured ones)"""
          st, sp = [], []
          for i in range(warm + n):
              s = start(c, "web")
              e = stop("web")
              if i >= warm:
                  st.append(s)
                  sp.append(e)
          return st, sp

      # alone: half of the runs before the others start, half after they
      # stopped, so that a change of load on the machine hits both sides
      starts, stops = probe(runs // 2, warm=2)
      # growth: conc-1 others started one after the other and kept running,
      # "web" started and stopped again as the conc-th, then the others
      # stopped in reverse
      cs = [conf("c%03d" % i, 10000 + i, mode) for i in range(conc - 1)]
      gstart = [start(cs[i], "c%03d" % i) for i in range(conc - 1)]
      if mode == "nat":  # sanity: every container's rules or elements are there
          if fw == "iptables":
              txt = subprocess.run(["iptables-save"], stdout=subprocess.PIPE, text=True).stdout
          else:
              txt = subprocess.run(["nft", "list", "table", "inet", "diyctl"], stdout=subprocess.PIPE, text=True).stdout
          tagged = len(set(re.findall(r'diyctl:(c\d+)', txt)))
          if tagged != conc - 1:
              sys.exit("bench: %d containers running but rules for %d" % (conc - 1, tagged))
      hstarts, hstops = probe(runs)
      gstop = [stop("c%03d" % i) for i in reversed(range(conc - 1))]
      more = probe(runs - runs // 2)
      starts += more[0]
      stops += more[1]
      rows.append((fw, med(starts), med(stops), med(hstarts), med(hstops), med(gstart[:k]), med(gstart[-k:])))

finally:
    cleanup()

print("machine: %s %s, %d cores, kernel %s; %d runs, %d concurrent; medians"
      % (platform.node(), platform.machine(), os.cpu_count(), platform.release(), runs, conc))
print()
print("| backend | start | stop | start+stop | start as %dth | growth | stop as %dth | growth | sequential starts: first %d / last %d |"
      % (conc, conc, k, k))
print("|---|---|---|---|---|---|---|---|---|")
for fw, s, e, hs, he, g1, gn in rows:
    label = "no network (baseline)" if fw == "none" else "nat, " + fw
    print("| %s | %.1f | %.1f | %.1f | %.1f | %.2fx | %.1f | %.2fx | %.1f / %.1f (%.2fx) |"
          % (label, s, e, s + e, hs, hs / s, he, he / e, g1, gn, gn / g1))
ipt, nft, base = rows
print()
print("start: alone, and with %d others running (the %dth); stop: the same container again. Sequential: the "
      "others' own starts, 1st to %dth." % (conc - 1, conc, conc - 1))
print("iptables / nftables: start %.2fx, stop %.2fx, start+stop %.2fx; as the %dth: start %.2fx, stop %.2fx"
      % (ipt[1] / nft[1], ipt[2] / nft[2], (ipt[1] + ipt[2]) / (nft[1] + nft[2]), conc, ipt[3] / nft[3], ipt[4] / nft[4]))
print("networking's own share of start+stop (minus the baseline): iptables %.1f ms, nftables %.1f ms"
      % (ipt[1] + ipt[2] - base[1] - base[2], nft[1] + nft[2] - base[1] - base[2]))
PY
