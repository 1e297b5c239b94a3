/* Unit tests of the config module: every key, defaults, paths, includes,
 * --set overrides, JSON output and a table of bad configs with the exact
 * error each must produce. Runs in a private temporary directory. */
#include "diyctl/config.h"

#include <errno.h>
#include <signal.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static char tmpdir[PATH_MAX / 2];

/* Write TEXT to tmpdir/REL, creating directories. */
static void put(const char *rel, const char *text)
{
        _cleanup_free_ char *path = dc_xasprintf("%s/%s", tmpdir, rel);
        char *slash = strrchr(path, '/');
        *slash = 0;
        if (dc_mkdir_p(path, 0755) < 0) {
                perror(path);
                exit(2);
        }
        *slash = '/';
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                perror(path);
                exit(2);
        }
}

static char *tmp(const char *rel)
{
        return dc_xasprintf("%s/%s", tmpdir, rel);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static bool startswith(const char *s, const char *prefix)
{
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- a tiny JSON checker, enough to say "this is one valid JSON value" -- */

static const char *js_ws(const char *p)
{
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
                p++;
        return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
        if (*p++ != '"')
                return NULL;
        while (*p && *p != '"') {
                if ((unsigned char)*p < 0x20)
                        return NULL;
                if (*p == '\\') {
                        p++;
                        if (*p == 'u') {
                                for (int i = 1; i <= 4; i++)
                                        if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                                                return NULL;
                                p += 4;
                        } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                                return NULL;
                        }
                }
                p++;
        }
        return *p == '"' ? p + 1 : NULL;
}

static const char *js_value(const char *p, int depth)
{
        if (depth > 32)
                return NULL;
        p = js_ws(p);
        if (*p == '{' || *p == '[') {
                char close = *p == '{' ? '}' : ']';
                p = js_ws(p + 1);
                if (*p == close)
                        return p + 1;
                for (;;) {
                        if (close == '}') {
                                p = js_string(js_ws(p));
                                if (!p)
                                        return NULL;
                                p = js_ws(p);
                                if (*p++ != ':')
                                        return NULL;
                        }
                        p = js_value(p, depth + 1);
                        if (!p)
                                return NULL;
                        p = js_ws(p);
                        if (*p == close)
                                return p + 1;
                        if (*p++ != ',')
                                return NULL;
                }
        }
        if (*p == '"')
                return js_string(p);
        if (strncmp(p, "true", 4) == 0)
                return p + 4;
        if (strncmp(p, "false", 5) == 0)
                return p + 5;
        if (strncmp(p, "null", 4) == 0)
                return p + 4;
        char *end;
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
                strtod(p, &end);
                return end > p ? end : NULL;
        }
        return NULL;
}

static bool json_valid(const char *s)
{
        const char *p = js_value(s, 0);
        return p && *js_ws(p) == 0;
}

static char *to_json(const struct dc_config *c)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                exit(2);
        dc_config_print_json(c, f);
        fclose(f);
        return buf;
}

/* ---- loading helpers -------------------------------------------------- */

