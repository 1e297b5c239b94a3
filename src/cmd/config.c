/* diyctl config: the resolved config (includes expanded, --set applied,
 * defaults filled, relative paths made absolute), as JSON for programs or as
 * one "key = value" line per setting with where it came from.
 * diyctl keys: the key table (name, type, default, documentation). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diyctl/config.h"
#include "diyctl/util.h"
#include "plan/internal.h"

/* ---- a small reader for the JSON dc_config_print_json writes ------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
        enum jtype type;
        char *text;             /* J_STR: the string; J_NUM, J_BOOL: the literal */
        struct jnode **kids;    /* J_ARR, J_OBJ */
        char **keys;            /* J_OBJ */
        size_t n;
};

static void jfree(struct jnode *j)
{
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++) {
                jfree(j->kids[i]);
                if (j->keys)
                        free(j->keys[i]);
        }
        free(j->kids);
        free(j->keys);
        free(j->text);
        free(j);
}

static void skip_ws(const char **p)
{
        while (isspace((unsigned char)**p))
                (*p)++;
}

static void put_utf8(char **o, unsigned cp)
{
        if (cp < 0x80) {
                *(*o)++ = (char)cp;
        } else if (cp < 0x800) {
                *(*o)++ = (char)(0xc0 | (cp >> 6));
                *(*o)++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                *(*o)++ = (char)(0xe0 | (cp >> 12));
                *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *(*o)++ = (char)(0x80 | (cp & 0x3f));
        } else {
                *(*o)++ = (char)(0xf0 | (cp >> 18));
                *(*o)++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                *(*o)++ = (char)(0x80 | (cp & 0x3f));
        }
}

static char *jstring(const char **p)
{
        (*p)++; /* the quote */
        char *out = dc_xmalloc(strlen(*p) + 1), *o = out;
        while (**p && **p != '"') {
                if (**p != '\\') {
                        *o++ = *(*p)++;
                        continue;
                }
                (*p)++;
                char e = *(*p)++;
                switch (e) {
                case 'n': *o++ = '\n'; break;
                case 't': *o++ = '\t'; break;
                case 'r': *o++ = '\r'; break;
                case 'b': *o++ = '\b'; break;
                case 'f': *o++ = '\f'; break;
                case 'u': {
                        unsigned cp = 0;
                        for (int k = 0; k < 4 && isxdigit((unsigned char)**p); k++, (*p)++)
                                cp = cp * 16 + (unsigned)(isdigit((unsigned char)**p) ? **p - '0'
                                                                                      : (tolower((unsigned char)**p) - 'a' + 10));
                        put_utf8(&o, cp);
                        break;
                }
                case 0: (*p)--; break;
                default: *o++ = e; break;
                }
        }
        if (**p == '"')
                (*p)++;
        *o = 0;
        return out;
}

static struct jnode *jparse(const char **p)
{
        skip_ws(p);
        struct jnode *j = dc_xcalloc(1, sizeof(*j));
        char c = **p;
        if (c == '{' || c == '[') {
                j->type = c == '{' ? J_OBJ : J_ARR;
                (*p)++;
                for (;;) {
                        skip_ws(p);
                        if (**p == '}' || **p == ']' || !**p) {
                                if (**p)
                                        (*p)++;
                                break;
                        }
                        if (**p == ',') {
                                (*p)++;
                                continue;
                        }
                        char *key = NULL;
                        if (j->type == J_OBJ) {
                                key = jstring(p);
                                skip_ws(p);
                                if (**p == ':')
                                        (*p)++;
                        }
                        j->kids = dc_xrealloc(j->kids, (j->n + 1) * sizeof(*j->kids));
                        if (j->type == J_OBJ) {
                                j->keys = dc_xrealloc(j->keys, (j->n + 1) * sizeof(*j->keys));
                                j->keys[j->n] = key;
                        }
                        j->kids[j->n++] = jparse(p);
                }
        } else if (c == '"') {
                j->type = J_STR;
                j->text = jstring(p);
        } else if (strncmp(*p, "null", 4) == 0) {
                j->type = J_NULL;
                *p += 4;
        } else {
                const char *s = *p;
                while (**p && !strchr(",]} \t\r\n", **p))
                        (*p)++;
                j->type = (*s == 't' || *s == 'f') ? J_BOOL : J_NUM;
                j->text = dc_xstrndup(s, (size_t)(*p - s));
        }
        return j;
}

