/* Words for the engine's records: the plan, each host's result, the recap. */
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "progress.h"
#include "render.h"

int render_clock(struct buf *out, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[16];

    if (gmtime_r(&t, &tm) == NULL)
        return buf_adds(out, "??:??:??");
    strftime(s, sizeof(s), "%H:%M:%S", &tm);
    return buf_adds(out, s);
}

/* "s" unless n is 1: "1 message", "2 messages". */
static const char *plural(long long n)
{
    return n == 1 ? "" : "s";
}

/* The first note of r called key, or NULL. */
static const struct engine_note *note_find(const struct engine_step_rec *r,
                                           const char *key)
{
    size_t i;

    for (i = 0; i < r->nnotes; i++)
        if (strcmp(r->notes[i].key, key) == 0)
            return &r->notes[i];
    return NULL;
}

/* Whether step r makes (or, planned, would make) a change on the host. */
static bool step_changes(const struct engine_step_rec *r, enum step_kind kind)
{
    if (kind == STEP_READ_ONLY || note_find(r, "nothing_to_do") != NULL ||
        note_find(r, "service_already") != NULL)
        return false;
    return r->status == ENGINE_STEP_PLANNED || r->status == ENGINE_STEP_DONE ||
           r->status == ENGINE_STEP_COMMITTED ||
           r->status == ENGINE_STEP_KEPT || r->status == ENGINE_STEP_UNDONE ||
           r->status == ENGINE_STEP_COMMIT_FAILED;
}

const char *render_host_label(const struct engine_host *h,
                              const struct playbook *pb)
{
    size_t i;

    if ((h->state != HOST_COMMITTED && h->state != HOST_DRY_RUN) ||
        h->nsteps == 0)
        return host_state_name(h->state);
    for (i = 0; i < h->nsteps && i < pb->nsteps; i++)
        if (step_changes(&h->steps[i], pb->steps[i].kind))
            return host_state_name(h->state);
    return "clean";
}

/* Appends "N.NN s" for milliseconds. */
static int add_seconds(struct buf *b, long long ms)
{
    return buf_printf(b, "%lld.%02lld s", ms / 1000, ms % 1000 / 10);
}

/* Appends a key as words: "password_confirmed" -> "password confirmed". */
static int add_key_words(struct buf *b, const char *key, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (buf_addc(b, key[i] == '_' ? ' ' : key[i]) < 0)
            return -1;
    return 0;
}

/* A note no table entry knows: its key in words, subject, value, text. */
static int add_generic(struct buf *b, const struct engine_note *nt)
{
    size_t n = strlen(nt->key);
    bool ms = n > 3 && strcmp(nt->key + n - 3, "_ms") == 0;
    int r = add_key_words(b, nt->key, ms ? n - 3 : n);

    if (r == 0 && nt->subject != NULL)
        r = buf_addc(b, ' ') < 0 || cmd_add_clean(b, nt->subject) < 0 ? -1 : 0;
    if (r == 0 && nt->value >= 0)
        r = buf_adds(b, ": ") < 0 || (ms ? add_seconds(b, nt->value)
                                         : buf_printf(b, "%lld", nt->value)) < 0
                ? -1
                : 0;
    if (r == 0 && nt->text != NULL)
        r = buf_adds(b, nt->value >= 0 ? " (" : ": ") < 0 ||
                    cmd_add_clean(b, nt->text) < 0 ||
                    (nt->value >= 0 && buf_addc(b, ')') < 0)
                ? -1
                : 0;
    return r;
}

/*
 * How a known note reads: before the run (fut) and after it (past).  %S
 * is the subject, %T the text, %V the value, %C the step's end time; a
 * NULL form is not shown in that tense.  verbose: shown only with -v.
 */
struct note_form {
    const char *key;
    const char *fut;
    const char *past;
    bool verbose;
    const char *committed; /* after past once the step's commit ran */
};

