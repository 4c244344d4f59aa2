/* Reads playbook JSON into checked, owned structs; jansson stays in here. */
#include <assert.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spamstop/fsio.h"
#include "spamstop/playbook.h"

const char *step_kind_name(enum step_kind k)
{
    switch (k) {
    case STEP_READ_ONLY: return "read-only";
    case STEP_COMPENSABLE: return "compensable";
    case STEP_PIVOT: return "pivot";
    }
    return "?";
}

/* True for the characters a result or parameter name may hold. */
static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* True when s is a valid result or parameter name. */
static int valid_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > PLAYBOOK_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

int tmpl_walk(const char *tmpl, int (*lit)(void *arg, const char *s, size_t n),
              int (*ref)(void *arg, enum tmpl_ref_type type, const char *name),
              void *arg, struct errbuf *err)
{
    const char *p = tmpl, *open, *close, *a, *b;
    char name[PLAYBOOK_NAME_MAX + 8];
    enum tmpl_ref_type type;
    int r;

    while ((open = strstr(p, "{{")) != NULL) {
        if (lit != NULL && open > p && (r = lit(arg, p, open - p)) != 0)
            return r;
        if ((close = strstr(open + 2, "}}")) == NULL)
            return errbuf_set(err, SS_EINVAL, "'{{' without '}}'");
        a = open + 2;
        b = close;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        type = TMPL_RESULT;
        if ((size_t)(b - a) > 7 && strncmp(a, "params.", 7) == 0) {
            type = TMPL_PARAM;
            a += 7;
        } else if (b - a == 4 && strncmp(a, "host", 4) == 0) {
            type = TMPL_HOST;
        }
        if (!valid_name(a, b - a) ||
            (type == TMPL_RESULT && b - a == 6 && !strncmp(a, "params", 6)))
            return errbuf_set(
                err, SS_EINVAL, "bad reference '{{%.*s}}'",
                (int)(close - open - 2) > 64 ? 64 : (int)(close - open - 2),
                open + 2);
        memcpy(name, a, b - a);
        name[b - a] = '\0';
        if (ref != NULL && (r = ref(arg, type, name)) != 0)
            return r;
        p = close + 2;
    }
    if (lit != NULL && *p != '\0' && (r = lit(arg, p, strlen(p))) != 0)
        return r;
    return 0;
}

void playbook_free(struct playbook *pb)
{
    size_t i;

    if (pb == NULL)
        return;
    for (i = 0; i < pb->nsteps; i++) {
        struct playbook_step *s = &pb->steps[i];
        if (s->params_free != NULL)
            s->params_free(s->params);
        free(s->name);
        free(s->action);
        free(s->with_json);
        free(s->run);
        free(s->undo);
        free(s->probe);
        free(s->commit);
        free(s->uncommit);
        free(s->register_name);
        free(s->when);
    }
    free(pb->steps);
    free(pb->name);
    free(pb->description);
    free(pb->source);
    free(pb->text);
    strlist_release(&pb->param_names);
    strlist_release(&pb->param_values);
    free(pb);
}

/* What a parse needs to name the place of an error. */
struct parser {
    struct playbook *pb;
    struct errbuf *err;
    playbook_lookup_fn lookup; /* the built-in actions */
    size_t step; /* 1-based index of the step being read; 0 = none */
    const char *sname;
    const char *field; /* for reference checks */
};

/* Sets err to "SOURCE: step N 'name': MESSAGE" and returns SS_EINVAL. */
static int perr(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
    char msg[ERRBUF_MSG_MAX / 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->step == 0)
        return errbuf_set(p->err, SS_EINVAL, "%s: %s", p->pb->source, msg);
    if (p->sname != NULL)
        return errbuf_set(p->err, SS_EINVAL, "%s: step %zu '%.64s': %s",
                          p->pb->source, p->step, p->sname, msg);
    return errbuf_set(p->err, SS_EINVAL, "%s: step %zu: %s", p->pb->source,
                      p->step, msg);
}

