/* The state directory of a running container: STATE_ROOT/NAME/{lock,journal,
 * status,log,root}. `status` is written once the process runs and read by
 * list, status, stop, exec and logs. A detached container that ended on its
 * own leaves only {log,status}: its record, until the next start of the name,
 * stop or cleanup. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"

struct dc_state {
        char *name;
        char *dir;
        bool running;          /* a launcher holds the lock */
        bool has_status;       /* the process was started */
        pid_t launcher_pid;
        pid_t pid;             /* the container's first process, host pid */
        long long started;     /* unix time */
        bool detached;
        bool exited;           /* only the record of a detached container that ended is left */
        bool stopping;         /* its process ended, its launcher tears down */
        int exit_code;         /* exited: its code, 128+N for signal N */
        long long ended;       /* exited: unix time */
        struct dc_kvs kv;      /* every field of the status file */
};

/* Is the lock of DIR held by a launcher? (tests without taking it) */
bool dc_state_locked(const char *dir);
/* Read STATE_ROOT/NAME. -ENOENT when there is no such container. */
int dc_state_read(const char *root, const char *name, struct dc_state *st, struct dc_error *err);
void dc_state_free(struct dc_state *st);
/* Write DIR/status atomically (status.tmp + rename). */
int dc_state_write_status(const char *dir, const struct dc_kvs *kv, struct dc_error *err);