static const struct note_form note_forms[] = {
    {"service_stop", "will stop %S (via %T)", "stopped %S (via %T)", false,
     NULL},
    {"service_start", "will start %S (via %T)", "started %S (via %T)", false,
     NULL},
    {"service_already", "%S is already %T: nothing to do",
     "%S was already %T: nothing done", false, NULL},
    {"restart_timer",
     "a timer on the host starts postfix again after %V s if this run has "
     "not",
     NULL, false, NULL},
    {"no_restart_timer",
     "no restart timer (restart_after is 0): if the controller dies, "
     "postfix stays stopped until a rollback or resume",
     NULL, false, NULL},
    {"disarm_timer", "will disarm the restart timer %S",
     "disarmed the restart timer %S", true, NULL},
    {"mail_down_ms", NULL, "mail down %V", false, NULL},
    {"started_by_timer", NULL,
     "the restart timer had started %S before this run did", false, NULL},
    {"down_time_unknown", NULL, "down time not known: %T", false, NULL},
    {"password", "will set a new password for %S (%T)",
     "new password for %S (%T)", false, ", the old one destroyed at commit"},
    {"credentials", "new passwords go only to %T (mode 0600)",
     "new passwords are in %T", false, NULL},
    {"hold", "will hold %V message%P of %S, to delete at commit",
     "held %V message%P of %S", false, ", deleted at commit"},
    {"held", NULL,
     "only %V of them put on hold by this run (the others were on hold "
     "already or gone)",
     false, NULL},
    {"stay", "%V other queued message%P stay%Q",
     "%V other queued message%P "
     "stayed",
     false, NULL},
    {"snapshot", "will save a tar of %V message file%P in %S",
     "saved a tar of %V message file%P in %S", false, NULL},
    {"evidence_copy", "and copy it to %S", "copied to %S", true, NULL},
    {"nothing_to_do", "nothing to do here", "nothing to do here", false, NULL},
    {"web_script", NULL, NULL, false, NULL}, /* shown with the accounts */
    {"log_unread", "mail logs not read (%T): the queue alone decides",
     "mail logs not read (%T): the queue alone decides", false, NULL},
    {"needs_changes_above",
     "maybe for want of the changes above (a dry run makes none)",
     "maybe for want of the changes above (a dry run makes none)", false, NULL},
    {"no_uncommit", "no uncommit: a rollback after the commit stops here",
     "no uncommit: a rollback after the commit stops here", true, NULL},
    {"command", "command: %T", "command: %T", true, NULL},
    {"undo_command", "undo: %T", "undo: %T", true, NULL},
    {"commit_command", "at commit: %T", "at commit: %T", true, NULL},
    {"uncommit_command", "uncommit: %T", "uncommit: %T", true, NULL},
    {"probe", "probe (%V line%P): %T", "probe (%V line%P): %T", true, NULL},
    {"probe_output", "| %T", "| %T", true, NULL},
    {"hold_total", NULL, NULL, false, NULL}, /* in the summary */
    /* a plan's (dry run) only: after the run, the recap's check lines */
    {"verify_password",
     "will check that each new password (of step '%T') is the one in force, "
     "through the host's own SMTP AUTH path (doveadm auth test, or SMTP "
     "AUTH on 127.0.0.1, port %S, the first that offers it, under Cyrus "
     "SASL), the password on stdin only",
     "after the start, a check that each new password (of step '%T') is "
     "the one in force, through the host's own SMTP AUTH path (doveadm auth "
     "test, or SMTP AUTH on 127.0.0.1, port %S, the first that offers it, "
     "under Cyrus SASL)",
     false, NULL},
    {"verify_watch",
     "then will watch %V s and read the mail log for logins of those "
     "accounts since the rotation",
     "then %V s of watching the mail log for logins of those accounts "
     "since the rotation",
     false, NULL},
};

/* Expands one form for note nt of record r into b. */
static int add_form(struct buf *b, const char *form,
                    const struct engine_note *nt,
                    const struct engine_step_rec *r)
{
    const char *p;
    int rc = 0;

    for (p = form; *p != '\0' && rc == 0; p++) {
        if (*p != '%' || p[1] == '\0') {
            rc = buf_addc(b, *p);
            continue;
        }
        switch (*++p) {
        case 'S':
            rc = cmd_add_clean(b, nt->subject != NULL ? nt->subject : "?");
            break;
        case 'T':
            rc = cmd_add_clean(b, nt->text != NULL ? nt->text : "?");
            break;
        case 'V':
            rc = strcmp(nt->key, "mail_down_ms") == 0
                     ? add_seconds(b, nt->value)
                     : buf_printf(b, "%lld", nt->value);
            break;
        case 'P': rc = buf_adds(b, plural(nt->value)); break;
        case 'Q': rc = buf_adds(b, nt->value == 1 ? "s" : ""); break;
        case 'C': rc = r->end_ms > 0 ? render_clock(b, r->end_ms) : 0; break;
        default: rc = buf_addc(b, *p); break;
        }
    }
    return rc < 0 ? -1 : 0;
}

