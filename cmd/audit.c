/* spamstop audit: list runs, show a run's timeline, verify its trail. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "spamstop/audit.h"
#include "spamstop/rundir.h"

static const char audit_usage[] =
    "usage: spamstop audit list [--json] [--state-dir DIR]\n"
    "       spamstop audit show RUN [--state-dir DIR]\n"
    "       spamstop audit verify [RUN] [--anchor N:HASH] [--json]\n"
    "                             [--state-dir DIR]\n";

static const char audit_list_help[] =
    "usage: spamstop audit list [--json] [--state-dir DIR]\n\n"
    "Lists the runs in the state folder, oldest first: run id, start time,\n"
    "hosts, dry-run or not, outcome, and whether the run's audit trail\n"
    "verifies.\n\n"
    "      --json            one JSON object per run per line\n"
    "      --state-dir DIR   where runs are kept (default\n"
    "                        $SPAMSTOP_STATE_DIR, else "
    "$XDG_STATE_HOME/spamstop)\n";

static const char audit_show_help[] =
    "usage: spamstop audit show RUN [--state-dir DIR]\n\n"
    "Prints the audit trail of run RUN as a timeline: time, host, step,\n"
    "phase, exit status, duration in ms, event and command; then whether\n"
    "the chain is intact.  Control characters from remote output are\n"
    "printed escaped.  Exit status 0, 4 if the trail fails verification,\n"
    "5 if there is no such run.  RUN may be 'last' (the newest run).\n\n"
    "      --state-dir DIR   where runs are kept\n";

static const char audit_verify_help[] =
    "usage: spamstop audit verify [RUN] [--anchor N:HASH] [--json]\n"
    "                             [--state-dir DIR]\n\n"
    "Checks the hash chain of run RUN's audit trail (every run when RUN is\n"
    "not given): each record parses, seq runs 1, 2, ..., and each record's\n"
    "prev is the SHA-256 of the line before.  The anchor in the run's\n"
    "run.json (audit_records, audit_head), or the one given with --anchor\n"
    "(as printed in the run's recap), also catches a truncated tail.  Names\n"
    "the first record edited, deleted, inserted or reordered.\n\n"
    "Exit status: 0 intact, 4 altered (or missing), 5 no such run.\n\n"
    "      --anchor N:HASH   the trail must hold at least N records and\n"
    "                        record N must hash to HASH\n"
    "      --json            one JSON object per run per line\n"
    "      --state-dir DIR   where runs are kept\n";

/* What audit list needs of one run folder. */
struct audit_run {
    char *id;
    json_t *info; /* run.json, or NULL */
    const char *started;
};

/* Prints to stdout with control characters escaped (run.json is data). */
static void audit_print_safe(const char *s, int width)
{
    int n = 0;

    for (; s != NULL && *s != '\0'; s++, n++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            n += printf("\\x%02x", c) - 1;
        else
            putchar(c);
    }
    if (s == NULL) {
        fputs("-", stdout);
        n = 1;
    }
    if (n < width)
        printf("%*s", width - n, "");
}

/* Builds runs/id[/file] into out; false when it does not fit. */
static bool audit_path(char *out, size_t size, const char *runs, const char *id,
                       const char *file)
{
    int n = file != NULL ? snprintf(out, size, "%s/%s/%s", runs, id, file)
                         : snprintf(out, size, "%s/%s", runs, id);

    return n > 0 && (size_t)n < size;
}

/* True when id can name a run folder (no path tricks). */
static bool audit_valid_run_id(const char *id)
{
    return id[0] != '\0' && id[0] != '.' && strchr(id, '/') == NULL;
}

/* Reads STATE/runs/ID/run.json; NULL when missing or unreadable. */
static json_t *audit_load_run_json(const char *runs, const char *id,
                                   bool *out_broken)
{
    char path[4096];
    json_error_t jerr;
    json_t *o;

    *out_broken = false;
    if (!audit_path(path, sizeof(path), runs, id, "run.json"))
        return NULL;
    o = json_load_file(path, 0, &jerr);
    if (o == NULL) {
        *out_broken = access(path, F_OK) == 0;
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *out_broken = true;
        return NULL;
    }
    return o;
}