static int load(const char *file, const char *const *sets, size_t n_sets, struct dc_config **c,
                struct dc_error *err)
{
        struct dc_config_opts opts = { .sets = sets, .n_sets = n_sets };
        dc_err_clear(err);
        return dc_config_load(file, &opts, c, err);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_key_table(void)
{
        bool docs = true, unique = true, defs = true, types = true;
        for (size_t i = 0; i < dc_n_keys; i++) {
                const struct dc_key *k = &dc_keys[i];
                if (!k->doc || !*k->doc)
                        docs = false;
                if (k->def && !json_valid(k->def)) {
                        printf("# bad default for %s: %s\n", k->name, k->def);
                        defs = false;
                }
                if (dc_key_index(k->name) != (int)i)
                        unique = false;
                if (k->type > DC_KT_MIXED)
                        types = false;
        }
        CHECK(dc_n_keys >= 45, "the key table has all keys (%zu)", dc_n_keys);
        CHECK(docs, "every key has documentation");
        CHECK(unique, "key names are unique and dc_key_index finds each");
        CHECK(defs, "every default is valid JSON");
        CHECK(types, "every key has a known type");
        CHECK(dc_key_index("nosuch") == -1, "dc_key_index of an unknown key is -1");
        CHECK(dc_key_index(NULL) == -1, "dc_key_index(NULL) is -1");
        int i = dc_key_index("network.address");
        CHECK(i >= 0 && dc_keys[i].type == DC_KT_STRING, "network.address is a string key");
        i = dc_key_index("volumes[].source");
        CHECK(i >= 0 && dc_keys[i].type == DC_KT_STRING, "list element keys are named volumes[].source");
        i = dc_key_index("namespaces");
        CHECK(i >= 0 && dc_streq(dc_keys[i].def, "[\"mount\",\"uts\",\"ipc\",\"pid\",\"net\",\"cgroup\"]"),
              "namespaces default is documented");

        bool ns = true;
        unsigned all = 0;
        for (unsigned bit = 1; bit <= DC_NS_TIME; bit <<= 1) {
                const char *n = dc_ns_name(bit);
                if (!n || dc_ns_from_name(n) != bit)
                        ns = false;
                all |= bit;
        }
        CHECK(ns && all == 0xff, "dc_ns_name and dc_ns_from_name round-trip for all 8 namespaces");
        CHECK(dc_ns_name(0) == NULL && dc_ns_name(3) == NULL, "dc_ns_name of a non-bit is NULL");
        CHECK(dc_ns_from_name("network") == 0 && dc_ns_from_name(NULL) == 0, "unknown namespace names give 0");
        CHECK_STREQ(dc_ns_name(DC_NS_NET), "net", "DC_NS_NET is \"net\"");
}

/* Every key of the table reaches a handler: setting it to an integer gives
 * either success or an error that names the key (never "unknown key" or an
 * internal error). */
static void test_every_key_has_a_handler(void)
{
        put("handler.conf", "rootfs = { path = \"r\"; };\n");
        bool ok = true;
        size_t tried = 0;
        for (size_t i = 0; i < dc_n_keys; i++) {
                const char *k = dc_keys[i].name;
                if (strchr(k, '['))
                        continue;
                _cleanup_free_ char *set = dc_xasprintf("%s=12345", k);
                const char *sets[] = { set };
                _cleanup_config_ struct dc_config *c = NULL;
                struct dc_error err;
                int r = load("handler.conf", sets, 1, &c, &err);
                tried++;
                if (r < 0 && (strstr(err.msg, "unknown key") || strstr(err.msg, "internal") ||
                              !strstr(err.msg, k))) {
                        printf("# %s: %s\n", k, err.msg);
                        ok = false;
                }
        }
        CHECK(ok && tried > 30, "every settable key reaches its handler (%zu keys)", tried);

        put("handler2.conf", "rootfs = { path = \"r\"; };\n"
                             "volumes = ( { type = \"tmpfs\"; target = \"/t\"; readonly = true; size = 5; mode = \"0700\"; },\n"
                             "            { source = \"s\"; target = \"/u\"; idmap = false; } );\n"
                             "network = { ipv6 = { address = \"fd88::2/64\"; gateway = \"fd88::1\"; };\n"
                             "  ports = ( { host = 1; container = 2; protocol = \"udp\"; } ); };\n"
                             "user = { map = ( { inside = 0; outside = 1; count = 2; } ); };\n");
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("handler2.conf", NULL, 0, &c, &err);
        bool all = r == 0;
        for (size_t i = 0; all && i < dc_n_keys; i++)
                if (strchr(dc_keys[i].name, '[') && !dc_config_present(c, dc_keys[i].name)) {
                        printf("# not present: %s\n", dc_keys[i].name);
                        all = false;
                }
        CHECK(all, "every list element key parses and is marked present%s%s", r ? ": " : "", r ? err.msg : "");
}

static const char full_conf[] =
        "# every key\n"                                                          /* 1 */
        "name = \"web\";\n"                                                      /* 2 */
        "hostname = \"web-1.example\";\n"                                        /* 3 */
        "rootfs = {\n"                                                           /* 4 */
        "  image = \"images/busybox.tar\";\n"                                    /* 5 */
        "  tag = \"busybox:latest\";\n"                                          /* 6 */
        "  writable = \"state/upper\";\n"                                        /* 7 */
        "};\n"                                                                   /* 8 */
        "namespaces = [ \"mount\", \"pid\", \"net\", \"user\", \"time\" ]; sysctls = [ \"net.core.somaxconn=1024\" ];\n" /* 9 */
        "process = {\n"                                                          /* 10 */
        "  args = [ \"/bin/httpd\", \"-f\", \"-p\", \"80\" ];\n"                 /* 11 */
        "  env = [ \"PATH=/bin\", \"A=b=c\", \"EMPTY=\" ];\n"                    /* 12 */
        "  cwd = \"/www\";\n"                                                    /* 13 */
        "  user = \"1000:100\";\n"                                               /* 14 */
        "  terminal = false;\n"                                                  /* 15 */
        "  init = true; stop_signal = \"SIGQUIT\"; rlimits = { nofile = \"1024:4096\"; core = 0; stack = \"unlimited\"; };\n" /* 16 */
        "};\n"                                                                   /* 17 */
        "volumes = (\n"                                                          /* 18 */
        "  { source = \"www\"; target = \"/www\"; readonly = true; },\n"         /* 19 */
        "  { type = \"tmpfs\"; target = \"/scratch\"; size = \"64M\"; },\n"      /* 20 */
        "  { type = \"bind\"; source = \"/abs/./x/../data/\"; target = \"/d\"; }\n" /* 21 */
        ");\n"                                                                   /* 22 */
        "network = {\n"                                                          /* 23 */
        "  mode = \"bridge\";\n"                                                 /* 24 */
        "  interface = \"veth-in\";\n"                                           /* 25 */
        "  address = \"10.2.3.4/24\";\n"                                         /* 26 */
        "  bridge = \"br0\";\n"                                                  /* 27 */
        "  gateway = \"10.2.3.1\";\n"                                            /* 28 */
        "  ipv6 = { address = \"fd88::2/64\"; gateway = \"fd88::1\"; };\n"       /* 29 */
        "  ports = ( { host = 8080; container = 80; },\n"                        /* 30 */
        "            { host = 5353; protocol = \"udp\"; } );\n"                  /* 31 */
        "  dns = [ \"192.0.2.53\", \"2001:db8::53\" ];\n"                        /* 32 */
        "};\n"                                                                   /* 33 */
        "time = { boottime = -3600; monotonic = 86400; };\n"                     /* 34 */
        "user = { map = ( { inside = 0; outside = 100000; count = 65536; },\n"   /* 35 */
        "                 { inside = 65536; outside = 0; count = 1; } ); };\n"   /* 36 */
        "limits = { memory = \"256M\"; cpus = 1.5; pids = 256; };\n";            /* 37 */

static void test_every_key(void)
{
        put("full.conf", full_conf);
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("full.conf", NULL, 0, &c, &err);
        CHECK(r == 0 && c, "the full example loads%s%s", r ? ": " : "", r ? err.msg : "");
        if (!c)
                return;
        _cleanup_free_ char *image = tmp("images/busybox.tar");
        _cleanup_free_ char *upper = tmp("state/upper");
        _cleanup_free_ char *www = tmp("www");

        CHECK_STREQ(c->file, "full.conf", "file is the name as given");
        CHECK_STREQ(c->dir, tmpdir, "dir is the absolute directory of the file");
        CHECK_STREQ(c->name, "web", "name");
        CHECK_STREQ(c->hostname, "web-1.example", "hostname");
        CHECK(c->rootfs.path == NULL && c->rootfs.tarball == NULL, "rootfs.path and tarball unset");
        CHECK_STREQ(c->rootfs.image, image, "rootfs.image resolved against the file's directory");
        CHECK_STREQ(c->rootfs.tag, "busybox:latest", "rootfs.tag");
        CHECK(c->rootfs.writable == DC_WRITABLE_DIR, "rootfs.writable with a path is DC_WRITABLE_DIR");
        CHECK_STREQ(c->rootfs.writable_dir, upper, "rootfs.writable directory resolved");
        CHECK(c->namespaces == (DC_NS_MOUNT | DC_NS_PID | DC_NS_NET | DC_NS_USER | DC_NS_TIME), "namespaces");

        CHECK(c->process.args_set && c->process.args.n == 4, "process.args has 4 elements");
        CHECK(c->process.args.n == 4 && c->process.args.v[4] == NULL, "process.args is NULL-terminated");
        CHECK_STREQ(c->process.args.n == 4 ? c->process.args.v[3] : NULL, "80", "process.args[3]");
        CHECK(c->process.env_set && c->process.env.n == 3, "process.env has 3 elements");
        CHECK_STREQ(c->process.env.n == 3 ? c->process.env.v[1] : NULL, "A=b=c", "env value may contain '='");
        CHECK_STREQ(c->process.env.n == 3 ? c->process.env.v[2] : NULL, "EMPTY=", "env value may be empty");
        CHECK_STREQ(c->process.cwd, "/www", "process.cwd");
        CHECK_STREQ(c->process.user, "1000:100", "process.user");
        CHECK(c->process.terminal == DC_TERM_NO, "process.terminal = false is DC_TERM_NO");
        CHECK(c->process.init, "process.init");
        CHECK(c->process.stop_signal == SIGQUIT, "process.stop_signal");
        CHECK(c->n_devices == 0, "no devices");
        CHECK(c->sysctls.n == 1 && dc_streq(c->sysctls.v[0], "net.core.somaxconn=1024") &&
                      c->sysctl_origins[0].line == 9,
              "sysctls, with the line of each");
        int nofile = dc_rlimit_index("nofile"), core = dc_rlimit_index("core"), stack = dc_rlimit_index("stack");
        CHECK(nofile >= 0 && core >= 0 && stack >= 0 && c->process.rlimit_set[nofile] &&
                      c->process.rlimits[nofile].rlim_cur == 1024 && c->process.rlimits[nofile].rlim_max == 4096 &&
                      c->process.rlimit_set[core] && c->process.rlimits[core].rlim_max == 0 &&
                      c->process.rlimits[stack].rlim_cur == RLIM_INFINITY &&
                      c->process.rlimits[stack].rlim_max == RLIM_INFINITY && !c->process.rlimit_set[dc_rlimit_index("as")],
              "process.rlimits: SOFT:HARD, an integer, unlimited; the others unset");
        const struct dc_origin *ro = dc_config_origin(c, "process.rlimits.nofile");
        CHECK(ro && ro->line == 16, "process.rlimits.nofile: its line (%d)", ro ? ro->line : -1);

        CHECK(c->n_volumes == 3, "three volumes");
        if (c->n_volumes == 3) {
                const struct dc_volume *v = c->volumes;
                CHECK(v[0].type == DC_VOL_BIND && v[0].readonly, "volume 0 is a read-only bind mount");
                CHECK_STREQ(v[0].source, www, "volume 0 source resolved against the file's directory");
                CHECK_STREQ(v[0].target, "/www", "volume 0 target");
                CHECK(v[0].origin.line == 19 && v[0].o_source.line == 19 && v[0].o_target.line == 19,
                      "volume 0 origins are line 19");
                CHECK_STREQ(v[0].origin.file, "full.conf", "volume 0 origin file");
                CHECK(v[1].type == DC_VOL_TMPFS && v[1].size == 64ull << 20 && !v[1].readonly && !v[1].source,
                      "volume 1 is a 64M tmpfs without source");
                CHECK_STREQ(v[2].source, "/abs/data", "absolute sources are normalised lexically");
                CHECK(v[2].origin.line == 21, "volume 2 origin is line 21");
        }

        CHECK(c->network.mode == DC_NET_BRIDGE, "network.mode");
        CHECK_STREQ(c->network.interface, "veth-in", "network.interface");
        CHECK_STREQ(c->network.address, "10.2.3.4/24", "network.address");
        CHECK_STREQ(c->network.bridge, "br0", "network.bridge");
        CHECK_STREQ(c->network.gateway, "10.2.3.1", "network.gateway");
        CHECK(c->network.ipv6, "network.ipv6 group form sets ipv6");
        CHECK_STREQ(c->network.ipv6_address, "fd88::2/64", "network.ipv6.address");
        CHECK_STREQ(c->network.ipv6_gateway, "fd88::1", "network.ipv6.gateway");
        CHECK(c->network.n_ports == 2, "two ports");
        if (c->network.n_ports == 2) {
                const struct dc_port *p = c->network.ports;
                CHECK(p[0].host == 8080 && p[0].container == 80 && p[0].proto == DC_PROTO_TCP,
                      "port 0 is 8080->80/tcp");
                CHECK(p[1].host == 5353 && p[1].container == 5353 && p[1].proto == DC_PROTO_UDP,
                      "port 1 container defaults to host, udp");
                CHECK(p[0].origin.line == 30 && p[1].origin.line == 31, "port origins");
        }
        CHECK(!c->network.dns_host && c->network.dns.n == 2, "explicit dns servers");
        CHECK_STREQ(c->network.dns.n == 2 ? c->network.dns.v[1] : NULL, "2001:db8::53", "IPv6 dns server");

        CHECK(!c->time.boottime_reset && c->time.boottime == -3600, "time.boottime offset");
        CHECK(c->time.monotonic == 86400, "time.monotonic");
        CHECK(c->user.map == DC_USERMAP_EXPLICIT && c->user.n_maps == 2, "explicit user map with 2 ranges");
        if (c->user.n_maps == 2)
                CHECK(c->user.maps[0].inside == 0 && c->user.maps[0].outside == 100000 &&
                              c->user.maps[0].count == 65536 && c->user.maps[1].inside == 65536 &&
                              c->user.maps[1].outside == 0 && c->user.maps[1].count == 1,
                      "user map ranges");
        CHECK(c->limits.memory == 256ull << 20, "limits.memory");
        CHECK(c->limits.cpus == 1.5, "limits.cpus");
        CHECK(c->limits.pids == 256, "limits.pids");

        CHECK(dc_config_present(c, "network.address") && dc_config_present(c, "network"),
              "present flags for keys and groups");
        CHECK(!dc_config_present(c, "rootfs.path") && !dc_config_present(c, "nosuch"),
              "not present: unset and unknown keys");
        const struct dc_origin *o = dc_config_origin(c, "network.address");
        CHECK(o->line == 26 && dc_streq(o->file, "full.conf"), "origin of network.address is full.conf:26");
        o = dc_config_origin(c, "network");
        CHECK(o->line == 23, "origin of a group is its line");
        o = dc_config_origin(c, "limits.pids");
        CHECK(o->line == 37, "origin of limits.pids");
        o = dc_config_origin(c, "volumes[].size");
        CHECK(o->line == 20, "origin of a list element key is its first use");
        o = dc_config_origin(c, "rootfs.path");
        CHECK(o->line == 0 && dc_streq(o->file, "full.conf"), "origin of an unset key is the top file, line 0");
        o = dc_config_origin(c, "nosuch");
        CHECK(o->line == 0 && dc_streq(o->file, "full.conf"), "origin of an unknown key is the top file");

        _cleanup_free_ char *json = to_json(c);
        CHECK(json_valid(json), "print_json output is valid JSON");
        CHECK(strstr(json, "\"name\": \"web\"") != NULL, "JSON has the name");
        CHECK(strstr(json, "\"writable\": \"") && strstr(json, "/state/upper\""), "JSON has the writable dir");
        CHECK(strstr(json, "\"namespaces\": [\"mount\", \"pid\", \"net\", \"user\", \"time\"]") != NULL,
              "JSON namespaces");
        CHECK(strstr(json, "\"terminal\": false") && strstr(json, "\"init\": true"), "JSON process flags");
        CHECK(strstr(json, "\"size\": 67108864") != NULL, "JSON volume size in bytes");
        CHECK(strstr(json, "\"ipv6\": { \"address\": \"fd88::2/64\", \"gateway\": \"fd88::1\" }") != NULL,
              "JSON ipv6 group");
        CHECK(strstr(json, "{ \"host\": 5353, \"container\": 5353, \"protocol\": \"udp\" }") != NULL,
              "JSON ports");
        CHECK(strstr(json, "\"dns\": [\"192.0.2.53\", \"2001:db8::53\"]") != NULL, "JSON dns");
        CHECK(strstr(json, "\"boottime\": -3600") && strstr(json, "\"monotonic\": 86400"), "JSON time");
        CHECK(strstr(json, "{ \"inside\": 65536, \"outside\": 0, \"count\": 1 }") != NULL, "JSON user map");
        CHECK(strstr(json, "\"memory\": 268435456") && strstr(json, "\"cpus\": 1.5") &&
                      strstr(json, "\"pids\": 256"),
              "JSON limits");
}

static void test_defaults(void)
{
        put("mini.conf", "rootfs = { path = \"root\"; };\n");
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("mini.conf", NULL, 0, &c, &err);
        CHECK(r == 0 && c, "a minimal config loads%s%s", r ? ": " : "", r ? err.msg : "");
        if (!c)
                return;
        _cleanup_free_ char *root = tmp("root");
        CHECK_STREQ(c->name, "mini", "name defaults to the file name without .conf");
        CHECK_STREQ(c->hostname, "mini", "hostname defaults to the name");
        CHECK_STREQ(c->rootfs.path, root, "rootfs.path resolved");
        CHECK(c->rootfs.writable == DC_WRITABLE_DEFAULT && !c->rootfs.writable_dir,
              "rootfs.writable is left DEFAULT for the planner");
        CHECK(c->namespaces == DC_NS_DEFAULT, "namespaces default");
        CHECK(!c->process.args_set && c->process.args.n == 0, "process.args unset");
        CHECK(!c->process.env_set && c->process.env.n == 0, "process.env unset");
        CHECK(!c->process.cwd && !c->process.user, "process.cwd and user unset (NULL)");
        CHECK(c->process.terminal == DC_TERM_AUTO && !c->process.init, "terminal auto, no init");
        CHECK(c->process.stop_signal == 0, "stop_signal unset (the image's, else SIGTERM)");
        CHECK(!c->process.log_max_size_set, "log_max_size unset (host.conf's)");
        CHECK(c->n_volumes == 0 && c->volumes == NULL, "no volumes");
        CHECK(c->network.mode == DC_NET_NONE, "network.mode defaults to none");
        CHECK_STREQ(c->network.interface, "eth0", "network.interface defaults to eth0");
        CHECK(!c->network.address && !c->network.bridge && !c->network.gateway, "no addresses");
        CHECK(!c->network.ipv6 && !c->network.ipv6_address, "ipv6 off");
        CHECK(c->network.n_ports == 0, "no ports");
        CHECK(c->network.dns_host && c->network.dns.n == 0, "dns defaults to host");
        CHECK(!c->time.boottime_reset && c->time.boottime == 0 && c->time.monotonic == 0, "no time offsets");
        CHECK(c->user.map == DC_USERMAP_UNSET && c->user.n_maps == 0, "no user map");
        CHECK(c->limits.memory == 0 && c->limits.cpus == 0 && c->limits.pids == 0, "no limits");
        CHECK(dc_config_present(c, "rootfs") && dc_config_present(c, "rootfs.path") &&
                      !dc_config_present(c, "name") && !dc_config_present(c, "namespaces"),
              "present flags of a minimal config");

        _cleanup_free_ char *json = to_json(c);
        CHECK(json_valid(json), "minimal print_json is valid JSON");
        CHECK(c->rootfs.idmap == DC_IDMAP_AUTO && strstr(json, "\"idmap\": \"auto\""), "rootfs.idmap: auto");
        CHECK(strstr(json, "\"writable\": null") && strstr(json, "\"args\": null") &&
                      strstr(json, "\"map\": null") && strstr(json, "\"memory\": null") &&
                      strstr(json, "\"dns\": \"host\"") && strstr(json, "\"terminal\": \"auto\"") &&
                      strstr(json, "\"volumes\": []"),
              "JSON shows null for unset optional values");
        CHECK(strstr(json, "\"namespaces\": [\"mount\", \"uts\", \"ipc\", \"pid\", \"net\", \"cgroup\"]") != NULL,
              "JSON shows default namespaces");

        /* More shapes of the mixed keys. */
        put("shapes.conf", "rootfs = { tarball = \"t.tar.gz\"; writable = \"none\"; };\n"
                           "namespaces = [];\n"
                           "process = { user = 1000; terminal = \"auto\"; env = []; };\n"
                           "network = { mode = \"nat\"; ipv6 = true; dns = \"host\"; ports = (); };\n"
                           "time = { boottime = \"reset\"; };\n"
                           "user = { map = \"auto\"; };\n"
                           "limits = { memory = 5000000000L; cpus = 2; };\n"
                           "volumes = ();\n");
        _cleanup_config_ struct dc_config *s = NULL;
        r = load("shapes.conf", NULL, 0, &s, &err);
        CHECK(r == 0 && s, "other value shapes load%s%s", r ? ": " : "", r ? err.msg : "");
        if (!s)
                return;
        CHECK(s->rootfs.writable == DC_WRITABLE_NONE && s->rootfs.tarball, "tarball with writable none");
        CHECK(s->namespaces == 0 && dc_config_present(s, "namespaces"), "an empty namespaces list is kept as 0");
        CHECK_STREQ(s->process.user, "1000", "an integer process.user is stored as decimal");
        CHECK(s->process.env_set && s->process.env.n == 0 && s->process.env.v && !s->process.env.v[0],
              "an empty env is set, empty and NULL-terminated");
        CHECK(s->network.mode == DC_NET_NAT && s->network.ipv6 && !s->network.ipv6_address, "nat with ipv6 = true");
        CHECK(s->network.dns_host, "dns = \"host\"");
        CHECK(s->time.boottime_reset, "boottime reset");
        CHECK(s->user.map == DC_USERMAP_AUTO, "user.map auto");
        CHECK(s->limits.memory == 5000000000ull, "a 64-bit integer (L suffix) memory");
        CHECK(s->limits.cpus == 2.0, "integer cpus");

        put("t2.conf", "rootfs = { path = \"/\"; writable = \"tmpfs\"; idmap = false; };\n"
                       "process = { terminal = true; user = \"www-data:www\"; };\n"
                       "user = { map = \"root\"; };\n");
        _cleanup_config_ struct dc_config *t = NULL;
        r = load("t2.conf", NULL, 0, &t, &err);
        CHECK(r == 0 && t && t->rootfs.idmap == DC_IDMAP_NO, "rootfs.idmap = false");
        CHECK(r == 0 && t && t->rootfs.writable == DC_WRITABLE_TMPFS && t->process.terminal == DC_TERM_YES &&
                      t->user.map == DC_USERMAP_ROOT && dc_streq(t->process.user, "www-data:www") &&
                      dc_streq(t->rootfs.path, "/"),
              "writable tmpfs, terminal true, map root, named user, rootfs /");
}

static void test_paths_and_includes(void)
{
        /* web.conf includes a fragment from a subdirectory; the fragment's
         * relative paths are relative to its own directory. */
        put("site/common/net.conf", "# shared network settings\n"    /* 1 */
                                    "network = {\n"                   /* 2 */
                                    "  mode = \"nat\";\n"             /* 3 */
                                    "  address = \"10.88.0.6/30\";\n" /* 4 */
                                    "};\n"                            /* 5 */
                                    "volumes = ( { source = \"shared\"; target = \"/shared\"; } );\n"); /* 6 */
        put("site/web.conf", "name = \"web\";\n"                          /* 1 */
                             "@include \"common/net.conf\"\n"             /* 2 */
                             "rootfs = { path = \"../rootfs/./web//\"; };\n" /* 3 */
                             "limits = { pids = 10; };\n");               /* 4 */
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("site/web.conf", NULL, 0, &c, &err);
        CHECK(r == 0 && c, "a config with @include loads%s%s", r ? ": " : "", r ? err.msg : "");
        if (c) {
                _cleanup_free_ char *root = tmp("rootfs/web");
                _cleanup_free_ char *shared = tmp("site/common/shared");
                _cleanup_free_ char *site = tmp("site");
                CHECK_STREQ(c->dir, site, "dir of a file in a subdirectory");
                CHECK_STREQ(c->rootfs.path, root, "relative rootfs path with .. and . normalised");
                CHECK(c->network.mode == DC_NET_NAT, "settings from the fragment are used");
                CHECK_STREQ(c->network.address, "10.88.0.6/30", "address from the fragment");
                const struct dc_origin *o = dc_config_origin(c, "network.address");
                CHECK_STREQ(o->file, "site/common/net.conf", "origin file of a fragment's key");
                CHECK(o->line == 4, "origin line of a fragment's key is its line in the fragment");
                o = dc_config_origin(c, "limits.pids");
                CHECK(o->line == 4 && dc_streq(o->file, "site/web.conf"), "keys after the include keep the top file");
                CHECK(c->n_volumes == 1, "volume from the fragment");
                CHECK_STREQ(c->n_volumes ? c->volumes[0].source : NULL, shared,
                            "a fragment's relative source is relative to the fragment's directory");
                CHECK_STREQ(c->n_volumes ? c->volumes[0].origin.file : NULL, "site/common/net.conf",
                            "volume origin in the fragment");
        }

        /* Absolute file name: origins of fragments are absolute too. */
        _cleanup_free_ char *abs = tmp("site/web.conf");
        _cleanup_config_ struct dc_config *a = NULL;
        r = load(abs, NULL, 0, &a, &err);
        _cleanup_free_ char *absfrag = tmp("site/common/net.conf");
        CHECK(r == 0 && a && dc_streq(dc_config_origin(a, "network.mode")->file, absfrag),
              "with an absolute file name, fragment origins are absolute");
        CHECK(a && dc_streq(a->name, "web"), "absolute file name loads");

        /* An error inside a fragment points at the fragment. */
        put("site/common/bad.conf", "network = {\n  address = \"10.88.0.300/24\";\n};\n");
        put("site/usebad.conf", "rootfs = { path = \"r\"; };\n@include \"common/bad.conf\"\n");
        _cleanup_config_ struct dc_config *b = NULL;
        r = load("site/usebad.conf", NULL, 0, &b, &err);
        CHECK(r < 0 && !b, "a bad fragment fails");
        CHECK_STREQ(err.msg,
                    "site/common/bad.conf:2: network.address: 10.88.0.300/24 is not an IPv4 address with a "
                    "prefix length, like 10.88.0.6/30",
                    "error in a fragment names the fragment and its line");

        /* A syntax error inside a fragment. */
        put("site/common/syn.conf", "x = 1;\ny = ;\n");
        put("site/usesyn.conf", "rootfs = { path = \"r\"; };\n@include \"common/syn.conf\"\n");
        r = load("site/usesyn.conf", NULL, 0, &b, &err);
        CHECK(r < 0 && startswith(err.msg, "site/common/syn.conf:2: syntax error"),
              "syntax error in a fragment: %s", err.msg);

        /* A string where the grammar has none, inside a fragment. */
        put("site/common/str.conf", "x = 1;\nlimits = { pids = 1 \"x\"; };\n");
        put("site/usestr.conf", "rootfs = { path = \"r\"; };\n@include \"common/str.conf\"\n");
        r = load("site/usestr.conf", NULL, 0, &b, &err);
        CHECK(r < 0 && dc_streq(err.msg, "site/common/str.conf:2: syntax error"),
              "misplaced string in a fragment: %s", err.msg);
        put("site/usestr2.conf", "rootfs = ;\n@include \"common/str.conf\"\n");
        r = load("site/usestr2.conf", NULL, 0, &b, &err);
        CHECK(r < 0 && dc_streq(err.msg, "site/usestr2.conf:1: syntax error"),
              "an earlier error in the top file is reported first: %s", err.msg);

        /* An include in the middle of a setting continues its tokens. */
        put("site/common/val.conf", "\"from-fragment\"\n");
        put("site/midval.conf", "rootfs = { path = \"r\"; };\nhostname =\n@include \"common/val.conf\"\n;\n");
        _cleanup_config_ struct dc_config *m = NULL;
        r = load("site/midval.conf", NULL, 0, &m, &err);
        CHECK(r == 0 && m && dc_streq(m->hostname, "from-fragment"), "an include inside a setting%s%s",
              r ? ": " : "", r ? err.msg : "");

        /* Integers too large for libconfig 1.5 inside a fragment. */
        put("site/common/big.conf", "limits = { memory = 5000000000; };\n");
        put("site/usebig.conf", "rootfs = { path = \"r\"; };\n@include \"common/big.conf\"\n");
        r = load("site/usebig.conf", NULL, 0, &b, &err);
        CHECK(r < 0 && startswith(err.msg, "site/common/big.conf:1: limits.memory: 5000000000 does not fit in a 32-bit integer"),
              "a 32-bit overflow in a fragment is found: %s", err.msg);

        /* Nested includes resolve against the top file's directory too. */
        put("site/common/outer.conf", "@include \"common/inner.conf\"\n");
        put("site/common/inner.conf", "limits = { pids = 7; };\n");
        put("site/nested.conf", "rootfs = { path = \"r\"; };\n@include \"common/outer.conf\"\n");
        _cleanup_config_ struct dc_config *n = NULL;
        r = load("site/nested.conf", NULL, 0, &n, &err);
        CHECK(r == 0 && n && n->limits.pids == 7, "nested include relative to the top file's directory%s%s",
              r ? ": " : "", r ? err.msg : "");

        /* What libconfig must not open, or would report at the wrong place. */
        {
                _cleanup_free_ char *adir = tmp("site/common/adir");
                mkdir(adir, 0755);
        }
        static const struct {
                const char *file, *text, *msg;
        } incs[] = {
                { "site/usedir.conf", "rootfs = { path = \"r\"; };\n@include \"common/adir\"\n",
                  "site/usedir.conf:2: @include: common/adir is not a regular file" },
                { "site/self.conf", "rootfs = { path = \"r\"; };\n@include \"self.conf\"\n",
                  "site/self.conf:2: @include: self.conf includes itself (an @include cycle)" },
                { "site/usecyc.conf", "rootfs = { path = \"r\"; };\n@include \"common/cyc.conf\"\n",
                  "site/common/cyc.conf:1: @include: common/cyc.conf includes itself (an @include cycle)" },
                { "site/useopen.conf", "rootfs = { path = \"r\"; };\n@include \"common/open.conf\"\n",
                  "site/common/open.conf:2: syntax error: the '{' opened here is not closed in this file" },
                { "site/usedup.conf", "rootfs = { path = \"r\"; };\n@include \"common/dup.conf\"\n",
                  "site/common/dup.conf:2: hostname: set twice in the same group" },
        };
        put("site/common/cyc.conf", "@include \"common/cyc.conf\"\n");
        put("site/common/open.conf", "# a group left open\nprocess = {\n  cwd = \"/\";\n");
        put("site/common/dup.conf", "hostname = \"a\";\nhostname = \"b\";\n");
        for (size_t i = 0; i < DC_ARRAY_SIZE(incs); i++) {
                put(incs[i].file, incs[i].text);
                _cleanup_config_ struct dc_config *x = NULL;
                r = load(incs[i].file, NULL, 0, &x, &err);
                CHECK(r < 0 && !x && startswith(err.msg, incs[i].msg), "%s: %s", incs[i].msg, r < 0 ? err.msg : "(loaded)");
        }

        /* Past the budget of files read, an @include is still checked. */
        {
                put("site/common/empty.conf", "");
                char *many = dc_xstrdup("rootfs = { path = \"r\"; };\n");
                for (int k = 0; k < 300; k++) {
                        char *more = dc_xasprintf("%s@include \"common/empty.conf\"\n", many);
                        free(many);
                        many = more;
                }
                char *last = dc_xasprintf("%s@include \"common/adir\"\n", many);
                free(many);
                put("site/many.conf", last);
                free(last);
                _cleanup_config_ struct dc_config *x = NULL;
                r = load("site/many.conf", NULL, 0, &x, &err);
                CHECK(r < 0 && startswith(err.msg, "site/many.conf:302: @include: common/adir is not a regular file"),
                      "a directory after 300 includes: %s", r < 0 ? err.msg : "(loaded)");
        }

        /* load_string: includes and paths relative to dirname(file). */
        _cleanup_free_ char *virt = tmp("site/virtual.conf");
        _cleanup_config_ struct dc_config *s = NULL;
        dc_err_clear(&err);
        r = dc_config_load_string("rootfs = { path = \"r\"; };\n@include \"common/net.conf\"\n", virt, NULL, &s,
                                  &err);
        _cleanup_free_ char *sr = tmp("site/r");
        CHECK(r == 0 && s && dc_streq(s->rootfs.path, sr) && s->network.mode == DC_NET_NAT,
              "load_string resolves paths and includes against dirname(file)%s%s", r ? ": " : "",
              r ? err.msg : "");
        CHECK(s && dc_streq(s->name, "virtual"), "load_string names the config after its file");
}

static void test_overrides(void)
{
        put("o/web.conf", "rootfs = { path = \"rootfs\"; };\n"
                          "process = { args = [ \"/bin/sh\" ]; init = false; };\n"
                          "network = { mode = \"nat\"; address = \"10.88.0.6/30\"; ipv6 = true; };\n"
                          "limits = { pids = 10; };\n");
        struct dc_error err;
        {
                const char *sets[] = { "limits.pids=64", "process.init=true", "network.address=10.88.0.5/24",
                                       "hostname=web2", "process.args=[\"/bin/echo\",\"hi\"]",
                                       "limits.cpus=0.5", "limits.memory=1G", "time.boottime=reset",
                                       "process.log_max_size=64K" };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, DC_ARRAY_SIZE(sets), &c, &err);
                CHECK(r == 0 && c, "typed overrides load%s%s", r ? ": " : "", r ? err.msg : "");
                if (c) {
                        CHECK(c->limits.pids == 64, "--set limits.pids=64 is an int");
                        CHECK(c->process.init, "--set process.init=true is a bool");
                        CHECK_STREQ(c->network.address, "10.88.0.5/24", "--set network.address unquoted string");
                        CHECK_STREQ(c->hostname, "web2", "--set hostname=web2 unquoted string");
                        CHECK(c->process.args.n == 2 && dc_streq(c->process.args.v[1], "hi"),
                              "--set process.args=[...] is an array");
                        CHECK(c->limits.cpus == 0.5 && c->limits.memory == 1ull << 30, "--set float and size");
                        CHECK(c->time.boottime_reset, "--set time.boottime=reset");
                        CHECK(c->process.log_max_size_set && c->process.log_max_size == 64 << 10,
                              "--set process.log_max_size=64K");
                        CHECK(c->network.mode == DC_NET_NAT && c->network.ipv6, "other keys of the group stay");
                        const struct dc_origin *o = dc_config_origin(c, "limits.pids");
                        CHECK(dc_streq(o->file, "--set") && o->line == 0, "origin of an override is --set, line 0");
                        o = dc_config_origin(c, "limits");
                        CHECK(dc_streq(o->file, "o/web.conf") && o->line == 4, "the group keeps its file origin");
                        o = dc_config_origin(c, "time");
                        CHECK(dc_streq(o->file, "--set"), "a group created by --set has origin --set");
                }
        }
        {
                /* A group replaces the whole group; later --set wins; quoted strings. */
                const char *sets[] = { "network={ mode = \"bridge\"; bridge = \"br0\"; }", "name=\"one\"",
                                       "name=two" };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, DC_ARRAY_SIZE(sets), &c, &err);
                CHECK(r == 0 && c && c->network.mode == DC_NET_BRIDGE && !c->network.address && !c->network.ipv6 &&
                              dc_streq(c->network.bridge, "br0"),
                      "--set of a group replaces the whole group%s%s", r ? ": " : "", r ? err.msg : "");
                CHECK(c && dc_streq(c->name, "two"), "the last --set of a key wins");
        }
        {
                /* Relative paths in --set are relative to the cwd. */
                if (chdir("o") == 0) {
                        const char *sets[] = { "rootfs.path=other/root", "volumes=({ source = \"v\"; target = \"/v\"; })" };
                        _cleanup_config_ struct dc_config *c = NULL;
                        int r = load("web.conf", sets, DC_ARRAY_SIZE(sets), &c, &err);
                        _cleanup_free_ char *want = tmp("o/other/root");
                        _cleanup_free_ char *wantv = tmp("o/v");
                        CHECK(r == 0 && c && dc_streq(c->rootfs.path, want), "--set relative path is relative to the cwd%s%s",
                              r ? ": " : "", r ? err.msg : "");
                        CHECK(c && c->n_volumes == 1 && dc_streq(c->volumes[0].source, wantv) &&
                                      dc_streq(c->volumes[0].origin.file, "--set"),
                              "--set list of groups");
                        if (chdir(tmpdir) < 0)
                                exit(2);
                }
                if (chdir(tmpdir) < 0)
                        exit(2);
                if (mkdir("elsewhere", 0755) < 0 && errno != EEXIST)
                        exit(2);
                if (chdir("elsewhere") == 0) {
                        const char *sets[] = { "rootfs.tarball=x.tar", "rootfs.path=" };
                        _cleanup_config_ struct dc_config *c = NULL;
                        int r = load("../o/web.conf", sets + 0, 1, &c, &err);
                        CHECK(r < 0 && startswith(err.msg, "../o/web.conf:1: rootfs: rootfs.path and rootfs.tarball are both given"),
                              "--set adds to a group; two rootfs kinds is an error: %s", err.msg);
                        _cleanup_config_ struct dc_config *d = NULL;
                        const char *sets2[] = { "rootfs={ tarball = \"x.tar\"; }" };
                        r = load("../o/web.conf", sets2, 1, &d, &err);
                        _cleanup_free_ char *want = tmp("elsewhere/x.tar");
                        CHECK(r == 0 && d && dc_streq(d->rootfs.tarball, want) && !d->rootfs.path,
                              "--set rootfs={...} replaces the rootfs kind, path relative to the cwd");
                        if (chdir(tmpdir) < 0)
                                exit(2);
                }
        }

        static const struct {
                const char *set;
                const char *msg;
        } bad[] = {
                { "limits.pids=lots", "--set: limits.pids: expected an integer, got \"lots\" (a string)" },
                { "limits.pids=0", "--set: limits.pids: 0 is out of range (1-4194304)" },
                { "process.init=maybe", "--set: process.init: expected a boolean, got \"maybe\" (a string)" },
                { "nosuch=1", "--set: nosuch: unknown key" },
                { "netwrok.mode=nat", "--set: netwrok.mode: unknown key (did you mean \"network.mode\"?)" },
                { "no-equals-sign", "--set: no-equals-sign: expected KEY=VALUE" },
                { "=value", "--set: =value: expected KEY=VALUE" },
                { "volumes[].target=/x", "--set: volumes[].target: cannot be set on its own; set the whole list" },
                { "network.address=10.88.0.5", "--set: network.address: 10.88.0.5 is not an IPv4 address with a prefix length, like 10.88.0.6/30" },
                { "limits.memory=5000000000", "--set: limits.memory: 5000000000 does not fit in a 32-bit integer; libconfig needs an L suffix for larger ones, like 5000000000L, or write a size string like \"5G\"" },
                { "name=Web", "--set: name: Web is not a valid name" },
                { "process.args=[]", "--set: process.args: must not be empty" },
                { "rootfs.path=", "--set: rootfs.path: the path is empty" },
                { "network.mode=1; name=\"x\"", "--set: network.mode: \"1; name=\\\"x\\\"\" is not a network mode" },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
                const char *sets[] = { bad[i].set };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, 1, &c, &err);
                CHECK(r < 0 && !c && startswith(err.msg, bad[i].msg), "--set %s fails: %s", bad[i].set,
                      r < 0 ? err.msg : "(loaded)");
        }
        {
                const char *sets[] = { "limits.memory=5000000000L", "limits.pids=0x400000" };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, 2, &c, &err);
                CHECK(r == 0 && c && c->limits.memory == 5000000000ull && c->limits.pids == 0x400000,
                      "--set 64-bit integer with L suffix%s%s", r ? ": " : "", r ? err.msg : "");
        }
        {
                const char *sets[] = { "hostname=1 \"x\"" };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, 1, &c, &err);
                CHECK(r < 0 && startswith(err.msg, "--set: hostname: \"1 \\\"x\\\"\" is not a valid hostname"),
                      "a --set value that is not a libconfig value is a plain string: %s", err.msg);
        }
        {
                /* "1; name=x" is not one value: it is taken as a string. */
                const char *sets[] = { "hostname=a; name=\"x\"" };
                _cleanup_config_ struct dc_config *c = NULL;
                int r = load("o/web.conf", sets, 1, &c, &err);
                CHECK(r < 0 && startswith(err.msg, "--set: hostname: \"a; name=\\\"x\\\"\" is not a valid hostname"),
                      "a --set value holding several settings is a plain string: %s", err.msg);
        }
}