/*
 * A "password" note says whether the old password can come back: value
 * 1, kept on the host until the commit; 0, a pivot for that account.
 */
static int add_password_pivot(struct buf *b, const struct engine_note *nt,
                              bool fut)
{
    if (strcmp(nt->key, "password") != 0)
        return 0;
    if (nt->value == 0)
        return buf_adds(b, fut ? ": PIVOT for this account, plesk stores "
                                 "its password hashed, the old one cannot "
                                 "be put back"
                               : ": a pivot for this account, the old one "
                                 "cannot be put back");
    return fut ? buf_adds(b, ", the old one kept on the host until the run "
                             "commits")
               : 0;
}

/*
 * Appends note nt in the tense of the step (fut) after sep; 0 when it was
 * not shown, 1 when it was, -1 when out of memory.
 */
static int add_note(struct buf *b, const char *sep,
                    const struct engine_note *nt,
                    const struct engine_step_rec *r, bool fut, int verbose)
{
    const char *form = NULL;
    size_t i;

    for (i = 0; i < sizeof(note_forms) / sizeof(note_forms[0]); i++)
        if (strcmp(note_forms[i].key, nt->key) == 0)
            break;
    /* what was put on hold is news only when it is not what was planned */
    if (strcmp(nt->key, "held") == 0 && note_find(r, "hold_total") != NULL &&
        note_find(r, "hold_total")->value == nt->value)
        return 0;
    if (i < sizeof(note_forms) / sizeof(note_forms[0])) {
        if (note_forms[i].verbose && verbose < 1)
            return 0;
        form = fut ? note_forms[i].fut : note_forms[i].past;
        if (form == NULL)
            return 0;
    }
    if (buf_adds(b, sep) < 0)
        return -1;
    if (form == NULL)
        return add_generic(b, nt) < 0 ? -1 : 1;
    if (add_form(b, form, nt, r) < 0 || add_password_pivot(b, nt, fut) < 0)
        return -1;
    if (r->status == ENGINE_STEP_COMMITTED && note_forms[i].committed != NULL)
        return buf_adds(b, note_forms[i].committed) < 0 ? -1 : 1;
    return 1;
}

/* What a step's status adds after its notes ("" when nothing). */
static int add_status(struct buf *b, const struct engine_step_rec *r,
                      bool shown)
{
    const char *sep = shown ? "; " : "";
    int rc = 0;

    switch (r->status) {
    case ENGINE_STEP_COMMITTED:
        if (!shown)
            rc = buf_adds(b, "done and committed");
        break;
    case ENGINE_STEP_DONE:
        if (!shown)
            rc = buf_adds(b, "done");
        break;
    case ENGINE_STEP_READ:
        if (!shown)
            rc = buf_adds(b, "read");
        break;
    case ENGINE_STEP_UNDONE:
        rc = buf_adds(b, shown ? "; then undone" : "undone");
        break;
    case ENGINE_STEP_PLANNED:
        if (!shown)
            rc = buf_adds(b, "will run (-v shows its command)");
        break;
    case ENGINE_STEP_KEPT: rc = buf_printf(b, "%skept: ", sep); break;
    case ENGINE_STEP_FAILED: rc = buf_printf(b, "%sfailed: ", sep); break;
    case ENGINE_STEP_UNDO_FAILED:
        rc = buf_printf(b, "%sits undo failed: ", sep);
        break;
    case ENGINE_STEP_COMMIT_FAILED:
        rc = buf_printf(b, "%sits commit failed: ", sep);
        break;
    case ENGINE_STEP_SKIPPED: rc = buf_printf(b, "%sskipped: ", sep); break;
    default: break;
    }
    if (rc == 0 && r->why != NULL &&
        (r->status == ENGINE_STEP_KEPT || r->status == ENGINE_STEP_FAILED ||
         r->status == ENGINE_STEP_UNDO_FAILED ||
         r->status == ENGINE_STEP_COMMIT_FAILED ||
         r->status == ENGINE_STEP_SKIPPED))
        rc = cmd_add_clean(b, r->why);
    return rc < 0 ? -1 : 0;
}

