/* Helpers shared by the network step kinds (net_*.c).
 *
 * A step argument whose value starts with '@' names a run-time value that an
 * earlier step put in ctx->vars (the lease step: "@net.ipv4.gateway", ...).
 * Such steps journal their intent with the values resolved, so undo never
 * needs ctx->vars (and `diyctl cleanup` after a crash has none). */
#pragma once
#include <stdio.h>

#include "diyctl/exec.h"
#include "diyctl/kv.h"
#include "diyctl/step.h"

/* Run-time values set by the lease step (and the addr step in bridge mode). */
#define DC_VAR_HOST_IF "net.host_if"

/* A copy of the step's args with every '@' reference replaced; -ENOENT (err
 * filled) when a referenced value is missing. */
int dc_net_resolve_args(const struct dc_step *s, const struct dc_exec_ctx *ctx, struct dc_kvs *out,
                        struct dc_error *err);
/* Journal the intent with these (resolved) fields. */
int dc_net_intent(struct dc_exec_ctx *ctx, const struct dc_step *s, const struct dc_kvs *fields, unsigned *seq,
                  struct dc_error *err);
/* For describe: a value as a reader should see it ("@net.ipv4.gateway" ->
 * "<the lease's IPv4 gateway>"). */
const char *dc_net_show(const char *v);

/* Small registries under the host lock: STATE_ROOT/DIR/NAME holding text
 * (.leases/CONTAINER, .ports/tcp-8080). Written atomically; remove prunes
 * the directory when it becomes empty. */
int dc_net_registry_write(const char *root, const char *dir, const char *name, const char *content,
                          struct dc_error *err);
/* >= 0 (its length) with *content, -ENOENT when absent. */
int dc_net_registry_read(const char *root, const char *dir, const char *name, char **content);
int dc_net_registry_remove(const char *root, const char *dir, const char *name, struct dc_error *err);

extern const struct dc_step_ops dc_lease_ops;
extern const struct dc_step_ops dc_ports_ops;
extern const struct dc_step_ops dc_veth_ops;
extern const struct dc_step_ops dc_bridge_port_ops;
extern const struct dc_step_ops dc_link_up_ops;
extern const struct dc_step_ops dc_addr_ops;
extern const struct dc_step_ops dc_route_ops;
extern const struct dc_step_ops dc_nft_table_ops;
extern const struct dc_step_ops dc_firewall_ops;
extern const struct dc_step_ops dc_resolv_ops;