struct bad {
        const char *file; /* NULL: bad.conf */
        const char *text;
        const char *msg;  /* expected prefix of the error */
};

#define R "rootfs = { path = \"r\"; };\n"

static const struct bad bad_configs[] = {
        /* unknown keys */
        { NULL, R "netwrok = { mode = \"nat\"; };\n", "bad.conf:2: netwrok: unknown key (did you mean \"network\"?)" },
        { NULL, R "zzz = 1;\n", "bad.conf:2: zzz: unknown key" },
        { NULL, R "network = {\n  adress = \"10.0.0.1/24\";\n};\n",
          "bad.conf:3: network.adress: unknown key (did you mean \"address\"?)" },
        { NULL, R "volumes = ( { target = \"/a\"; sorce = \"x\"; } );\n",
          "bad.conf:2: volumes[0].sorce: unknown key (did you mean \"source\"?)" },
        { NULL, R "user = { map = ( { insde = 0; outside = 1; count = 1; } ); };\n",
          "bad.conf:2: user.map[0].insde: unknown key (did you mean \"inside\"?)" },
        { NULL, R "limits = { memroy = \"1G\"; };\n", "bad.conf:2: limits.memroy: unknown key (did you mean \"memory\"?)" },
        { NULL, R "time = {\n boot = 5;\n};\n", "bad.conf:3: time.boot: unknown key" },
        { NULL, R "network = { ports = ( { host = 80; proto = \"tcp\"; } ); };\n",
          "bad.conf:2: network.ports[0].proto: unknown key" },
        { NULL, R "network = { ipv6 = { adress = \"fd88::2/64\"; }; };\n",
          "bad.conf:2: network.ipv6.adress: unknown key (did you mean \"address\"?)" },
        /* types */
        { NULL, R "process = {\n  args = [ \"/bin/sh\" ];\n  init = \"yes\";\n};\n",
          "bad.conf:4: process.init: expected a boolean, got \"yes\" (a string)" },
        { NULL, R "name = 5;\n", "bad.conf:2: name: expected a string, got 5 (an integer)" },
        { NULL, R "process = 1;\n", "bad.conf:2: process: expected a group { ... }, got 1 (an integer)" },
        { NULL, "rootfs = \"dir\";\n", "bad.conf:1: rootfs: expected a group { ... }, got \"dir\" (a string)" },
        { NULL, R "namespaces = \"net\";\n", "bad.conf:2: namespaces: expected an array of strings, got \"net\" (a string)" },
        { NULL, R "process = { args = ( \"/bin/sh\", 1 ); };\n",
          "bad.conf:2: process.args: expected an array of strings, but element 1 is 1 (an integer)" },
        { NULL, R "volumes = { target = \"/a\"; };\n", "bad.conf:2: volumes: expected a list of groups" },
        { NULL, R "volumes = ( \"x\" );\n", "bad.conf:2: volumes[0]: expected a group { ... }, got \"x\" (a string)" },
        { NULL, R "network = { ports = ( { host = \"80\"; } ); };\n",
          "bad.conf:2: network.ports[0].host: expected an integer, got \"80\" (a string)" },
        { NULL, R "time = { monotonic = \"1\"; };\n", "bad.conf:2: time.monotonic: expected an integer, got \"1\" (a string)" },
        { NULL, R "time = { boottime = 1.5; };\n",
          "bad.conf:2: time.boottime: expected \"reset\" or an integer number of seconds, got 1.5 (a floating-point number)" },
        { NULL, R "time = { boottime = \"later\"; };\n",
          "bad.conf:2: time.boottime: expected \"reset\" or an integer number of seconds, got \"later\" (a string)" },
        { NULL, R "limits = { cpus = \"2\"; };\n", "bad.conf:2: limits.cpus: expected a number, got \"2\" (a string)" },
        { NULL, R "network = { ipv6 = \"yes\"; };\n", "bad.conf:2: network.ipv6: expected a boolean or a group" },
        { NULL, R "process = { terminal = \"yes\"; };\n",
          "bad.conf:2: process.terminal: expected \"auto\" or a boolean, got \"yes\" (a string)" },
        { NULL, "rootfs = { path = \"/\"; idmap = \"map\"; };\n",
          "bad.conf:1: rootfs.idmap: expected \"auto\" or a boolean, got \"map\" (a string)" },
        { NULL, "rootfs = { path = \"/\"; idmap = 0; };\n",
          "bad.conf:1: rootfs.idmap: expected \"auto\" or a boolean, got 0 (an integer)" },
        { NULL, "rootfs = { tarball = \"t.tar\"; idmap = \"auto\"; };\n",
          "bad.conf:1: rootfs.idmap: only for rootfs.path" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/t\"; idmap = true; } );\n",
          "bad.conf:2: volumes[0].idmap: only applies to bind volumes" },
        { NULL, R "volumes = ( { source = \"/x\"; target = \"/t\"; idmap = \"yes\"; } );\n",
          "bad.conf:2: volumes[0].idmap: expected a boolean" },
        /* names */
        { NULL, R "name = \"Web\";\n", "bad.conf:2: name: Web is not a valid name" },
        { NULL, R "name = \"-web\";\n", "bad.conf:2: name: -web is not a valid name" },
        { NULL, R "name = \"a234567890123456789012345678901234567890123456789012345678901234\";\n",
          "bad.conf:2: name: a234567890123456789012345678901234567890123456789012345678901234 is not a valid name" },
        { NULL, R "name = \"a/b\";\n", "bad.conf:2: name: a/b is not a valid name" },
        { "Bad_File.conf", R, "Bad_File.conf: name: not set, and the file name gives Bad_File, which is not a valid name" },
        { NULL, R "hostname = \"web\\n\";\n", "bad.conf:2: hostname: \"web\\n\" is not a valid hostname" },
        { NULL, R "hostname = \"web-\";\n", "bad.conf:2: hostname: web- is not a valid hostname" },
        { NULL, R "hostname = \"\";\n", "bad.conf:2: hostname: \"\" is not a valid hostname" },
        { NULL, R "hostname = \"a_b\";\n", "bad.conf:2: hostname: a_b is not a valid hostname" },
        /* namespaces */
        { NULL, R "namespaces = [ \"mount\",\n \"netw\" ];\n", "bad.conf:3: namespaces: netw is not a namespace" },
        { NULL, R "namespaces = [ \"net\", \"pid\", \"net\" ];\n", "bad.conf:2: namespaces: net is listed twice" },
        /* rootfs */
        { NULL, "name = \"x\";\n", "bad.conf: rootfs: one of rootfs.path, rootfs.tarball or rootfs.image is required" },
        { NULL, "name = \"x\";\nrootfs = { };\n",
          "bad.conf:2: rootfs: one of rootfs.path, rootfs.tarball or rootfs.image is required" },
        { NULL, "rootfs = {\n  path = \"a\";\n  tarball = \"b.tar\";\n};\n",
          "bad.conf:1: rootfs: rootfs.path and rootfs.tarball are both given; use exactly one" },
        { NULL, "rootfs = { tarball = \"a.tar\"; image = \"b.tar\"; };\n",
          "bad.conf:1: rootfs: rootfs.tarball and rootfs.image are both given" },
        { NULL, "rootfs = {\n  path = \"a\";\n  tag = \"x:1\";\n};\n", "bad.conf:3: rootfs.tag: only applies to rootfs.image" },
        { NULL, "rootfs = {\n  image = \"a.tar\";\n  writable = \"direct\";\n};\n",
          "bad.conf:3: rootfs.writable: \"direct\" needs rootfs.path" },
        { NULL, "rootfs = {\n  tarball = \"a.tar\";\n  writable = \"direct\";\n};\n",
          "bad.conf:3: rootfs.writable: \"direct\" needs rootfs.path" },
        { NULL, "rootfs = { path = \"a\"; writable = \"\"; };\n", "bad.conf:1: rootfs.writable: expected \"tmpfs\"" },
        { NULL, "rootfs = { path = \"\"; };\n", "bad.conf:1: rootfs.path: the path is empty" },
        { NULL, "rootfs = { image = \"a.tar\"; tag = \"\"; };\n", "bad.conf:1: rootfs.tag: the tag is empty" },
        /* process */
        { NULL, R "process = {\n  env = [ \"A=1\",\n    \"FOO\" ];\n};\n", "bad.conf:4: process.env: FOO is not NAME=value" },
        { NULL, R "process = { env = [ \"A=1\", \"B=2\", \"A=3\" ]; };\n", "bad.conf:2: process.env: A is set twice" },
        { NULL, R "process = { env = [ \"=x\" ]; };\n", "bad.conf:2: process.env: =x has an empty variable name" },
        { NULL, R "process = { args = [ ]; };\n", "bad.conf:2: process.args: must not be empty" },
        { NULL, R "process = { args = [ \"\", \"x\" ]; };\n", "bad.conf:2: process.args: the program (the first element) is empty" },
        { NULL, R "process = { user = \"a:b:c\"; };\n", "bad.conf:2: process.user: a:b:c is not \"uid:gid\"" },
        { NULL, R "process = { user = \"\"; };\n", "bad.conf:2: process.user: \"\" is not \"uid:gid\"" },
        { NULL, R "process = { user = \"0:\"; };\n", "bad.conf:2: process.user: 0: is not \"uid:gid\"" },
        { NULL, R "process = { user = \"4294967295\"; };\n", "bad.conf:2: process.user: 4294967295 is not \"uid:gid\"" },
        { NULL, R "process = { user = -1; };\n", "bad.conf:2: process.user: -1 is out of range (0-4294967294)" },
        { NULL, R "process = { user = true; };\n", "bad.conf:2: process.user: expected a string like \"1000:1000\" or an integer uid, got true (a boolean)" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/x\"; mode = \"999\"; } );\n", "bad.conf:2: volumes[0].mode: expected an octal mode as a string, like \"1777\" or \"0700\", got \"999\" (a string)" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/x\"; mode = 511; } );\n", "bad.conf:2: volumes[0].mode: expected a string" },
        { NULL, R "process = { stop_signal = \"SIGFOO\"; };\n", "bad.conf:2: process.stop_signal: SIGFOO is not a signal name like \"SIGTERM\"" },
        { NULL, R "process = { log_max_size = \"1K\"; };\n", "bad.conf:2: process.log_max_size: 1024 bytes is too small: at least 4096 (\"4K\"), or 0 to never rotate" },
        { NULL, R "process = { log_max_size = -1; };\n", "bad.conf:2: process.log_max_size: the size must not be negative, got -1" },
        { NULL, R "process = { log_max_size = \"lots\"; };\n", "bad.conf:2: process.log_max_size: lots is not a size, like \"10M\" (or 0: never rotate)" },
        { NULL, R "process = { log_max_size = true; };\n", "bad.conf:2: process.log_max_size: expected a size like \"10M\" or an integer byte count, got true (a boolean)" },
        { NULL, R "process = { stop_signal = \"SIGCHLD\"; };\n", "bad.conf:2: process.stop_signal: SIGCHLD cannot stop a container" },
        { NULL, R "process = { stop_signal = \"3\"; };\n", "bad.conf:2: process.stop_signal: \"3\": write a signal number without quotes" },
        { NULL, R "process = { stop_signal = \"term\"; };\n", "bad.conf:2: process.stop_signal: term: write signal names in upper case, like \"SIGTERM\"" },
        { NULL, R "process = { stop_signal = 32; };\n", "bad.conf:2: process.stop_signal: 32 is not a signal a container can be stopped with" },
        { NULL, R "process = { stop_signal = 19; };\n", "bad.conf:2: process.stop_signal: 19 is not a signal a container can be stopped with" },
        { NULL, R "devices = [ \"dev/fuse\" ];\n", "bad.conf:2: devices: dev/fuse: the host's device must be an absolute path" },
        { NULL, R "devices = [ \"/dev/fuse:/opt/x\" ];\n", "bad.conf:2: devices: /dev/fuse:/opt/x: the container's path must be in its /dev" },
        { NULL, R "devices = [ \"/dev/fuse:/dev/../etc/x\" ];\n", "bad.conf:2: devices: /dev/fuse:/dev/../etc/x: the container's path must be in its /dev" },
        { NULL, R "devices = [ \"/dev/fuse:/dev/x:rr\" ];\n", "bad.conf:2: devices: /dev/fuse:/dev/x:rr: rr are not permissions" },
        { NULL, R "devices = [ \"/dev/fuse:/dev/x:\" ];\n", "bad.conf:2: devices: /dev/fuse:/dev/x:: empty permissions" },
        { NULL, R "devices = [ \"/dev/fuse:/dev/pts/9\" ];\n", "bad.conf:2: devices: /dev/fuse:/dev/pts/9: diyctl makes /dev/pts/9 itself" },
        { NULL, R "devices = [ \"/dev/fuse\",\n  \"/dev/cuse:/dev/fuse\" ];\n", "bad.conf:3: devices: /dev/fuse is given twice" },
        { NULL, R "sysctls = [ \"kernel.panic=1\" ];\n", "bad.conf:2: sysctls: kernel.panic is not a sysctl of the container's own namespaces (setting it would change the host)" },
        { NULL, R "sysctls = [ \"net.core.somaxconn\" ];\n", "bad.conf:2: sysctls: net.core.somaxconn is not NAME=VALUE" },
        { NULL, R "sysctls = [ \"=1\" ];\n", "bad.conf:2: sysctls: =1 is not NAME=VALUE" },
        { NULL, R "sysctls = [ \"net.ipv4.tcp_syncookies=1\",\n  \"net/ipv4/tcp_syncookies=0\" ];\n", "bad.conf:3: sysctls: net/ipv4/tcp_syncookies is set twice" },
        { NULL, R "sysctls = [ \"kernel.hostname=x\" ];\n", "bad.conf:2: sysctls: kernel.hostname: set the container's host name with hostname" },
        { NULL, R "sysctls = [ \"net.a=1\\n\" ];\n", "bad.conf:2: sysctls: \"net.a=1\\n\": the value contains a control character" },
        { NULL, R "process = { rlimits = { nofile = \"2:1\"; }; };\n", "bad.conf:2: process.rlimits.nofile: 2:1: the soft limit is above the hard one" },
        { NULL, R "process = { rlimits = { nofile = -5; }; };\n", "bad.conf:2: process.rlimits.nofile: must be 0 or more, or -1 or \"unlimited\", got -5" },
        { NULL, R "process = { rlimits = { core = \"1k\"; }; };\n", "bad.conf:2: process.rlimits.core: 1k is not a limit: an integer, \"SOFT:HARD\" or \"unlimited\"" },
        { NULL, R "process = { rlimits = { core = \"18446744073709551615\"; }; };\n", "bad.conf:2: process.rlimits.core: 18446744073709551615 is not a limit" },
        { NULL, R "process = { rlimits = { core = 1.5; }; };\n", "bad.conf:2: process.rlimits.core: expected an integer or a string like \"1024:4096\", got 1.5 (a floating-point number)" },
        { NULL, R "process = { rlimits = { nofile = 1; nofile = 2; }; };\n", "bad.conf:2: nofile: set twice in the same group" },
        { NULL, "rootfs = { path = \"r\"; }; rootfs = { writable = \"tmpfs\"; };\n", "bad.conf:1: rootfs: set twice in the same group" },
        { NULL, R "process = { rlimits = 5; };\n", "bad.conf:2: process.rlimits: expected a group" },
        { NULL, R "process = { stop_signal = [ 3 ]; };\n", "bad.conf:2: process.stop_signal: expected a signal name like \"SIGQUIT\" or a number, got an array" },
        /* volumes */
        { NULL, R "volumes = (\n  { type = \"tmpfs\";\n    source = \"x\"; target = \"/t\"; }\n);\n",
          "bad.conf:4: volumes[0].source: not allowed for a tmpfs volume" },
        { NULL, R "volumes = ( { target = \"/t\"; } );\n", "bad.conf:2: volumes[0].source: is required for a bind mount" },
        { NULL, R "volumes = ( { source = \"a\"; target = \"/a\"; },\n  { source = \"b\"; } );\n",
          "bad.conf:3: volumes[1].target: is required" },
        { NULL, R "volumes = ( { type = \"nfs\"; target = \"/t\"; } );\n", "bad.conf:2: volumes[0].type: nfs is not a volume type" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/t\"; size = \"64Q\"; } );\n",
          "bad.conf:2: volumes[0].size: 64Q is not a size" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/t\"; size = 0; } );\n",
          "bad.conf:2: volumes[0].size: the size must be greater than 0" },
        { NULL, R "volumes = ( { type = \"tmpfs\"; target = \"/t\"; size = 1.5; } );\n",
          "bad.conf:2: volumes[0].size: expected a size like \"64M\" or an integer byte count, got 1.5 (a floating-point number)" },
        { NULL, R "volumes = ( { source = \"a\"; target = \"/t\"; size = \"1M\"; } );\n",
          "bad.conf:2: volumes[0].size: only applies to tmpfs volumes" },
        { NULL, R "volumes = ( { source = \"a\"; target = \"/t\"; readonly = 1; } );\n",
          "bad.conf:2: volumes[0].readonly: expected a boolean, got 1 (an integer)" },
        { NULL, R "volumes = ( { source = \"a\"; target = \"\"; } );\n", "bad.conf:2: volumes[0].target: the path is empty" },
        /* network */
        { NULL, R "network = { mode = \"nta\"; };\n", "bad.conf:2: network.mode: nta is not a network mode" },
        { NULL, R "network = {\n  mode = \"nat\";\n  address = \"10.88.0.300/24\";\n};\n",
          "bad.conf:4: network.address: 10.88.0.300/24 is not an IPv4 address with a prefix length, like 10.88.0.6/30" },
        { NULL, R "network = { address = \"10.88.0.5\"; };\n",
          "bad.conf:2: network.address: 10.88.0.5 is not an IPv4 address with a prefix length, like 10.88.0.6/30" },
        { NULL, R "network = { address = \"10.88.0.5/33\"; };\n", "bad.conf:2: network.address: 10.88.0.5/33 is not an IPv4 address" },
        { NULL, R "network = { address = \"10.88.0.5/\"; };\n", "bad.conf:2: network.address: 10.88.0.5/ is not an IPv4 address" },
        { NULL, R "network = { address = \"fd88::2/64\"; };\n", "bad.conf:2: network.address: fd88::2/64 is not an IPv4 address" },
        { NULL, R "network = { gateway = \"10.0.0\"; };\n", "bad.conf:2: network.gateway: 10.0.0 is not an IPv4 address" },
        { NULL, R "network = { interface = \"eth/0\"; };\n", "bad.conf:2: network.interface: eth/0 is not a valid interface name" },
        { NULL, R "network = { interface = \"eth0\\n\"; };\n",
          "bad.conf:2: network.interface: \"eth0\\n\" is not a valid interface name" },
        { NULL, R "network = { interface = \"abcdefghijklmnop\"; };\n",
          "bad.conf:2: network.interface: abcdefghijklmnop is not a valid interface name" },
        { NULL, R "network = { interface = \"eth:0\"; };\n", "bad.conf:2: network.interface: eth:0 is not a valid interface name" },
        { NULL, R "network = { bridge = \"..\"; };\n", "bad.conf:2: network.bridge: .. is not a valid interface name" },
        { NULL, R "network = { bridge = \"br 0\"; };\n", "bad.conf:2: network.bridge: \"br 0\" is not a valid interface name" },
        { NULL, R "network = { ipv6 = { address = \"fd88::zz/64\"; }; };\n",
          "bad.conf:2: network.ipv6.address: fd88::zz/64 is not an IPv6 address with a prefix length" },
        { NULL, R "network = { ipv6 = { address = \"fd88::2\"; }; };\n",
          "bad.conf:2: network.ipv6.address: fd88::2 is not an IPv6 address with a prefix length" },
        { NULL, R "network = { ipv6 = { gateway = \"fd88::1\"; }; };\n",
          "bad.conf:2: network.ipv6.address: is required in the group form" },
        { NULL, R "network = { ipv6 = { address = \"fd88::2/64\"; gateway = \"10.0.0.1\"; }; };\n",
          "bad.conf:2: network.ipv6.gateway: 10.0.0.1 is not an IPv6 address" },
        { NULL, R "limits = { cpus = 0.001; };\n", "bad.conf:2: limits.cpus: 0.001 is below 0.01" },
        { NULL, R "limits = { pids = 4194305; };\n", "bad.conf:2: limits.pids: 4194305 is out of range (1-4194304)" },
        { NULL, R "network = { ports = ( { host = 0; } ); };\n", "bad.conf:2: network.ports[0].host: 0 is out of range (1-65535)" },
        { NULL, R "network = { ports = ( { host = 70000; } ); };\n", "bad.conf:2: network.ports[0].host: 70000 is out of range (1-65535)" },
        { NULL, R "network = { ports = ( { host = 80; container = -1; } ); };\n",
          "bad.conf:2: network.ports[0].container: -1 is out of range (1-65535)" },
        { NULL, R "network = { ports = ( { container = 80; } ); };\n", "bad.conf:2: network.ports[0].host: is required" },
        { NULL, R "network = { ports = ( { host = 80; protocol = \"sctp\"; } ); };\n",
          "bad.conf:2: network.ports[0].protocol: sctp is not a protocol" },
        { NULL, R "network = { ports = ( { host = 8080; },\n  { host = 8080; container = 81; } ); };\n",
          "bad.conf:3: network.ports[1].host: 8080/tcp is already forwarded by network.ports[0]" },
        { NULL, R "network = { dns = \"8.8.8.8\"; };\n",
          "bad.conf:2: network.dns: expected \"host\" or an array of addresses, got \"8.8.8.8\" (a string)" },
        { NULL, R "network = { dns = [ \"1.2.3\" ]; };\n", "bad.conf:2: network.dns: 1.2.3 is not an IPv4 or IPv6 address" },
        { NULL, R "network = { dns = 5; };\n", "bad.conf:2: network.dns: expected \"host\" or an array of addresses, got 5 (an integer)" },
        /* user maps */
        { NULL, R "user = { map = \"none\"; };\n", "bad.conf:2: user.map: expected \"root\", \"auto\" or a list" },
        { NULL, R "user = { map = ();\n};\n", "bad.conf:2: user.map: the list of ranges is empty" },
        { NULL, R "user = { map = (\n  { inside = 0; outside = 100000; count = 65536; },\n  { inside = 1000; outside = 200000; count = 10; }\n); };\n",
          "bad.conf:4: user.map[1]: inside ids 1000-1009 overlap user.map[0]" },
        { NULL, R "user = { map = (\n  { inside = 0; outside = 100000; count = 10; },\n  { inside = 10; outside = 99995; count = 10; }\n); };\n",
          "bad.conf:4: user.map[1]: outside ids 99995-100004 overlap user.map[0]" },
        { NULL, R "user = { map = ( { inside = 0; outside = 1; count = 0; } ); };\n",
          "bad.conf:2: user.map[0].count: 0 is out of range (1-4294967295)" },
        { NULL, R "user = { map = ( { inside = -1; outside = 1; count = 1; } ); };\n",
          "bad.conf:2: user.map[0].inside: -1 is out of range (0-4294967295)" },
        { NULL, R "user = { map = ( { inside = 0; count = 1; } ); };\n", "bad.conf:2: user.map[0].outside: is required" },
        { NULL, R "user = { map = ( { inside = 4294967295L; outside = 0; count = 2; } ); };\n",
          "bad.conf:2: user.map[0]: inside range 4294967295+2 goes past 4294967295" },
        { NULL, R "user = { map = ( { inside = 0; outside = 4294967296L; count = 1; } ); };\n",
          "bad.conf:2: user.map[0].outside: 4294967296 is out of range (0-4294967295)" },
        /* limits and libconfig 1.5's 32-bit integers */
        { NULL, R "limits = { memory = \"lots\"; };\n", "bad.conf:2: limits.memory: lots is not a size" },
        { NULL, R "limits = { memory = 0; };\n", "bad.conf:2: limits.memory: the size must be greater than 0" },
        { NULL, R "limits = { memory = -5; };\n", "bad.conf:2: limits.memory: the size must be greater than 0" },
        { NULL, R "limits = {\n  memory = 5000000000;\n};\n", "bad.conf:3: limits.memory: 5000000000 does not fit in a 32-bit integer; libconfig needs an L suffix for larger ones, like 5000000000L, or write a size string" },
        { NULL, R "time = { boottime = -3000000000; };\n", "bad.conf:2: time.boottime: -3000000000 does not fit in a 32-bit integer; libconfig needs an L suffix for larger ones, like -3000000000L" },
        { NULL, R "limits = { pids = 0x80000000; };\n", "bad.conf:2: limits.pids: 0x80000000 does not fit in a 32-bit integer" },
        { NULL, R "limits = { pids = 99999999999999999999L; };\n",
          "bad.conf:2: limits.pids: 99999999999999999999L does not fit in a 64-bit integer" },
        { NULL, R "limits = { cpus = 0; };\n", "bad.conf:2: limits.cpus: must be a number greater than 0" },
        { NULL, R "limits = { cpus = -1.5; };\n", "bad.conf:2: limits.cpus: must be a number greater than 0" },
        { NULL, R "limits = { pids = 0; };\n", "bad.conf:2: limits.pids: 0 is out of range" },
        /* syntax */
        { NULL, R "name = ;\n", "bad.conf:2: syntax error" },
        { NULL, R "name = \"a\";\nname = \"b\";\n", "bad.conf:3: name: set twice in the same group" },
        { NULL, R "process = {\n  cwd = \"/\";\n  cwd = \"/x\";\n};\n", "bad.conf:4: cwd: set twice in the same group" },
        { NULL, R "hostname = \"x\"; name = \"a\";\nname = \"b\"; # a: b\n", "bad.conf:3: name: set twice" },
        { NULL, R "name = \"a\";\nhostname = \"x\"; name = \"b\";\n", "bad.conf:3: name: set twice in the same group" },
        { NULL, R "@include \"nothere.conf\"\n", "bad.conf:2: @include: nothere.conf: No such file or directory (looked for " },
        { NULL, R "@include \"\"\n", "bad.conf:2: @include: an empty file name" },
        { NULL, R "@include \"/etc/hostname\"\n", "bad.conf:2: @include: /etc/hostname is an absolute path: libconfig resolves every @include against the top file's directory" },
        /* strings where the grammar has none (libconfig 1.5 would leak them) */
        { NULL, R "zzz = 1 \"x\";\n", "bad.conf:2: syntax error" },
        { NULL, R "\n\"x\";\n", "bad.conf:3: syntax error" },
        { NULL, R "network = { \"x\" };\n", "bad.conf:2: syntax error" },
        { NULL, R "a = 1, \"x\"\n", "bad.conf:2: syntax error" },
        { NULL, R "a = ( { b = 1, \"x\" } );\n", "bad.conf:2: syntax error" },
        { NULL, R "name = ;\nb = 1 \"x\";\n", "bad.conf:2: syntax error" },
        { NULL, R "name = \"a\" /* c */ \"b\" // d\n \"c\" 1 \"x\";\n", "bad.conf:3: syntax error" },
};