/* Whether step r of kind s is worth a line at this verbosity. */
static bool step_shown(const struct engine_step_rec *r,
                       const struct playbook_step *s, int verbose)
{
    if (verbose > 0)
        return true;
    switch (r->status) {
    case ENGINE_STEP_NOT_RUN:
    case ENGINE_STEP_SKIPPED: return false;
    case ENGINE_STEP_READ:
        /* the accounts are shown once, above; a note of its own shows it */
        return note_find(r, "log_unread") != NULL ||
               note_find(r, "needs_changes_above") != NULL ||
               note_find(r, "verify_password") != NULL;
    default: return s->kind != STEP_READ_ONLY || r->status != ENGINE_STEP_DONE;
    }
}

/* Appends one step's line: its time, what it will do or did, its status. */
static int add_step(struct buf *b, const struct engine_step_rec *r,
                    const struct playbook_step *s, size_t i, int verbose)
{
    bool fut = r->status == ENGINE_STEP_PLANNED, any = false;
    size_t k;
    int shown;

    if (!step_shown(r, s, verbose))
        return 0;
    if (buf_printf(b, "  [%zu] %s", i + 1, s->name) < 0)
        return -1;
    if (!fut && r->end_ms > 0 &&
        (buf_adds(b, " ") < 0 || render_clock(b, r->end_ms) < 0))
        return -1;
    if (buf_adds(b, ": ") < 0)
        return -1;
    if (s->kind == STEP_PIVOT && buf_adds(b, "PIVOT, cannot be undone; ") < 0)
        return -1;
    if (r->pivot_why != NULL &&
        (buf_adds(b, "PIVOT on this host, cannot be undone: ") < 0 ||
         cmd_add_clean(b, r->pivot_why) < 0 || buf_adds(b, "; ") < 0))
        return -1;
    for (k = 0; k < r->nnotes; k++) {
        if ((shown = add_note(b, any ? "; " : "", &r->notes[k], r, fut,
                              verbose)) < 0)
            return -1;
        any = any || shown > 0;
    }
    if (add_status(b, r, any) < 0)
        return -1;
    return buf_addc(b, '\n');
}

/* Appends one account of the survey, with why when it is watched. */
static int add_account(struct buf *b, const struct engine_account *a)
{
    static const char *const level[] = {"account", "watch", "FLAGGED"};

    if (buf_printf(b, "  %s ", level[a->level]) < 0 ||
        cmd_add_clean(b, a->address) < 0 ||
        buf_printf(b,
                   ": %lld message%s (%d%% of the queue), %lld client "
                   "address%s",
                   a->messages, plural(a->messages),
                   (a->share_permille + 5) / 10, a->clients,
                   a->clients == 1 ? "" : "es") < 0)
        return -1;
    if (a->top_client != NULL &&
        (buf_adds(b, ", top ") < 0 || cmd_add_clean(b, a->top_client) < 0 ||
         buf_printf(b, " (%lld message%s)", a->top_client_messages,
                    plural(a->top_client_messages)) < 0))
        return -1;
    if (buf_addc(b, '\n') < 0)
        return -1;
    if (a->why != NULL &&
        (buf_adds(b, "    why: ") < 0 || cmd_add_clean(b, a->why) < 0 ||
         buf_addc(b, '\n') < 0))
        return -1;
    return 0;
}