/* ---- text output: one line per setting, with its origin ------------------ */

/* A value in libconfig syntax (what --set accepts), on one line. */
static void print_value(const struct jnode *j, FILE *out)
{
        switch (j->type) {
        case J_NULL: fputs("(unset)", out); break;
        case J_BOOL:
        case J_NUM: fputs(j->text, out); break;
        case J_STR: dc_json_str(out, j->text); break;
        case J_ARR: {
                bool groups = j->n && j->kids[0]->type == J_OBJ;
                if (!j->n) {
                        fputs("[]", out);
                        break;
                }
                fputs(groups ? "( " : "[ ", out);
                for (size_t i = 0; i < j->n; i++) {
                        fputs(i ? ", " : "", out);
                        print_value(j->kids[i], out);
                }
                fputs(groups ? " )" : " ]", out);
                break;
        }
        case J_OBJ:
                fputs("{ ", out);
                for (size_t i = 0; i < j->n; i++) {
                        if (j->kids[i]->type == J_NULL)
                                continue;
                        fprintf(out, "%s = ", j->keys[i]);
                        print_value(j->kids[i], out);
                        fputs("; ", out);
                }
                fputc('}', out);
                break;
        }
}

static void print_origin(const struct dc_config *c, const char *tkey, FILE *out)
{
        if (!dc_config_present(c, tkey)) {
                if (strcmp(tkey, "hostname") == 0)
                        fputs("default (the name)", out);
                else if (strcmp(tkey, "name") == 0)
                        fputs("default (the file name)", out);
                else
                        fputs("default", out);
                return;
        }
        const struct dc_origin *o = dc_config_origin(c, tkey);
        if (o->line > 0)
                fprintf(out, "%s:%d", o->file, o->line);
        else
                fputs(o->file, out);
}

/* Members of groups are flattened to dotted keys; arrays are shown whole. */
static void print_flat(const struct dc_config *c, const struct jnode *j, const char *prefix, FILE *out)
{
        for (size_t i = 0; i < j->n; i++) {
                _cleanup_free_ char *key = prefix ? dc_xasprintf("%s.%s", prefix, j->keys[i]) : dc_xstrdup(j->keys[i]);
                const struct jnode *v = j->kids[i];
                if (v->type == J_OBJ && dc_key_index(key) >= 0 && dc_keys[dc_key_index(key)].type == DC_KT_GROUP) {
                        print_flat(c, v, key, out);
                        continue;
                }
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                if (!m)
                        continue;
                fprintf(m, "%s = ", key);
                print_value(v, m);
                fclose(m);
                fprintf(out, "%-40s # ", buf);
                print_origin(c, key, out);
                fputc('\n', out);
                free(buf);
        }
}

/* What the plan will use: "host" networking drops "net" from the default
 * namespaces, and without "net" (and no mode given) the mode is "host". */
static void make_effective(struct dc_config *c)
{
        c->namespaces = dc_plan_namespaces(c);
        if (!dc_config_present(c, "network.mode") && !(c->namespaces & DC_NS_NET))
                c->network.mode = DC_NET_HOST;
}

