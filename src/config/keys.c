/* The key table: every key a container config may contain, with its type,
 * its default (as JSON text, NULL when there is none or it is computed) and
 * one line of documentation. The parser (config.c) refuses any key that is
 * not listed here; docs and the schema test walk the same table. Keys of list
 * elements are written "volumes[].source". */
#include "diyctl/config.h"

#include <string.h>

const struct dc_key dc_keys[] = {
        { "name", DC_KT_STRING, NULL,
          "container name, [a-z0-9][a-z0-9_.-]{0,62}; default: the file name without .conf" },
        { "hostname", DC_KT_STRING, NULL,
          "host name inside the container, 1-64 of [A-Za-z0-9.-]; default: name" },

        { "rootfs", DC_KT_GROUP, NULL,
          "the root file system; exactly one of path, tarball or image is required" },
        { "rootfs.path", DC_KT_STRING, NULL,
          "a directory used as the root (relative to the config file's directory)" },
        { "rootfs.tarball", DC_KT_STRING, NULL,
          "a tar archive unpacked once into a cache and used as the root" },
        { "rootfs.image", DC_KT_STRING, NULL,
          "a `docker image save` archive whose layers are stacked with overlayfs" },
        { "rootfs.tag", DC_KT_STRING, NULL,
          "which image of a multi-image archive (only with rootfs.image)" },
        { "rootfs.writable", DC_KT_STRING, NULL,
          "\"tmpfs\", \"direct\" (path only), \"none\" or a directory for a persistent upper layer; "
          "default: direct for path, tmpfs otherwise" },
        { "rootfs.idmap", DC_KT_MIXED, NULL,
          "path with a user namespace, as root: an idmapped mount, so the directory's owners are the same "
          "inside; \"auto\" (when the container would see its root as nobody, and writes do not reach the "
          "directory) or a boolean; default: \"auto\" for path" },

        { "namespaces", DC_KT_STRINGS, "[\"mount\",\"uts\",\"ipc\",\"pid\",\"net\",\"cgroup\"]",
          "namespaces to create: mount uts ipc pid net user cgroup time" },

        { "devices", DC_KT_STRINGS, "[]",
          "host devices given to the container, as Docker's --device: \"/dev/fuse\", \"HOST:CONTAINER\" or "
          "\"HOST:CONTAINER:PERMS\" (of rwm); the container's path is in its /dev" },
        { "sysctls", DC_KT_STRINGS, "[]",
          "kernel parameters of the container's own namespaces, as NAME=VALUE strings (net.*, fs.mqueue.*, "
          "kernel.shm*, kernel.msg*, kernel.sem, kernel.domainname), as Docker's --sysctl" },

        { "process", DC_KT_GROUP, NULL, "the process started in the container" },
        { "process.args", DC_KT_STRINGS, NULL,
          "program and arguments; default: the image's Entrypoint+Cmd, else /bin/sh" },
        { "process.env", DC_KT_STRINGS, NULL,
          "environment as NAME=value strings; starts empty (the image's Env is the base)" },
        { "process.cwd", DC_KT_STRING, NULL,
          "working directory inside the container; default: the image's WorkingDir, else /" },
        { "process.user", DC_KT_MIXED, NULL,
          "\"uid:gid\", \"uid\", \"name\" or \"name:group\" (or an integer uid); default: 0:0" },
        { "process.terminal", DC_KT_MIXED, "\"auto\"",
          "\"auto\" (a pty when stdin is a terminal) or a boolean" },
        { "process.init", DC_KT_BOOL, "false",
          "run a minimal init as PID 1 that reaps zombies and forwards signals" },
        { "process.log_max_size", DC_KT_MIXED, NULL,
          "detached: rotate the container's log at this size, like \"10M\", or 0 (never); at least 4K; "
          "default: log_max_size of /etc/diyctl/host.conf (10M)" },
        { "process.stop_signal", DC_KT_MIXED, NULL,
          "the signal stop sends first: a name like \"SIGQUIT\" or a number; default: the image's StopSignal, "
          "else SIGTERM" },
        { "process.rlimits", DC_KT_GROUP, NULL,
          "resource limits (setrlimit), as Docker's --ulimit: each an integer (soft and hard), \"SOFT:HARD\" or "
          "\"unlimited\" (or -1); a limit not set is the launcher's" },
#define RLIMIT_KEY(name, what) { "process.rlimits." name, DC_KT_MIXED, NULL, "RLIMIT_" what },
        RLIMIT_KEY("as", "AS: address space, bytes")
        RLIMIT_KEY("core", "CORE: core dump size, bytes")
        RLIMIT_KEY("cpu", "CPU: CPU time, seconds")
        RLIMIT_KEY("data", "DATA: data segment, bytes")
        RLIMIT_KEY("fsize", "FSIZE: size of a file written, bytes")
        RLIMIT_KEY("locks", "LOCKS: file locks (not enforced by Linux)")
        RLIMIT_KEY("memlock", "MEMLOCK: locked memory, bytes")
        RLIMIT_KEY("msgqueue", "MSGQUEUE: POSIX message queues, bytes")
        RLIMIT_KEY("nice", "NICE: the highest priority, as 20 - nice (0 to 40)")
        RLIMIT_KEY("nofile", "NOFILE: open files (at most the host's fs.nr_open)")
        RLIMIT_KEY("nproc", "NPROC: processes of the uid (across the host, or in the container's user namespace)")
        RLIMIT_KEY("rss", "RSS: resident memory (not enforced by Linux)")
        RLIMIT_KEY("rtprio", "RTPRIO: the highest real-time priority")
        RLIMIT_KEY("rttime", "RTTIME: real-time CPU time without a blocking call, microseconds")
        RLIMIT_KEY("sigpending", "SIGPENDING: queued signals")
        RLIMIT_KEY("stack", "STACK: stack size, bytes")
#undef RLIMIT_KEY

        { "volumes", DC_KT_LIST, "[]", "mounts added to the container, a list of groups" },
        { "volumes[].type", DC_KT_STRING, "\"bind\"", "\"bind\" or \"tmpfs\"" },
        { "volumes[].source", DC_KT_STRING, NULL,
          "bind: the host path (relative to the config file's directory); not for tmpfs" },
        { "volumes[].target", DC_KT_STRING, NULL, "the path inside the container (required)" },
        { "volumes[].readonly", DC_KT_BOOL, "false", "mount read-only" },
        { "volumes[].idmap", DC_KT_BOOL, "false",
          "bind, with a user namespace, as root: an idmapped mount, so the source's owners are the same inside and "
          "files the container makes belong on the host to the ids it names" },
        { "volumes[].mode", DC_KT_STRING, "\"1777\"",
          "tmpfs only: the mode of its root directory, octal in a string (\"0700\"); default world-writable and "
          "sticky, as /tmp" },
        { "volumes[].size", DC_KT_MIXED, NULL,
          "tmpfs only: size like \"64M\" or an integer byte count; default: the kernel's" },

        { "network", DC_KT_GROUP, NULL, "networking" },
        { "network.mode", DC_KT_STRING, "\"none\"",
          "\"none\" (loopback only), \"host\", \"nat\" or \"bridge\"" },
        { "network.interface", DC_KT_STRING, "\"eth0\"", "the interface name inside the container" },
        { "network.address", DC_KT_STRING, NULL,
          "IPv4 address with prefix length, like 10.88.0.6/30; nat default: allocated from the pool" },
        { "network.bridge", DC_KT_STRING, NULL, "bridge mode: the bridge to join" },
        { "network.gateway", DC_KT_STRING, NULL,
          "IPv4 default route inside the container" },
        { "network.ipv6", DC_KT_MIXED, "false",
          "a boolean (nat: an address from fd88::/48), or a group { address; gateway; }" },
        { "network.ipv6.address", DC_KT_STRING, NULL,
          "IPv6 address with prefix length, like fd88::2/64" },
        { "network.ipv6.gateway", DC_KT_STRING, NULL, "IPv6 default route inside the container" },
        { "network.ports", DC_KT_LIST, "[]", "ports forwarded from the host, a list of groups" },
        { "network.ports[].host", DC_KT_INT, NULL, "the host port, 1-65535 (required)" },
        { "network.ports[].container", DC_KT_INT, NULL,
          "the container port, 1-65535; default: the host port" },
        { "network.ports[].protocol", DC_KT_STRING, "\"tcp\"", "\"tcp\" or \"udp\"" },
        { "network.dns", DC_KT_MIXED, "\"host\"",
          "\"host\" (the host's resolvers) or an array of IPv4/IPv6 server addresses" },

        { "time", DC_KT_GROUP, NULL, "clock offsets (needs the time namespace)" },
        { "time.boottime", DC_KT_MIXED, "0",
          "\"reset\" (uptime starts at 0) or an offset in seconds" },
        { "time.monotonic", DC_KT_INT, "0", "offset of CLOCK_MONOTONIC in seconds" },

        { "user", DC_KT_GROUP, NULL, "user namespace mapping (needs the user namespace)" },
        { "user.map", DC_KT_MIXED, NULL,
          "\"root\", \"auto\" (from /etc/subuid and /etc/subgid) or a list of { inside; outside; count; }" },
        { "user.map[].inside", DC_KT_INT, NULL, "first id inside the container (required)" },
        { "user.map[].outside", DC_KT_INT, NULL, "first id on the host (required)" },
        { "user.map[].count", DC_KT_INT, NULL, "number of ids, at least 1 (required)" },

        { "limits", DC_KT_GROUP, NULL, "resource limits (cgroups)" },
        { "limits.memory", DC_KT_MIXED, NULL,
          "memory limit: a size like \"256M\" or an integer byte count; default: unlimited" },
        { "limits.cpus", DC_KT_NUMBER, NULL, "CPU limit in CPUs, like 1.5; default: unlimited" },
        { "limits.pids", DC_KT_INT, NULL, "maximum number of tasks; default: unlimited" },

        { "security", DC_KT_GROUP, NULL, "what the process may do: capabilities, seccomp, no_new_privileges" },
        { "security.capabilities", DC_KT_GROUP, NULL,
          "changes to the default capability set (Docker's: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID "
          "SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP)" },
        { "security.capabilities.add", DC_KT_STRINGS, "[]",
          "capabilities to add, like \"NET_ADMIN\" or \"CAP_NET_ADMIN\"; \"ALL\": every capability" },
        { "security.capabilities.drop", DC_KT_STRINGS, "[]",
          "capabilities to drop; \"ALL\": start from none (then add)" },
        { "security.seccomp", DC_KT_STRING, "\"default\"",
          "\"default\" (refuse with EPERM the system calls a container has no business with) or \"unconfined\"" },
        { "security.no_new_privileges", DC_KT_BOOL, "true",
          "no_new_privs: setuid binaries and file capabilities grant nothing after exec" },
};

const size_t dc_n_keys = DC_ARRAY_SIZE(dc_keys);

int dc_key_index(const char *name)
{
        if (!name)
                return -1;
        for (size_t i = 0; i < dc_n_keys; i++)
                if (strcmp(dc_keys[i].name, name) == 0)
                        return (int)i;
        return -1;
}

static const struct {
        unsigned bit;
        const char *name;
} ns_names[] = {
        { DC_NS_MOUNT, "mount" },
        { DC_NS_UTS, "uts" },
        { DC_NS_IPC, "ipc" },
        { DC_NS_PID, "pid" },
        { DC_NS_NET, "net" },
        { DC_NS_USER, "user" },
        { DC_NS_CGROUP, "cgroup" },
        { DC_NS_TIME, "time" },
};

const char *dc_ns_name(unsigned bit)
{
        for (size_t i = 0; i < DC_ARRAY_SIZE(ns_names); i++)
                if (ns_names[i].bit == bit)
                        return ns_names[i].name;
        return NULL;
}

unsigned dc_ns_from_name(const char *name)
{
        if (!name)
                return 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(ns_names); i++)
                if (strcmp(ns_names[i].name, name) == 0)
                        return ns_names[i].bit;
        return 0;
}
