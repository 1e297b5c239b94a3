"""Issue 9: schemas/diyctl.schema.json (JSON Schema 2020-12) describes the
config exactly. It agrees with the key table (`diyctl keys --json`: every key
in one is in the other, with the same type and default), `diyctl config
--json` prints every key of the table and validates, every example
validates, and for a generated set of good and bad configs the C validator
(`diyctl check`) and a real JSON Schema validator (Debian's
python3-jsonschema) agree on acceptance wherever the schema can express the
rule."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import libconf  # noqa: E402

TIMEOUT = 300

DEBIAN_PY = "/usr/bin/python3"


def _repo(t, *p):
    return os.path.join(t.repo, *p)


def _schema(t):
    with open(_repo(t, "schemas", "diyctl.schema.json")) as f:
        return json.load(f)


def validate(t, instances, schema=None):
    """[{"ok", "errors"}] per instance, from Debian's python3-jsonschema."""
    req = json.dumps({"schema": schema or _schema(t), "instances": instances})
    p = subprocess.run([DEBIAN_PY, _repo(t, "tests", "helpers", "schema_check.py")], input=req,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        t.fail("the JSON Schema validator failed (is Debian's python3-jsonschema installed? tools/deps.sh)",
               p.stderr[-2000:])
    res = json.loads(p.stdout)
    t.ok("/usr/lib/python3/dist-packages/" in res["jsonschema"],
         "the validator is Debian's python3-jsonschema: %s" % res["jsonschema"])
    return res["results"]


def keys_table(t):
    return json.loads(t.diyctl("keys", "--json", check=True).stdout)


# ---- walking the schema ------------------------------------------------------

def _resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        merged = dict(schema["$defs"][name])
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        node = merged
    return node


def _branches(schema, node):
    node = _resolve(schema, node)
    yield node
    for k in ("anyOf", "oneOf"):
        for b in node.get(k, []):
            yield from _branches(schema, b)


def _pytype(v):
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}[type(v)]


def json_types(schema, node):
    """The JSON types a schema node accepts, from type/const/enum of it and its branches."""
    res = set()
    for b in _branches(schema, node):
        ty = b.get("type")
        if isinstance(ty, str):
            res.add(ty)
        elif isinstance(ty, list):
            res.update(ty)
        if "const" in b:
            res.add(_pytype(b["const"]))
        for v in b.get("enum", []):
            res.add(_pytype(v))
    return res


def schema_keys(schema):
    """{dotted key: schema node} for every key the schema defines ("volumes[].target")."""
    out = {}

    def walk(node, prefix):
        for b in _branches(schema, node):
            for name, sub in b.get("properties", {}).items():
                key = prefix + "." + name if prefix else name
                out.setdefault(key, _resolve(schema, sub))
                walk(sub, key)
            items = b.get("items")
            if isinstance(items, dict) and prefix:
                for ib in _branches(schema, items):
                    for name, sub in ib.get("properties", {}).items():
                        key = prefix + "[]." + name
                        out.setdefault(key, _resolve(schema, sub))
                        walk(sub, key)

    walk(schema, "")
    return out


KTYPES = {"string": {"string"}, "boolean": {"boolean"}, "integer": {"integer"}, "number": {"number"},
          "strings": {"array"}, "group": {"object"}, "list": {"array"}}


def test_schema_agrees_with_the_key_table(t):
    schema = _schema(t)
    validate(t, [{}], schema)  # the schema itself is valid 2020-12 (check_schema)
    table = {k["name"]: k for k in keys_table(t)}
    skeys = schema_keys(schema)
    t.eq(sorted(set(table) - set(skeys)), [], "keys of the table missing in the schema")
    t.eq(sorted(set(skeys) - set(table)), [], "keys of the schema missing in the table")
    for name, k in table.items():
        node = skeys[name]
        types = json_types(schema, node) - {"null"}
        if k["type"] == "mixed":
            t.ok(len(types) >= 2, "%s is mixed in the table, so the schema accepts several types: %s" % (name, types))
        elif k["type"] == "number":
            t.ok(types in ({"number"}, {"integer", "number"}), "%s: a number, schema says %s" % (name, types))
        else:
            t.eq(types, KTYPES[k["type"]], "%s: the JSON types of a %s" % (name, k["type"]))
        if k["type"] in ("strings", "list"):
            want = "string" if k["type"] == "strings" else "object"
            t.eq(json_types(schema, node["items"]) - {"null"}, {want}, "%s: the type of its elements" % name)
        t.eq(node.get("default"), k["default"], "%s: the default" % name)
        t.ok(("default" in node) == (k["default"] is not None), "%s: a default in exactly one of them" % name)