/* Copies the string member key of obj into *out; required or optional. */
static int get_string(struct parser *p, char **out, json_t *obj,
                      const char *key, const char *where, int required)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL) {
        if (required)
            return perr(p, "missing key '%s%s'", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return perr(p, "'%s%s' must be a string", where, key);
    if (json_string_length(v) == 0 && required)
        return perr(p, "'%s%s' must not be empty", where, key);
    if ((*out = strdup(json_string_value(v))) == NULL)
        return errbuf_set(p->err, SS_ERR, "out of memory");
    return 0;
}

/* Refuses keys of obj that are not in the NULL-terminated list allowed. */
static int check_keys(struct parser *p, json_t *obj, const char *where,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(obj, key, v)
    {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (allowed[i] == NULL)
            return perr(p, "unknown key '%s%.64s'", where, key);
    }
    return 0;
}

/* True when an earlier step (before index upto) registers name. */
static int registered_before(const struct playbook *pb, size_t upto,
                             const char *name)
{
    size_t i;

    for (i = 0; i < upto; i++)
        if (pb->steps[i].register_name != NULL &&
            strcmp(pb->steps[i].register_name, name) == 0)
            return 1;
    return 0;
}

/* tmpl_walk callback: checks that a reference can be resolved. */
static int check_ref(void *arg, enum tmpl_ref_type type, const char *name)
{
    struct parser *p = arg;

    if (type == TMPL_PARAM && playbook_param(p->pb, name) == NULL)
        return perr(p, "'%s' refers to unknown parameter 'params.%s'", p->field,
                    name);
    if (type == TMPL_RESULT && !registered_before(p->pb, p->step - 1, name))
        return perr(p,
                    "'%s' refers to result '%s' that no earlier step "
                    "registers",
                    p->field, name);
    return 0;
}

/* Checks the references of one template. */
static int check_template(struct parser *p, const char *field, const char *tmpl)
{
    struct errbuf e = ERRBUF_INIT;
    int r;

    if (tmpl == NULL)
        return 0;
    p->field = field;
    r = tmpl_walk(tmpl, NULL, check_ref, p, &e);
    if (r < 0 && e.code != 0)
        return perr(p, "'%s': %s", field, e.msg);
    return r;
}

/* Checks the references in every string inside a "with" value. */
static int check_with_refs(struct parser *p, json_t *v, const char *field)
{
    const char *key;
    json_t *item;
    size_t i;
    int r;

    if (json_is_string(v))
        return check_template(p, field, json_string_value(v));
    if (json_is_object(v)) {
        json_object_foreach(v, key, item)
        {
            if ((r = check_with_refs(p, item, field)) < 0)
                return r;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if ((r = check_with_refs(p, item, field)) < 0)
                return r;
        }
    }
    return 0;
}

/* Reads the "shell" object of a step. */
static int parse_shell(struct parser *p, struct playbook_step *s, json_t *sh)
{
    static const char *const keys[] = {"run",    "undo",     "probe",
                                       "commit", "uncommit", NULL};
    int r;

    if (!json_is_object(sh))
        return perr(p, "'shell' must be an object");
    if ((r = check_keys(p, sh, "shell.", keys)) < 0 ||
        (r = get_string(p, &s->run, sh, "run", "shell.", 1)) < 0 ||
        (r = get_string(p, &s->undo, sh, "undo", "shell.", 0)) < 0 ||
        (r = get_string(p, &s->probe, sh, "probe", "shell.", 0)) < 0 ||
        (r = get_string(p, &s->commit, sh, "commit", "shell.", 0)) < 0 ||
        (r = get_string(p, &s->uncommit, sh, "uncommit", "shell.", 0)) < 0)
        return r;
    if (s->kind == STEP_COMPENSABLE && (s->undo == NULL || !*s->undo))
        return perr(p, "a compensable step needs 'shell.undo'");
    if (s->kind != STEP_COMPENSABLE && s->undo != NULL)
        return perr(p, "a %s step cannot have 'shell.undo'",
                    step_kind_name(s->kind));
    if (s->kind == STEP_READ_ONLY && s->probe != NULL)
        return perr(p, "a read-only step cannot have 'shell.probe' (its "
                       "run is the probe)");
    if (s->kind == STEP_READ_ONLY && s->commit != NULL)
        return perr(p, "a read-only step cannot have 'shell.commit'");
    if (s->uncommit != NULL && s->commit == NULL)
        return perr(p, "'shell.uncommit' needs 'shell.commit' (it rolls "
                       "back what the commit did)");
    if (s->uncommit != NULL && s->kind == STEP_PIVOT)
        return perr(p, "a pivot step cannot have 'shell.uncommit' (it "
                       "cannot be rolled back)");
    if ((r = check_template(p, "shell.run", s->run)) < 0 ||
        (r = check_template(p, "shell.undo", s->undo)) < 0 ||
        (r = check_template(p, "shell.probe", s->probe)) < 0 ||
        (r = check_template(p, "shell.commit", s->commit)) < 0 ||
        (r = check_template(p, "shell.uncommit", s->uncommit)) < 0)
        return r;
    return 0;
}

/* Reads "action" and "with" of a step and lets the action check them. */
static int parse_action(struct parser *p, struct playbook_step *s, json_t *with)
{
    struct playbook_action a = {0};
    struct errbuf e = ERRBUF_INIT;
    int r;

    assert(p->lookup != NULL);
    if (p->lookup(&a, s->action) < 0)
        return perr(p, "unknown action '%.64s'", s->action);
    s->ops = a.ops;
    if (!(a.kinds & STEP_KIND_BIT(s->kind)))
        return perr(p, "action '%s' cannot be a %s step", s->action,
                    step_kind_name(s->kind));
    if (with != NULL && !json_is_object(with))
        return perr(p, "'with' must be an object");
    if ((r = check_with_refs(p, with, "with")) < 0)
        return r;
    s->with_json = with != NULL
                       ? json_dumps(with, JSON_COMPACT | JSON_SORT_KEYS)
                       : strdup("{}");
    if (s->with_json == NULL)
        return errbuf_set(p->err, SS_ERR, "out of memory");
    if (a.parse != NULL && (r = a.parse(&s->params, s->with_json, &e)) < 0) {
        s->params = NULL;
        return perr(p, "%s", e.msg);
    }
    s->params_free = a.free;
    return 0;
}

/* Reads "on_failure": "undo" (the default) or "keep" (containment). */
static int parse_on_failure(struct parser *p, struct playbook_step *s,
                            const json_t *v)
{
    const char *w = json_string_value(v);

    if (v == NULL)
        return 0;
    if (w == NULL || (strcmp(w, "undo") != 0 && strcmp(w, "keep") != 0))
        return perr(p, "'on_failure' must be \"undo\" or \"keep\"");
    s->keep = strcmp(w, "keep") == 0;
    if (s->keep && s->kind == STEP_READ_ONLY)
        return perr(p, "'on_failure' \"keep\" needs a step that changes "
                       "something, not a read-only one");
    return 0;
}

/* Reads a step's "name": short, printable, unique in the playbook. */
static int parse_step_name(struct parser *p, struct playbook_step *s, json_t *o)
{
    size_t i;
    int r;

    if ((r = get_string(p, &s->name, o, "name", "", 1)) < 0)
        return r;
    p->sname = s->name;
    if (strlen(s->name) > PLAYBOOK_NAME_MAX)
        return perr(p, "name longer than %d bytes", PLAYBOOK_NAME_MAX);
    for (i = 0; s->name[i] != '\0'; i++)
        if ((unsigned char)s->name[i] < 0x20 || s->name[i] == 0x7f)
            return perr(p, "'name' holds a control character");
    for (i = 0; i + 1 < p->step; i++)
        if (strcmp(p->pb->steps[i].name, s->name) == 0)
            return perr(p, "duplicate step name (also step %zu)", i + 1);
    return 0;
}

/* Reads a step's "kind": read-only, compensable or pivot. */
static int parse_kind(struct parser *p, struct playbook_step *s, json_t *o)
{
    char *kind = NULL;
    int r;

    if ((r = get_string(p, &kind, o, "kind", "", 1)) < 0)
        return r;
    if (strcmp(kind, "read-only") == 0)
        s->kind = STEP_READ_ONLY;
    else if (strcmp(kind, "compensable") == 0)
        s->kind = STEP_COMPENSABLE;
    else if (strcmp(kind, "pivot") == 0)
        s->kind = STEP_PIVOT;
    else
        r = perr(p,
                 "'kind' must be read-only, compensable or pivot, not "
                 "'%.32s'",
                 kind);
    free(kind);
    return r;
}

/* Checks "register" (a new, valid name) and "when" (an earlier result). */
static int check_results(struct parser *p, const struct playbook_step *s)
{
    const char *w;

    if (s->register_name != NULL) {
        if (!valid_name(s->register_name, strlen(s->register_name)) ||
            strcmp(s->register_name, "params") == 0 ||
            strcmp(s->register_name, "host") == 0)
            return perr(p, "'register' must be letters, digits, '_' or '-' "
                           "and not 'params' or 'host'");
        if (registered_before(p->pb, p->step - 1, s->register_name))
            return perr(p, "'register': result '%s' is already registered",
                        s->register_name);
    }
    if (s->when == NULL)
        return 0;
    w = s->when[0] == '!' ? s->when + 1 : s->when;
    if (!registered_before(p->pb, p->step - 1, w))
        return perr(p,
                    "'when' refers to result '%.64s' that no earlier "
                    "step registers",
                    w);
    return 0;
}

/* Reads one step object into s (index p->step). */
static int parse_step(struct parser *p, struct playbook_step *s, json_t *o)
{
    static const char *const keys[] = {
        "name", "kind",    "action",      "with",       "shell", "register",
        "when", "timeout", "description", "on_failure", NULL};
    json_t *v;
    int r;

    if (!json_is_object(o))
        return perr(p, "must be an object");
    if ((r = parse_step_name(p, s, o)) < 0 ||
        (r = check_keys(p, o, "", keys)) < 0 || (r = parse_kind(p, s, o)) < 0 ||
        (r = get_string(p, &s->register_name, o, "register", "", 0)) < 0 ||
        (r = get_string(p, &s->when, o, "when", "", 0)) < 0 ||
        (r = get_string(p, &s->action, o, "action", "", 0)) < 0 ||
        (r = check_results(p, s)) < 0)
        return r;
    if ((v = json_object_get(o, "timeout")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 86400)
            return perr(p, "'timeout' must be seconds from 1 to 86400");
        s->timeout_ms = (int)json_integer_value(v) * 1000;
    }
    if ((v = json_object_get(o, "description")) != NULL && !json_is_string(v))
        return perr(p, "'description' must be a string");
    if ((r = parse_on_failure(p, s, json_object_get(o, "on_failure"))) < 0)
        return r;
    if (s->action != NULL && json_object_get(o, "shell") != NULL)
        return perr(p, "a step has either 'action' or 'shell', not both");
    if (s->action != NULL)
        return parse_action(p, s, json_object_get(o, "with"));
    if (json_object_get(o, "with") != NULL)
        return perr(p, "'with' needs 'action'");
    if ((v = json_object_get(o, "shell")) == NULL)
        return perr(p, "missing key 'action' or 'shell'");
    return parse_shell(p, s, v);
}

/* Reads the "params" object: string defaults. */
static int parse_params(struct parser *p, json_t *params)
{
    const char *key;
    json_t *v;

    if (params == NULL)
        return 0;
    if (!json_is_object(params))
        return perr(p, "'params' must be an object");
    json_object_foreach(params, key, v)
    {
        if (!valid_name(key, strlen(key)))
            return perr(p,
                        "parameter name '%.64s' must be letters, digits, "
                        "'_' or '-'",
                        key);
        if (!json_is_string(v))
            return perr(p, "parameter 'params.%s' must be a string", key);
        if (strlist_push(&p->pb->param_names, key) < 0 ||
            strlist_push(&p->pb->param_values, json_string_value(v)) < 0)
            return errbuf_set(p->err, SS_ERR, "out of memory");
    }
    return 0;
}

/* Parses root into pb. */
static int parse_root(struct parser *p, json_t *root)
{
    static const char *const keys[] = {"name", "description", "params", "steps",
                                       NULL};
    json_t *steps, *o;
    size_t i;
    int r;

    if (!json_is_object(root))
        return perr(p, "the playbook must be a JSON object");
    if ((r = check_keys(p, root, "", keys)) < 0 ||
        (r = get_string(p, &p->pb->name, root, "name", "", 1)) < 0 ||
        (r = get_string(p, &p->pb->description, root, "description", "", 0)) <
            0 ||
        (r = parse_params(p, json_object_get(root, "params"))) < 0)
        return r;
    steps = json_object_get(root, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return perr(p, "'steps' must be a non-empty array");
    if (json_array_size(steps) > PLAYBOOK_MAX_STEPS)
        return perr(p, "more than %d steps", PLAYBOOK_MAX_STEPS);
    p->pb->steps = calloc(json_array_size(steps), sizeof(*p->pb->steps));
    if (p->pb->steps == NULL)
        return errbuf_set(p->err, SS_ERR, "out of memory");
    json_array_foreach(steps, i, o)
    {
        p->step = i + 1;
        p->sname = NULL;
        p->pb->nsteps = i + 1;
        if ((r = parse_step(p, &p->pb->steps[i], o)) < 0)
            return r;
    }
    return 0;
}

int playbook_parse_string(struct playbook **out, const char *text, size_t len,
                          const char *source, playbook_lookup_fn lookup,
                          struct errbuf *err)
{
    struct playbook *pb = NULL;
    struct parser p;
    json_error_t jerr;
    json_t *root = NULL;
    int r = SS_ERR;

    *out = NULL;
    if ((pb = calloc(1, sizeof(*pb))) == NULL ||
        (pb->source = strdup(source)) == NULL ||
        (pb->text = malloc(len + 1)) == NULL) {
        errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    memcpy(pb->text, text, len);
    pb->text[len] = '\0';
    pb->text_len = len;
    if (sha256_hex(pb->sha256, text, len) < 0) {
        errbuf_set(err, SS_ERR, "cannot hash '%s'", source);
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.pb = pb;
    p.err = err;
    p.lookup = lookup;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        r = errbuf_set(err, SS_EINVAL, "%s: line %d column %d: %s", source,
                       jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if ((r = parse_root(&p, root)) < 0)
        goto out;
    *out = pb;
    pb = NULL;
    r = 0;
out:
    json_decref(root);
    playbook_free(pb);
    return r;
}

int playbook_load(struct playbook **out, const char *path,
                  playbook_lookup_fn lookup, struct errbuf *err)
{
    char *text = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    r = fsio_read_file(&text, &len, path, PLAYBOOK_MAX_BYTES, err);
    if (r < 0) {
        errbuf_prefix(err, "cannot read playbook");
        if (r == SS_ENOENT || r == SS_ETOOBIG)
            r = SS_EINVAL;
        return r;
    }
    r = playbook_parse_string(out, text, len, path, lookup, err);
    free(text);
    return r;
}

const char *playbook_param(const struct playbook *pb, const char *name)
{
    size_t i;

    for (i = 0; i < pb->param_names.n; i++)
        if (strcmp(pb->param_names.v[i], name) == 0)
            return pb->param_values.v[i];
    return NULL;
}

int playbook_set_param(struct playbook *pb, const char *name, const char *value,
                       struct errbuf *err)
{
    char *copy;
    size_t i;

    for (i = 0; i < pb->param_names.n; i++) {
        if (strcmp(pb->param_names.v[i], name) != 0)
            continue;
        if ((copy = strdup(value)) == NULL)
            return errbuf_set(err, SS_ERR, "out of memory");
        free(pb->param_values.v[i]);
        pb->param_values.v[i] = copy;
        return 0;
    }
    return errbuf_set(err, SS_EINVAL, "playbook '%s' has no parameter '%.64s'",
                      pb->name, name);
}

int playbook_first_pivot(const struct playbook *pb)
{
    size_t i;

    for (i = 0; i < pb->nsteps; i++)
        if (pb->steps[i].kind == STEP_PIVOT)
            return (int)i;
    return -1;
}

int playbook_default_path(char *out, size_t size, struct errbuf *err)
{
    static const char *const dirs[] = {SPAMSTOP_PLAYBOOK_DIR,
                                       SPAMSTOP_SOURCE_PLAYBOOK_DIR};
    struct stat st;
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(out, size, "%s/compromised-account.json", dirs[i]);
        if (stat(out, &st) == 0)
            return 0;
    }
    return errbuf_set(err, SS_ENOENT,
                      "no default playbook 'compromised-account.json' in "
                      "'%s' or '%s' (use -p FILE)",
                      dirs[0], dirs[1]);
}
