/* The service manager notification protocol (sd_notify(3)), spoken without
 * libsystemd: one datagram of newline-separated VAR=value assignments sent to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for an
 * abstract socket). diyctl sends READY=1 (with MAINPID= and STATUS=) once the
 * container's process runs, and STOPPING=1 when it begins to stop. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

/* Send MSG to the socket SOCKET_SPEC ("/path" or "@abstract"). Returns 1 when
 * sent, 0 when socket_spec is NULL or empty (not under a service manager), or
 * -errno (-EINVAL for an address we cannot use, -EAFNOSUPPORT for a
 * "vsock:" address). */
int dc_notify_to(const char *socket_spec, const char *msg);

/* dc_notify_to($NOTIFY_SOCKET, MSG). */
int dc_notify(const char *msg);

/* printf-style dc_notify. */
int dc_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* READY=1, MAINPID=main_pid and STATUS=text, in one datagram. */
int dc_notify_ready(pid_t main_pid, const char *status);

/* STOPPING=1 and STATUS=text, once per process: later calls only update
 * STATUS=. Returns like dc_notify. */
int dc_notify_stopping(const char *status);

/* STATUS=text and ERRNO=code (positive errno; left out when 0): start failed. */
int dc_notify_failed(const char *status, int code);