RICH = """
name = "rich";
rootfs = { path = "rootfs"; writable = "tmpfs"; };
namespaces = [ "mount", "uts", "ipc", "pid", "net", "cgroup", "user", "time" ];
process = { args = [ "/bin/sh" ]; env = [ "A=1" ]; cwd = "/tmp"; user = 1000; terminal = false; init = true; };
volumes = ( { source = "www"; target = "/www"; readonly = true; },
            { type = "tmpfs"; target = "/scratch"; size = "64M"; } );
network = { mode = "nat"; interface = "eth1"; address = "10.88.7.2/30"; gateway = "10.88.7.1";
            ipv6 = { address = "fd88:0:0:7::2/64"; gateway = "fd88:0:0:7::1"; };
            ports = ( { host = 8080; container = 80; }, { host = 5353; protocol = "udp"; } );
            dns = [ "192.0.2.53", "2001:db8::53" ]; };
time = { boottime = "reset"; monotonic = 100; };
user = { map = ( { inside = 0; outside = 100000; count = 65536; } ); };
limits = { memory = "8G"; cpus = 1.5; pids = 64; };
security = { capabilities = { add = [ "NET_ADMIN" ]; drop = [ "MKNOD" ]; }; seccomp = "unconfined";
             no_new_privileges = false; };
"""


def _fixture(t):
    for d in ("rootfs", "www", "upper"):
        os.makedirs(os.path.join(t.tmp, d), exist_ok=True)


def _resolved(t, path, *sets):
    args = ["config", "--json", path]
    for s in sets:
        args += ["--set", s]
    return json.loads(t.diyctl(*args, check=True).stdout)


def _flat_keys(doc, prefix="", out=None):
    out = set() if out is None else out
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = prefix + "." + k if prefix else k
            out.add(key)
            _flat_keys(v, key, out)
    elif isinstance(doc, list) and prefix:
        for e in doc:
            if isinstance(e, dict):
                for k, v in e.items():
                    out.add(prefix + "[]." + k)
                    _flat_keys(v, prefix + "[]." + k, out)
    return out


def test_resolved_config_has_every_key_and_validates(t):
    _fixture(t)
    table = {k["name"]: k for k in keys_table(t)}
    rich = t.conf("rich", RICH)
    minimal = t.conf("minimal", 'rootfs = { path = "rootfs"; };\n')
    docs = [_resolved(t, rich), _resolved(t, minimal), _resolved(t, minimal, 'network.mode="host"'),
            _resolved(t, rich, "network.ipv6=true", 'user.map="root"')]
    seen = set()
    for d in docs:
        seen |= _flat_keys(d)
    t.eq(sorted(seen - set(table)), [], "config --json prints no key the table lacks")
    t.eq(sorted(set(table) - seen), [], "config --json prints every key of the table")
    always = {k for k in table if "[]" not in k and not k.startswith("network.ipv6.")}
    for d in docs:
        t.eq(sorted(always - _flat_keys(d)), [], "every key is present in the resolved config (null when unset)")
    res = validate(t, docs)
    for d, r in zip(docs, res):
        t.ok(r["ok"], "the resolved config of %s validates: %s" % (d["name"], r["errors"]))
    # Exactly: a key with a default is never null in the resolved config, so
    # the schema refuses null there.
    nulled = []
    for name, k in table.items():
        if k["default"] is None or "[]" in name or k["type"] == "group":
            continue
        d = json.loads(json.dumps(docs[0]))
        node = d
        parts = name.split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = None
        nulled.append((name, d))
    for (name, _), r in zip(nulled, validate(t, [d for _, d in nulled])):
        t.ok(not r["ok"], "%s has a default, so null is not a valid resolved value" % name)


