/* Small helpers shared by every module: cleanup attributes, string vectors,
 * allocation that aborts on OOM, fd helpers. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The PATH Docker gives a container whose image sets none; also where a
 * command is looked up when its environment has no PATH. */
#define DC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static inline void dc_freep(void *p) { free(*(void **)p); }
static inline void dc_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
static inline void dc_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_free_ __attribute__((cleanup(dc_freep)))
#define _cleanup_close_ __attribute__((cleanup(dc_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(dc_fclosep)))

/* Take ownership out of a cleanup variable. */
#define DC_TAKE(p)                                                             \
        ({                                                                     \
                __typeof__(p) _t = (p);                                        \
                (p) = NULL;                                                    \
                _t;                                                            \
        })
#define DC_TAKE_FD(fd)                                                         \
        ({                                                                     \
                int _t = (fd);                                                 \
                (fd) = -1;                                                     \
                _t;                                                            \
        })

/* Allocation: out of memory is not a recoverable condition for a launcher. */
void *dc_xmalloc(size_t n);
void *dc_xcalloc(size_t n, size_t sz);
void *dc_xrealloc(void *p, size_t n);
char *dc_xstrdup(const char *s);
char *dc_xstrndup(const char *s, size_t n);
char *dc_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A NULL-terminated vector of owned strings. */
struct dc_strv {
        char **v;
        size_t n;
};
void dc_strv_push(struct dc_strv *sv, const char *s);
void dc_strv_push_take(struct dc_strv *sv, char *s);
void dc_strv_free(struct dc_strv *sv);
void dc_strv_copy(struct dc_strv *dst, const struct dc_strv *src);
bool dc_strv_contains(const struct dc_strv *sv, const char *s);

bool dc_streq(const char *a, const char *b); /* NULL-safe */
bool dc_startswith(const char *s, const char *prefix);
/* Test builds: SIGKILL ourselves when $DIYCTL_FAULT is the point FMT names
 * ("3:before", "nat:intent"), so tests can cut the launcher anywhere.
 * Compiled out of release builds. */
void dc_fault_point(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Test builds: is $DIYCTL_FAULT POINT? (false in release builds) */
bool dc_fault_is(const char *point);
/* A network interface name of the N bytes at S: 1-15 of A-Z, a-z, 0-9, '_',
 * '.' and '-', not starting with '-', not "." or "..". */
bool dc_ifname_valid(const char *s, size_t n);

/* Write all of buf, retrying on EINTR and short writes. 0 or -errno. */
int dc_write_all(int fd, const void *buf, size_t len);
/* Read a small file (at most max bytes) into a NUL-terminated buffer. */
int dc_read_file(const char *path, size_t max, char **out);

/* The command line /proc/PID/cmdline shows (world-readable): main()
 * remembers where its arguments are; a process that stays in a container
 * (the init) replaces them with NAME, so the container cannot read the
 * launcher's command line (the config's path, every --set). */
void dc_cmdline_remember(int argc, char **argv);
void dc_cmdline_replace(const char *name);
/* Write a string to a file (O_WRONLY|O_CLOEXEC, no create). */
int dc_write_file(const char *path, const char *s);

/* mkdir -p; mode for created components. 0 or -errno. */
int dc_mkdir_p(const char *path, unsigned mode);

/* Parse sizes such as "64M", "1G", "512k", "1024": 0 or -EINVAL. */
int dc_parse_size(const char *s, unsigned long long *out);

/* JSON string escaping onto a stream, with the surrounding quotes. */
void dc_json_str(FILE *out, const char *s);

/* Percent-encode bytes outside [A-Za-z0-9._/:,@+=-] (journal values). */
char *dc_pct_encode(const char *s);
/* Decode; returns NULL on malformed input. */
char *dc_pct_decode(const char *s);

/* Signals by name. dc_signal_parse takes "SIGTERM", "TERM", "SIGRTMIN+3",
 * "RTMAX-1" (upper case) or, with digits, a number; it returns the signal or
 * -1. dc_signal_name writes "SIGTERM", "SIGRTMIN+3" or "signal N". */
int dc_signal_parse(const char *s, bool digits);
const char *dc_signal_name(int sig, char buf[24]);
/* As Docker reads a signal: a name in any case, with or without SIG, or a
 * number. -1 when it is none. */
int dc_signal_parse_loose(const char *s);
/* Signals a supervisor sends to ask a process something (stop, reload, dump
 * state...): every signal but SIGKILL, SIGSTOP, SIGCHLD, the job-control
 * signals a terminal sends and the faults the kernel raises. The minimal init
 * passes these on; a stop signal is one of these or SIGKILL. */
bool dc_signal_forwardable(int sig);
