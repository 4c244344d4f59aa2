/* The per-host rollback journal: durable appends and a strict replay. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spamstop/fsio.h"
#include "spamstop/journal.h"

static const char *const type_names[JOURNAL_TYPE_COUNT] = {
    "begin",           "read",     "intent",          "done",
    "failed",          "rollback", "undo-intent",     "undone",
    "undo-failed",     "commit",   "commit-intent",   "commit-done",
    "commit-failed",   "end",      "uncommit-intent", "uncommitted",
    "uncommit-failed",
};

struct journal {
    int fd;
    size_t writes; /* attempted writes, for the hook */
    unsigned long seq;
    int dead;
    int (*hook)(void *arg, size_t write_no);
    void *hook_arg;
};

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
    if (st.torn &&
        (ftruncate(fd, (off_t)st.valid_len) < 0 || fdatasync(fd) < 0)) {
        r = errbuf_errno(err, SS_ERR, "cannot cut the torn end of '%s'", path);
        goto out;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        r = errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    j->fd = fd;
    fd = -1;
    j->seq = st.records;
    *out = j;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    journal_state_release(&st);
    return r;
}

void journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    close(j->fd);
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
    if (verdict == JOURNAL_HOOK_CRASH) {
        errbuf_set(err, SS_ERR, "journal write %zu: simulated crash",
                   j->writes);
        goto out;
    }
    if (verdict == JOURNAL_HOOK_TEAR) {
        fsio_append(j->fd, line, (len + 1) / 2, 1, err);
        errbuf_set(err, SS_ERR, "journal write %zu: simulated torn write",
                   j->writes);
        goto out;
    }
    if ((r = fsio_append(j->fd, line, len + 1, 1, err)) < 0) {
        errbuf_prefix(err, "cannot write the journal");
        goto out;
    }
    j->seq++;
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
