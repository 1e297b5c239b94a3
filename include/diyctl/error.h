/* Errors travel up as a struct dc_error; library code never prints or exits.
 * Functions return 0 or a negative errno and fill the error. */
#pragma once
#include <stdarg.h>

/* Where a configuration value came from. `file` points into storage owned by
 * the config (interned), so origins stay valid as long as the config does. */
struct dc_origin {
        const char *file;
        int line; /* 0 when unknown (defaults, --set) */
};

struct dc_error {
        int code;        /* positive errno, 0 when no error */
        char msg[2048];
};

/* Fill err with a message; returns -code (code given as positive errno). */
int dc_err(struct dc_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A config error: "FILE:LINE: KEY: message" (":LINE" left out when 0). Returns -EINVAL. */
int dc_err_at(struct dc_error *err, const struct dc_origin *o, const char *key,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Errors one a line: dc_errs_add each (the first one's code is kept);
 * dc_errs_end copies them into ERR in the order of their files' lines, as a
 * compiler lists them ("FILE:LINE: ..."; files in the order they first came,
 * errors without a line first in theirs), as many as fit with the rest
 * counted ("... and N more"), frees them, and returns -code, or 0 when none
 * was added. Every dc_errs that was added to must be ended. */
struct dc_errs {
        char **v;
        int code;
        unsigned n;
        unsigned more; /* errors a caller counted without adding (its own cap) */
};
void dc_errs_add(struct dc_errs *e, const struct dc_error *one);
int dc_errs_end(struct dc_errs *e, struct dc_error *err);
/* Prepend context: "context: previous message". Returns -code. */
int dc_err_wrap(struct dc_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void dc_err_clear(struct dc_error *err);
