/* The container configuration: what users write in NAME.conf, parsed with
 * libconfig into typed values that remember the file and line they came from.
 * One key table (src/config/keys.c) drives parsing, defaults, documentation
 * and the schema test. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diyctl/error.h"
#include "diyctl/rlimit.h"
#include "diyctl/util.h"

enum dc_writable {
        DC_WRITABLE_DEFAULT = 0, /* not set: "direct" for path, "tmpfs" otherwise */
        DC_WRITABLE_TMPFS,
        DC_WRITABLE_DIRECT,
        DC_WRITABLE_NONE,
        DC_WRITABLE_DIR,         /* persistent upper layer in rootfs.writable_dir */
};

enum dc_netmode { DC_NET_NONE = 0, DC_NET_HOST, DC_NET_NAT, DC_NET_BRIDGE };
enum dc_terminal { DC_TERM_AUTO = 0, DC_TERM_YES, DC_TERM_NO };
/* rootfs.idmap: an idmapped mount of a directory rootfs for a user namespace */
enum dc_idmap_mode { DC_IDMAP_AUTO = 0, DC_IDMAP_YES, DC_IDMAP_NO };
enum dc_volume_type { DC_VOL_BIND = 0, DC_VOL_TMPFS };
enum dc_proto { DC_PROTO_TCP = 0, DC_PROTO_UDP };
enum dc_usermap { DC_USERMAP_UNSET = 0, DC_USERMAP_ROOT, DC_USERMAP_AUTO, DC_USERMAP_EXPLICIT };
enum dc_seccomp { DC_SECCOMP_DEFAULT = 0, DC_SECCOMP_UNCONFINED };

/* Namespace bits, independent of CLONE_* so pure code needs no kernel headers. */
enum {
        DC_NS_MOUNT = 1 << 0,
        DC_NS_UTS = 1 << 1,
        DC_NS_IPC = 1 << 2,
        DC_NS_PID = 1 << 3,
        DC_NS_NET = 1 << 4,
        DC_NS_USER = 1 << 5,
        DC_NS_CGROUP = 1 << 6,
        DC_NS_TIME = 1 << 7,
};
#define DC_NS_DEFAULT (DC_NS_MOUNT | DC_NS_UTS | DC_NS_IPC | DC_NS_PID | DC_NS_NET | DC_NS_CGROUP)
/* Name of a namespace bit ("mount", ...), or NULL. */
const char *dc_ns_name(unsigned bit);
/* Bit for a name, or 0. */
unsigned dc_ns_from_name(const char *name);

/* A tmpfs volume's root: world-writable and sticky, as /tmp and Docker's. */
#define DC_TMPFS_MODE 01777

struct dc_volume {
        enum dc_volume_type type;
        char *source;            /* bind: absolute host path (resolved against the file's dir) */
        char *target;            /* absolute path inside the container */
        bool readonly;
        unsigned long long size; /* tmpfs: bytes, 0 = kernel default */
        unsigned mode;           /* tmpfs: its root's mode; 0 = DC_TMPFS_MODE */
        bool idmap;              /* bind: an idmapped mount for the user namespace */
        struct dc_origin origin;        /* the list element */
        struct dc_origin o_source, o_target, o_idmap;
};

/* devices[]: a host device node given to the container; at most
 * DC_DEVICES_MAX (the device program's rules, steps/devices.c) */
#define DC_DEVICES_MAX 56
/* Is TYPE ('c' or 'b') MAJOR:MINOR a device every container has
 * (/dev/null, /dev/tty, a pty...; steps/devices.c)? */
bool dc_devices_is_default(char type, unsigned major, unsigned minor);
struct dc_device {
        char *host;      /* absolute, normalised */
        char *container; /* absolute, normalised, under /dev */
        char perms[4];   /* of "rwm", in that order */
        struct dc_origin origin;
};

struct dc_port {
        unsigned host, container;
        enum dc_proto proto;
        struct dc_origin origin;
};

struct dc_idmap {
        uint32_t inside, outside, count;
};

struct dc_config {
        char *file;     /* the top file as given */
        char *dir;      /* absolute directory of the top file */

        char *name;
        char *hostname;

        struct {
                char *path;      /* absolute */
                char *tarball;   /* absolute */
                char *image;     /* absolute */
                char *tag;
                enum dc_writable writable;
                char *writable_dir; /* absolute, with DC_WRITABLE_DIR */
                enum dc_idmap_mode idmap;
        } rootfs;

        unsigned namespaces; /* DC_NS_* bits */

        /* sysctls: "NAME=VALUE" of namespaced kernel parameters, each with
         * where it is written */
        struct dc_strv sysctls;
        struct dc_origin *sysctl_origins;

