/* Playbooks: the ordered steps of a response, read from JSON and checked. */
#ifndef SPAMSTOP_PLAYBOOK_H
#define SPAMSTOP_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "spamstop/digest.h"
#include "spamstop/error.h"
#include "spamstop/strlist.h"

/* Largest playbook file read, and limits that keep plans readable. */
#define PLAYBOOK_MAX_BYTES (1024 * 1024)
#define PLAYBOOK_MAX_STEPS 256
#define PLAYBOOK_NAME_MAX  64

/* What a step does to a host. */
enum step_kind {
    STEP_READ_ONLY = 0, /* changes nothing; dry-run runs it for real */
    STEP_COMPENSABLE,   /* has an undo that restores the state before it */
    STEP_PIVOT,         /* cannot be undone; after it the host finishes
                           forward instead of rolling back */
};

#define STEP_KIND_BIT(k) (1u << (k))

/* "read-only", "compensable", "pivot". */
const char *step_kind_name(enum step_kind k);

struct action_ops;

/*
 * What the loader learns of a built-in action from the catalog its caller
 * gives it (the engine's engine_action_lookup), so that this module checks
 * and parses a step's "with" without knowing the actions.
 */
struct playbook_action {
    const struct action_ops *ops; /* opaque here: the engine's */
    unsigned kinds;               /* STEP_KIND_BIT()s a step may declare */
    /* with_json is the step's "with" object; NULL: nothing to parse */
    int (*parse)(void **out, const char *with_json, struct errbuf *err);
    void (*free)(void *params); /* NULL: params need no freeing */
};

/* Fills *out for the action called name; SS_ENOENT when there is none. */
typedef int (*playbook_lookup_fn)(struct playbook_action *out,
                                  const char *name);

/* One step.  Exactly one of ops (a built-in action) or run (shell) is set. */
struct playbook_step {
    char *name;
    enum step_kind kind;
    /* built-in action */
    const struct action_ops *ops;
    char *action;    /* its name */
    char *with_json; /* the "with" object as compact JSON text ("{}") */
    void *params;    /* what the action's parse made of it */
    void (*params_free)(void *params); /* the action's free, or NULL */
    /* shell step: templates, see docs/playbooks.md */
    char *run;
    char *undo;     /* compensable only */
    char *probe;    /* mutating steps: what dry-run runs instead */
    char *commit;   /* mutating steps: runs when the whole host succeeded */
    char *uncommit; /* only with commit: rollback after the commit ran */
    /* both */
    char *register_name; /* result name this step's output is kept under */
    char *when;          /* run only if this result is non-empty ("!x":
                            only if empty); NULL = always */
    int timeout_ms;      /* 0 = the executor's default */
    /*
     * "on_failure": "keep": the step is containment (a new password, spam
     * on hold): when the host fails or the run is interrupted after it may
     * have run, it is neither undone nor run again; only an explicit
     * rollback undoes it.  false ("undo", the default): undone on failure.
     */
    bool keep;
};

/* A checked playbook.  Owns everything it points to. */
struct playbook {
    char *name;
    char *description;
    char *source; /* file name used in messages */
    char *text;   /* the file as read, for the run folder copy */
    size_t text_len;
    char sha256[SHA256_HEX_LEN + 1]; /* of text */
    struct strlist param_names;
    struct strlist param_values; /* defaults, then --param overrides */
    struct playbook_step *steps;
    size_t nsteps;
};

/*
 * Parses and checks a playbook held in memory; lookup names the built-in
 * actions a step may use.  source names it in messages
 * ("playbooks/x.json: step 3 'purge': unknown key 'undoo'").  Every
 * problem is SS_EINVAL.  The caller frees *out with playbook_free.
 */
int playbook_parse_string(struct playbook **out, const char *text, size_t len,
                          const char *source, playbook_lookup_fn lookup,
                          struct errbuf *err);

/* Reads path (at most PLAYBOOK_MAX_BYTES) and parses it. */
int playbook_load(struct playbook **out, const char *path,
                  playbook_lookup_fn lookup, struct errbuf *err);

/* NULL-safe. */
void playbook_free(struct playbook *pb);

/* Overrides a declared parameter (--param k=v); SS_EINVAL if undeclared. */
int playbook_set_param(struct playbook *pb, const char *name, const char *value,
                       struct errbuf *err);

/* A parameter's value, or NULL when undeclared.  Borrowed from pb. */
const char *playbook_param(const struct playbook *pb, const char *name);

/* Index of the first pivot step, or -1 when there is none. */
int playbook_first_pivot(const struct playbook *pb);

/*
 * Finds the default playbook file (compromised-account.json) in the
 * installed playbook folder, then in the source tree.  Writes its path to
 * out; SS_ENOENT when neither has it.
 */
int playbook_default_path(char *out, size_t size, struct errbuf *err);

/* One {{reference}} found in a template. */
enum tmpl_ref_type {
    TMPL_RESULT, /* {{name}}: a result, each item quoted, space-joined */
    TMPL_PARAM,  /* {{params.x}}: a playbook parameter, quoted */
    TMPL_HOST,   /* {{host}}: the host name as the user gave it, quoted */
};

/*
 * Calls fn for every {{...}} in tmpl, with the reference's name (params.
 * stripped) as a NUL-terminated copy.  A malformed reference ("{{" without
 * "}}", an empty or bad name) is SS_EINVAL.  A non-zero return from fn stops
 * the walk and is returned.  Text between references goes to lit (may be
 * NULL), so one walk both checks and renders.
 */
int tmpl_walk(const char *tmpl, int (*lit)(void *arg, const char *s, size_t n),
              int (*ref)(void *arg, enum tmpl_ref_type type, const char *name),
              void *arg, struct errbuf *err);

#endif