static void test_bad_configs(void)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(bad_configs); i++) {
                const struct bad *b = &bad_configs[i];
                const char *file = b->file ? b->file : "bad.conf";
                put(file, b->text);
                _cleanup_config_ struct dc_config *c = NULL;
                struct dc_error err;
                int r = load(file, NULL, 0, &c, &err);
                bool ok = r == -EINVAL && !c && startswith(err.msg, b->msg) && err.code == EINVAL;
                CHECK(ok, "bad config %zu: %s", i, r < 0 ? err.msg : "(loaded)");
                if (!ok)
                        printf("#   expected: %s\n", b->msg);
        }
        CHECK(DC_ARRAY_SIZE(bad_configs) >= 35, "at least 35 bad configs (%zu)", DC_ARRAY_SIZE(bad_configs));

        /* Exact messages, not just prefixes, for the ones users see most. */
        put("bad.conf", R "zzz = 1;\n");
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        load("bad.conf", NULL, 0, &c, &err);
        CHECK_STREQ(err.msg, "bad.conf:2: zzz: unknown key", "no suggestion when nothing is close");
        put("bad.conf", R "process = { init = \"yes\"; };\n");
        load("bad.conf", NULL, 0, &c, &err);
        CHECK_STREQ(err.msg, "bad.conf:2: process.init: expected a boolean, got \"yes\" (a string)", "exact type error");
        /* a float that is a whole number still reads as one */
        put("bad.conf", R "limits = { pids = 64.0; };\n");
        load("bad.conf", NULL, 0, &c, &err);
        CHECK_STREQ(err.msg, "bad.conf:2: limits.pids: expected an integer, got 64.0 (a floating-point number)",
                    "a whole float shown as a float");
        /* the overrides' errors first: they apply to every file */
        put("bad.conf", R "hostname = 5;\n");
        const char *ov[] = { "process.init=yes" };
        load("bad.conf", ov, 1, &c, &err);
        CHECK_STREQ(err.msg,
                    "--set: process.init: expected a boolean, got \"yes\" (a string)\n"
                    "bad.conf:2: hostname: expected a string, got 5 (an integer)",
                    "--set errors before the file's");
        /* ... also past the cap of 20 */
        char many[2048] = R;
        for (int k = 0; k < 25; k++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "zz%d = 1;\n", k);
        put("bad.conf", many);
        load("bad.conf", ov, 1, &c, &err);
        CHECK(dc_startswith(err.msg, "--set: process.init: expected a boolean,"),
              "an override's error first after 25 of the file's: %.60s", err.msg);
        /* a group set in a fragment and again in the file, on a line that sets several things */
        mkdir("dupinc", 0755);
        put("dupinc/net.conf", "network = { mode = \"nat\"; dns = \"host\"; };\n");
        put("dupinc.conf", R "@include \"dupinc/net.conf\"\nnetwork = { ports = ( { host = 8080; container = 80; } ); };\n");
        load("dupinc.conf", NULL, 0, &c, &err);
        CHECK_STREQ(err.msg, "dupinc.conf:3: network: set twice in the same group (a setting may appear only once across "
                             "a file and the files it @includes; vary one with --set)",
                    "a group set again after an @include names the key and says why");

        /* A missing file. */
        int r = load("nothere.conf", NULL, 0, &c, &err);
        CHECK(r == -ENOENT && err.code == ENOENT && !c, "a missing file is -ENOENT");
        CHECK_STREQ(err.msg, "nothere.conf: cannot read: No such file or directory", "missing file message");
        r = load("site", NULL, 0, &c, &err);
        CHECK(r == -EISDIR && startswith(err.msg, "site: cannot read: Is a directory"), "a directory: %s", err.msg);

        /* A NUL byte. */
        FILE *f = fopen("nul.conf", "w");
        if (!f)
                exit(2);
        fwrite(R "\0zzz = 1;\n", 1, sizeof(R "\0zzz = 1;\n") - 1, f);
        fclose(f);
        r = load("nul.conf", NULL, 0, &c, &err);
        CHECK(r < 0 && startswith(err.msg, "nul.conf: contains a NUL byte"), "a NUL byte is an error: %s", err.msg);

        /* load_string without a usable name and without rootfs. */
        dc_err_clear(&err);
        r = dc_config_load_string("", "empty.conf", NULL, &c, &err);
        CHECK(r < 0 && !c && dc_streq(err.msg, "empty.conf: rootfs: one of rootfs.path, rootfs.tarball or rootfs.image is required"),
              "an empty config needs a rootfs: %s", err.msg);
}