def test_examples_validate(t):
    found = []
    for dirpath, _, files in os.walk(_repo(t, "examples")):
        if "rootfs" in dirpath.split(os.sep):
            continue
        found += [os.path.join(dirpath, f) for f in sorted(files) if f.endswith(".conf")]
    t.ok(found, "examples/ has configs")
    raw = [libconf.load(f) for f in found]
    resolved = [_resolved(t, f) for f in found]
    for f, r in zip(found + found, validate(t, raw + resolved)):
        t.ok(r["ok"], "%s validates: %s" % (os.path.relpath(f, t.repo), r["errors"]))


# ---- generated configs: the C validator and the schema agree -----------------

BASE = {"rootfs": {"path": "rootfs"}}
SAMPLES = ["x", "", "/abs", 0, 1, -1, 65536, 2**40, 1.5, True, False, ["a"], [1], [], {}, [{"a": 1}]]

# Where a key is valid to set: a context that satisfies the other rules.
CONTEXT = [
    ("time.", {"namespaces": ["mount", "uts", "ipc", "pid", "net", "cgroup", "time"]}),
    ("user.", {"namespaces": ["mount", "uts", "ipc", "pid", "net", "cgroup", "user"]}),
    ("network.mode", {}),
    ("network.dns", {"network": {"mode": "nat"}}),
    ("network.gateway", {"network": {"mode": "nat", "address": "10.88.5.6/30"}}),
    ("network.bridge", {"network": {"mode": "bridge"}}),
    ("network.ipv6.gateway", {"network": {"mode": "nat", "ipv6": {"address": "fd88:0:0:5::2/64"}}}),
    ("network.", {"network": {"mode": "nat"}}),
]
# Keys whose values name host files: checked by `check` against the host,
# which the schema cannot know, so they are compared at the config level.
HOSTY = {"rootfs.path", "rootfs.tarball", "rootfs.image", "rootfs.tag", "rootfs.writable", "volumes[].source",
         "network.bridge", "limits.cpus", "devices"}

GOOD_BIND = {"source": "www", "target": "/www"}
GOOD_PORT = {"host": 8080}
GOOD_MAP = {"inside": 0, "outside": 100000, "count": 65536}

