/* The journal: a durable, line-oriented, human-readable record of every
 * host-side change, written before (intent) and after (done) the change, so
 * teardown can undo exactly what was done, newest first, even after kill -9.
 *
 * File format, version 1 (one record per line, UTF-8/ASCII):
 *
 *   diyctl-journal 1 name=web crc=1a2b3c4d
 *   1 intent statedir path=/run/diyctl/web crc=0badf00d
 *   1 done statedir crc=...
 *   2 intent sysctl key=net.ipv4.ip_forward prev=0 value=1 crc=...
 *   2 undone sysctl crc=...
 *
 * Fields are separated by one space. Values are percent-encoded (dc_pct_encode)
 * so they never hold spaces, newlines or '='. The last field of every line is
 * crc=<8 hex digits>: CRC-32 (IEEE) of the line's bytes before " crc=". A line
 * without its trailing newline or with a wrong CRC is damaged; parsing stops
 * there and reports it (a torn last line after a power cut is expected and
 * harmless: its step's intent was never followed by anything). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "diyctl/error.h"
#include "diyctl/kv.h"

#define DC_JOURNAL_VERSION 1
/* Longest line, newline included; longer lines are damage, and the writer
 * refuses to produce them (-E2BIG). */
#define DC_JOURNAL_MAX_LINE 65536

enum dc_rec_type { DC_REC_INTENT, DC_REC_DONE, DC_REC_UNDONE };

/* One step's history, merged from its intent, done and undone lines. */
struct dc_jentry {
        unsigned seq;
        char *kind;
        struct dc_kvs kv;   /* intent's fields, then done's fields */
        bool done;          /* the done line was written */
        bool undone;        /* teardown already undid it */
        int line;           /* line number of the intent */
};

struct dc_jcontent {
        char *name;                 /* from the header */
        struct dc_jentry *entries;  /* in seq order */
        size_t n;
        int damaged_line;           /* 0 when intact, else the first bad line */
        char damage[256];           /* what was wrong with it */
        bool torn;                  /* the damage is only an unterminated last
                                     * line: the expected trace of a crash
                                     * mid-append, harmless */
        size_t valid_len;           /* bytes up to the end of the last good line */
};

/* Parse a journal image. Never crashes on any input. Returns 0 when the header
 * is valid (damage further on is reported in out->damaged_line), -EINVAL when
 * not a journal at all (or an unsupported version), -ENODATA when empty or only
 * a torn header (its creator died inside dc_journal_create: nothing was ever
 * journaled). On error *out is empty; dc_jcontent_free is safe either way. */
int dc_journal_parse(const char *buf, size_t len, struct dc_jcontent *out, struct dc_error *err);
int dc_journal_read(const char *path, struct dc_jcontent *out, struct dc_error *err);
void dc_jcontent_free(struct dc_jcontent *c);

/* CRC-32 (IEEE 802.3, as zlib's crc32). */
unsigned dc_crc32(const void *buf, size_t len);

/* Kinds match [a-z0-9-]+; keys match [a-z0-9_-]+ and are not "crc". */
bool dc_journal_kind_valid(const char *kind);
bool dc_journal_key_valid(const char *key);

/* Encode one record line (with crc and trailing newline) into a new string.
 * kv may be NULL. NULL when seq is 0, the kind or a key is invalid, or the line
 * would exceed DC_JOURNAL_MAX_LINE (dc_journal_intent/done say which). */
char *dc_journal_format(unsigned seq, enum dc_rec_type type, const char *kind,
                        const struct dc_kvs *kv);

struct dc_journal {
        int fd;
        unsigned next_seq;
        char *path;
        bool failed;        /* a write or fdatasync failed: refuse further appends */
};

/* Create a new journal (O_EXCL) and write its header, durably. */
int dc_journal_create(const char *path, const char *name, struct dc_journal **out,
                      struct dc_error *err);
/* Open an existing journal for appending (teardown marks undone records).
 * A torn last line (crash mid-append) is cut off so new lines stay readable;
 * any other damage is -EBADMSG (nothing appended after it could ever be read).
 * Only while no other process writes the journal (hold the container lock). */
int dc_journal_open(const char *path, struct dc_journal **out, struct dc_error *err);
void dc_journal_close(struct dc_journal *j);

/* Append and fdatasync. intent assigns *seq. */
int dc_journal_intent(struct dc_journal *j, const char *kind, const struct dc_kvs *kv,
                      unsigned *seq, struct dc_error *err);
int dc_journal_done(struct dc_journal *j, unsigned seq, const char *kind,
                    const struct dc_kvs *kv, struct dc_error *err);
int dc_journal_undone(struct dc_journal *j, unsigned seq, const char *kind,
                      struct dc_error *err);
