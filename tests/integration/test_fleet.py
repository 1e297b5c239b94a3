"""Issue 9: templated fleets. A fleet layout keeps shared fragments in
common/ (common/net.conf included by web.conf and db.conf); --set overrides
are typed; `config`, `check --json` and `plan --json` give a fleet's CI what
it needs, and the fleet runs."""

import json
import os

FLEET = {
    "common/net.conf": """# shared by every container of the fleet
network = {
  mode = "nat";
  dns = "host";
};
""",
    "common/hardening.conf": """security = { capabilities = { drop = [ "NET_RAW" ]; }; };
""",
    "web.conf": """@include "common/net.conf"
@include "common/hardening.conf"
name = "web";
rootfs = { path = "rootfs"; writable = "tmpfs"; };
process = { args = [ "/usr/sbin/httpd", "-f", "-p", "80" ]; };
""",
    "db.conf": """@include "common/net.conf"
name = "db";
rootfs = { path = "rootfs"; writable = "tmpfs"; };
process = { args = [ "/bin/sleep", "600" ]; init = true; };
limits = { pids = 32; };
""",
}


def fleet(t):
    d = os.path.join(t.tmp, "fleet")
    for name, text in FLEET.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    t.run(["cp", "-a", t.rootfs(), os.path.join(d, "rootfs")])
    return d


def resolved(t, conf, *sets, cwd=None):
    args = ["config", "--json", conf]
    for s in sets:
        args += ["--set", s]
    return json.loads(t.diyctl(*args, check=True, cwd=cwd).stdout)


def test_fragments_are_shared_and_resolved(t):
    d = fleet(t)
    web, db = resolved(t, os.path.join(d, "web.conf")), resolved(t, os.path.join(d, "db.conf"))
    for c, name in ((web, "web"), (db, "db")):
        t.eq(c["name"], name, "each file keeps its own name")
        t.eq(c["network"]["mode"], "nat", "%s: network.mode comes from common/net.conf" % name)
        t.eq(c["rootfs"]["path"], os.path.join(d, "rootfs"), "%s: relative paths resolve against the file" % name)
    t.eq(web["security"]["capabilities"]["drop"], ["CAP_NET_RAW"], "web includes the hardening fragment")
    t.eq(db["security"]["capabilities"]["drop"], [], "db does not")
    t.eq(db["limits"]["pids"], 32, "db's own settings stay")
    # From another working directory: the same result.
    t.eq(resolved(t, "fleet/web.conf", cwd=t.tmp), web, "the resolved config does not depend on the cwd")
    # Where each value came from, for a human.
    text = t.diyctl("config", os.path.join(d, "web.conf"), check=True).stdout
    lines = {l.split(" = ")[0]: l for l in text.splitlines() if " = " in l}
    t.contains(lines["network.mode"], "common/net.conf:3", "the text output names the fragment and line")
    t.contains(lines["name"], "web.conf:3", "and the file that set the name")
    t.contains(lines["process.init"], "# default", "and which values are defaults")


def test_bad_includes_are_named(t):
    """An @include libconfig must not open (a directory made its scanner exit
    the process) or that it would blame on the wrong file: check, check
    --json and start name the file, line and @include, and start changes
    nothing."""
    d = fleet(t)
    os.makedirs(os.path.join(d, "common", "adir"))
    with open(os.path.join(d, "common", "open.conf"), "w") as f:
        f.write("limits = {\n  pids = 9;\n")
    cases = (("adir", "fleet/x.conf:2: @include: common/adir is not a regular file"),
             ("missing.conf", "fleet/x.conf:2: @include: common/missing.conf: No such file or directory"),
             ("open.conf", "fleet/common/open.conf:1: syntax error: the '{' opened here is not closed in this file"))
    before = t.snapshot()
    for inc, msg in cases:
        with open(os.path.join(d, "x.conf"), "w") as f:
            f.write('rootfs = { path = "rootfs"; };\n@include "common/%s"\n' % inc)
        p = t.diyctl("check", "fleet/x.conf", cwd=t.tmp)
        t.eq(p.returncode, 1, "check of an @include of %s fails with 1" % inc)
        t.contains(p.stderr, msg, "and names it")
        p = t.diyctl("check", "--json", "fleet/x.conf", cwd=t.tmp)
        j = json.loads(p.stdout)
        t.ok(j[0]["ok"] is False and msg in j[0]["error"], "check --json: valid JSON with the error: %s" % p.stdout)
        p = t.diyctl("start", "fleet/x.conf", cwd=t.tmp)
        t.eq(p.returncode, 125, "start: 125")
        t.contains(p.stderr, msg, "start names it too")
    t.host_unchanged(before, "nothing changed on the host")