DOMAIN = {
    "name": ["web", "a", "Web", "-x", "a" * 63, "a" * 64, "a b", "web.1_x-y", "9lives"],
    "hostname": ["h", "-h", "h-", "a.b", "A" * 64, "a" * 65, "_x", "a..b"],
    "rootfs.path": ["rootfs"],
    "rootfs.writable": ["tmpfs", "direct", "none", "upper"],
    "namespaces": [["mount"], ["mount", "mount"], ["mount", "bogus"], ["uts"],
                   ["mount", "uts", "ipc", "pid", "net", "cgroup", "time"], ["MOUNT"]],
    "devices": [["/dev/null:/dev/n0"], ["/dev/null:/dev/n0:rw"], ["dev/null"], ["/opt/x"], ["/dev/null:/dev/x"],
                ["/dev/null:/opt/x"], ["/dev/null:/dev/x:rwx"], ["/dev/null:/dev/x:"], "x", [1], [], ["/dev/null:dev/x"],
                ["/dev/null:/dev/net/tun:m"]],
    "sysctls": [["net.core.somaxconn=1024"], ["kernel.panic=1"], ["net.core.somaxconn"], ["net/ipv4/conf/eth0.1/rp_filter=1"],
                ["net/../x=1"], ["kernel.sem=250 32000 32 128"], ["fs.mqueue.msg_max=20"], ["net.a="], ["net..a=1"],
                ["net.core/somaxconn=1"], ["kernel.hostname=x"], ["kernel/domainname=x"], "net.x=1", [1], [],
                ["net.a=1\tb"], ["fs.mqueue=1"], ["net/.../x=1"]],
    "process.args": [["/bin/sh"], [""], ["/bin/sh", ""], ["/bin/sh", 1]],
    "process.env": [["A=1"], ["A"], ["=1"], ["A=", "B=x=y"], ["A=1", "b=2"]],
    "process.cwd": ["/", "/tmp", "tmp", "/a/../b", "/a/..b", "/..", "/a/.."],
    "process.user": ["0:0", "1000", "nobody", "nobody:nogroup", 4294967294, 4294967295, "a:b:c", "-x", "x$", "$",
                     "12345678901", ":", "x:", ":x", "a" * 32, "a" * 33, "1000:nogroup", "user.name-1"],
    "rootfs.idmap": ["auto", "yes", "AUTO", "false"],
    "process.terminal": ["auto", "yes", "AUTO"],
    "process.init": ["true"],
    "process.log_max_size": ["10M", "4K", "4096", 4096, 4095, 1, 0, "0", "12X", "-1", "1.5M", "1GiB", -4096],
    "process.rlimits": [{"nofile": 10, "core": "0:0"}, {"files": 1}, {}, "nofile=10"],
    "process.rlimits.nofile": [1024, 0, -1, -2, "-1", "-1:-1", "-2", "1024:4096", "unlimited", "infinity", "1024:unlimited", "lots", "1024:",
                               ":1024", "1.5", "", "0:0", "18446744073709551614", 1.5],
    "process.stop_signal": ["SIGQUIT", "QUIT", "SIGRTMIN", "SIGRTMIN+3", "RTMAX-30", "SIGRTMIN+31", "SIGRTMAX+1",
                            "SIGKILL", "SIGCHLD", "SIGSTOP", "SIGSEGV", "sigquit", "SIGFOO", "9", "", 1, 4, 9, 15, 17,
                            19, 31, 32, 33, 34, 64, 65, 0, -15],
    "volumes": [[GOOD_BIND], [{"type": "tmpfs", "target": "/s", "size": "64M"}],
                [{"type": "tmpfs", "target": "/s", "size": 0}], [{"type": "tmpfs", "target": "/s", "size": "0K"}],
                [{"type": "tmpfs", "target": "/s", "size": "1.5G"}], [{"type": "tmpfs", "target": "/s", "size": "2MiB"}],
                [{"type": "tmpfs", "target": "/s", "size": 4096}], [dict(GOOD_BIND, size="1M")],
                [{"type": "tmpfs", "target": "/s", "source": "www"}], [{"source": "www"}],
                [{"source": "www", "target": "rel"}], [{"source": "www", "target": "/"}],
                [{"source": "www", "target": "//./"}], [{"source": "www", "target": "/a/../b"}],
                [{"source": "www", "target": "/a/...b"}], [dict(GOOD_BIND, readonly="yes")],
                [{"type": "overlay", "target": "/s"}], [dict(GOOD_BIND, extra=1)], [{"type": "tmpfs", "target": "/s"}]],
    "volumes[].size": ["64M", 0, "0K", "1.5G", 4096, "1k", "12X", "1GiB", "-1"],
    "volumes[].mode": ["1777", "0700", "755", "0000", "07777", "17777", "8", "0x1ff", "", 511, "00755", "rwx"],

    "network.mode": ["none", "host", "nat", "wifi", "NAT"],
    "network.interface": ["eth1", "lo", "all", "default", "a/b", "a:b", "a b", "x" * 15, "x" * 16, ".", "..", "e\tx"],
    "network.address": ["10.88.5.6/30", "10.88.5.6", "300.1.1.1/24", "10.88.5.6/33", "10.88.5.6/030",
                        "01.2.3.4/24", "10.88.5.6/", "10.88.5.6/3a", "fd88::2/64"],
    "network.gateway": ["10.88.5.5", "10.88.5.300", "fd88::1", "10.88.5"],
    "network.ipv6": [{"address": "fd88:0:0:5::2/64"}, {"address": "fd88:0:0:5::2/64", "gateway": "fd88:0:0:5::1"},
                     {"gateway": "fd88::1"}, {"address": "fd88::2"}, {"address": "fd88:::2/64"},
                     {"address": "fd88:0:0:5::2/129"}, {"address": "10.1.1.1/24"}, {"address": "fd88:0:0:5::2/64", "x": 1},
                     {"address": "fd88:0:0:5:0:0:0:2/64"}, {"address": "fd88:0:0:5::2/064"}, "yes"],
    "network.ipv6.gateway": ["fd88:0:0:5::1", "fd88::zz", "10.0.0.1", "fd88:0:0:5::1/64"],
    "network.ports": [[GOOD_PORT], [{"host": 8080, "container": 80, "protocol": "udp"}], [{"host": 0}],
                      [{"host": 65536}], [{"container": 80}], [{"host": 80, "protocol": "sctp"}],
                      [{"host": "80"}], [{"host": 80, "container": 0}], [{"host": 80, "extra": True}]],
    "network.dns": ["host", ["192.0.2.53"], ["2001:db8::1"], ["x"], "8.8.8.8", ["192.0.2.53", 5], "HOST"],
    "time.boottime": ["reset", 100, -5, "now", 2**40],
    "time.monotonic": [10, -10, 2**40],
    "user.map": ["root", [GOOD_MAP], [{"inside": 0, "outside": 100000}], [dict(GOOD_MAP, count=0)],
                 [dict(GOOD_MAP, inside=-1)], [dict(GOOD_MAP, outside=2**32)], [dict(GOOD_MAP, extra=1)], "x"],
    "limits.memory": ["256M", 268435456, 0, "0", "1.5G", "-1", "256X", "8G", 2**40],
    "limits.cpus": [1.5, 0.01, 0.009, 0, -1, 0.0],
    "limits.pids": [100, 0, -1, 4194304, 4194305, 2**40],
    "security.capabilities.add": [["NET_ADMIN"], ["cap_net_admin"], ["ALL"], ["all"], ["BOGUS"],
                                  ["NET_ADMIN", "NET_ADMIN"], ["CAP_SYS_ADMIN", "kill"], ["CAP_"], ["NET ADMIN"]],
    "security.capabilities.drop": [["ALL"], ["MKNOD"], ["Cap_Chown"], ["NOPE"]],
    "security.seccomp": ["default", "unconfined", "strict", "Default"],
    "security.no_new_privileges": ["no"],
}

