/* The table of step kinds. Adding a capability means adding a kind here; the
 * executor and teardown stay as they are. */
#include <string.h>

#include "diyctl/plan.h"
#include "diyctl/step.h"
#include "net.h"
#include "steps.h"

static void spawn_describe(const struct dc_step *s, FILE *out)
{
        fprintf(out, "start the first process in new namespaces: %s", dc_kvs_get(&s->args, "namespaces"));
        const char *bt = dc_kvs_get(&s->args, "boottime");
        if (bt)
                fprintf(out, "; time offsets: boottime %s, monotonic %s s", bt,
                        dc_kvs_get(&s->args, "monotonic"));
}

static const struct dc_step_ops spawn_ops = {
        .kind = "spawn",
        .side = DC_SIDE_SPAWN,
        .describe = spawn_describe,
};

const struct dc_step_ops *const dc_step_table[] = {
        &dc_statedir_ops,
        &spawn_ops,
        &dc_idmap_ops,
        &dc_idmap_layers_ops,
        &dc_image_unpack_ops,
        &dc_cgroup_ops,
        &dc_netns_ops,
        &dc_loopback_up_ops,
        &dc_sysctl_ops,
        &dc_lease_ops,
        &dc_ports_ops,
        &dc_veth_ops,
        &dc_bridge_port_ops,
        &dc_link_up_ops,
        &dc_addr_ops,
        &dc_route_ops,
        &dc_nft_table_ops,
        &dc_firewall_ops,
        &dc_resolv_ops,
        &dc_cgroupns_ops,
        &dc_make_private_ops,
        &dc_rootfs_ops,
        &dc_mount_ops,
        &dc_bind_ops,
        &dc_symlink_ops,
        &dc_hostname_ops,
        &dc_sysctl_inside_ops,
        &dc_loopback_inside_ops,
        &dc_remount_root_ro_ops,
        &dc_pivot_root_ops,
        &dc_readonly_ops,
        &dc_mask_ops,
        &dc_nodev_ops,
        &dc_wait_launcher_ops,
        &dc_exec_ops,
        NULL,
};

const struct dc_step_ops *dc_step_find(const char *kind)
{
        for (size_t i = 0; dc_step_table[i]; i++)
                if (strcmp(dc_step_table[i]->kind, kind) == 0)
                        return dc_step_table[i];
        return NULL;
}