        struct {
                struct dc_strv args;
                bool args_set;
                struct dc_strv env;
                bool env_set;
                char *cwd;       /* NULL: image WorkingDir, else "/" */
                char *user;      /* "uid:gid", "uid", "name" or "name:group"; NULL: 0:0 */
                enum dc_terminal terminal;
                bool init;
                int stop_signal; /* 0: the image's StopSignal, else SIGTERM */
                unsigned long long log_max_size; /* detached: 0 never rotates; see log_max_size_set */
                bool log_max_size_set;           /* false: host.conf's log_max_size */
                /* process.rlimits, by the index of dc_rlimit_names; a limit
                 * not set is the launcher's */
                struct rlimit rlimits[DC_RLIMIT_N];
                bool rlimit_set[DC_RLIMIT_N];
        } process;

        struct dc_volume *volumes;
        size_t n_volumes;

        struct dc_device *devices;
        size_t n_devices;

        struct {
                enum dc_netmode mode;
                char *interface;   /* default "eth0" */
                char *address;     /* "A.B.C.D/N" or NULL */
                char *bridge;
                char *gateway;
                bool ipv6;
                char *ipv6_address; /* explicit { address; gateway; } form */
                char *ipv6_gateway;
                struct dc_port *ports;
                size_t n_ports;
                bool dns_host;      /* dns = "host" (the default) */
                struct dc_strv dns; /* explicit servers */
        } network;

        struct {
                bool boottime_reset;
                long long boottime;  /* seconds, when not reset */
                long long monotonic; /* seconds */
        } time;

        struct {
                enum dc_usermap map;
                struct dc_idmap *maps; /* explicit: applied to uid and gid alike */
                size_t n_maps;
        } user;

        struct {
                unsigned long long memory; /* bytes, 0 = unlimited */
                double cpus;               /* 0 = unlimited */
                long long pids;            /* 0 = unlimited */
        } limits;

        struct {
                /* canonical names ("CAP_NET_ADMIN", or "ALL"), see security.h */
                struct dc_strv cap_add;
                struct dc_strv cap_drop;
                enum dc_seccomp seccomp;
                bool no_new_privileges;    /* default true */
        } security;

        /* Per key-table entry: was the key given, and where. Index = key index. */
        bool *present;
        struct dc_origin *origins;

        /* Interned file names referenced by origins. */
        struct dc_strv files;
};

/* One row of the key table. */
enum dc_ktype {
        DC_KT_STRING,
        DC_KT_BOOL,
        DC_KT_INT,
        DC_KT_NUMBER,   /* int or float */
        DC_KT_STRINGS,  /* array of strings */
        DC_KT_GROUP,    /* { ... } */
        DC_KT_LIST,     /* ( { ... }, ... ) */
        DC_KT_MIXED,    /* several accepted shapes; doc says which */
};

struct dc_key {
        const char *name;    /* dotted path; list element keys use "volumes[].source" */
        enum dc_ktype type;
        const char *def;     /* default as JSON text, NULL when none / computed */
        const char *doc;     /* one-line documentation */
};

extern const struct dc_key dc_keys[];
extern const size_t dc_n_keys;
/* Index of a key by dotted name, or -1. */
int dc_key_index(const char *name);
/* Origin of a key: where it was set, else the top file with line 0. */
const struct dc_origin *dc_config_origin(const struct dc_config *c, const char *key);
bool dc_config_present(const struct dc_config *c, const char *key);

struct dc_config_opts {
        const char *const *sets; /* "KEY=VALUE" overrides, applied after the file */
        size_t n_sets;
};

/* Parse FILE (with @include, relative to the file's directory) and apply
 * overrides and defaults. On error, *out is NULL and err says FILE:LINE: KEY: msg. */
int dc_config_load(const char *file, const struct dc_config_opts *opts,
                   struct dc_config **out, struct dc_error *err);
/* Same, from a string (for tests and fuzzing); `file` names it in errors
 * and is the base for relative paths (its directory). */
int dc_config_load_string(const char *text, const char *file, const struct dc_config_opts *opts,
                          struct dc_config **out, struct dc_error *err);
void dc_config_free(struct dc_config *c);
/* process.user's syntax: "uid", "uid:gid", "name" or "name:group" (ids below 2^32-1). */
bool dc_valid_user_spec(const char *v);
/* A signal a container may be stopped with: one the init passes on, or SIGKILL. */
bool dc_valid_stop_signal(int sig);
/* The namespace a sysctl NAME (dots or slashes) lives in: DC_NS_NET,
 * DC_NS_IPC or DC_NS_UTS; 0 when it is not namespaced (the host's), or
 * not a name at all. */
unsigned dc_sysctl_namespace(const char *name);
/* Its path under /proc/sys: dots become slashes unless it has slashes. */
char *dc_sysctl_path(const char *name);
static inline void dc_config_freep(struct dc_config **c)
{
        if (*c)
                dc_config_free(*c);
}
#define _cleanup_config_ __attribute__((cleanup(dc_config_freep)))

/* The resolved config as JSON (includes expanded, defaults filled). */
void dc_config_print_json(const struct dc_config *c, FILE *out);