int dc_cmd_config(int argc, char **argv)
{
        struct dc_strv sets = { 0 };
        bool json = false;
        int first = dc_parse_common(argc, argv, "config", &sets, &json, NULL);
        if (first < 0)
                return 2;
        if (first != argc - 1) {
                dc_usage_error("config", "expected exactly one config file");
                dc_strv_free(&sets);
                return 2;
        }
        struct dc_error err = { 0 };
        _cleanup_config_ struct dc_config *c = NULL;
        struct dc_config_opts co = { .sets = (const char *const *)sets.v, .n_sets = sets.n };
        int r = dc_config_load(argv[first], &co, &c, &err);
        dc_strv_free(&sets);
        if (r < 0) {
                dc_print_error(&err);
                return 1;
        }
        /* The rules that combine keys are the config's own too; what this
         * host has (the rootfs, a bridge, root, a delegated cgroup) is
         * check's business. */
        struct dc_plan_opts po = { .uid = 0, .cgroups = true, .skip_fs_checks = true };
        if (dc_plan_validate(c, &po, &err) < 0) {
                dc_print_error(&err);
                return 1;
        }
        make_effective(c);
        if (json) {
                dc_config_print_json(c, stdout);
                return 0;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m) {
                perror("diyctl: open_memstream");
                return 1;
        }
        dc_config_print_json(c, m);
        fclose(m);
        const char *p = buf;
        struct jnode *j = jparse(&p);
        printf("# %s, resolved (diyctl check validates it against this host)\n", c->file);
        print_flat(c, j, NULL, stdout);
        jfree(j);
        free(buf);
        return 0;
}

/* ---- helpers for commands ---------------------------------------------------- */

bool dc_take_flag(int *argc, char **argv, const char *flag)
{
        bool found = false;
        int n = 1;
        for (int i = 1; i < *argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        while (i < *argc)
                                argv[n++] = argv[i++];
                        break;
                }
                if (strcmp(argv[i], flag) == 0)
                        found = true;
                else
                        argv[n++] = argv[i];
        }
        *argc = n;
        argv[n] = NULL;
        return found;
}

int dc_options_first(int argc, char **argv, const char *const *valued)
{
        char **opts = dc_xcalloc((size_t)argc, sizeof(char *));
        char **rest = dc_xcalloc((size_t)argc, sizeof(char *));
        int no = 0, nr = 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        while (++i < argc)
                                rest[nr++] = argv[i];
                        break;
                }
                if (argv[i][0] != '-' || !argv[i][1]) {
                        rest[nr++] = argv[i];
                        continue;
                }
                opts[no++] = argv[i];
                for (size_t k = 0; valued[k]; k++)
                        if (strcmp(argv[i], valued[k]) == 0 && i + 1 < argc) {
                                opts[no++] = argv[++i];
                                break;
                        }
        }
        int n = 1;
        for (int k = 0; k < no; k++)
                argv[n++] = opts[k];
        for (int k = 0; k < nr; k++)
                argv[n++] = rest[k];
        argv[n] = NULL;
        free(opts);
        free(rest);
        return n;
}

/* ---- diyctl keys ------------------------------------------------------------ */

static const char *ktype_name(enum dc_ktype t)
{
        switch (t) {
        case DC_KT_STRING: return "string";
        case DC_KT_BOOL: return "boolean";
        case DC_KT_INT: return "integer";
        case DC_KT_NUMBER: return "number";
        case DC_KT_STRINGS: return "strings";
        case DC_KT_GROUP: return "group";
        case DC_KT_LIST: return "list";
        case DC_KT_MIXED: return "mixed";
        }
        return "?";
}

int dc_cmd_keys(int argc, char **argv)
{
        bool json = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0) {
                        json = true;
                } else {
                        dc_usage_error("keys", "unexpected argument %s", argv[i]);
                        return 2;
                }
        }
        if (json)
                fputs("[", stdout);
        else
                printf("%-28s %-8s %-10s %s\n", "KEY", "TYPE", "DEFAULT", "MEANING");
        for (size_t i = 0; i < dc_n_keys; i++) {
                const struct dc_key *k = &dc_keys[i];
                if (json) {
                        fputs(i ? ",\n {\"name\":" : "\n {\"name\":", stdout);
                        dc_json_str(stdout, k->name);
                        fprintf(stdout, ",\"type\":\"%s\",\"default\":%s,\"doc\":", ktype_name(k->type),
                                k->def ? k->def : "null");
                        dc_json_str(stdout, k->doc);
                        fputc('}', stdout);
                } else {
                        printf("%-28s %-8s %-10s %s\n", k->name, ktype_name(k->type), k->def ? k->def : "-", k->doc);
                }
        }
        if (json)
                fputs("\n]\n", stdout);
        return 0;
}