# (label, written config, compare with: "check", "config" (parse level) or None (not expressible))
CROSS = [
    ("a bind volume with a mode", {"volumes": [dict(GOOD_BIND, mode="0700")]}, "check"),
    ("time offset without the time namespace", {"time": {"monotonic": 5}}, "check"),
    ("time reset without the time namespace", {"time": {"boottime": "reset"}}, "check"),
    ("an explicit default time without the time namespace", {"time": {"monotonic": 0}}, None),
    ("user.map without the user namespace", {"user": {"map": "root"}}, "check"),
    ("an empty user group without the user namespace", {"user": {}}, None),
    ("the user namespace with a map", {"namespaces": ["mount", "pid", "user"], "user": {"map": "root"}}, "check"),
    ("the user namespace without the pid namespace", {"namespaces": ["mount", "user"]}, "check"),
    ("none without the net namespace", {"namespaces": ["mount", "uts"], "network": {"mode": "none"}}, "check"),
    ("no net namespace and no mode: the host's network", {"namespaces": ["mount", "uts"]}, "check"),
    ("host with an explicit net namespace", {"namespaces": ["mount", "net"], "network": {"mode": "host"}}, "check"),
    ("host with the default namespaces", {"network": {"mode": "host"}}, "check"),
    ("host with explicit namespaces without net", {"namespaces": ["mount"], "network": {"mode": "host"}}, "check"),
    ("nat without the net namespace", {"namespaces": ["mount"], "network": {"mode": "nat"}}, "check"),
    ("an address without nat", {"network": {"address": "10.88.5.6/30"}}, "check"),
    ("ports in host mode", {"network": {"mode": "host", "ports": [GOOD_PORT]}}, "check"),
    ("ipv6 in none mode", {"network": {"ipv6": True}}, "check"),
    ("an explicit default interface in none mode", {"network": {"interface": "eth0"}}, None),
    ("a non-default interface in none mode", {"network": {"interface": "eth1"}}, "check"),
    ("servers with host networking", {"network": {"mode": "host", "dns": ["192.0.2.53"]}}, "check"),
    ("explicit dns host with host networking", {"network": {"mode": "host", "dns": "host"}}, None),
    ("nat: a gateway without an address", {"network": {"mode": "nat", "gateway": "10.88.5.5"}}, "check"),
    ("nat: a bridge", {"network": {"mode": "nat", "bridge": "br0"}}, "check"),
    ("nat: ipv6 with its own address", {"network": {"mode": "nat", "ipv6": {"address": "fd88:0:0:9::2/64"}}},
     "check"),
    ("bridge without a bridge", {"network": {"mode": "bridge"}}, "check"),
    ("bridge with ports", {"network": {"mode": "bridge", "bridge": "dcbr0", "ports": [GOOD_PORT]}}, "check"),
    ("bridge with an address and gateway", {"network": {"mode": "bridge", "bridge": "dcbr0", "address": "10.2.3.4/24",
                                                        "gateway": "10.2.3.1"}}, "check"),
    ("bridge with a gateway, no address", {"network": {"mode": "bridge", "bridge": "dcbr0",
                                                       "gateway": "10.2.3.1"}}, "check"),
    ("bridge with a bridge", {"network": {"mode": "bridge", "bridge": "dcbr0"}}, "check"),
    ("hostname without the uts namespace", {"namespaces": ["mount"], "hostname": "h"}, None),
    ("no mount namespace", {"namespaces": ["uts", "net"]}, "check"),
    ("both path and tarball", {"rootfs": {"path": "rootfs", "tarball": "x.tar"}}, "config"),
    ("no rootfs source", {"rootfs": {"writable": "tmpfs"}}, "check"),
    ("no rootfs at all", {"process": {"args": ["/bin/sh"]}}, "check"),
    ("a tag without an image", {"rootfs": {"path": "rootfs", "tag": "x:1"}}, "config"),
    ("direct with a tarball", {"rootfs": {"tarball": "x.tar", "writable": "direct"}}, "config"),
    ("a tarball", {"rootfs": {"tarball": "x.tar"}}, "config"),
    ("an image with a tag", {"rootfs": {"image": "x.tar", "tag": "busybox:latest"}}, "config"),
    ("idmap with a tarball", {"rootfs": {"tarball": "x.tar", "idmap": False}}, "config"),
    ("an idmapped volume with a user namespace", {"namespaces": ["mount", "pid", "user"],
                                                  "volumes": [dict(GOOD_BIND, idmap=True)]}, "check"),
    ("idmap on a tmpfs volume", {"volumes": [{"type": "tmpfs", "target": "/s", "idmap": True}]}, "check"),
    ("idmap false on a tmpfs volume", {"volumes": [{"type": "tmpfs", "target": "/s", "idmap": False}]}, "check"),
    ("idmap true with a user namespace", {"rootfs": {"path": "rootfs", "idmap": True},
                                          "namespaces": ["mount", "pid", "user"], "user": {"map": [GOOD_MAP]}},
     "check"),
    ("idmap auto without a user namespace", {"rootfs": {"path": "rootfs", "idmap": "auto"}}, "check"),
    ("unknown top-level key", {"nmae": "x"}, "check"),
    ("unknown key in a group", {"rootfs": {"path": "rootfs", "pth": "x"}}, "check"),
    ("unknown key in network", {"network": {"foo": 1}}, "check"),
    ("a group where a string goes", {"name": {"x": 1}}, "check"),
    ("duplicate env names", {"process": {"env": ["A=1", "A=2"]}}, None),
    ("duplicate volume targets", {"volumes": [GOOD_BIND, dict(GOOD_BIND)]}, None),
    ("duplicate forwarded ports", {"network": {"mode": "nat", "ports": [GOOD_PORT, GOOD_PORT]}}, None),
    ("duplicate capabilities by canonical name",
     {"security": {"capabilities": {"add": ["NET_ADMIN", "CAP_NET_ADMIN"]}}}, None),
    ("overlapping user.map ranges", {"namespaces": ["mount", "pid", "user"],
                                     "user": {"map": [GOOD_MAP, dict(GOOD_MAP, outside=200000)]}}, None),
    ("a numeric uid of 2^32-1 as a string", {"process": {"user": "4294967295"}}, None),
    ("a map past 2^32", {"namespaces": ["mount", "pid", "user"],
                         "user": {"map": [{"inside": 4294967295, "outside": 0, "count": 2}]}}, None),
    ("an empty dns list", {"network": {"mode": "nat", "dns": []}}, None),
]


