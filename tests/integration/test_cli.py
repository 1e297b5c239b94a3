"""Issue 9: the command line as a whole. Every subcommand has --help and
`diyctl help CMD`; --version; the man pages diyctl(1) and diyctl.conf(5) are
built by meson and render with `man -l`, and cover every command and every
config key; bash completion (tested with bash's own completion machinery);
and every --json output matches doc/json.md (schemas/diyctl-output.schema.json)."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_schema import validate  # noqa: E402

TIMEOUT = 180


def commands(t):
    """The subcommands `diyctl --help` lists."""
    out = t.diyctl("--help", check=True).stdout
    return [l.split()[0] for l in out.splitlines() if l.startswith("  ") and l.strip()]


def test_help_and_version(t):
    cmds = commands(t)
    t.ok({"check", "plan", "start", "stop", "kill", "list", "status", "exec", "logs", "cleanup", "journal", "config",
          "keys"} <= set(cmds), "the documented commands are listed: %s" % cmds)
    with open(os.path.join(t.repo, "meson.build")) as f:
        version = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)
    t.eq(t.diyctl("--version", check=True).stdout.strip(), "diyctl " + version, "--version")
    for c in cmds:
        h = t.diyctl(c, "--help", check=True).stdout
        t.ok(h.startswith("usage: diyctl %s" % c), "%s --help prints its usage: %r" % (c, h))
        t.eq(t.diyctl("help", c, check=True).stdout, h, "diyctl help %s says the same" % c)
        t.eq(t.diyctl(c, "-h", check=True).stdout, h, "%s -h too" % c)
    p = t.diyctl("help", "nosuch")
    t.eq(p.returncode, 2, "help for an unknown command is a usage error")
    p = t.diyctl("nosuch")
    t.eq(p.returncode, 2, "an unknown command is a usage error")
    t.contains(p.stderr, "no command nosuch", "saying so")
    p = t.diyctl()
    t.eq(p.returncode, 2, "no command: usage on stderr, exit 2")


def _man(t, page):
    path = os.path.join(t.repo, "build", page)
    t.ok(os.path.isfile(path), "meson built %s (scdoc)" % path)
    p = t.run(["man", "--nh", "--nj", "-l", path], env={"MANWIDTH": "200", "MAN_DISABLE_SECCOMP": "1",
                                                        "PAGER": "cat", "MANPAGER": "cat"}, check=True)
    t.ok(p.stdout.strip(), "man -l %s renders" % page)
    t.eq(p.stderr.strip(), "", "without warnings")
    return p.stdout


def test_man_pages(t):
    text = _man(t, "diyctl.1")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "SYSTEMD", "JSON OUTPUT", "ENVIRONMENT",
                    "FILES", "EXIT STATUS", "SEE ALSO"):
        t.ok(re.search(r"^%s$" % section, text, re.M), "diyctl(1) has a %s section" % section)
    for c in commands(t):
        t.ok(re.search(r"^\s+%s\b" % re.escape(c), text, re.M), "diyctl(1) documents the command %s" % c)
    for var in ("NOTIFY_SOCKET", "DIYCTL_CGROUP_PARENT", "DIYCTL_STOP_TIMEOUT", "DIYCTL_STATE_ROOT"):
        t.contains(text, var, "diyctl(1) documents %s" % var)
    conf = _man(t, "diyctl.conf.5")
    keys = json.loads(t.diyctl("keys", "--json", check=True).stdout)
    flat = " ".join(conf.split())
    for k in keys:
        t.contains(flat, k["name"], "diyctl.conf(5) documents the key %s" % k["name"])
    t.contains(flat, "@include", "and @include")
    t.contains(flat, "host.conf", "and the host config")


# ---- bash completion ----------------------------------------------------------

def _complete(t, line, cwd=None, env=None):
    """COMPREPLY of the completion script for LINE (the cursor at its end)."""
    script = os.path.join(t.repo, "completion", "diyctl.bash")
    words = line.split(" ")
    prog = """