/* Takes the anchor from run.json; false when it holds none. */
static bool audit_anchor_from(struct audit_anchor *out, json_t *info)
{
    json_t *n = json_object_get(info, "audit_records");
    const char *head = json_string_value(json_object_get(info, "audit_head"));

    memset(out, 0, sizeof(*out));
    if (!json_is_integer(n) || json_integer_value(n) < 0)
        return false;
    out->records = (uint64_t)json_integer_value(n);
    if (head != NULL && strlen(head) == SHA256_HEX_LEN)
        memcpy(out->head, head, sizeof(out->head));
    return true;
}

/* Verifies one run's trail; returns 0 intact, 1 altered, -1 unreadable. */
static int audit_check_run(struct audit_verify_result *vr, const char *runs,
                           const char *id, json_t *info,
                           const struct audit_anchor *given,
                           struct audit_anchor *used, bool *anchored,
                           struct errbuf *err)
{
    char path[4096];
    int r;

    *anchored = false;
    if (given != NULL) {
        *used = *given;
        *anchored = true;
    } else if (info != NULL && audit_anchor_from(used, info)) {
        *anchored = true;
    }
    if (!audit_path(path, sizeof(path), runs, id, "audit.jsonl")) {
        errbuf_set(err, SS_EINVAL, "path too long for run '%s'", id);
        return -1;
    }
    r = audit_verify_file_anchor(vr, path, *anchored ? used : NULL, err);
    if (r == SS_ENOENT) {
        memset(vr, 0, sizeof(*vr));
        snprintf(vr->reason, sizeof(vr->reason),
                 "the audit trail is missing (deleted?)");
        return 1;
    }
    if (r < 0)
        return -1;
    return vr->ok ? 0 : 1;
}

/* Orders runs by start time, then id. */
static int audit_run_cmp(const void *pa, const void *pb)
{
    const struct audit_run *a = pa, *b = pb;
    int c = strcmp(a->started ? a->started : "", b->started ? b->started : "");

    return c != 0 ? c : strcmp(a->id, b->id);
}

/* Frees a list of runs. */
static void audit_runs_free(struct audit_run *runs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(runs[i].id);
        json_decref(runs[i].info);
    }
    free(runs);
}

/*
 * Collects the run folders of runs (sorted by start time).  Returns 0,
 * 1 when the folder does not exist, -1 on error (printed).
 */
static int audit_collect(struct audit_run **out, size_t *out_n,
                         const char *runs)
{
    struct audit_run *list = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *e;
    DIR *d = opendir(runs);

    *out = NULL;
    *out_n = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 1;
        cmd_error("cannot read '%s': %s", runs, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        bool broken;
        if (!audit_valid_run_id(e->d_name))
            continue;
        if (!audit_path(path, sizeof(path), runs, e->d_name, NULL))
            continue;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            struct audit_run *p = realloc(list, na * sizeof(*p));
            if (p == NULL)
                goto nomem;
            list = p;
            alloc = na;
        }
        list[n].id = strdup(e->d_name);
        if (list[n].id == NULL)
            goto nomem;
        list[n].info = audit_load_run_json(runs, e->d_name, &broken);
        if (broken)
            cmd_error("warning: '%s/run.json' is not readable JSON", path);
        list[n].started =
            json_string_value(json_object_get(list[n].info, "started"));
        n++;
    }
    closedir(d);
    qsort(list, n, sizeof(*list), audit_run_cmp);
    *out = list;
    *out_n = n;
    return 0;
nomem:
    closedir(d);
    audit_runs_free(list, n);
    cmd_error("out of memory");
    return -1;
}

/* Number of hosts in run.json, or -1. */
static int audit_host_count(json_t *info)
{
    json_t *h = json_object_get(info, "hosts");

    return json_is_array(h) ? (int)json_array_size(h) : -1;
}