/* Appends the queue and log counts of a survey. */
static int add_counts(struct buf *b, const struct engine_survey *sv)
{
    if (buf_printf(b,
                   "  queue: %lld message%s read (%lld authenticated, %lld "
                   "from web scripts, %lld other)",
                   sv->queued, plural(sv->queued), sv->authenticated,
                   sv->scripted, sv->other) < 0)
        return -1;
    if (sv->log_source != NULL &&
        (buf_adds(b, "; mail log ") < 0 ||
         cmd_add_clean(b, sv->log_source) < 0 ||
         buf_printf(b,
                    ": %lld record%s in the last %lld h, %lld account%s "
                    "submitted mail%s",
                    sv->log_records, plural(sv->log_records), sv->log_hours,
                    sv->log_accounts, plural(sv->log_accounts),
                    sv->log_cut ? " (cut at its size cap: lower bounds)" : "") <
             0))
        return -1;
    if (sv->log_missing != NULL && (buf_adds(b, "; mail logs: ") < 0 ||
                                    cmd_add_clean(b, sv->log_missing) < 0))
        return -1;
    return buf_addc(b, '\n');
}

/* Appends the web scripts and warnings the surveying step r noted. */
static int add_findings(struct buf *b, const struct engine_step_rec *r,
                        const struct engine_survey *sv)
{
    size_t k;

    for (k = 0; k < r->nnotes; k++) {
        const struct engine_note *nt = &r->notes[k];
        if (strcmp(nt->key, "web_script") != 0)
            continue;
        if (buf_adds(b, "  web script ") < 0 ||
            cmd_add_clean(b, nt->subject != NULL ? nt->subject : "?") < 0 ||
            buf_printf(b, ": %lld message%s (reported, not acted on)\n",
                       nt->value, plural(nt->value)) < 0)
            return -1;
    }
    if (sv->flagged > 0 &&
        buf_printf(b, "  to hold: %lld message%s of %lld flagged account%s%s",
                   sv->to_hold - sv->backscatter,
                   plural(sv->to_hold - sv->backscatter), sv->flagged,
                   plural(sv->flagged), sv->backscatter > 0 ? " and " : "") < 0)
        return -1;
    if (sv->flagged > 0 && sv->backscatter > 0 &&
        buf_printf(b, "%lld bounce%s of them to third parties (backscatter)",
                   sv->backscatter, plural(sv->backscatter)) < 0)
        return -1;
    if (sv->flagged > 0 &&
        buf_printf(b, "; %lld other queued message%s stay%s\n", sv->stay,
                   plural(sv->stay), sv->stay == 1 ? "s" : "") < 0)
        return -1;
    if (sv->flagged == 0 &&
        buf_printf(b,
                   "  no account over the thresholds (%lld messages and "
                   "%lld%% of the queue, or %lld submitted from %lld "
                   "addresses in the logs)\n",
                   sv->min_messages, sv->min_share_pct, sv->log_min_messages,
                   sv->log_min_clients) < 0)
        return -1;
    if ((sv->anomalies > 0 || sv->incomplete > 0) &&
        buf_printf(b,
                   "  WARNING: %lld anomal%s and %lld incomplete message%s "
                   "in the queue files\n",
                   sv->anomalies, sv->anomalies == 1 ? "y" : "ies",
                   sv->incomplete, plural(sv->incomplete)) < 0)
        return -1;
    return 0;
}

/* Appends what identify read, once per host: counts, accounts, scripts. */
static int add_survey(struct buf *b, const struct engine_host *h, int verbose)
{
    const struct engine_step_rec *r = NULL;
    const struct engine_survey *sv;
    size_t i;

    for (i = h->nsteps; i > 0 && r == NULL; i--)
        if (h->steps[i - 1].survey != NULL)
            r = &h->steps[i - 1];
    if (r == NULL)
        return 0;
    sv = r->survey;
    if (add_counts(b, sv) < 0)
        return -1;
    if (verbose > 0 && sv->unchanged >= 0 &&
        buf_printf(b,
                   "  read again with postfix stopped: %lld file%s "
                   "unchanged since the first pass\n",
                   sv->unchanged, plural(sv->unchanged)) < 0)
        return -1;
    for (i = 0; i < sv->naccounts; i++)
        if ((verbose > 0 || sv->accounts[i].level != ENGINE_ACCOUNT_SEEN ||
             i < 3) &&
            add_account(b, &sv->accounts[i]) < 0)
            return -1;
    return add_findings(b, r, sv);
}

