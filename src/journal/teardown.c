/* Teardown: undo the journal's records newest first. Every undo is idempotent,
 * each success is marked in the journal ("undone"), so an interrupted teardown
 * can simply be run again. The state dir's own record is first in the journal
 * and so undone last; it is kept when anything else failed, so that the journal
 * survives for the next attempt. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "diyctl/exec.h"
#include "diyctl/journal.h"
#include "diyctl/step.h"
#include "diyctl/util.h"

static void note(char *buf, size_t cap, const char *what, const char *detail)
{
        size_t len = strlen(buf);
        if (len + 2 < cap)
                snprintf(buf + len, cap - len, "%s%s: %s", len ? "; " : "", what, detail);
}

static int teardown(const char *state_dir, bool keep_record, struct dc_error *err)
{
        _cleanup_free_ char *jp = dc_xasprintf("%s/journal", state_dir);
        struct dc_jcontent jc = { 0 };
        struct dc_error e = { 0 };
        int r = dc_journal_read(jp, &jc, &e);
        if (r == -ENOENT || r == -ENODATA) {
                /* The launcher died before its journal existed, or inside its
                 * creation (empty, or a torn header): nothing was journaled
                 * yet, so only the directory itself (and its lock) is there. */
                const struct dc_step_ops *ops = dc_step_find("statedir");
                struct dc_kvs kv = { 0 };
                dc_kvs_add(&kv, "path", state_dir);
                r = ops->undo(&kv, err);
                dc_kvs_free(&kv);
                return r;
        }
        if (r < 0) {
                *err = e;
                return r;
        }
        struct dc_journal *j = NULL;
        if (dc_journal_open(jp, &j, &e) < 0)
                j = NULL; /* still undo; we just cannot mark progress */

        char problems[1536] = "";
        int failures = 0;
        /* A torn last line is what kill -9 or a power cut mid-append leaves:
         * its step never began (the intent was not whole), so it is harmless.
         * Any other damage keeps the state dir for inspection. */
        bool damaged = jc.damaged_line && !jc.torn;
        for (size_t k = jc.n; k-- > 0;) {
                struct dc_jentry *en = &jc.entries[k];
                if (en->undone)
                        continue;
                const struct dc_step_ops *ops = dc_step_find(en->kind);
                if (!ops || !ops->undo) {
                        failures++;
                        note(problems, sizeof(problems), "unknown step kind", en->kind);
                        continue;
                }
                bool last = strcmp(en->kind, "statedir") == 0;
                if (last && (failures || damaged))
                        continue; /* keep the journal for another attempt / inspection */
                if (last && j) {
                        dc_journal_close(j);
                        j = NULL;
                }
                struct dc_error ue = { 0 };
                int u = last && keep_record ? dc_statedir_retire(state_dir, &ue) : ops->undo(&en->kv, &ue);
                if (u < 0) {
                        failures++;
                        note(problems, sizeof(problems), en->kind, ue.msg);
                        continue;
                }
                if (j && !last)
                        dc_journal_undone(j, en->seq, en->kind, &ue);
        }
        if (j)
                dc_journal_close(j);
        int ret = 0;
        if (damaged)
                ret = dc_err(err, EBADMSG, "%s: line %d is damaged (%s); every complete record before it was undone%s%s",
                             jp, jc.damaged_line, jc.damage, problems[0] ? "; " : "", problems);
        else if (failures)
                ret = dc_err(err, EIO, "teardown of %s incomplete: %s (run diyctl cleanup again)", state_dir, problems);
        else if (jc.torn && err) {
                /* not an error: a warning the caller may show */
                snprintf(err->msg, sizeof(err->msg),
                         "warning: %s: the last line (%d) was torn by an interrupted write; its step had not started",
                         jp, jc.damaged_line);
                err->code = 0;
        }
        dc_jcontent_free(&jc);
        return ret;
}

int dc_teardown_locked(const char *state_dir, struct dc_error *err)
{
        return teardown(state_dir, false, err);
}

int dc_teardown_keep_record(const char *state_dir, struct dc_error *err)
{
        return teardown(state_dir, true, err);
}

int dc_teardown(const char *state_dir, struct dc_error *err)
{
        int fd = -1;
        int r = dc_statedir_lock(state_dir, &fd, err);
        if (r == -EBUSY)
                return dc_err(err, EBUSY, "%s is in use: its launcher is still running", state_dir);
        if (r < 0)
                return r;
        r = dc_teardown_locked(state_dir, err);
        close(fd);
        return r;
}