/* Every key's own error at once, in file order; the rules that combine keys
 * only once the keys are valid; at most 20 named, then how many more. */
static void test_several_errors(void)
{
        put("many.conf", R "limits = { pids = 0; cpus = 0.001; };\n"
                           "network = { mode = \"nat\"; ports = ( { host = 80; }, { host = 80; }, { host = 70000; } ); };\n"
                           "volumes = ( { target = \"/a\"; type = \"tmpfs\"; source = \"/x\"; }, { source = \"/y\"; } );\n"
                           "zzz = 1;\n");
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("many.conf", NULL, 0, &c, &err);
        CHECK(r == -EINVAL && err.code == EINVAL && !c, "several errors: -EINVAL, no config (%d)", r);
        CHECK_STREQ(err.msg,
                    "many.conf:2: limits.pids: 0 is out of range (1-4194304)\n"
                    "many.conf:2: limits.cpus: 0.001 is below 0.01: the kernel's smallest CPU quota is 1 ms in each 100 ms period\n"
                    "many.conf:3: network.ports[1].host: 80/tcp is already forwarded by network.ports[0]\n"
                    "many.conf:3: network.ports[2].host: 70000 is out of range (1-65535)\n"
                    "many.conf:4: volumes[0].source: not allowed for a tmpfs volume\n"
                    "many.conf:4: volumes[1].target: is required\n"
                    "many.conf:5: zzz: unknown key",
                    "every key's error, one a line, in file order");

        /* No rootfs and a bad key: the key is named, "rootfs is required"
         * (a rule over several keys) waits until the keys are valid. */
        put("norootfs.conf", "hostname = \"-bad\";\n");
        r = load("norootfs.conf", NULL, 0, &c, &err);
        CHECK(r < 0 && startswith(err.msg, "norootfs.conf:1: hostname: ") && !strchr(err.msg, '\n'),
              "a rule over several keys waits for valid keys: %s", err.msg);

        /* An element with an error is not compared with the next ones. */
        put("maps.conf", R "user = { map = ( { inside = 0; outside = 100000; count = 0; },\n"
                           "                 { inside = 0; outside = 200000; count = 65536; } ); };\n");
        r = load("maps.conf", NULL, 0, &c, &err);
        CHECK(r < 0 && startswith(err.msg, "maps.conf:2: user.map[0].count: ") && !strchr(err.msg, '\n'),
              "a bad map range is not also an overlap: %s", err.msg);

        /* Many: twenty named, then the count of the rest. */
        char text[4096] = R;
        for (int i = 0; i < 30; i++)
                snprintf(text + strlen(text), sizeof(text) - strlen(text), "k%02d = 1;\n", i);
        put("lots.conf", text);
        r = load("lots.conf", NULL, 0, &c, &err);
        size_t lines = 1;
        for (const char *p = err.msg; *p; p++)
                lines += *p == '\n';
        CHECK(r == -EINVAL && lines == 21, "20 errors and one more line (%zu lines)", lines);
        CHECK(startswith(err.msg, "lots.conf:2: k00: unknown key\nlots.conf:3: k01: unknown key\n"), "from the first");
        const char *last = strrchr(err.msg, '\n') ? strrchr(err.msg, '\n') + 1 : err.msg;
        CHECK(strstr(err.msg, "lots.conf:21: k19: unknown key\nand 10 more errors") &&
                      !strcmp(last, "and 10 more errors"),
              "the last line counts the rest: %s", last);

        /* Long lines (a long file name, which messages abbreviate): as many
         * whole ones as the message holds, then the count of the rest. */
        char rel[2600] = "";
        for (int d = 0; d < 9; d++)
                snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "%0250d/", d);
        strcat(rel, "long.conf");
        put(rel, text);
        r = load(rel, NULL, 0, &c, &err);
        lines = 1;
        for (const char *p = err.msg; *p; p++)
                lines += *p == '\n';
        last = strrchr(err.msg, '\n') ? strrchr(err.msg, '\n') + 1 : err.msg;
        unsigned more = 0;
        CHECK(r == -EINVAL && strlen(err.msg) < sizeof(err.msg) - 1 && startswith(err.msg, "0000") &&
                      strstr(err.msg, "k00: unknown key\n") &&
                      sscanf(last, "and %u more errors", &more) == 1 && lines - 1 + more == 30 && lines > 2,
              "a %zu-byte file name: %zu lines, the last one %s", strlen(rel), lines, last);

        /* A bad override is one more error: the file's keys are still checked. */
        const char *sets[] = { "nosuch=1" };
        put("set.conf", R "limits = { pids = 0; };\n");
        r = load("set.conf", sets, 1, &c, &err);
        CHECK_STREQ(err.msg, "--set: nosuch: unknown key\nset.conf:2: limits.pids: 0 is out of range (1-4194304)",
                    "a bad --set and the file's own errors");

        /* A file name with a newline: its error stays one line. */
        put("new\nline.conf", "zzz = 1;\n" R);
        r = load("new\nline.conf", NULL, 0, &c, &err);
        CHECK_STREQ(err.msg, "new line.conf:1: zzz: unknown key", "one error, one line: %s", err.msg);
}