source %s
complete -p diyctl >/dev/null || exit 3
COMP_WORDS=(%s)
COMP_CWORD=%d
COMP_LINE=%s
COMP_POINT=${#COMP_LINE}
_diyctl diyctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%%s\\n' "${COMPREPLY[@]}"
""" % (script, " ".join("'%s'" % w for w in words), len(words) - 1, "'%s'" % line)
    e = {"PATH": os.path.dirname(t.diyctl_bin) + ":" + os.environ["PATH"]}
    e.update(env or {})
    p = t.run(["bash", "--norc", "--noprofile", "-c", prog], env=e, cwd=cwd, check=True)
    return sorted(x for x in p.stdout.split("\n") if x)


def test_bash_completion(t):
    cmds = commands(t)
    t.eq(_complete(t, "diyctl "), sorted(cmds + ["help"]), "every subcommand, and help")
    t.eq(_complete(t, "diyctl st"), ["start", "status", "stop"], "a prefix")
    t.eq(_complete(t, "diyctl -v con"), ["config"], "after a global option")
    t.eq(_complete(t, "diyctl --ver"), ["--verbose", "--version"], "global options")
    t.eq(_complete(t, "diyctl help pl"), ["plan"], "help COMMAND")
    t.eq(_complete(t, "diyctl image "), ["list", "prune"], "image's subcommands")
    t.eq(_complete(t, "diyctl check --j"), ["--json"], "a command's options")
    t.ok("-d" in _complete(t, "diyctl start -"), "start -d")

    # Config files: *.conf and directories to descend into, nothing else.
    d = os.path.join(t.tmp, "fleet")
    os.makedirs(os.path.join(d, "common"))
    for f in ("web.conf", "db.conf", "README", "common/net.conf"):
        open(os.path.join(d, f), "w").close()
    t.eq(_complete(t, "diyctl start ", cwd=d), ["common", "db.conf", "web.conf"], "config files for start")
    t.eq(_complete(t, "diyctl check web.conf ", cwd=d), ["common", "db.conf", "web.conf"],
         "check takes several files")
    t.eq(_complete(t, "diyctl plan web.conf ", cwd=d), [], "plan takes one")
    t.eq(_complete(t, "diyctl config --set limits.pids=1 w", cwd=d), ["web.conf"], "after an option's value")
    t.eq(_complete(t, "diyctl start common/", cwd=d), ["common/net.conf"], "in a subdirectory")

    # Container names: from the state directory.
    root = os.path.join(t.tmp, "state")
    for n in ("web", "db", ".lock-ish"):
        os.makedirs(os.path.join(root, n))
    env = {"DIYCTL_STATE_ROOT": root}
    t.eq(_complete(t, "diyctl stop ", env=env), ["db", "web"], "names for stop")
    t.eq(_complete(t, "diyctl status w", env=env), ["web"], "names for status")
    t.eq(_complete(t, "diyctl exec web ", env=env), [], "exec: the command, not a name")
    t.eq(_complete(t, "diyctl exec -u ", env=env), [], "exec -u: a user, not a name")
    t.eq(_complete(t, "diyctl exec -t -u 0 -e A=1 -w / ", env=env), ["db", "web"], "exec: names after its options")
    t.eq(_complete(t, "diyctl exec --w", env=env), ["--workdir"], "exec's options")
    t.eq(_complete(t, "diyctl exec web ls --w", env=env), [], "after NAME an option is the command's")
    t.eq(_complete(t, "diyctl stop -t 5 ", env=env), ["db", "web"], "stop -t takes a value")
    t.eq(_complete(t, "diyctl kill -s HUP w", env=env), ["web"], "kill: names after -s SIGNAL")
    hc = os.path.join(t.tmp, "host.conf")
    with open(hc, "w") as f:
        f.write('state_dir = "%s";\n' % root)
    t.eq(_complete(t, "diyctl stop ", env={"DIYCTL_HOST_CONF": hc}), ["db", "web"],
         "names from the host config's state_dir (as root)")
    t.eq(_complete(t, "diyctl logs -n 5 w", env=env), ["web"], "logs -n takes a value")
    t.eq(_complete(t, "diyctl logs -n ", env=env), [], "logs -n: a number, not a name")
    t.eq(_complete(t, "diyctl kill -s SIGU", env=env), ["SIGUSR1", "SIGUSR2"], "kill -s: signal names")
    t.eq(_complete(t, "diyctl journal --json ", env=env), ["db", "web"], "after --json")
    t.eq(_complete(t, "diyctl logs -f d", env=env), ["db"], "after -f")

    # Config keys after --set, from `diyctl keys`.
    t.eq(_complete(t, "diyctl start --set network.mo"), ["network.mode="], "a key after --set")
    keys = _complete(t, "diyctl config --set ")
    t.ok("limits.memory=" in keys and "volumes=" in keys and not any("[]" in k for k in keys),
         "every settable key (not list elements): %d" % len(keys))


# ---- --json everywhere, as documented -------------------------------------------

def _out_schema(t, name):
    with open(os.path.join(t.repo, "schemas", "diyctl-output.schema.json")) as f:
        s = json.load(f)
    return {"$schema": s["$schema"], "$defs": s["$defs"], "$ref": "#/$defs/" + name}


def test_json_outputs_match_the_documentation(t):
    with open(os.path.join(t.repo, "doc", "json.md")) as f:
        doc = f.read()
    r = t.rootfs()
    conf = t.conf("web", 'rootfs = { path = "%s"; };\nprocess = { args = [ "/bin/sleep", "600" ]; };\n' % r)
    bad = t.conf("bad", 'rootfs = { path = "%s"; };\nlimits = { pids = 0; };\n' % r)
    env = {"DIYCTL_STOP_TIMEOUT": "1"}
    t.diyctl("start", "-d", conf, check=True, env=env)
    t.defer(t.diyctl, "stop", "web")
    outputs = {
        "check": t.diyctl("check", "--json", conf, bad).stdout,
        "plan": t.diyctl("plan", "--json", conf, check=True).stdout,
        "list": t.diyctl("list", "--json", check=True).stdout,
        "status": t.diyctl("status", "--json", "web", check=True).stdout,
        "top": t.diyctl("top", "--json", "web", check=True).stdout,
        "journal": t.diyctl("journal", "--json", "web", check=True).stdout,
        "keys": t.diyctl("keys", "--json", check=True).stdout,
    }
    late = json.loads(t.diyctl("status", "web", "--json", check=True).stdout)
    t.eq(late["name"], "web", "--json after the name works too")
    t.eq(json.loads(t.diyctl("journal", "web", "--json", check=True).stdout)["name"], "web", "journal NAME --json")
    p = t.diyctl("image", "list", "--json")
    if p.returncode == 0:
        outputs["image-list"] = p.stdout
    t.diyctl("stop", "web", check=True)
    # an exited container's record (a detached one that ended on its own)
    t.diyctl("start", "-d", conf, "--set", 'process.args=["/bin/sh","-c","exit 4"]', check=True)
    t.wait_for(lambda: '"state":"exited"' in t.diyctl("status", "--json", "web").stdout, msg="web exited")
    exited = {"list": t.diyctl("list", "--json", check=True).stdout,
              "status": t.diyctl("status", "--json", "web", check=3).stdout,
              "journal": t.diyctl("journal", "--json", "web", check=True).stdout}
    t.eq(json.loads(exited["status"])["exit_code"], 4, "exited: status --json has its exit code")
    t.diyctl("stop", "web", check=True)
    for name, text in list(outputs.items()) + [(k + " (exited)", v) for k, v in exited.items()]:
        data = json.loads(text)
        name = name.split()[0]
        res = validate(t, [data], _out_schema(t, name))[0]
        t.ok(res["ok"], "%s --json matches doc/json.md: %s" % (name, res["errors"]))
        t.contains(doc, "## %s" % name.replace("-", " "), "doc/json.md has a section on %s" % name)
    # Also after the fact: a journal of a torn-down container, an empty list.
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "an empty list is []")
    journal = json.loads(outputs["journal"])
    kinds = [r["kind"] for r in journal["records"]]
    t.contains(kinds, "cgroup", "the journal shows the cgroup step")
    cg = journal["records"][kinds.index("cgroup")]
    dirs = [v for k, v in cg["pairs"] if k == "dir"]
    t.ok(len(dirs) >= 1 and cg["fields"]["dir"] == dirs[0], "pairs keep every dir, fields the first")
    # A usage error prints nothing on stdout.
    p = t.diyctl("status", "--json")
    t.eq((p.returncode, p.stdout), (2, ""), "usage errors: exit 2, nothing on stdout")
    p = t.diyctl("status", "--json", "nosuch")
    t.eq((p.returncode, p.stdout), (1, ""), "an unknown container: exit 1, nothing on stdout")
    # --set without a KEY= is a usage error (exit 2) on every command that takes it
    for cmd in ("check", "plan", "start", "config"):
        for bad in ("name", "=web"):
            p = t.diyctl(cmd, "--set", bad, conf)
            t.eq((p.returncode, p.stdout), (2, ""), "%s --set %s: a usage error" % (cmd, bad))
            t.contains(p.stderr, "--set takes KEY=VALUE, not %s" % bad, "saying what --set takes")


def test_check_host_config(t):
    p = t.diyctl("check", "--host", check=True)
    t.contains(p.stdout, "/etc/diyctl/host.conf: not present; the defaults apply", "no host.conf: the defaults")
    t.host_conf('firewall = "nftables";\nnat = { ipv4_pool = "10.99.0.0/16"; };\n')
    p = t.diyctl("check", "--host", check=True)
    t.contains(p.stdout, "firewall nftables, NAT pools 10.99.0.0/16", "a valid host.conf, summarised")
    r = t.rootfs()
    conf = t.conf("web", 'rootfs = { path = "%s"; };\n' % r)
    res = json.loads(t.diyctl("check", "--json", "--host", conf, check=True).stdout)
    t.eq([(x["file"], x["ok"]) for x in res], [("/etc/diyctl/host.conf", True), (conf, True)],
         "check --json --host: the host config first, like a config file")
    t.host_conf('firewall = "pf";\n')
    p = t.diyctl("check", "--json", "--host")
    t.eq(p.returncode, 1, "an invalid host.conf fails check")
    res = json.loads(p.stdout)
    t.eq(res[0]["ok"], False, "reported as not ok")
    t.contains(res[0]["error"], "/etc/diyctl/host.conf:1: firewall", "FILE:LINE: KEY: message")
    t.host_conf('firewall = "pf";\nbogus = 1;\n')
    p = t.diyctl("check", "--json", "--host", conf)
    res = json.loads(p.stdout)
    t.eq(res[0]["errors"], ['/etc/diyctl/host.conf:1: firewall: pf is not a firewall backend ("iptables" or "nftables")',
                            "/etc/diyctl/host.conf:2: bogus: unknown key (known: firewall, log_max_size, nat, state_dir)"],
         "every bad host.conf key, once")
    t.eq(res[1]["errors"], ["%s: not checked: the host config has errors (above)" % conf],
         "a config file is not blamed for the host's errors")
    p = t.diyctl("check", "--host", conf)
    t.eq(p.stderr.count("bogus"), 1, "the host's errors on stderr once: %r" % p.stderr)
    p = t.diyctl("check", "--host", env={"DIYCTL_HOST_CONF": os.path.join(t.tmp, "none.conf")}, check=True)
    t.contains(p.stdout, "none.conf: not present", "DIYCTL_HOST_CONF names another file")


def test_meson_install_ships_the_ops_files(t):
    dest = os.path.join(t.tmp, "dest")
    t.run(["meson", "install", "-C", os.path.join(t.repo, "build"), "--no-rebuild", "--quiet", "--destdir", dest],
          check=True, timeout=120)
    files = sorted(os.path.relpath(os.path.join(dp, f), dest) for dp, _, fs in os.walk(dest) for f in fs)
    for want in ("bin/diyctl", "lib/systemd/system/diyctl@.service", "share/bash-completion/completions/diyctl",
                 "share/man/man1/diyctl.1", "share/man/man5/diyctl.conf.5"):
        t.ok(any(f.endswith(want) for f in files), "meson install ships %s: %s" % (want, files))
    unit = [f for f in files if f.endswith("diyctl@.service")][0]
    text = open(os.path.join(dest, unit)).read()
    bindir = os.path.dirname("/" + [f for f in files if f.endswith("bin/diyctl")][0])
    for line in ("Type=notify", "Delegate=yes", "KillMode=mixed", "ExecStart=%s/diyctl start /etc/diyctl/%%i.conf"
                 % bindir, "ExecStopPost=%s/diyctl cleanup %%i" % bindir, "WantedBy=multi-user.target"):
        t.contains(text.splitlines(), line, "the unit has %s" % line)
