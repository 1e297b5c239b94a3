/* Security hardening of the container's process: capabilities (libcap),
 * no_new_privs, the seccomp filter (libseccomp), and the launcher's own
 * defences (a sealed copy of itself, so no process a container can see runs
 * the host's diyctl binary).
 *
 * The plan carries the result as arguments of the exec step ("caps",
 * "seccomp", "no-new-privs"); the status file keeps them, so `diyctl exec`
 * applies exactly the same to the commands it runs in the container. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"
#include "diyctl/util.h"

struct dc_step;

/* ---- capability sets (pure) --------------------------------------------- */

/* A set of capabilities, bit N = capability N. */
typedef uint64_t dc_capset;
#define DC_CAP_BIT(c) ((dc_capset)1 << (c))
#define DC_CAP_ALL (-2) /* "ALL" in security.capabilities.add/drop */

/* A capability name as a user writes it ("NET_ADMIN", "CAP_NET_ADMIN",
 * "net_admin", or "ALL"): its number (or DC_CAP_ALL) and canonical name
 * ("CAP_NET_ADMIN", "ALL") in *canon when not NULL. -EINVAL when unknown. */
int dc_cap_parse(const char *name, int *cap, char **canon);
/* "CAP_CHOWN" for 0, ...; NULL when libcap does not know the number. */
char *dc_cap_name(int cap);
/* Docker's default list: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
 * SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
dc_capset dc_caps_default(void);
/* Every capability this build knows (what "ALL" means). */
dc_capset dc_caps_all(void);
/* The default list changed by add and drop (canonical names as dc_cap_parse
 * makes them): drop "ALL" starts from nothing, add "ALL" from everything;
 * then the other list applies. -EINVAL for an unknown name. */
int dc_caps_resolve(const struct dc_strv *add, const struct dc_strv *drop, dc_capset *out);
/* "CAP_CHOWN,CAP_KILL" (empty string for none), and back. */
char *dc_caps_format(dc_capset set);
int dc_caps_parse_list(const char *list, dc_capset *out);

/* ---- what the process gets ---------------------------------------------- */

struct dc_security {
        dc_capset caps;     /* bounding, permitted, effective; inheritable and ambient empty */
        bool seccomp;       /* the default filter */
        bool no_new_privs;
};

/* From an exec step's arguments or a status file ("caps", "seccomp",
 * "no-new-privs"); missing keys mean the defaults. */
int dc_security_from_kvs(const struct dc_kvs *kv, struct dc_security *sec, struct dc_error *err);
/* Step 1, as root before setgroups/setgid/setuid: shrink the bounding set,
 * keep the permitted set across setuid. (Without no_new_privs, the seccomp
 * filter is loaded here, while we still hold CAP_SYS_ADMIN.) */
int dc_security_before_setuid(const struct dc_security *sec, struct dc_error *err);
/* Step 2, after setuid, the last thing before execve: the capability sets,
 * ambient cleared, no_new_privs, then the seccomp filter. */
int dc_security_apply(const struct dc_security *sec, struct dc_error *err);
/* The default filter for a capability set, loaded into this process (the
 * caller has set no_new_privs or holds CAP_SYS_ADMIN). */
int dc_seccomp_load(dc_capset caps, struct dc_error *err);
/* The same filter as BPF written to fd (tests, `diyctl` debugging); returns
 * 0 or -errno. */
int dc_seccomp_export(dc_capset caps, int fd, struct dc_error *err);
/* The same program in memory: *OUT (the caller frees it) holds *LEN
 * instructions (the build's generator, tests). 0 or -errno. */
struct sock_filter;
int dc_seccomp_program(dc_capset caps, struct sock_filter **out, size_t *len, struct dc_error *err);
/* A filter compiled ahead of time: the program dc_seccomp_export wrote to fd
 * (the launcher compiles it while the first process mounts its file
 * systems, exec.c). dc_seccomp_load then loads it as it is when asked for
 * the same caps, instead of compiling its own again (libseccomp takes most
 * of a millisecond; bench/README.md). */
int dc_seccomp_use_compiled(dc_capset caps, int fd, struct dc_error *err);

/* The default filter compiled at build time (src/exec/seccomp_gen.c), in
 * the diyctl binary; a weak symbol, NULL where it is not linked in (the
 * generator itself, fuzzers, cross builds). dc_seccomp_load uses it for the
 * capabilities and the architecture it was made for. */
struct sock_filter;
struct dc_seccomp_prebuilt {
        dc_capset caps;
        uint32_t arch;                  /* libseccomp's SCMP_ARCH_* of the build */
        const struct sock_filter *insns;
        unsigned short len;
};
extern const struct dc_seccomp_prebuilt dc_seccomp_prebuilt __attribute__((weak));
/* The prebuilt program when it fits CAPS on this machine, else NULL. */
const struct dc_seccomp_prebuilt *dc_seccomp_prebuilt_for(dc_capset caps);

/* The minimal init (PID 1 of the container, our code): keep only CAP_KILL,
 * set no_new_privs. -1 when any of it failed (init.c then kills its command). */
int dc_security_restrict_init(void); /* 0, or -1: not restricted */

/* CVE-2019-5736: unless this process already runs from a sealed memfd copy
 * of its executable, make one and execveat() it with the same argv and
 * environment. Only returns on failure. */
int dc_reexec_sealed(char **argv, struct dc_error *err);
/* Does /proc/self/exe refer to a sealed, unwritable memfd? */
bool dc_running_sealed(void);

/* ---- plan side ------------------------------------------------------------ */

/* " caps CAP_..., seccomp default, no_new_privs" for the exec step's line. */
void dc_security_describe(const struct dc_step *s, FILE *out);

/* The paths hidden from the container (an empty read-only file or
 * directory over each) and the ones made read-only. NULL-terminated. */
extern const char *const dc_masked_paths[];
extern const char *const dc_readonly_paths[];
