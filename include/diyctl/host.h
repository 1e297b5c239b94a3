/* Host-wide settings: /etc/diyctl/host.conf (libconfig syntax, all optional).
 *
 *   firewall = "iptables";          # or "nftables"
 *   nat = {
 *     ipv4_pool = "10.88.0.0/16";   # NAT containers get a /30 of it each
 *     ipv6_pool = "fd88::/48";      # and a /64 of this one with network.ipv6
 *   };
 *   state_dir = "/run/diyctl";      # root's containers' state directories
 *   log_max_size = "10M";           # a detached container's log is rotated at
 *                                   # this size (one earlier file kept); "0": never
 *
 * A missing file means the defaults above. Unknown keys are errors, reported
 * as FILE:LINE: KEY: message. DIYCTL_HOST_CONF names another file (tests). */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "diyctl/error.h"

#define DC_HOST_CONF_PATH "/etc/diyctl/host.conf"
#define DC_NAT_POOL4_DEFAULT "10.88.0.0/16"
#define DC_NAT_POOL6_DEFAULT "fd88::/48"
/* Size of one container's subnet carved from the pools. */
#define DC_NAT_SUBNET4_LEN 30
#define DC_NAT_SUBNET6_LEN 64
/* A detached container's log is rotated when it reaches this size; a
 * smaller size than the minimum (host.conf's or process.log_max_size) would
 * split almost every line; 0 never rotates. */
#define DC_LOG_MAX_SIZE_DEFAULT (10ull << 20)
#define DC_LOG_MAX_SIZE_MIN 4096ull
#define DC_LOG_MAX_SIZE_SMALL "%llu bytes is too small: at least 4096 (\"4K\"), or 0 to never rotate"

enum dc_firewall { DC_FW_IPTABLES = 0, DC_FW_NFTABLES };

struct dc_host_conf {
        char *file;             /* the file read, or NULL: all defaults */
        enum dc_firewall firewall;
        char *nat_pool4;        /* "A.B.C.D/N", host bits zero */
        char *nat_pool6;        /* "X::/N", host bits zero */
        char *state_dir;        /* absolute, normalized; NULL: /run/diyctl */
        unsigned long long log_max_size; /* bytes; 0: the log is never rotated */
};

/* Read the host config: path, else $DIYCTL_HOST_CONF, else DC_HOST_CONF_PATH.
 * A missing file gives the defaults. */
int dc_host_conf_load(const char *path, struct dc_host_conf **out, struct dc_error *err);
/* The same from text; `file` names it in errors. */
int dc_host_conf_load_string(const char *text, const char *file, struct dc_host_conf **out,
                             struct dc_error *err);
/* The state root of UID's containers: $DIYCTL_STATE_ROOT (tests), else for
 * root the host config's state_dir (H, or the file read now when H is NULL),
 * else /run/diyctl; for other users $XDG_RUNTIME_DIR/diyctl. NULL, with ERR,
 * when the host config it reads has errors: guessing could point every
 * command at another tree. */
char *dc_state_root_of(uid_t uid, const struct dc_host_conf *h, struct dc_error *err);
/* Defaults only. */
struct dc_host_conf *dc_host_conf_new(void);
void dc_host_conf_free(struct dc_host_conf *h);
static inline void dc_host_conf_freep(struct dc_host_conf **h)
{
        if (*h)
                dc_host_conf_free(*h);
}
#define _cleanup_host_conf_ __attribute__((cleanup(dc_host_conf_freep)))

const char *dc_firewall_name(enum dc_firewall fw);