def _set(d, key, value):
    """Set dotted KEY (list element keys "volumes[].x" go into a valid element)."""
    if "[]." in key:
        lst, field = key.split("[].", 1)
        elem = {"volumes": dict(GOOD_BIND), "network.ports": dict(GOOD_PORT), "user.map": dict(GOOD_MAP)}[lst]
        if lst == "volumes" and field in ("size", "mode"):
            elem = {"type": "tmpfs", "target": "/s"}
        elem[field] = value
        _set(d, lst, [elem])
        return
    parts = key.split(".")
    node = d
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = value


def _cases(table):
    cases = []
    for k in table:
        name = k["name"]
        if k["type"] == "group":
            continue
        values = list(SAMPLES) + DOMAIN.get(name, [])
        for v in values:
            d = json.loads(json.dumps(BASE))
            for prefix, ctx in CONTEXT:
                if name.startswith(prefix):
                    for ck, cv in ctx.items():
                        d[ck] = json.loads(json.dumps(cv))
                    break
            if name in ("rootfs.tarball", "rootfs.image"):
                d["rootfs"] = {}
            if name == "rootfs.tag":
                d["rootfs"] = {"image": "x.tar"}
            _set(d, name, v)
            cases.append(("%s = %s" % (name, json.dumps(v)), d, "config" if name in HOSTY else "check"))
    cases += [(label, dict(BASE, **{k: v for k, v in c.items()}) if "rootfs" not in c and "process" not in c
               else c, mode) for label, c, mode in CROSS]
    return cases