/* The verification outcome as one JSON object (new reference). */
static json_t *audit_result_json(const char *id,
                                 const struct audit_verify_result *vr,
                                 int status, bool anchored,
                                 const struct audit_anchor *anchor)
{
    json_t *o = json_object();

    json_object_set_new(o, "run", json_string(id));
    json_object_set_new(o, "ok", json_boolean(status == 0));
    json_object_set_new(o, "records", json_integer((json_int_t)vr->records));
    json_object_set_new(o, "bad_line",
                        status == 1 && vr->bad_line > 0
                            ? json_integer((json_int_t)vr->bad_line)
                            : json_null());
    json_object_set_new(o, "reason",
                        status != 0 ? json_string(vr->reason) : json_null());
    json_object_set_new(o, "head",
                        status == 0 && vr->head[0] != '\0'
                            ? json_string(vr->head)
                            : json_null());
    if (anchored) {
        json_t *a = json_object();
        json_object_set_new(a, "records",
                            json_integer((json_int_t)anchor->records));
        json_object_set_new(a, "head",
                            anchor->head[0] != '\0' ? json_string(anchor->head)
                                                    : json_null());
        json_object_set_new(o, "anchor", a);
    } else {
        json_object_set_new(o, "anchor", json_null());
    }
    return o;
}

/* Prints one JSON object as a line and frees it. */
static void audit_emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

    if (s != NULL) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

/* run.json's key in info, or JSON null (a new reference either way). */
static json_t *info_get(json_t *info, const char *key)
{
    json_t *v = json_object_get(info, key);

    return v != NULL ? json_incref(v) : json_null();
}

/* What audit list knows of one run once its trail is checked. */
struct list_row {
    const struct audit_run *run;
    struct audit_verify_result vr;
    struct audit_anchor anchor;
    bool anchored;
    int st; /* 0 ok, 1 tampered, < 0 could not check (err says why) */
    struct errbuf err;
};

/* One run of audit list as a JSON line. */
static void list_row_json(const struct list_row *row)
{
    json_t *info = row->run->info, *o = json_object();

    json_object_set_new(o, "run_id", json_string(row->run->id));
    json_object_set_new(o, "started", info_get(info, "started"));
    json_object_set_new(o, "finished", info_get(info, "finished"));
    json_object_set_new(o, "playbook", info_get(info, "playbook"));
    json_object_set_new(o, "hosts", info_get(info, "hosts"));
    json_object_set_new(o, "dry_run", info_get(info, "dry_run"));
    json_object_set_new(o, "outcome", info_get(info, "outcome"));
    json_object_set_new(
        o, "audit",
        row->st < 0 ? json_pack("{s:b,s:s}", "ok", 0, "reason", row->err.msg)
                    : audit_result_json(row->run->id, &row->vr, row->st,
                                        row->anchored, &row->anchor));
    audit_emit(o);
}

/* One run of audit list as a line of the table. */
static void list_row_print(const struct list_row *row)
{
    json_t *info = row->run->info;
    json_t *dry = json_object_get(info, "dry_run");
    int hosts = audit_host_count(info);
    char hbuf[16];

    snprintf(hbuf, sizeof(hbuf), "%d", hosts);
    audit_print_safe(row->run->id, 28);
    putchar(' ');
    audit_print_safe(row->run->started, 24);
    printf(" %5s %-4s ", hosts >= 0 ? hbuf : "-",
           json_is_boolean(dry) ? (json_is_true(dry) ? "yes" : "no") : "-");
    audit_print_safe(json_string_value(json_object_get(info, "outcome")), 16);
    printf(" %s", row->st == 0 ? "ok" : row->st == 1 ? "TAMPERED" : "error");
    if (row->st == 0)
        printf(" (%zu records%s)", row->vr.records,
               row->anchored ? ", anchored" : "");
    else if (row->st == 1 && row->vr.bad_line > 0)
        printf(" at line %zu", row->vr.bad_line);
    putchar('\n');
}