int render_host(struct buf *out, const struct engine_host *h,
                const struct playbook *pb, int verbose)
{
    const char *label = render_host_label(h, pb);
    size_t i;

    if (h->state == HOST_NOTHING)
        return 0; /* the recap says it: nothing to add */
    /*
     * the state is the recap's; here only what a reader needs first: a
     * plan, a clean host, or the state with what went wrong
     */
    if (h->err.code != 0) {
        if (buf_printf(out, "%s: %s: ", h->target.name, label) < 0 ||
            cmd_add_clean(out, h->err.msg) < 0)
            return -1;
    } else if (buf_printf(out, "%s:%s", h->target.name,
                          strcmp(label, "clean") == 0  ? " clean"
                          : h->state == HOST_DRY_RUN   ? " plan"
                          : h->state != HOST_COMMITTED ? " "
                                                       : "") < 0 ||
               (h->state != HOST_COMMITTED && h->state != HOST_DRY_RUN &&
                strcmp(label, "clean") != 0 && buf_adds(out, label) < 0)) {
        return -1;
    }
    if (buf_addc(out, '\n') < 0 || add_survey(out, h, verbose) < 0)
        return -1;
    for (i = 0; i < h->nsteps && i < pb->nsteps; i++)
        if (add_step(out, &h->steps[i], &pb->steps[i], i, verbose) < 0)
            return -1;
    return 0;
}

/* Sums the values of r's notes called key (0 when none). */
static long long note_sum(const struct engine_step_rec *r, const char *key)
{
    long long n = 0;
    size_t i;

    for (i = 0; i < r->nnotes; i++)
        if (strcmp(r->notes[i].key, key) == 0 && r->notes[i].value > 0)
            n += r->notes[i].value;
    return n;
}

/* Appends, after label, each note called key of h's planned steps. */
static int add_planned(struct buf *b, const struct engine_host *h,
                       const char *key, const char *label, bool count)
{
    const struct engine_note *nt;
    size_t i, k, shown = 0;

    for (i = 0; i < h->nsteps; i++)
        for (k = 0; k < h->steps[i].nnotes; k++) {
            nt = &h->steps[i].notes[k];
            if (strcmp(nt->key, key) != 0 || nt->subject == NULL)
                continue;
            if (buf_adds(b, shown++ == 0 ? label : ", ") < 0 ||
                (count && buf_printf(b, "%lld message%s of ", nt->value,
                                     plural(nt->value)) < 0) ||
                cmd_add_clean(b, nt->subject) < 0 ||
                (nt->text != NULL &&
                 (buf_adds(b, " (") < 0 || cmd_add_clean(b, nt->text) < 0 ||
                  buf_addc(b, ')') < 0)) ||
                (!count && nt->value == 0 &&
                 buf_adds(b, " PIVOT for this account") < 0))
                return -1;
        }
    return shown > 0 && buf_addc(b, '\n') < 0 ? -1 : (int)shown;
}

/* Appends the confirmation lines of one host of a plan pass. */
static int add_host_summary(struct buf *b, const struct engine_host *h,
                            const struct playbook *pb, size_t *pivots)
{
    long long stay = 0;
    size_t i;
    int a, c;

    if (buf_printf(b, "  %s:", h->target.name) < 0)
        return -1;
    if (h->state != HOST_DRY_RUN &&
        buf_printf(b, " %s", host_state_name(h->state)) < 0)
        return -1;
    if (buf_addc(b, '\n') < 0)
        return -1;
    if (h->err.code != 0 &&
        (buf_adds(b, "    problem: ") < 0 || cmd_add_clean(b, h->err.msg) < 0 ||
         buf_adds(b, " (the run will roll this host back or skip it)\n") < 0))
        return -1;
    if ((a = add_planned(b, h, "password", "    rotate password: ", false)) <
            0 ||
        (c = add_planned(b, h, "hold",
                         "    purge (hold, delete at commit): ", true)) < 0)
        return -1;
    for (i = 0; i < h->nsteps; i++) {
        stay += note_sum(&h->steps[i], "stay");
        if (h->steps[i].pivot_why == NULL || i >= pb->nsteps)
            continue;
        (*pivots)++;
        if (buf_printf(b,
                       "    [%zu] %s: PIVOT on this host, cannot be "
                       "undone: ",
                       i + 1, pb->steps[i].name) < 0 ||
            cmd_add_clean(b, h->steps[i].pivot_why) < 0 ||
            buf_addc(b, '\n') < 0)
            return -1;
    }
    if (c > 0 && buf_printf(b, "    keep queued: %lld message%s\n", stay,
                            plural(stay)) < 0)
        return -1;
    if (a == 0 && c == 0 && h->err.code == 0 &&
        buf_printf(b, "    %s: nothing to change\n", render_host_label(h, pb)) <
            0)
        return -1;
    return 0;
}