def test_rules_that_combine_keys(t):
    """check names every key with an error, the rules that combine keys
    included; config checks them too (they are the config's own), so a config
    that prints is one check accepts on a host that has its files."""
    d = fleet(t)
    with open(os.path.join(d, "m.conf"), "w") as f:
        f.write('rootfs = { path = "rootfs"; };\nprocess = { cwd = "rel"; };\n'
                'volumes = ( { type = "tmpfs"; target = "/a/../b"; } );\n'
                'network = { mode = "host"; };\nnamespaces = [ "mount", "net" ];\n')
    want = ['fleet/m.conf:2: process.cwd: rel is not an absolute path',
            'fleet/m.conf:3: volumes[0].target: /a/../b must not contain ".."',
            'fleet/m.conf:5: namespaces: "net" conflicts with network.mode = "host" (fleet/m.conf:4)']
    p = t.diyctl("check", "--json", "fleet/m.conf", cwd=t.tmp)
    t.eq(p.returncode, 1, "check fails")
    t.eq(json.loads(p.stdout)[0]["errors"], want, "check --json lists all three")
    p = t.diyctl("config", "--json", "fleet/m.conf", cwd=t.tmp)
    t.eq((p.returncode, p.stdout), (1, ""), "config refuses it, printing nothing")
    t.eq(p.stderr.splitlines(), ["diyctl: " + w for w in want], "and names all three")
    # what only this host decides is check's: a rootfs that is not there
    with open(os.path.join(d, "h.conf"), "w") as f:
        f.write('rootfs = { path = "not-here"; };\n')
    t.eq(t.diyctl("config", "--json", "fleet/h.conf", cwd=t.tmp).returncode, 0, "config: the host's files are not its business")
    t.contains(t.diyctl("check", "fleet/h.conf", cwd=t.tmp).stderr, "rootfs.path", "check: they are")


def test_check_and_plan_json_for_ci(t):
    d = fleet(t)
    files = [os.path.join(d, "web.conf"), os.path.join(d, "db.conf")]
    bad = t.conf("bad", '@include "fleet/common/net.conf"\nrootfs = { path = "fleet/rootfs"; };\nlimits = { pids = 0; };\n'
                        'hostname = "-web";\nprocess = { init = "yes"; };\n')
    p = t.diyctl("check", "--json", *(files + [bad]))
    t.eq(p.returncode, 1, "check exits 1 when one config is bad")
    res = json.loads(p.stdout)
    t.eq([sorted(r) for r in res], [["error", "errors", "file", "ok"]] * 3,
         "check --json: one {file, ok, error, errors} per file")
    t.eq([r["ok"] for r in res], [True, True, False], "the fleet's files pass, the bad one does not")
    t.eq((res[0]["error"], res[0]["errors"]), (None, []), "no error for a good file")
    t.contains(res[2]["error"], "bad.conf:3: limits.pids:", "FILE:LINE: KEY: for the bad one")
    t.eq([e.split(": ")[0:2] for e in res[2]["errors"]],
         [[bad + ":3", "limits.pids"], [bad + ":4", "hostname"], [bad + ":5", "process.init"]],
         "every bad key at once, in file order, the first one as error")
    # In text: one "diyctl: FILE:LINE: KEY: message" line each, for editors and CI logs.
    p = t.diyctl("check", bad)
    t.eq(p.returncode, 1, "text check exits 1 too")
    lines = p.stderr.splitlines()
    t.eq(len(lines), 3, "three errors, three lines: %r" % lines)
    t.ok(all(l.startswith("diyctl: " + bad + ":") for l in lines), "each with diyctl: and the file")
    t.eq([l for l in lines], ["diyctl: " + e for e in res[2]["errors"]], "the same errors as --json")
    ok = t.diyctl("check", "--json", *files, check=True)
    t.eq([r["ok"] for r in json.loads(ok.stdout)], [True, True], "exit 0 when all are good")

    plan = json.loads(t.diyctl("plan", "--json", files[0], check=True).stdout)
    t.eq(sorted(plan), ["config", "name", "state_dir", "steps"], "plan --json: the documented fields")
    t.eq(plan["name"], "web", "the container")
    t.eq([s["index"] for s in plan["steps"]], list(range(1, len(plan["steps"]) + 1)), "steps numbered from 1")
    for s in plan["steps"]:
        t.eq(sorted(s), ["args", "description", "host_change", "index", "kind", "side"], "a step's fields")
        t.ok(s["side"] in ("host", "spawn", "parent", "child"), "side is one of the documented ones: %s" % s["side"])
        t.eq(s["host_change"], s["side"] == "host", "host_change marks exactly the host steps")
        t.ok(all(isinstance(a, list) and len(a) == 2 and all(isinstance(x, str) for x in a) for a in s["args"]),
             "args are [key, value] string pairs")
    kinds = [s["kind"] for s in plan["steps"]]
    t.eq(kinds[0], "statedir", "the state directory comes first")
    t.contains(kinds, "exec", "and the process last")
    text = t.diyctl("plan", files[0], check=True).stdout
    t.eq(len([l for l in text.splitlines() if l[:4].strip().isdigit()]), len(plan["steps"]),
         "the text plan lists the same steps")