def test_generated_configs_c_and_schema_agree(t):
    _fixture(t)
    table = keys_table(t)
    cases = _cases(table)
    paths = []
    for i, (label, d, _) in enumerate(cases):
        p = os.path.join(t.tmp, "g%04d.conf" % i)
        with open(p, "w") as f:
            f.write("# %s\n%s" % (label.replace("\n", " "), libconf.dumps(d)))
        paths.append(p)
    # bridge mode checks that the bridge exists: one for the cases that name it
    t.run(["ip", "link", "add", "dcbr0", "type", "bridge"])
    t.defer(t.run, ["ip", "link", "del", "dcbr0"], check=False)
    r = subprocess.run([t.diyctl_bin, "check", "--json", "--separate"] + paths, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    checked = json.loads(r.stdout)
    t.eq(len(checked), len(cases), "check --json reports every file")
    schema_res = validate(t, [d for _, d, _ in cases])
    compared, skipped, disagree = 0, 0, []
    accepted = rejected = 0
    for (label, d, mode), p, c, s in zip(cases, paths, checked, schema_res):
        if mode is None:
            skipped += 1
            continue
        c_ok = c["ok"]
        why = (c["error"] or "").replace(t.tmp + "/", "")
        if mode == "config" or (not c_ok and "not supported" in (why or "")):
            r = subprocess.run([t.diyctl_bin, "config", "--json", p], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            c_ok, why = r.returncode == 0, r.stderr.strip().replace(t.tmp + "/", "")
        compared += 1
        accepted += c_ok
        rejected += not c_ok
        if c_ok != s["ok"]:
            disagree.append("%s\n      C: %s\n      schema: %s" % (
                label, "accepts" if c_ok else "rejects (%s)" % why,
                "accepts" if s["ok"] else "rejects (%s)" % "; ".join(s["errors"])))
    t.log("%d generated configs: %d compared (%d accepted, %d rejected by C), %d not expressible"
          % (len(cases), compared, accepted, rejected, skipped))
    t.ok(compared >= 500 and accepted >= 100 and rejected >= 300,
         "a substantial set on both sides (%d/%d/%d)" % (compared, accepted, rejected))
    if disagree:
        t.fail("the C validator and the schema disagree on %d of %d configs:" % (len(disagree), compared),
               *["  - " + x for x in disagree[:60]])