/* audit list: every run with its trail checked, as a table or JSON. */
static int audit_list(const struct cmd_opts *o, const char *runs)
{
    struct audit_run *list = NULL;
    struct list_row row;
    size_t n = 0, i;
    int r;

    r = audit_collect(&list, &n, runs);
    if (r < 0)
        return EXIT_NOT_STARTED;
    if (r == 1 || n == 0) {
        if (!o->json)
            printf("no runs in '%s'\n", runs);
        return EXIT_OK;
    }
    if (!o->json)
        printf("%-28s %-24s %5s %-4s %-16s %s\n", "RUN", "STARTED", "HOSTS",
               "DRY", "OUTCOME", "AUDIT");
    for (i = 0; i < n; i++) {
        memset(&row, 0, sizeof(row));
        row.run = &list[i];
        row.st = audit_check_run(&row.vr, runs, list[i].id, list[i].info, NULL,
                                 &row.anchor, &row.anchored, &row.err);
        if (o->json)
            list_row_json(&row);
        else
            list_row_print(&row);
    }
    audit_runs_free(list, n);
    return EXIT_OK;
}

/* Verifies one run and prints the verdict; returns the exit code. */
static int audit_verify_one(const struct cmd_opts *o, const char *runs,
                            const char *id, const struct audit_anchor *given)
{
    struct audit_verify_result vr;
    struct audit_anchor anchor;
    struct errbuf err = ERRBUF_INIT;
    json_t *info;
    bool anchored, broken;
    int st;

    info = audit_load_run_json(runs, id, &broken);
    if (broken)
        cmd_error("warning: run.json of run '%s' is not readable JSON; "
                  "verifying without its anchor",
                  id);
    st = audit_check_run(&vr, runs, id, info, given, &anchor, &anchored, &err);
    json_decref(info);
    if (st < 0) {
        cmd_error("%s", err.msg);
        return EXIT_NOT_STARTED;
    }
    if (o->json) {
        audit_emit(audit_result_json(id, &vr, st, anchored, &anchor));
    } else if (st == 0) {
        printf("run %s: intact, %zu records, head %s%s\n", id, vr.records,
               vr.records > 0 ? vr.head : "-",
               anchored ? given != NULL ? " (matches the given anchor)"
                                        : " (matches run.json's anchor)"
                        : " (no anchor: a cut tail would not show)");
    } else {
        printf("run %s: TAMPERED: %s\n", id, vr.reason);
    }
    return st == 0 ? EXIT_OK : EXIT_TAMPERED;
}

/* audit verify [RUN]. */
static int audit_verify_cmd(const struct cmd_opts *o, const char *runs,
                            const char *id, const struct audit_anchor *given)
{
    struct audit_run *list = NULL;
    size_t n = 0, i;
    int r, rc = EXIT_OK;
    char path[4096];
    struct stat st;

    if (id != NULL) {
        if (!audit_valid_run_id(id) ||
            !audit_path(path, sizeof(path), runs, id, NULL) ||
            stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cmd_error("no run '%s' in '%s' (see 'spamstop audit list')", id,
                      runs);
            return EXIT_NOT_STARTED;
        }
        return audit_verify_one(o, runs, id, given);
    }
    if (given != NULL) {
        cmd_error("--anchor needs a RUN");
        return EXIT_USAGE;
    }
    r = audit_collect(&list, &n, runs);
    if (r < 0)
        return EXIT_NOT_STARTED;
    if (n == 0)
        cmd_error("no runs in '%s'", runs);
    for (i = 0; i < n; i++) {
        int one = audit_verify_one(o, runs, list[i].id, NULL);
        if (one == EXIT_TAMPERED || (one != EXIT_OK && rc == EXIT_OK))
            rc = one;
    }
    audit_runs_free(list, n);
    return rc;
}

