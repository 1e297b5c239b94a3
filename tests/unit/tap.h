/* A tiny TAP producer for unit tests: each CHECK is one test point. */
#pragma once
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* Line-buffered, so a sanitizer that ends the program early loses nothing. */
__attribute__((constructor)) static void tap_init(void)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
}

#define CHECK(cond, ...)                                                       \
        do {                                                                   \
                int _check_ok = !!(cond); /* once: cond may have effects */    \
                tap_n++;                                                       \
                if (_check_ok) {                                               \
                        printf("ok %d - ", tap_n);                             \
                } else {                                                       \
                        tap_failed++;                                          \
                        printf("not ok %d - ", tap_n);                         \
                }                                                              \
                printf(__VA_ARGS__);                                           \
                printf("\n");                                                  \
                if (!_check_ok)                                                \
                        printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        } while (0)

#define CHECK_STREQ(a, b, ...)                                                 \
        do {                                                                   \
                const char *_a = (a), *_b = (b);                               \
                int _ok = (_a && _b) ? strcmp(_a, _b) == 0 : _a == _b;         \
                CHECK(_ok, __VA_ARGS__);                                       \
                if (!_ok)                                                      \
                        printf("#   got:      %s\n#   expected: %s\n", _a ? _a : "(null)", _b ? _b : "(null)"); \
        } while (0)

static inline int tap_done(void)
{
        printf("1..%d\n", tap_n);
        return tap_failed ? 1 : 0;
}
