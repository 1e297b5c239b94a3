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

/* May ROOT hold our state directories? A directory (not a symlink) of our
 * own that no one else may write, or not there yet. Else -EPERM with why:
 * a state_dir shared with others would let them plant or swap entries. */
int dc_state_root_safe(const char *root, struct dc_error *err);
/* Is DIR (ROOT/NAME) a state directory of ours: a journal in it (a run, or
 * what a dead one left), or a status that names NAME (a running or exited
 * container)? cleanup --all touches nothing else. */
bool dc_statedir_is_ours(const char *dir, const char *name);
/* Is the lock of DIR held by a launcher? (tests without taking it) */
bool dc_state_locked(const char *dir);
/* Remove STATE_ROOT when nothing is left in it (best effort, racing starts
 * recreate it; src/steps/statedir.c). */
void dc_state_root_prune(const char *state_root);
/* Read STATE_ROOT/NAME. -ENOENT when there is no such container. */
int dc_state_read(const char *root, const char *name, struct dc_state *st, struct dc_error *err);
void dc_state_free(struct dc_state *st);
/* Write DIR/status atomically (status.tmp + rename). */
int dc_state_write_status(const char *dir, const struct dc_kvs *kv, struct dc_error *err);