def test_typed_overrides(t):
    d = fleet(t)
    web = os.path.join(d, "web.conf")
    c = resolved(t, web, "limits.pids=64", "limits.cpus=0.5", "process.init=true", "hostname=web2",
                 'process.args=["/bin/sh", "-c", "echo hi"]', 'volumes=({ type = "tmpfs"; target = "/s"; })',
                 'limits.memory="64M"')
    t.eq(c["limits"]["pids"], 64, "an integer")
    t.eq(c["limits"]["cpus"], 0.5, "a float")
    t.eq(c["process"]["init"], True, "a boolean")
    t.eq(c["hostname"], "web2", "a bare word is a string")
    t.eq(c["process"]["args"], ["/bin/sh", "-c", "echo hi"], "an array")
    t.eq(c["volumes"], [{"type": "tmpfs", "source": None, "target": "/s", "readonly": False, "idmap": False, "size": None,
                          "mode": "1777"}],
         "a list of groups")
    t.eq(c["limits"]["memory"], 64 << 20, "a quoted size string")
    t.eq(resolved(t, web, 'hostname="1"')["hostname"], "1", "a quoted number is a string")
    # An override replaces what a fragment set, the whole setting.
    c = resolved(t, web, 'network={ mode = "host"; }')
    t.eq(c["network"]["mode"], "host", "a group from common/net.conf replaced as a whole")
    t.eq(resolved(t, web, 'network.mode="none"')["network"]["mode"], "none", "one key of an included group")
    # Typed: the wrong type is an error naming --set.
    for s, msg in (("limits.pids=lots", "expected an integer"), ("process.init=yes", "expected a boolean"),
                   ("hostname=1", "expected a string"), ("nmae=x", 'did you mean "name"'),
                   ("volumes[].target=/x", "set the whole list"), ("limits.pids", "KEY=VALUE")):
        p = t.diyctl("config", web, "--set", s)
        t.ok(p.returncode != 0, "--set %s is refused" % s)
        t.contains(p.stderr, msg, "--set %s: the error says why" % s)
    p = t.diyctl("config", web, "--set", "limits.pids=lots")
    t.contains(p.stderr, "--set", "and that the value came from --set")


def test_fleet_runs_with_overrides(t):
    d = fleet(t)
    env = {"DIYCTL_STOP_TIMEOUT": "2"}
    # Two instances of one template and the other member, networking overridden.
    for conf, sets in (("web.conf", []), ("web.conf", ["name=web2"]), ("db.conf", [])):
        args = ["start", "-d", os.path.join(d, conf), "--set", 'network={ mode = "none"; }',
                "--set", 'process.args=["/bin/sleep", "600"]']
        for s in sets:
            args += ["--set", s]
        t.diyctl(*args, check=True, env=env)
    t.defer(t.diyctl, "stop", "web", "web2", "db")
    lst = json.loads(t.diyctl("list", "--json", check=True).stdout)
    t.eq([(c["name"], c["state"]) for c in lst], [("db", "running"), ("web", "running"), ("web2", "running")],
         "the fleet runs, each under its own name")
    t.eq({c["name"]: os.path.basename(c["config"]) for c in lst}, {"db": "db.conf", "web": "web.conf",
                                                                    "web2": "web.conf"}, "list names each config")
    st = json.loads(t.diyctl("status", "--json", "db", check=True).stdout)
    t.eq(st["args"], ["/bin/sleep", "600"], "the override reached the running container")
    t.diyctl("stop", "web", "web2", "db", check=True)
    t.eq(json.loads(t.diyctl("list", "--json", check=True).stdout), [], "all stopped and torn down")


