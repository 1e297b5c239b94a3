#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "diyctl/host.h"
#include "diyctl/state.h"
#include "steps/cgroup_place.h"

char *dc_cmd_state_root(void)
{
        struct dc_error err = { 0 };
        char *root = dc_state_root_of(getuid(), NULL, &err);
        if (root && dc_state_root_safe(root, &err) < 0) {
                free(root);
                root = NULL;
        }
        if (!root)
                dc_print_error(&err);
        return root;
}

int dc_load_plan(const char *file, const char *const *sets, size_t n_sets, unsigned flags,
                 struct dc_config **config, struct dc_plan **plan, struct dc_error *err)
{
        struct dc_config_opts co = { .sets = sets, .n_sets = n_sets };
        int r = dc_config_load(file, &co, config, err);
        if (r < 0)
                return r;
        /* Under systemd with Delegate=yes the container's cgroup goes inside
         * the unit's. Unprivileged, that delegated cgroup is the only place a
         * container's cgroup can be: without one it gets none. */
        bool root = geteuid() == 0;
        _cleanup_free_ char *cgparent = NULL;
        if ((r = dc_cgroup_parent(!root, &cgparent, err)) < 0) {
                dc_config_free(*config);
                *config = NULL;
                return r;
        }
        struct dc_plan_opts po = {
                .stdin_tty = !(flags & DC_LOAD_DETACHED) && isatty(STDIN_FILENO),
                .check_contents = flags & DC_LOAD_CONTENTS,
                .uid = getuid(),
                .gid = getgid(),
                .cgroups = root || cgparent,
                .cgroup_parent = cgparent,
        };
        /* Host-wide settings: firewall backend, NAT pools. */
        _cleanup_host_conf_ struct dc_host_conf *host = NULL;
        if ((r = dc_host_conf_load(NULL, &host, err)) < 0) {
                dc_config_free(*config);
                *config = NULL;
                return r;
        }
        po.host = host;
        r = dc_plan_build(*config, &po, plan, err);
        if (r < 0) {
                dc_config_free(*config);
                *config = NULL;
        }
        return r;
}

int dc_cmd_state_of(const char *cmd, int argc, char **argv, struct dc_state *st)
{
        if (argc != 2) {
                dc_usage_error(cmd, "name one container");
                return 2;
        }
        _cleanup_free_ char *root = dc_cmd_state_root();
        if (!root)
                return 1;
        struct dc_error err = { 0 };
        if (dc_state_read(root, argv[1], st, &err) < 0) {
                dc_print_error(&err);
                return 1;
        }
        return 0;
}
