/*
 * The action author's API: what a built-in action implements (action_ops)
 * and what it may call on the host and the run.  Internal to the engine;
 * cmd/ sees runs only, through spamstop/engine.h.
 */
#ifndef SPAMSTOP_ENGINE_ACTION_H
#define SPAMSTOP_ENGINE_ACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spamstop/buf.h"
#include "spamstop/engine.h"
#include "spamstop/error.h"
#include "spamstop/exec.h"
#include "spamstop/playbook.h"

struct action_ctx;

/*
 * A built-in action.  Adding one is one file (lib/engine/action_NAME.c
 * defining `const struct action_ops action_NAME`) plus one line in the
 * table in lib/engine/actions.c.
 *
 * Order per step: parse at load time; then, on the host, prepare (read-only:
 * look at the host, say what apply would do with action_note, and leave
 * undo and commit information with action_set_undo/action_set_commit);
 * dry-run stops there.  Otherwise the engine journals the intent (with the
 * undo information) and calls apply.  undo and commit get back exactly the
 * JSON text that prepare/apply left, also in a later `rollback`/`resume`
 * process, so they need nothing else.  apply, undo and commit must be
 * idempotent: after a crash they may run again.
 */
struct action_ops {
    const char *name;
    unsigned kinds; /* STEP_KIND_BIT()s of the kinds a step may declare */
    /* with_json is the step's "with" object; names the bad field in err */
    int (*parse)(void **out, const char *with_json, struct errbuf *err);
    void (*free)(void *params);
    int (*prepare)(struct action_ctx *ctx, const void *params,
                   struct errbuf *err);
    int (*apply)(struct action_ctx *ctx, const void *params,
                 struct errbuf *err);
    /*
     * NULL when the kinds do not include compensable.  Returns
     * ACTION_KEPT when it left (part of) the change in place on purpose
     * (ctx->accounts, ctx->restore_password): the step stays done.
     */
    int (*undo)(struct action_ctx *ctx, const char *undo_json,
                struct errbuf *err);
    /* NULL when the action has nothing to do at commit */
    int (*commit)(struct action_ctx *ctx, const char *commit_json,
                  struct errbuf *err);
    /*
     * Rollback of a step whose commit ran (or may have run, or failed):
     * called INSTEAD of undo, with the undo and the commit JSON, it puts
     * the host in the safest state equivalent to "before the commit"
     * (e.g. purged mail back from the snapshot, on hold).  Idempotent.
     * NULL: a committed step cannot be rolled back (needs-attention).
     * May return ACTION_KEPT like undo.
     */
    int (*uncommit)(struct action_ctx *ctx, const char *undo_json,
                    const char *commit_json, struct errbuf *err);
};

/*
 * What undo and uncommit return when they kept the change on purpose
 * (err says what and why; the step stays done): ACTION_KEPT for the
 * accounts the rollback is for (a new password stays), ACTION_KEPT_OTHERS
 * when accounts it is not for keep theirs (the host stays contained).
 */
#define ACTION_KEPT        1
#define ACTION_KEPT_OTHERS 2

/* The action named name, or NULL. */
const struct action_ops *action_find(const char *name);

/* What an action sees of the host and the run (the engine owns it). */
struct action_ctx {
    struct exec_conn *conn;
    const char *host;    /* as the user named it */
    const char *run_dir; /* RUN folder: evidence/ and credentials go here */
    const char *run_id;
    const struct playbook *pb;
    const struct playbook_step *step;
    size_t step_index;
    bool dry_run;
    /*
     * rollback only: the accounts it is for (NULL: every account), and
     * whether an old, stolen password may be put back (only with accounts)
     */
    const struct strlist *accounts;
    bool restore_password;
    void *engine; /* private to the engine */
};

/* Whether ctx's rollback is for account addr (always without a list). */
bool action_for_account(const struct action_ctx *ctx, const char *addr);

/*
 * Runs a command on the host and records it in the audit trail under the
 * current step and phase.  secret_stdin marks cmd->input as a secret: the
 * trail keeps only its length.  Returns like exec_run.
 */
int action_run(struct action_ctx *ctx, const struct exec_cmd *cmd,
               bool secret_stdin, struct exec_result *res, struct errbuf *err);

/* A result registered by an earlier step, or NULL.  Borrowed. */
const struct strlist *action_result(struct action_ctx *ctx, const char *name);