int render_plan_summary(struct buf *out, const struct engine_host *hosts,
                        size_t n, const struct playbook *pb)
{
    size_t i, pivots = 0, host_pivots = 0;

    if (buf_printf(out, "\nPlan: playbook '%s' on %zu host%s:\n", pb->name, n,
                   n == 1 ? "" : "s") < 0)
        return -1;
    for (i = 0; i < n; i++)
        if (add_host_summary(out, &hosts[i], pb, &host_pivots) < 0)
            return -1;
    for (i = 0; i < pb->nsteps; i++) {
        if (pb->steps[i].kind != STEP_PIVOT)
            continue;
        if (buf_printf(out, "%s step %zu '%s'",
                       pivots++ == 0 ? "Pivots (cannot be undone):" : ",",
                       i + 1, pb->steps[i].name) < 0)
            return -1;
    }
    if (pivots > 0)
        return buf_addc(out, '\n');
    if (host_pivots > 0)
        return buf_adds(out, "Pivots: only the PIVOT steps named above\n");
    return buf_adds(out, "Pivots: none (every change can be undone with "
                         "'spamstop rollback')\n");
}

void render_count(struct render_counts *out, const struct engine_host *h,
                  const struct playbook *pb)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    if (h->state == HOST_UNREACHABLE || h->state == HOST_REFUSED) {
        out->unreachable = 1;
        return;
    }
    for (i = 0; i < h->nsteps && i < pb->nsteps; i++) {
        const struct engine_step_rec *r = &h->steps[i];
        bool mut = pb->steps[i].kind != STEP_READ_ONLY;
        switch (r->status) {
        case ENGINE_STEP_NOT_RUN: break;
        case ENGINE_STEP_SKIPPED: out->skipped++; break;
        case ENGINE_STEP_PLANNED:
            /* as ansible-playbook --check: what would change */
            out->ok++;
            out->changed += mut && step_changes(r, pb->steps[i].kind);
            break;
        case ENGINE_STEP_READ: out->ok++; break;
        case ENGINE_STEP_DONE:
        case ENGINE_STEP_COMMITTED:
        case ENGINE_STEP_KEPT:
        case ENGINE_STEP_UNDONE:
            out->ok++;
            out->changed += mut && step_changes(r, pb->steps[i].kind);
            out->contained += h->state == HOST_CONTAINED && pb->steps[i].keep &&
                              r->status != ENGINE_STEP_UNDONE;
            break;
        default: out->failed++; break;
        }
    }
}

int render_recap(struct buf *out, const char *what, const char *run_id,
                 const struct engine_host *hosts, size_t n,
                 const struct playbook *pb, bool color,
                 int (*follow)(struct buf *out, void *arg,
                               const struct engine_host *h),
                 void *arg)
{
    struct render_counts c;
    const char *label;
    long long ms;
    size_t i;

    if (buf_printf(out, "\n%sRECAP%s %s run %s\n", color ? "\033[1m" : "",
                   color ? "\033[0m" : "", what, run_id) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        const struct engine_host *h = &hosts[i];
        render_count(&c, h, pb);
        ms = h->end_ms > h->start_ms ? h->end_ms - h->start_ms : 0;
        label = render_host_label(h, pb);
        if (buf_printf(out,
                       "%-20s %s%-15s%s ok=%-3u changed=%-3u contained=%-3u "
                       "failed=%-3u unreachable=%-3u skipped=%-3u %lld.%llds\n",
                       h->target.name, color ? progress_state_color(label) : "",
                       label, color ? "\033[0m" : "", c.ok, c.changed,
                       c.contained, c.failed, c.unreachable, c.skipped,
                       ms / 1000, ms % 1000 / 100) < 0)
            return -1;
    }
    for (i = 0; follow != NULL && i < n; i++)
        if (follow(out, arg, &hosts[i]) < 0)
            return -1;
    return 0;
}