/* Printing, loading the JSON-equivalent values back: a config printed twice
 * from two loads of the same text is identical (print is deterministic and
 * loading is a pure function of the text). */
static void test_devices(void)
{
        put("dev.conf", R "devices = [ \"/dev/fuse\", \"/dev/disk/by-id/x:/dev/xvdc:mr\",\n"
                          "  \"/dev/net//tun:/dev/./net/tun:wr\" ];\n");
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_error err;
        int r = load("dev.conf", NULL, 0, &c, &err);
        CHECK(r == 0 && c && c->n_devices == 3, "devices load%s%s", r ? ": " : "", r ? err.msg : "");
        if (!c || c->n_devices != 3)
                return;
        CHECK(dc_streq(c->devices[0].host, "/dev/fuse") && dc_streq(c->devices[0].container, "/dev/fuse") &&
                      dc_streq(c->devices[0].perms, "rwm"),
              "devices: a path alone is the same inside, rwm");
        CHECK(dc_streq(c->devices[1].container, "/dev/xvdc") && dc_streq(c->devices[1].perms, "rm"),
              "devices: HOST:CONTAINER:PERMS, the permissions in rwm order (%s)", c->devices[1].perms);
        CHECK(dc_streq(c->devices[2].host, "/dev/net/tun") && dc_streq(c->devices[2].container, "/dev/net/tun") &&
                      c->devices[2].origin.line == 3,
              "devices: paths normalised, each with its line");
}

