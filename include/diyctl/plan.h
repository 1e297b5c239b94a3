/* Validation and planning: a pure function from a config (and a few facts about
 * the caller) to an ordered list of fully resolved steps. No side effects. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "diyctl/config.h"
#include "diyctl/error.h"
#include "diyctl/step.h"

struct dc_host_conf;

struct dc_plan_opts {
        const char *state_root; /* NULL: dc_state_root_of(uid, host) */
        bool stdin_tty;         /* decides process.terminal = "auto" */
        uid_t uid;              /* the caller */
        gid_t gid;
        bool skip_fs_checks;    /* unit tests: do not stat volume sources or rootfs */
        bool check_contents;    /* check, plan: look into a directory rootfs (and the host's port
                                 * registry) for what start would miss */
        bool cgroups;           /* give the container its own cgroup (root; not rootless) */
        const char *cgroup_parent; /* NULL: HIERARCHY/diyctl/NAME; "self": inside the launcher's
                                    * delegated cgroup (systemd Delegate=yes); or a cgroup path */
        const struct dc_host_conf *host; /* /etc/diyctl/host.conf; NULL: its defaults */
        const char *subuid_file; /* NULL: /etc/subuid (tests point elsewhere) */
        const char *subgid_file; /* NULL: /etc/subgid */
};

struct dc_plan {
        char *name;
        char *config_file;
        char *state_dir;        /* STATE_ROOT/NAME */
        unsigned namespaces;    /* DC_NS_* */
        bool terminal;          /* give the process a pty */
        bool init;              /* minimal init as PID 1 */
        unsigned long long log_max_size; /* detached: rotate STATE/log at this size; 0 never */
        struct dc_step *steps;
        size_t n;
};

int dc_plan_build(const struct dc_config *c, const struct dc_plan_opts *opts,
                  struct dc_plan **out, struct dc_error *err);
void dc_plan_free(struct dc_plan *p);
static inline void dc_plan_freep(struct dc_plan **p)
{
        if (*p)
                dc_plan_free(*p);
}
#define _cleanup_plan_ __attribute__((cleanup(dc_plan_freep)))

/* Human-readable listing: one numbered line per step, host steps marked. */
void dc_plan_print(const struct dc_plan *p, FILE *out);
void dc_plan_print_json(const struct dc_plan *p, FILE *out);

/* Valid container name: [a-z0-9][a-z0-9_.-]{0,62} */
bool dc_name_valid(const char *name);

/* The configs of one fleet (`diyctl check FILE...`): what C cannot share
 * with any of the N configs before it on one host (its name, a host port,
 * a NAT subnet or bridge address it pins, its upper layer directory), each
 * named at C's key and the other's. 0 when nothing clashes. */
int dc_fleet_check(const struct dc_config *const *others, size_t n, const struct dc_config *c,
                   struct dc_error *err);
/* Are paths A and B one file (given twice, through a link or "./")? */
bool dc_same_file(const char *a, const char *b);
