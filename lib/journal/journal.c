/* The per-host rollback journal: durable appends and a strict replay. */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spamstop/buf.h"
#include "spamstop/fsio.h"
#include "spamstop/journal.h"
#include "spamstop/text.h"

static const char *const type_names[JOURNAL_TYPE_COUNT] = {
    "begin",
    "read",
    "intent",
    "done",
    "failed",
    "rollback",
    "undo-intent",
    "undone",
    "undo-failed",
    "commit",
    "commit-intent",
    "commit-done",
    "commit-failed",
    "end",
    "uncommit-intent",
    "uncommitted",
    "uncommit-failed",
    "contain",
    "kept",
};

struct journal {
    int fd;
    size_t writes; /* attempted writes, for the hook */
    unsigned long seq;
    int dead;
    int (*hook)(void *arg, size_t write_no);
    void *hook_arg;
    int crash_counted; /* counts for the SPAMSTOP_TEST_ hooks */
};

/* Path of a host's journal in run_dir (host names are made file-safe). */
int journal_path(char *out, size_t size, const char *run_dir, const char *host)
{
    struct buf b = BUF_INIT;
    int r;

    r = buf_printf(&b, "%s/journal/", run_dir);
    if (r == 0)
        r = fsname_escape(&b, host);
    if (r == 0)
        r = buf_adds(&b, ".jsonl");
    if (r == 0 && b.len >= size)
        r = SS_ERR;
    if (r == 0)
        memcpy(out, b.data, b.len + 1);
    buf_release(&b);
    return r;
}

/* Where SPAMSTOP_TEST_CRASH_AT kills the process, relative to the write. */
enum crash_when { CRASH_NONE, CRASH_BEFORE, CRASH_AFTER, CRASH_TORN };

/* Writes counted so far by the crash hook, across threads and journals. */
static atomic_ulong crash_writes;

const char *journal_type_name(enum journal_type t)
{
    if ((unsigned)t >= JOURNAL_TYPE_COUNT)
        return "?";
    return type_names[t];
}

void journal_record_init(struct journal_record *r, enum journal_type type,
                         int step)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->step = step;
    r->exit_status = -1;
}

/* Says whether the test hooks count the journal at path (env
 * SPAMSTOP_TEST_CRASH_HOST, when set, names the one host they count). */
static int journal_crash_counted(const char *path)
{
    const char *host = getenv("SPAMSTOP_TEST_CRASH_HOST");
    const char *base = strrchr(path, '/');
    size_t n;

    if (getenv("SPAMSTOP_TEST_CRASH_AT") == NULL &&
        getenv("SPAMSTOP_TEST_STALL_AT") == NULL)
        return 0;
    if (host == NULL || *host == '\0')
        return 1;
    base = base == NULL ? path : base + 1;
    n = strlen(host);
    return strncmp(base, host, n) == 0 && strcmp(base + n, ".jsonl") == 0;
}

/* Says when, relative to counted write no, the position in env var name
 * ("N" before write N, "N+" after it, "N~" with half of it written) asks
 * the hook to act. */
static enum crash_when journal_hook_when(const char *name, unsigned long no)
{
    const char *spec = getenv(name);
    unsigned long want;
    char *end = NULL;

    if (spec == NULL)
        return CRASH_NONE;
    want = strtoul(spec, &end, 10);
    if (end == spec || want == 0 || want != no)
        return CRASH_NONE;
    if (*end == '+')
        return CRASH_AFTER;
    if (*end == '~')
        return CRASH_TORN;
    return CRASH_BEFORE;
}

/* Test hook: holds the host's thread while the file named by env
 * SPAMSTOP_TEST_STALL_FILE exists (it is created here; the test removes
 * it), at most 120 s, so a test can inject a fault at an exact point. */
static void journal_stall(void)
{
    const char *file = getenv("SPAMSTOP_TEST_STALL_FILE");
    struct timespec ts = {0, 50 * 1000 * 1000};
    int i;

    if (file == NULL)
        return;
    /* Not made, the file is not there and the loop below does not wait. */
    (void)fsio_write_atomic(file, "", 0, 0600, NULL);
    /* An interrupted sleep only makes the next look come sooner. */
    for (i = 0; i < 2400 && access(file, F_OK) == 0; i++)
        (void)nanosleep(&ts, NULL);
}

/* Kills the whole process as a power cut or kill -9 would. */
static void journal_crash_now(void)
{
    (void)raise(SIGKILL); /* should it fail, _exit is as abrupt */
    _exit(137);
}

int journal_open(struct journal **out, const char *path, struct errbuf *err)
{
    struct journal_state st;
    struct journal *j = NULL;
    int fd = -1, r;

    *out = NULL;
    journal_state_init(&st);
    r = journal_replay_file(&st, path, err);
    if (r < 0 && r != SS_ENOENT)
        goto out;
    if ((r = fsio_open_append(&fd, path, err)) < 0)
        goto out;
    if (st.torn && (r = fsio_truncate(fd, (off_t)st.valid_len, err)) < 0) {
        errbuf_prefix(err, "cannot cut the torn end of '%s'", path);
        goto out;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    j->fd = fd;
    fd = -1;
    j->seq = st.records;
    j->crash_counted = journal_crash_counted(path);
    *out = j;
    r = 0;
out:
    if (fd >= 0)
        (void)close(fd); /* nothing was appended through it */
    journal_state_release(&st);
    return r;
}

void journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    (void)close(j->fd); /* every append was fdatasynced: nothing to lose */
    free(j);
}