static void test_sysctl_names(void)
{
        static const struct {
                const char *name;
                unsigned ns;
        } cases[] = {
                { "net.core.somaxconn", DC_NS_NET },
                { "net/ipv4/conf/eth0.1/rp_filter", DC_NS_NET },
                { "net.ipv4.conf.eth0.1.rp_filter", DC_NS_NET }, /* parsed as dots: a path that will not exist */
                { "fs.mqueue.msg_max", DC_NS_IPC },
                { "fs/mqueue/queues_max", DC_NS_IPC },
                { "kernel.shm_rmid_forced", DC_NS_IPC },
                { "kernel/sem", DC_NS_IPC },
                { "kernel.domainname", DC_NS_UTS },
                { "kernel.hostname", 0 },
                { "kernel.panic", 0 },
                { "kernel.shmmaxx", 0 },
                { "vm.swappiness", 0 },
                { "fs.mqueue", 0 },
                { "net", 0 },
                { "net.", 0 },
                { ".net.a", 0 },
                { "net..a", 0 },
                { "net/../kernel/panic", 0 },
                { "net/./a", 0 },
                { "/net/a", 0 },
                { "net.core/somaxconn", 0 },
                { "net.a b", 0 },
                { "", 0 },
        };
        for (size_t i = 0; i < DC_ARRAY_SIZE(cases); i++)
                CHECK(dc_sysctl_namespace(cases[i].name) == cases[i].ns, "sysctl \"%s\": namespace %u",
                      cases[i].name, cases[i].ns);
        CHECK(dc_sysctl_namespace(NULL) == 0, "sysctl NULL");
        _cleanup_free_ char *a = dc_sysctl_path("net.ipv4.ip_forward");
        _cleanup_free_ char *b = dc_sysctl_path("net/ipv4/conf/eth0.1/rp_filter");
        CHECK_STREQ(a, "/proc/sys/net/ipv4/ip_forward", "sysctl path from dots");
        CHECK_STREQ(b, "/proc/sys/net/ipv4/conf/eth0.1/rp_filter", "sysctl path with slashes keeps its dots");
}