def test_check_finds_what_a_fleet_cannot_share(t):
    """Configs each valid alone, copied from one template with the name and
    host port left unchanged: check of the fleet names each clash at the
    copy's line and the original's, and the clash is real: the copy's start
    fails while the original runs."""
    d = fleet(t)
    body = ('name = "%s";\nrootfs = { path = "rootfs"; writable = "%s"; };\n'
            'network = { mode = "nat"; ports = ( { host = 8080; container = 80; } ); };\n'
            'process = { args = [ "/usr/sbin/httpd", "-f", "-p", "80" ]; };\n')
    a, b = os.path.join(d, "shop.conf"), os.path.join(d, "shop-eu.conf")
    with open(a, "w") as f:
        f.write(body % ("shop", "tmpfs"))
    with open(b, "w") as f:
        f.write(body % ("shop", "tmpfs"))
    p = t.diyctl("check", a, b)
    t.eq(p.returncode, 1, "check of the fleet exits 1")
    t.eq(p.stdout, "%s: ok (shop)\n" % a, "the first file is fine")
    t.eq(p.stderr.splitlines(), [
        'diyctl: %s:1: name: "shop" is also the name in %s:1: each container needs its own (its state, cgroup '
        'and links are named after it)' % (b, a),
        "diyctl: %s:3: network.ports[0].host: 8080/tcp is also forwarded by %s:3: a host port goes to one "
        "container" % (b, a)], "each clash at the copy's line, naming the original's")
    p = t.diyctl("check", a, "%s/./%s" % (d, os.path.basename(a)), b)
    t.ok(p.returncode == 1 and "other config" not in p.stderr and p.stderr.count("\n") == 2,
         "the first file given twice is one config, not two: %r" % p.stderr)
    res = json.loads(t.diyctl("check", "--json", a, b).stdout)
    t.eq([(r["ok"], len(r["errors"])) for r in res], [(True, 0), (False, 2)], "check --json says the same")
    t.eq(t.diyctl("check", b).returncode, 0, "each file alone is valid")
    p = t.diyctl("check", "--separate", a, b)
    t.eq((p.returncode, p.stdout), (0, "%s: ok (shop)\n%s: ok (shop)\n" % (a, b)),
         "--separate: each alone, as configs of two hosts")
    t.eq(t.diyctl("check", a, os.path.join(d, "web.conf"), os.path.join(d, "db.conf")).returncode, 0,
         "a fleet that shares nothing passes")

    # the name fixed, the port not: the start of the copy fails on the port
    with open(b, "w") as f:
        f.write(body % ("shop-eu", "tmpfs"))
    p = t.diyctl("check", a, b)
    t.eq(p.returncode, 1, "the port still clashes")
    t.contains(p.stderr, "%s:3: network.ports[0].host: 8080/tcp is also forwarded by %s:3 (container shop)" % (b, a),
               "naming the other container")
    t.diyctl("start", "-d", a, check=True)
    t.defer(t.diyctl, "stop", "-t", "0", "shop", check=False)
    # the plan of the copy says so before its start
    plan = t.diyctl("plan", b, check=True).stdout
    t.contains(plan, "8080/tcp is now forwarded to container shop: start refuses it until that one stops",
               "plan marks the port a running container forwards")
    steps = json.loads(t.diyctl("plan", "--json", b, check=True).stdout)["steps"]
    t.eq([v for st in steps if st["kind"] == "ports" for k, v in st["args"] if k == "taken"], ["8080/tcp shop"],
         "plan --json: the ports step's \"taken\"")
    t.ok("now forwarded" not in t.diyctl("plan", a, check=True).stdout, "not its own port")
    s = t.diyctl("start", "-d", b)
    t.defer(t.diyctl, "stop", "-t", "0", "shop-eu", check=False)
    t.ok(s.returncode != 0 and "8080" in s.stderr, "and its start fails on that port: %r" % s.stderr)

    # one persistent upper layer for two
    up = os.path.join(t.tmp, "upper")
    os.makedirs(up)
    with open(b, "w") as f:
        f.write((body % ("shop-eu", up)).replace("8080", "8081"))
    with open(a, "w") as f:
        f.write(body % ("shop", up))
    p = t.diyctl("check", a, b)
    t.eq(p.returncode, 1, "one upper layer for two clashes")
    t.contains(p.stderr, "%s:2: rootfs.writable: upper layer %s is also the upper layer of %s:2 (container shop): "
               "two overlays writing one upper layer corrupt each other's view of it" % (b, up, a), "named")

    # a clash from a fragment both include names the files that include it
    with open(os.path.join(d, "common", "pinned.conf"), "w") as f:
        f.write('network = { mode = "nat"; address = "10.88.7.2/30"; };\n')
    for n in ("p1", "p2"):
        with open(os.path.join(d, n + ".conf"), "w") as f:
            f.write('@include "common/pinned.conf"\nrootfs = { path = "rootfs"; writable = "tmpfs"; };\n')
    p = t.diyctl("check", os.path.join(d, "p1.conf"), os.path.join(d, "p2.conf"))
    t.eq(p.returncode, 1, "a pinned subnet in a shared fragment clashes")
    pinned = os.path.join(d, "common", "pinned.conf")
    t.contains(p.stderr, "%s:1: network.address: NAT subnet 10.88.7.0/30 (in %s) is also the NAT subnet of %s:1 "
               "(%s, container p1): " % (pinned, os.path.join(d, "p2.conf"), pinned, os.path.join(d, "p1.conf")),
               "naming both including files")
    # an overlay's lower layer does not reach into a file system mounted
    # below the root; a root bound as it is (written directly) does
    other = t.rootfs("other")
    mnt = os.path.join(d, "rootfs", "srv-mnt")
    os.makedirs(mnt)
    t.run(["mount", "-t", "tmpfs", "tmpfs", mnt])
    t.defer(t.run, ["umount", mnt])
    os.makedirs(os.path.join(mnt, "up"))
    m1, m2 = os.path.join(d, "m1.conf"), os.path.join(d, "m2.conf")
    with open(m2, "w") as f:
        f.write('rootfs = { path = "%s"; writable = "%s/up"; };\n' % (other, mnt))
    for mode, clash in (("tmpfs", False), ("none", True), ("direct", True)):
        with open(m1, "w") as f:
            f.write('rootfs = { path = "rootfs"; writable = "%s"; };\n' % mode)
        p = t.diyctl("check", m1, m2)
        t.eq(p.returncode, 1 if clash else 0, "an upper layer on a mount below a root that is %s: %s" %
             (mode, "a clash" if clash else "none"))
        if clash:
            t.contains(p.stderr, "%s:1: rootfs.writable: upper layer %s/up is inside the root directory of %s:1"
                       % (m2, mnt, m1), "named")
    # the same value from one --set is every file's: not a clash of theirs
    web, db = os.path.join(d, "web.conf"), os.path.join(d, "db.conf")
    t.eq(t.diyctl("check", "--set", "name=same", web, db).returncode, 0, "--set name= over two files")
    t.eq(t.diyctl("check", web, "%s/./web.conf" % d).returncode, 0, "one file given twice")


