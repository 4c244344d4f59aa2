/* Replays a host's journal into the state of each step; refuses damage. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spamstop/fsio.h"
#include "spamstop/journal.h"
#include "spamstop/playbook.h"

void journal_state_init(struct journal_state *s)
{
    memset(s, 0, sizeof(*s));
}

/* Frees one step's strings. */
static void jstep_release(struct jstep *st)
{
    free(st->name);
    free(st->kind);
    free(st->command);
    free(st->undo);
    free(st->undo_data);
    free(st->undo_file);
    free(st->commit);
    free(st->uncommit);
    free(st->commit_data);
    free(st->register_name);
    strlist_release(&st->results);
}

void journal_state_release(struct journal_state *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nsteps; i++)
        jstep_release(&s->steps[i]);
    free(s->steps);
    free(s->host);
    free(s->run_id);
    free(s->playbook_sha256);
    free(s->end_state);
    free(s->end_phase);
    free(s->last_error);
    journal_state_init(s);
}

/* The type whose name is s, or -1. */
static int type_parse(const char *s)
{
    int i;

    for (i = 0; i < JOURNAL_TYPE_COUNT; i++)
        if (strcmp(journal_type_name(i), s) == 0)
            return i;
    return -1;
}

/* Replaces *dst with a copy of member key of o when o has it as a string. */
static int take_str(char **dst, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    char *copy;

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return -1;
    if ((copy = strdup(json_string_value(v))) == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

/* Makes room for step index i. */
static int grow_steps(struct journal_state *s, size_t i)
{
    struct jstep *v;

    if (i < s->nsteps)
        return 0;
    if (i >= PLAYBOOK_MAX_STEPS)
        return -1;
    v = realloc(s->steps, (i + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    memset(v + s->nsteps, 0, (i + 1 - s->nsteps) * sizeof(*v));
    s->steps = v;
    s->nsteps = i + 1;
    return 0;
}

/* Reads "results" of o into st. */
static int take_results(struct jstep *st, json_t *o)
{
    json_t *a = json_object_get(o, "results"), *v;
    size_t i;

    if (a == NULL)
        return 0;
    if (!json_is_array(a))
        return -1;
    strlist_release(&st->results);
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v) ||
            strlist_push(&st->results, json_string_value(v)) < 0)
            return -1;
    }
    st->has_results = true;
    return take_str(&st->register_name, o, "register");
}

/*
 * The record appliers: each applies one parsed record o of its type to s
 * (st is the record's step, NULL for host-level records) and returns why
 * the record is impossible there, or NULL.
 */

/* "begin": the host's saga started. */
static const char *apply_begin(struct journal_state *s, struct jstep *st,
                               json_t *o, int type)
{
    (void)st;
    (void)type;
    s->begun = true;
    if (take_str(&s->host, o, "host") < 0 ||
        take_str(&s->run_id, o, "run_id") < 0 ||
        take_str(&s->playbook_sha256, o, "playbook_sha256") < 0)
        return "bad begin record";
    return NULL;
}

/* "read": a read-only step ran, with its results. */
static const char *apply_read(struct journal_state *s, struct jstep *st,
                              json_t *o, int type)
{
    (void)s;
    (void)type;
    if (st->status != JSTEP_NONE && st->status != JSTEP_READ)
        return "'read' of a step that is not read-only";
    st->status = JSTEP_READ;
    if (take_str(&st->name, o, "name") < 0 || take_results(st, o) < 0)
        return "bad read record";
    return NULL;
}

/* "intent": a mutating step is about to run, with how to undo it. */
static const char *apply_intent(struct journal_state *s, struct jstep *st,
                                json_t *o, int type)
{
    (void)type;
    /* a contained host's resume runs undone steps again */
    if (st->status != JSTEP_NONE && st->status != JSTEP_INTENT &&
        st->status != JSTEP_FAILED && st->status != JSTEP_UNDONE)
        return "'intent' of a step already done";
    if (st->commit_status != JCOMMIT_NONE)
        return "'intent' of a step whose commit began";
    st->status = JSTEP_INTENT;
    st->unknown = false;
    st->settled = false;
    if (take_str(&st->name, o, "name") < 0 ||
        take_str(&st->kind, o, "kind") < 0 ||
        take_str(&st->command, o, "command") < 0 ||
        take_str(&st->undo, o, "undo") < 0 ||
        take_str(&st->undo_data, o, "undo_data") < 0 ||
        take_str(&st->undo_file, o, "undo_file") < 0 ||
        take_str(&st->commit, o, "commit") < 0 ||
        take_str(&st->uncommit, o, "uncommit") < 0)
        return "bad intent record";
    if (st->kind == NULL)
        return "intent without a kind";
    s->rollback_begun = false;
    s->contain_begun = false;
    return NULL;
}

/* "done": the step succeeded, with its results and commit data. */
static const char *apply_done(struct journal_state *s, struct jstep *st,
                              json_t *o, int type)
{
    (void)s;
    (void)type;
    if (st->status != JSTEP_INTENT)
        return "'done' without 'intent'";
    st->status = JSTEP_DONE;
    if (take_results(st, o) < 0 ||
        take_str(&st->commit_data, o, "commit_data") < 0)
        return "bad done record";
    return NULL;
}

/* "failed": the step failed; "unknown" when it may have been done. */
static const char *apply_failed(struct journal_state *s, struct jstep *st,
                                json_t *o, int type)
{
    (void)type;
    if (st->status != JSTEP_INTENT && st->status != JSTEP_NONE &&
        st->status != JSTEP_READ)
        return "'failed' of a step not in progress";
    st->status = st->status == JSTEP_INTENT ? JSTEP_FAILED : st->status;
    st->unknown = json_is_true(json_object_get(o, "unknown"));
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad failed record";
    return NULL;
}

/* "contain": undoing the rest after containment begins. */
static const char *apply_contain(struct journal_state *s, struct jstep *st,
                                 json_t *o, int type)
{
    (void)st;
    (void)type;
    s->contain_begun = true;
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad contain record";
    return NULL;
}

/* "kept": an undo or uncommit left the change on purpose. */
static const char *apply_kept(struct journal_state *s, struct jstep *st,
                              json_t *o, int type)
{
    (void)type;
    if (st->commit_status == JCOMMIT_UNCOMMIT_INTENT)
        st->commit_status = JCOMMIT_DONE;
    else if (st->status == JSTEP_UNDO_INTENT)
        st->status = JSTEP_DONE;
    else
        return "'kept' without 'undo-intent' or 'uncommit-intent'";
    st->settled = json_is_true(json_object_get(o, "settled"));
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad kept record";
    return NULL;
}

/* "rollback": rolling back begins. */
static const char *apply_rollback(struct journal_state *s, struct jstep *st,
                                  json_t *o, int type)
{
    (void)st;
    (void)type;
    s->rollback_begun = true;
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad rollback record";
    return NULL;
}

/* "undo-intent": a step's undo is about to run. */
static const char *apply_undo_intent(struct journal_state *s, struct jstep *st,
                                     json_t *o, int type)
{
    (void)s;
    (void)o;
    (void)type;
    if (st->status != JSTEP_DONE && st->status != JSTEP_INTENT &&
        st->status != JSTEP_FAILED && st->status != JSTEP_UNDO_INTENT &&
        st->status != JSTEP_UNDO_FAILED)
        return "'undo-intent' of a step never started";
    if (st->undo == NULL && st->undo_data == NULL && st->undo_file == NULL)
        return "'undo-intent' of a step without undo";
    st->status = JSTEP_UNDO_INTENT;
    return NULL;
}

/* "undone" or "undo-failed": how the undo ended. */
static const char *apply_undo_outcome(struct journal_state *s, struct jstep *st,
                                      json_t *o, int type)
{
    if (st->status != JSTEP_UNDO_INTENT)
        return "undo outcome without 'undo-intent'";
    st->status = type == JOURNAL_UNDONE ? JSTEP_UNDONE : JSTEP_UNDO_FAILED;
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad undo record";
    return NULL;
}

/* "commit": the commit phase begins. */
static const char *apply_commit(struct journal_state *s, struct jstep *st,
                                json_t *o, int type)
{
    (void)st;
    (void)o;
    (void)type;
    s->commit_begun = true;
    return NULL;
}

/* "commit-intent": a done step's commit is about to run. */
static const char *apply_commit_intent(struct journal_state *s,
                                       struct jstep *st, json_t *o, int type)
{
    (void)s;
    (void)o;
    (void)type;
    if (st->status != JSTEP_DONE)
        return "'commit-intent' of a step not done";
    if (st->commit_status == JCOMMIT_DONE)
        return "'commit-intent' of a step already committed";
    st->commit_status = JCOMMIT_INTENT;
    return NULL;
}

/* "commit-done" or "commit-failed": how the commit ended. */
static const char *apply_commit_outcome(struct journal_state *s,
                                        struct jstep *st, json_t *o, int type)
{
    if (st->commit_status != JCOMMIT_INTENT)
        return "commit outcome without 'commit-intent'";
    st->commit_status =
        type == JOURNAL_COMMIT_DONE ? JCOMMIT_DONE : JCOMMIT_FAILED;
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad commit record";
    return NULL;
}

/* "uncommit-intent": rolling back a committed step is about to run. */
static const char *apply_uncommit_intent(struct journal_state *s,
                                         struct jstep *st, json_t *o, int type)
{
    (void)s;
    (void)o;
    (void)type;
    if (st->status != JSTEP_DONE || st->commit_status == JCOMMIT_NONE ||
        st->commit_status == JCOMMIT_UNCOMMITTED)
        return "'uncommit-intent' of a step whose commit never began";
    st->commit_status = JCOMMIT_UNCOMMIT_INTENT;
    return NULL;
}

/* "uncommitted" or "uncommit-failed": how the uncommit ended. */
static const char *apply_uncommit_outcome(struct journal_state *s,
                                          struct jstep *st, json_t *o, int type)
{
    if (st->commit_status != JCOMMIT_UNCOMMIT_INTENT)
        return "uncommit outcome without 'uncommit-intent'";
    if (type == JOURNAL_UNCOMMITTED) {
        st->commit_status = JCOMMIT_UNCOMMITTED;
        st->status = JSTEP_UNDONE;
    } else {
        st->commit_status = JCOMMIT_UNCOMMIT_FAILED;
    }
    if (take_str(&s->last_error, o, "error") < 0)
        return "bad uncommit record";
    return NULL;
}

/* "end": the host's state at the end of a phase. */
static const char *apply_end(struct journal_state *s, struct jstep *st,
                             json_t *o, int type)
{
    (void)st;
    (void)type;
    s->ended = true;
    if (take_str(&s->end_state, o, "state") < 0 || s->end_state == NULL ||
        take_str(&s->end_phase, o, "phase") < 0 ||
        take_str(&s->last_error, o, "error") < 0)
        return "bad end record";
    return NULL;
}

/* Each record type's applier, and whether its record must name a step. */
static const struct record_rule {
    const char *(*apply)(struct journal_state *s, struct jstep *st, json_t *o,
                         int type);
    bool needs_step;
} record_rules[JOURNAL_TYPE_COUNT] = {
    [JOURNAL_BEGIN] = {apply_begin, false},
    [JOURNAL_READ] = {apply_read, true},
    [JOURNAL_INTENT] = {apply_intent, true},
    [JOURNAL_DONE] = {apply_done, true},
    [JOURNAL_FAILED] = {apply_failed, true},
    [JOURNAL_ROLLBACK] = {apply_rollback, false},
    [JOURNAL_UNDO_INTENT] = {apply_undo_intent, true},
    [JOURNAL_UNDONE] = {apply_undo_outcome, true},
    [JOURNAL_UNDO_FAILED] = {apply_undo_outcome, true},
    [JOURNAL_COMMIT] = {apply_commit, false},
    [JOURNAL_COMMIT_INTENT] = {apply_commit_intent, true},
    [JOURNAL_COMMIT_DONE] = {apply_commit_outcome, true},
    [JOURNAL_COMMIT_FAILED] = {apply_commit_outcome, true},
    [JOURNAL_END] = {apply_end, false},
    [JOURNAL_UNCOMMIT_INTENT] = {apply_uncommit_intent, true},
    [JOURNAL_UNCOMMITTED] = {apply_uncommit_outcome, true},
    [JOURNAL_UNCOMMIT_FAILED] = {apply_uncommit_outcome, true},
    [JOURNAL_CONTAIN] = {apply_contain, false},
    [JOURNAL_KEPT] = {apply_kept, true},
};

/* Applies one parsed record; returns a reason string when impossible. */
static const char *apply_record(struct journal_state *s, json_t *o, int type)
{
    json_t *jstep = json_object_get(o, "step");
    struct jstep *st = NULL;

    if (type < 0 || type >= JOURNAL_TYPE_COUNT ||
        record_rules[type].apply == NULL)
        return "unknown record type";
    if (jstep != NULL) {
        if (!json_is_integer(jstep) || json_integer_value(jstep) < 0 ||
            grow_steps(s, (size_t)json_integer_value(jstep)) < 0)
            return "bad step index";
        st = &s->steps[json_integer_value(jstep)];
    }
    if (record_rules[type].needs_step && st == NULL)
        return "record without a step";
    if (type != JOURNAL_BEGIN && !s->begun)
        return "record before 'begin'";
    if (type != JOURNAL_END)
        s->ended = false;
    return record_rules[type].apply(s, st, o, type);
}

int journal_replay_string(struct journal_state *out, const char *data,
                          size_t len, struct errbuf *err)
{
    const char *p = data, *end = data + len, *nl;
    size_t line = 0;
    json_error_t jerr;
    json_t *o = NULL, *v;
    const char *why;
    int type;

    journal_state_init(out);
    while (p < end) {
        line++;
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            /* the crash happened while this line was written */
            out->torn = true;
            break;
        }
        o = json_loadb(p, nl - p, JSON_REJECT_DUPLICATES, &jerr);
        if (o == NULL || !json_is_object(o)) {
            json_decref(o);
            journal_state_release(out);
            return errbuf_set(err, SS_ECORRUPT,
                              "journal line %zu is not a JSON object", line);
        }
        v = json_object_get(o, "seq");
        if (!json_is_integer(v) ||
            json_integer_value(v) != (json_int_t)out->records + 1) {
            json_decref(o);
            journal_state_release(out);
            return errbuf_set(err, SS_ECORRUPT,
                              "journal line %zu: expected seq %zu (a record "
                              "was removed or moved)",
                              line, out->records + 1);
        }
        v = json_object_get(o, "type");
        type = json_is_string(v) ? type_parse(json_string_value(v)) : -1;
        why = type < 0 ? "unknown record type" : apply_record(out, o, type);
        json_decref(o);
        if (why != NULL) {
            journal_state_release(out);
            return errbuf_set(err, SS_ECORRUPT, "journal line %zu: %s", line,
                              why);
        }
        out->records++;
        p = nl + 1;
        out->valid_len = (size_t)(p - data);
    }
    return 0;
}

int journal_replay_file(struct journal_state *out, const char *path,
                        struct errbuf *err)
{
    char *data = NULL;
    size_t len = 0;
    int r;

    journal_state_init(out);
    if ((r = fsio_read_file(&data, &len, path, JOURNAL_MAX_BYTES, err)) < 0)
        return r;
    r = journal_replay_string(out, data, len, err);
    if (r < 0)
        errbuf_prefix(err, "'%s'", path);
    free(data);
    return r;
}