/* Appends s cleaned on one line, cut after max bytes with "...". */
static int add_cut(struct buf *b, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i;
    bool cut = n > max;
    int r = 0;

    if (cut) /* at a character's start, not inside a UTF-8 sequence */
        for (n = max; n > 0 && (p[n] & 0xc0) == 0x80; n--)
            ;
    for (i = 0; i < n && r == 0; i++)
        r = p[i] < 0x20 || p[i] == 0x7f ? buf_printf(b, "\\x%02x", p[i])
                                        : buf_addc(b, (char)p[i]);
    return r < 0 || (cut && buf_adds(b, "...") < 0) ? -1 : 0;
}

/* "alice@x flagged on h1, h2: one notice" (hosts cut at RENDER_FLEET_HOSTS). */
static int add_fleet_account(struct buf *b, const struct fleet_account *a)
{
    size_t i, shown = a->n_hosts < RENDER_FLEET_HOSTS ? a->n_hosts
                                                      : RENDER_FLEET_HOSTS;

    if (buf_adds(b, "  ") < 0 || add_cut(b, a->account, RENDER_FLEET_CUT) < 0 ||
        buf_adds(b, " flagged on ") < 0)
        return -1;
    for (i = 0; i < shown; i++)
        if ((i > 0 && buf_adds(b, ", ") < 0) ||
            add_cut(b, a->hosts[i], RENDER_FLEET_CUT) < 0)
            return -1;
    if (shown < a->n_hosts &&
        buf_printf(b, " and %zu more hosts", a->n_hosts - shown) < 0)
        return -1;
    return buf_adds(b, ": one notice\n");
}

/*
 * "10.0.0.9 (client IP) sent for alice@x on h1 (30) and for bob@y on h2
 * (20)", sightings cut at RENDER_FLEET_SEEN.
 */
static int add_fleet_value(struct buf *b, const struct fleet_value *x)
{
    size_t i,
        shown = x->n_seen < RENDER_FLEET_SEEN ? x->n_seen : RENDER_FLEET_SEEN;

    if (buf_adds(b, "  ") < 0 || add_cut(b, x->value, RENDER_FLEET_CUT) < 0 ||
        buf_printf(b, " (%s) sent for ", fleet_kind_name(x->kind)) < 0)
        return -1;
    for (i = 0; i < shown; i++)
        if (buf_adds(b, i == 0 ? ""
                        : i + 1 == x->n_seen && shown == x->n_seen
                            ? " and for "
                            : ", for ") < 0 ||
            add_cut(b, x->seen[i].account, RENDER_FLEET_CUT) < 0 ||
            buf_adds(b, " on ") < 0 ||
            add_cut(b, x->seen[i].host, RENDER_FLEET_CUT) < 0 ||
            buf_printf(b, " (%zu)", x->seen[i].count) < 0)
            return -1;
    if (shown < x->n_seen && buf_printf(b, " and %zu more, on %zu hosts in all",
                                        x->n_seen - shown, x->n_hosts) < 0)
        return -1;
    return buf_addc(b, '\n');
}

int render_fleet(struct buf *out, const struct fleet *f)
{
    size_t i, lines = 0, total = f->n_accounts + f->n_values;

    if (total == 0)
        return 0;
    if (buf_adds(out, "\nFleet: what flagged accounts share across hosts\n") <
        0)
        return -1;
    for (i = 0; i < f->n_accounts && lines < RENDER_FLEET_LINES; i++, lines++)
        if (add_fleet_account(out, &f->accounts[i]) < 0)
            return -1;
    for (i = 0; i < f->n_values && lines < RENDER_FLEET_LINES; i++, lines++)
        if (add_fleet_value(out, &f->values[i]) < 0)
            return -1;
    if (lines < total &&
        buf_printf(out, "  and %zu more (the run's report lists them all)\n",
                   total - lines) < 0)
        return -1;
    return 0;
}