/*
 * A host's memo: what an action keeps in memory for a later step of the
 * same run on the same host (identify keeps its pass so that a later pass
 * reads again only the files that changed).  Memory only: a resumed or
 * rolled-back run, or another host, starts without it.  A memo is the
 * action's own, known by its free_fn: action_memo_keep hands memo over
 * (free_fn frees it when the action keeps another or when the host is
 * done; at once when a host holds too many: a memo only saves work), and
 * action_memo returns the one kept with that free_fn, or NULL (borrowed).
 */
void *action_memo(struct action_ctx *ctx, void (*free_fn)(void *));
void action_memo_keep(struct action_ctx *ctx, void *memo,
                      void (*free_fn)(void *));

/* Appends one item to this step's result (its "register" name). */
int action_add_result(struct action_ctx *ctx, const char *item);

/*
 * Leaves the information undo needs (a JSON object text).  With secret,
 * it goes to an owner-only file in the run folder and the journal holds
 * only that file's name and digest: the journal never holds a secret.
 */
int action_set_undo(struct action_ctx *ctx, const char *json, bool secret);

/* Leaves the information commit needs (a JSON object text, no secret). */
int action_set_commit(struct action_ctx *ctx, const char *json);

/*
 * Sets the step's evidence (a JSON object text, no secret).  When the step
 * succeeds the engine keeps it as RUN/evidence/<host>/<step>.evidence.json
 * and records that file with action_audit_evidence.
 */
int action_set_evidence(struct action_ctx *ctx, const char *json);

/*
 * Makes this compensable step a pivot on this host only (prepare calls it,
 * e.g. rotate on a Plesk server that hashes mail passwords): the plan shows
 * "PIVOT on this host" and why before anything runs, the intent is
 * journaled with kind "pivot", and once the step may have run a later
 * failure finishes forward (needs-attention, resume) instead of rolling
 * back; rollback then leaves the host as it is.  SS_EINVAL on a read-only
 * step.  why is copied.
 */
int action_set_pivot(struct action_ctx *ctx, const char *why);

/*
 * Records an evidence file in the audit trail: event "evidence", with
 * data {"path", "size", "sha256"} (path relative to the run folder; an
 * absolute path must lie inside it).  A trail that cannot be written stops
 * the host like a journal failure.  SS_EINVAL for a bad path or digest.
 */
int action_audit_evidence(struct action_ctx *ctx, const char *path,
                          uint64_t size, const char *sha256_hex);

/*
 * Records a number about the host that the CLI shows as data, not prose:
 * in --json's host-end event ("facts") and the recap.  key is a short
 * name ("mail_down_ms"); a second call with the same key replaces the
 * value.  SS_EINVAL when key is empty or too long or the host has
 * ENGINE_FACTS_MAX facts already.
 */
int action_set_fact(struct action_ctx *ctx, const char *key, long long value);

/*
 * States one thing about this step on this host as data (struct
 * engine_note): what prepare found it would do (the plan), what apply did
 * (the result).  The CLI puts it in words, in the future before the run
 * and in the past after it, so a note says neither: "password" for
 * account a with its backend, "hold" with a count.  Strings are copied.
 */
int action_note(struct action_ctx *ctx, const char *key, const char *subject,
                long long value, const char *text);

/*
 * Hands over what an identify pass read (this step's survey; the step's
 * earlier one is freed).  The CLI shows the last one once per host.
 */
void action_set_survey(struct action_ctx *ctx, struct engine_survey *survey);

/* Frees a survey and what it holds; NULL-safe. */
void engine_survey_free(struct engine_survey *s);

/*
 * Records what a check of one account found (copied): the CLI shows it
 * in the recap and in --json's host-end event ("checks").  A second call
 * for the same account replaces it.  SS_EINVAL beyond ENGINE_CHECKS_MAX.
 */
int action_add_check(struct action_ctx *ctx, const struct engine_check *c);

/* True once SIGINT/SIGTERM asked the run to stop (a long wait ends). */
bool action_stopping(struct action_ctx *ctx);

/*
 * Expands a template ({{name}}, {{params.x}}, {{host}}) with every value
 * shell-quoted (values are C strings: they cannot hold a NUL byte).
 * SS_EINVAL names an unknown parameter.
 */
int action_render(struct buf *out, struct action_ctx *ctx, const char *tmpl,
                  struct errbuf *err);

#endif