/* audit show RUN. */
static int audit_show_cmd(const char *runs, const char *id)
{
    struct audit_verify_result vr, plain;
    struct audit_anchor anchor;
    struct errbuf err = ERRBUF_INIT;
    char path[4096];
    json_t *info;
    bool broken, anchored;
    int r;

    if (!audit_valid_run_id(id)) {
        cmd_error("bad run id '%s'", id);
        return EXIT_USAGE;
    }
    if (!audit_path(path, sizeof(path), runs, id, "audit.jsonl")) {
        cmd_error("bad run id '%s'", id);
        return EXIT_USAGE;
    }
    r = audit_show(stdout, path, &err);
    if (r == SS_ENOENT) {
        cmd_error("no audit trail for run '%s' in '%s' (see 'spamstop audit "
                  "list')",
                  id, runs);
        return EXIT_NOT_STARTED;
    }
    if (r < 0) {
        cmd_error("%s", err.msg);
        return EXIT_NOT_STARTED;
    }
    info = audit_load_run_json(runs, id, &broken);
    r = audit_check_run(&vr, runs, id, info, NULL, &anchor, &anchored, &err);
    json_decref(info);
    if (r == 1 && anchored && audit_verify_file(&plain, path, &err) == 0 &&
        plain.ok)
        printf("against run.json's anchor: TAMPERED: %s\n", vr.reason);
    else if (r == 0 && anchored)
        printf("matches run.json's anchor (%" PRIu64 " records)\n",
               anchor.records);
    return r == 0 ? EXIT_OK : r == 1 ? EXIT_TAMPERED : EXIT_NOT_STARTED;
}

/*
 * The run id arg names ("last": the newest) into id; the exit code when
 * it names none (message printed), else -1.
 */
static int audit_resolve(char id[RUNDIR_ID_MAX], const struct cmd_opts *o,
                         const char *arg)
{
    struct errbuf err = ERRBUF_INIT;
    int r;

    if ((r = rundir_resolve(id, cmd_state_dir(o), arg, &err)) < 0) {
        cmd_error("%s", err.msg);
        return r == SS_EINVAL ? EXIT_USAGE : EXIT_NOT_STARTED;
    }
    return -1;
}

/* Runs audit SUB [ARG] once the options are read. */
static int audit_sub(const struct cmd_opts *o, const char *sub, const char *arg,
                     bool help, const struct audit_anchor *anchor)
{
    char runs[4096], id[RUNDIR_ID_MAX];
    const char *usage = strcmp(sub, "list") == 0   ? audit_list_help
                        : strcmp(sub, "show") == 0 ? audit_show_help
                                                   : audit_verify_help;
    int r;

    if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
        strcmp(sub, "verify") != 0) {
        cmd_error("unknown audit command '%s' (list, show or verify)", sub);
        return EXIT_USAGE;
    }
    if (help) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if ((strcmp(sub, "list") == 0 && (arg != NULL || anchor != NULL)) ||
        (strcmp(sub, "show") == 0 && (arg == NULL || anchor != NULL))) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    snprintf(runs, sizeof(runs), "%s/runs", cmd_state_dir(o));
    if (strcmp(sub, "list") == 0)
        return audit_list(o, runs);
    if (arg != NULL && (r = audit_resolve(id, o, arg)) >= 0)
        return r;
    if (strcmp(sub, "show") == 0)
        return audit_show_cmd(runs, id);
    return audit_verify_cmd(o, runs, arg != NULL ? id : NULL, anchor);
}

int cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"json", no_argument, NULL, OPT_JSON},
        {"anchor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cmd_opts o;
    struct audit_anchor anchor;
    bool have_anchor = false, help = false;
    const char *sub;
    int c;

    cmd_opts_init(&o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            help = true;
        } else if (c == 'a') {
            if (audit_anchor_parse(&anchor, optarg) < 0) {
                cmd_error("bad --anchor '%s': expected N:SHA256-HEX, as the "
                          "run recap prints it",
                          optarg);
                return EXIT_USAGE;
            }
            have_anchor = true;
        } else if (cmd_common_option(&o, c, optarg) != 1) {
            fputs(audit_usage, stderr);
            return EXIT_USAGE;
        }
    }
    sub = optind < argc ? argv[optind] : NULL;
    if (sub == NULL) {
        fputs(audit_usage, help ? stdout : stderr);
        return help ? EXIT_OK : EXIT_USAGE;
    }
    if (optind + 2 < argc) {
        cmd_error("too many arguments for 'audit %s'", sub);
        return EXIT_USAGE;
    }
    return audit_sub(&o, sub, optind + 1 < argc ? argv[optind + 1] : NULL, help,
                     have_anchor ? &anchor : NULL);
}