static void test_json_stable(void)
{
        _cleanup_config_ struct dc_config *a = NULL, *b = NULL;
        struct dc_error err;
        load("full.conf", NULL, 0, &a, &err);
        load("full.conf", NULL, 0, &b, &err);
        if (!a || !b) {
                CHECK(false, "full.conf loads twice");
                return;
        }
        _cleanup_free_ char *ja = to_json(a);
        _cleanup_free_ char *jb = to_json(b);
        CHECK_STREQ(ja, jb, "printing is deterministic");
        CHECK(!strstr(ja, "(null)"), "no (null) in JSON");

        /* Special characters are escaped. */
        _cleanup_config_ struct dc_config *c = NULL;
        const char *sets[] = { "process.args=[\"/bin/echo\", \"a \\\"quoted\\\" \\\\ word\\n\"]" };
        int r = load("mini.conf", sets, 1, &c, &err);
        _cleanup_free_ char *jc = c ? to_json(c) : NULL;
        CHECK(r == 0 && jc && json_valid(jc) && strstr(jc, "\"a \\\"quoted\\\" \\\\ word\\n\""),
              "JSON escapes quotes, backslashes and newlines%s%s", r ? ": " : "", r ? err.msg : "");
}

int main(void)
{
        snprintf(tmpdir, sizeof(tmpdir), "%s/dc-test-config-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 2;
        }
        /* The tmpdir as the kernel sees it (TMPDIR may hold a symlink). */
        char *real = realpath(tmpdir, NULL);
        if (!real || chdir(real) < 0) {
                perror(tmpdir);
                return 2;
        }
        char orig[sizeof(tmpdir)];
        memcpy(orig, tmpdir, sizeof(orig));
        snprintf(tmpdir, sizeof(tmpdir), "%s", real);
        free(real);

        test_key_table();
        test_every_key_has_a_handler();
        test_every_key();
        test_defaults();
        test_paths_and_includes();
        test_overrides();
        test_bad_configs();
        test_several_errors();
        test_devices();
        test_sysctl_names();
        test_json_stable();

        if (chdir("/") == 0)
                nftw(orig, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