size_t journal_writes(const struct journal *j)
{
    return j->writes;
}

void journal_set_hook(struct journal *j,
                      int (*hook)(void *arg, size_t write_no), void *arg)
{
    j->hook = hook;
    j->hook_arg = arg;
}

/* Sets key to s when s is not NULL; returns -1 on ENOMEM. */
static int put_str(json_t *o, const char *key, const char *s)
{
    if (s == NULL)
        return 0;
    return json_object_set_new(o, key, json_string(s));
}

/* Builds the JSON object for rec. */
static json_t *record_json(const struct journal_record *rec, unsigned long seq)
{
    json_t *o = json_object(), *a;
    size_t i;
    int bad = 0;

    if (o == NULL)
        return NULL;
    bad |= json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    bad |= json_object_set_new(o, "time", json_integer(time(NULL)));
    bad |= put_str(o, "type", journal_type_name(rec->type));
    if (rec->step >= 0)
        bad |= json_object_set_new(o, "step", json_integer(rec->step));
    bad |= put_str(o, "name", rec->name);
    bad |= put_str(o, "kind", rec->kind);
    bad |= put_str(o, "command", rec->command);
    bad |= put_str(o, "undo", rec->undo);
    bad |= put_str(o, "undo_data", rec->undo_data);
    bad |= put_str(o, "undo_file", rec->undo_file);
    bad |= put_str(o, "commit", rec->commit);
    bad |= put_str(o, "uncommit", rec->uncommit);
    bad |= put_str(o, "commit_data", rec->commit_data);
    bad |= put_str(o, "register", rec->register_name);
    if (rec->results != NULL) {
        if ((a = json_array()) == NULL)
            bad = 1;
        for (i = 0; a != NULL && i < rec->results->n; i++)
            bad |= json_array_append_new(a, json_string(rec->results->v[i]));
        bad |= json_object_set_new(o, "results", a);
    }
    if (rec->type == JOURNAL_DONE || rec->type == JOURNAL_FAILED ||
        rec->type == JOURNAL_UNDONE || rec->type == JOURNAL_UNDO_FAILED ||
        rec->type == JOURNAL_COMMIT_DONE ||
        rec->type == JOURNAL_COMMIT_FAILED ||
        rec->type == JOURNAL_UNCOMMITTED ||
        rec->type == JOURNAL_UNCOMMIT_FAILED)
        bad |= json_object_set_new(o, "exit", json_integer(rec->exit_status));
    if (rec->unknown)
        bad |= json_object_set_new(o, "unknown", json_true());
    if (rec->settled)
        bad |= json_object_set_new(o, "settled", json_true());
    bad |= put_str(o, "error", rec->error);
    bad |= put_str(o, "state", rec->state);
    bad |= put_str(o, "phase", rec->phase);
    bad |= put_str(o, "host", rec->host);
    bad |= put_str(o, "run_id", rec->run_id);
    bad |= put_str(o, "playbook_sha256", rec->playbook_sha256);
    bad |= put_str(o, "fingerprint", rec->fingerprint);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int journal_append(struct journal *j, const struct journal_record *rec,
                   struct errbuf *err)
{
    json_t *o = NULL;
    char *line = NULL;
    size_t len = 0;
    int verdict = JOURNAL_HOOK_WRITE, r = SS_ERR;
    enum crash_when crash = CRASH_NONE, stall = CRASH_NONE;
    unsigned long no;

    if (j->dead)
        return errbuf_set(err, SS_ERR, "the journal failed earlier");
    j->writes++;
    if ((o = record_json(rec, j->seq + 1)) == NULL ||
        (line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL) {
        errbuf_set(err, SS_ERR,
                   "cannot encode journal record (a string "
                   "that is not UTF-8?)");
        goto out;
    }
    len = strlen(line);
    line[len] = '\n'; /* json_dumps leaves room: replaces the NUL */
    if (j->hook != NULL)
        verdict = j->hook(j->hook_arg, j->writes);
    if (j->crash_counted) {
        no = atomic_fetch_add(&crash_writes, 1) + 1;
        crash = journal_hook_when("SPAMSTOP_TEST_CRASH_AT", no);
        stall = journal_hook_when("SPAMSTOP_TEST_STALL_AT", no);
    }
    if (stall == CRASH_BEFORE)
        journal_stall();
    if (crash == CRASH_BEFORE)
        journal_crash_now();
    if (crash == CRASH_TORN) {
        /* The process dies next: the test reads what landed. */
        (void)fsio_append(j->fd, line, (len + 1) / 2, 1, err);
        journal_crash_now();
    }
    if (verdict == JOURNAL_HOOK_CRASH) {
        errbuf_set(err, SS_ERR, "journal write %zu: simulated crash",
                   j->writes);
        goto out;
    }
    if (verdict == JOURNAL_HOOK_TEAR) {
        /* Failing or not, the write is reported as torn just below. */
        (void)fsio_append(j->fd, line, (len + 1) / 2, 1, err);
        errbuf_set(err, SS_ERR, "journal write %zu: simulated torn write",
                   j->writes);
        goto out;
    }
    if ((r = fsio_append(j->fd, line, len + 1, 1, err)) < 0) {
        errbuf_prefix(err, "cannot write the journal");
        goto out;
    }
    j->seq++;
    if (crash == CRASH_AFTER)
        journal_crash_now();
    if (stall == CRASH_AFTER)
        journal_stall();
    r = 0;
out:
    if (r < 0)
        j->dead = 1;
    if (line != NULL)
        line[len] = '\0';
    free(line);
    json_decref(o);
    return r;
}