def test_link_names_of_long_names(t):
    """A short name that is a long name's host link name: check of the two
    names the pair, and the second start says whose link has the name."""
    d = fleet(t)
    names = ("webserver-frontend-01", "webs-a6a5a19")
    confs = []
    for n in names:
        c = os.path.join(d, n + ".conf")
        with open(c, "w") as f:
            f.write('rootfs = { path = "rootfs"; writable = "tmpfs"; };\nnetwork = { mode = "nat"; };\n'
                    'process = { args = [ "/bin/sleep", "600" ]; };\n')
        confs.append(c)
    p = t.diyctl("check", *confs)
    t.eq(p.returncode, 1, "check finds the pair")
    t.contains(p.stderr, '%s: name: "webs-a6a5a19" (this file\'s name) gives the host link the name dc-webs-a6a5a19, '
               'as "webserver-frontend-01" in %s (container webserver-frontend-01): two links cannot share a name'
               % (confs[1], confs[0]), "naming both")
    t.diyctl("start", "-d", confs[0], check=True)
    t.defer(t.diyctl, "stop", "-t", "0", names[0], check=False)
    s = t.diyctl("start", "-d", confs[1])
    t.defer(t.diyctl, "stop", "-t", "0", names[1], check=False)
    t.eq(s.returncode, 125, "the second start fails")
    t.contains(s.stderr, "cannot create veth dc-webs-a6a5a19: the host end of container webserver-frontend-01's veth "
               "has that name", "saying whose link it is")
    # a veth an earlier run of this very container left (its launcher died)
    t.run(["ip", "link", "add", "dc-lefty", "type", "veth", "peer", "name", "lefty-peer"])
    t.defer(t.run, ["ip", "link", "del", "dc-lefty"], check=False)
    t.run(["ip", "link", "set", "dc-lefty", "alias", "diyctl:lefty"])
    c = os.path.join(d, "lefty.conf")
    with open(c, "w") as f:
        f.write('rootfs = { path = "rootfs"; writable = "tmpfs"; };\nnetwork = { mode = "nat"; };\n')
    s = t.diyctl("start", c)
    t.eq(s.returncode, 125, "a start over its own leftover veth fails")
    t.contains(s.stderr, "cannot create veth dc-lefty: a veth of an earlier run of this container is still there "
               "(diyctl cleanup lefty removes", "and says what removes it")
