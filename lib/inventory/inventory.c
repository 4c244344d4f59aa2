/* The inventory model: hosts, groups, variables, and --limit selection. */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inventory/inv_int.h"
#include "spamstop/fsio.h"

/* Appends v to l; SS_ERR on ENOMEM. */
static int inv_list_push(struct inv_list *l, size_t v)
{
    if (l->n == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 4;
        size_t *p = realloc(l->v, na * sizeof(*p));
        if (p == NULL)
            return SS_ERR;
        l->v = p;
        l->alloc = na;
    }
    l->v[l->n++] = v;
    return 0;
}

/* True when l holds v. */
static bool inv_list_has(const struct inv_list *l, size_t v)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i] == v)
            return true;
    return false;
}

/* The host named name, or INV_NONE. */
size_t inv_host_find(const struct inventory *inv, const char *name)
{
    size_t i;

    return hmap_get(&i, &inv->hidx, name) == 0 ? i : INV_NONE;
}

/* The group named name, or INV_NONE. */
size_t inv_group_find(const struct inventory *inv, const char *name)
{
    size_t i;

    return hmap_get(&i, &inv->gidx, name) == 0 ? i : INV_NONE;
}

int inv_check_name(const char *what, const char *name, struct errbuf *err)
{
    const unsigned char *p = (const unsigned char *)name;

    if (*p == '\0')
        return errbuf_set(err, SS_EINVAL, "empty %s name", what);
    if (*p == '-')
        return errbuf_set(err, SS_EINVAL, "%s name '%.200s' starts with '-'",
                          what, name);
    for (; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == ',')
            return errbuf_set(err, SS_EINVAL,
                              "%s name '%.200s' holds a blank, a control "
                              "character or a comma",
                              what, name);
    if (strlen(name) > 253)
        return errbuf_set(err, SS_EINVAL, "%s name '%.60s...' is too long",
                          what, name);
    return 0;
}

int inv_host_get(struct inventory *inv, size_t *out, const char *name,
                 struct errbuf *err)
{
    struct inv_host *h;
    size_t i = inv_host_find(inv, name), *slot;
    int r;

    if (i != INV_NONE) {
        *out = i;
        return 0;
    }
    if ((r = inv_check_name("host", name, err)) < 0)
        return r;
    if (inv->nhosts >= INVENTORY_HOSTS_MAX)
        return errbuf_set(err, SS_EINVAL, "more than %d hosts",
                          INVENTORY_HOSTS_MAX);
    if (inv->nhosts == inv->ahosts) {
        size_t na = inv->ahosts ? inv->ahosts * 2 : 16;
        struct inv_host *p = realloc(inv->hosts, na * sizeof(*p));
        if (p == NULL)
            return errbuf_set(err, SS_ERR, "out of memory");
        inv->hosts = p;
        inv->ahosts = na;
    }
    h = &inv->hosts[inv->nhosts];
    memset(h, 0, sizeof(*h));
    h->vars.become = -1;
    if ((h->name = strdup(name)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    inv->nhosts++;
    if (hmap_put(&slot, &inv->hidx, h->name, inv->nhosts - 1) < 0) {
        inv->nhosts--;
        free(h->name);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = inv->nhosts - 1;
    return 0;
}

int inv_group_get(struct inventory *inv, size_t *out, const char *name,
                  struct errbuf *err)
{
    struct inv_group *g;
    size_t i = inv_group_find(inv, name), *slot;
    int r;

    if (i != INV_NONE) {
        *out = i;
        return 0;
    }
    if ((r = inv_check_name("group", name, err)) < 0)
        return r;
    if (strpbrk(name, ":[]*?!&~") != NULL)
        return errbuf_set(err, SS_EINVAL,
                          "group name '%.200s' holds one of : [ ] * ? ! & ~",
                          name);
    if (inv->ngroups >= INV_GROUPS_MAX)
        return errbuf_set(err, SS_EINVAL, "more than %d groups",
                          INV_GROUPS_MAX);
    if (inv->ngroups == inv->agroups) {
        size_t na = inv->agroups ? inv->agroups * 2 : 16;
        struct inv_group *p = realloc(inv->groups, na * sizeof(*p));
        if (p == NULL)
            return errbuf_set(err, SS_ERR, "out of memory");
        inv->groups = p;
        inv->agroups = na;
    }
    g = &inv->groups[inv->ngroups];
    memset(g, 0, sizeof(*g));
    g->vars.become = -1;
    if ((g->name = strdup(name)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    inv->ngroups++;
    if (hmap_put(&slot, &inv->gidx, g->name, inv->ngroups - 1) < 0) {
        inv->ngroups--;
        free(g->name);
        return errbuf_set(err, SS_ERR, "out of memory");
    }
    *out = inv->ngroups - 1;
    return 0;
}

int inv_add_member(struct inventory *inv, size_t g, size_t h,
                   struct errbuf *err)
{
    struct inv_host *host = &inv->hosts[h];

    /* Every host is in all; ungrouped is worked out when selecting. */
    if (g == INV_GROUP_ALL || g == INV_GROUP_UNGROUPED)
        return 0;
    if (inv_list_has(&host->groups, g))
        return 0;
    if (inv_list_push(&host->groups, g) < 0 ||
        inv_list_push(&inv->groups[g].hosts, h) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

int inv_add_child(struct inventory *inv, size_t parent, size_t child,
                  struct errbuf *err)
{
    if (child == INV_GROUP_ALL)
        return errbuf_set(err, SS_EINVAL,
                          "group 'all' cannot be a child of '%.200s'",
                          inv->groups[parent].name);
    if (child == parent)
        return errbuf_set(err, SS_EINVAL, "group '%.200s' is its own child",
                          inv->groups[child].name);
    if (inv_list_has(&inv->groups[parent].children, child))
        return 0;
    if (inv_list_push(&inv->groups[parent].children, child) < 0 ||
        inv_list_push(&inv->groups[child].parents, parent) < 0)
        return errbuf_set(err, SS_ERR, "out of memory");
    return 0;
}

/* Parses a boolean the way Ansible's INI values read; -1 if not one. */
static int inv_parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "y", "t"};
    static const char *const no[] = {"false", "no", "off", "0", "n", "f"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Replaces *slot with a copy of value. */
static int inv_set_text(char **slot, const char *key, const char *value,
                        struct errbuf *err)
{
    const unsigned char *p = (const unsigned char *)value;
    char *copy;

    if (*p == '\0')
        return errbuf_set(err, SS_EINVAL, "%s is empty", key);
    for (; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return errbuf_set(err, SS_EINVAL,
                              "%s '%.200s' holds a blank or a control "
                              "character",
                              key, value);
    if (value[0] == '-')
        return errbuf_set(err, SS_EINVAL, "%s '%.200s' starts with '-'", key,
                          value);
    if ((copy = strdup(value)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    free(*slot);
    *slot = copy;
    return 0;
}

int inv_vars_set(struct inv_vars *v, const char *key, const char *value,
                 struct errbuf *err)
{
    if (strcmp(key, "ansible_host") == 0 ||
        strcmp(key, "ansible_ssh_host") == 0)
        return inv_set_text(&v->address, key, value, err);
    if (strcmp(key, "ansible_user") == 0 ||
        strcmp(key, "ansible_ssh_user") == 0)
        return inv_set_text(&v->user, key, value, err);
    if (strcmp(key, "ansible_port") == 0 ||
        strcmp(key, "ansible_ssh_port") == 0) {
        char *end = NULL;
        long n = strtol(value, &end, 10);
        if (!isdigit((unsigned char)value[0]) || *end != '\0' || n < 1 ||
            n > 65535)
            return errbuf_set(err, SS_EINVAL,
                              "%s '%.40s' is not a port number (1-65535)", key,
                              value);
        v->port = (int)n;
        return 0;
    }
    if (strcmp(key, "ansible_become") == 0) {
        int b = inv_parse_bool(value);
        if (b < 0)
            return errbuf_set(err, SS_EINVAL,
                              "ansible_become '%.40s' is not true or false",
                              value);
        v->become = b;
        return 0;
    }
    return 0;
}

void inv_vars_set_become(struct inv_vars *v, int on)
{
    v->become = on ? 1 : 0;
}

int inv_finish(struct inventory *inv, struct errbuf *err)
{
    size_t *indeg = NULL, *queue = NULL;
    size_t qh = 0, qt = 0, i, j, done = 0;
    int r = SS_ERR;

    indeg = calloc(inv->ngroups + 1, sizeof(*indeg));
    queue = calloc(inv->ngroups + 1, sizeof(*queue));
    if (indeg == NULL || queue == NULL) {
        errbuf_set(err, SS_ERR, "out of memory");
        goto out;
    }
    /* Kahn's order: a group's depth is its longest path from all. */
    for (i = 0; i < inv->ngroups; i++) {
        inv->groups[i].depth = i == INV_GROUP_ALL ? 0 : 1;
        for (j = 0; j < inv->groups[i].children.n; j++)
            indeg[inv->groups[i].children.v[j]]++;
    }
    for (i = 0; i < inv->ngroups; i++)
        if (indeg[i] == 0)
            queue[qt++] = i;
    while (qh < qt) {
        struct inv_group *g = &inv->groups[queue[qh++]];
        done++;
        for (j = 0; j < g->children.n; j++) {
            size_t c = g->children.v[j];
            if (inv->groups[c].depth < g->depth + 1)
                inv->groups[c].depth = g->depth + 1;
            if (--indeg[c] == 0)
                queue[qt++] = c;
        }
    }
    if (done != inv->ngroups) {
        for (i = 0; i < inv->ngroups && indeg[i] == 0; i++)
            ;
        r = errbuf_set(err, SS_EINVAL,
                       "groups' children form a cycle through group '%.200s'",
                       inv->groups[i].name);
        goto out;
    }
    r = 0;
out:
    free(indeg);
    free(queue);
    return r;
}

struct inventory *inventory_new(void)
{
    struct inventory *inv = calloc(1, sizeof(*inv));
    size_t g;

    if (inv == NULL)
        return NULL;
    hmap_init(&inv->hidx, INVENTORY_HOSTS_MAX);
    hmap_init(&inv->gidx, INV_GROUPS_MAX);
    if (inv_group_get(inv, &g, "all", NULL) < 0 ||
        inv_group_get(inv, &g, "ungrouped", NULL) < 0) {
        inventory_free(inv);
        return NULL;
    }
    return inv;
}

/* Frees the strings of one variable set. */
static void inv_vars_release(struct inv_vars *v)
{
    free(v->address);
    free(v->user);
}

void inventory_free(struct inventory *inv)
{
    size_t i;

    if (inv == NULL)
        return;
    for (i = 0; i < inv->nhosts; i++) {
        free(inv->hosts[i].name);
        inv_vars_release(&inv->hosts[i].vars);
        free(inv->hosts[i].groups.v);
    }
    for (i = 0; i < inv->ngroups; i++) {
        free(inv->groups[i].name);
        inv_vars_release(&inv->groups[i].vars);
        free(inv->groups[i].hosts.v);
        free(inv->groups[i].children.v);
        free(inv->groups[i].parents.v);
    }
    free(inv->hosts);
    free(inv->groups);
    hmap_release(&inv->hidx);
    hmap_release(&inv->gidx);
    free(inv);
}

int inventory_parse_string(struct inventory **out, const char *text, size_t len,
                           const char *source_name, struct errbuf *err)
{
    struct inventory *inv = inventory_new();
    const char *src = source_name != NULL ? source_name : "inventory";
    size_t i = 0;
    int r;

    *out = NULL;
    if (inv == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i < len && text[i] == '{')
        r = inv_parse_json(inv, text, len, src, err);
    else
        r = inv_parse_ini(inv, text, len, src, err);
    if (r == 0 && (r = inv_finish(inv, err)) < 0)
        errbuf_prefix(err, "%s", src);
    if (r < 0) {
        inventory_free(inv);
        return r;
    }
    *out = inv;
    return 0;
}

int inventory_load(struct inventory **out, const char *path, struct errbuf *err)
{
    char *data = NULL;
    size_t len = 0;
    int r;

    *out = NULL;
    r = fsio_read_file(&data, &len, path, INVENTORY_FILE_MAX, err);
    if (r < 0) {
        if (r == SS_ENOENT)
            errbuf_set(err, SS_EINVAL, "no inventory file '%s'", path);
        return r == SS_ENOENT ? SS_EINVAL : r;
    }
    r = inventory_parse_string(out, data, len, path, err);
    free(data);
    return r;
}

int inventory_add_host(struct inventory *inv, const char *name,
                       struct errbuf *err)
{
    size_t h;

    return inv_host_get(inv, &h, name, err);
}

size_t inventory_count(const struct inventory *inv)
{
    return inv->nhosts;
}

/* Marks in sel every host of group g and of its descendants. */
static int inv_mark_group(const struct inventory *inv, size_t g, bool *sel)
{
    bool *seen = NULL;
    size_t *stack = NULL, sp = 0, i;
    int r = SS_ERR;

    if (g == INV_GROUP_ALL || g == INV_GROUP_UNGROUPED) {
        for (i = 0; i < inv->nhosts; i++)
            if (g == INV_GROUP_ALL || inv->hosts[i].groups.n == 0)
                sel[i] = true;
        return 0;
    }
    seen = calloc(inv->ngroups, sizeof(*seen));
    stack = calloc(inv->ngroups, sizeof(*stack));
    if (seen == NULL || stack == NULL)
        goto out;
    stack[sp++] = g;
    seen[g] = true;
    while (sp > 0) {
        const struct inv_group *grp = &inv->groups[stack[--sp]];
        for (i = 0; i < grp->hosts.n; i++)
            sel[grp->hosts.v[i]] = true;
        for (i = 0; i < grp->children.n; i++) {
            size_t c = grp->children.v[i];
            if (!seen[c]) {
                seen[c] = true;
                stack[sp++] = c;
            }
        }
    }
    r = 0;
out:
    free(seen);
    free(stack);
    return r;
}

/*
 * True for a regex glibc's regcomp could take exponential time or memory
 * on (it copies the tree for each '+' and bound): those are refused.
 */
static bool inv_regex_too_costly(const char *re)
{
    size_t i, plus = 0, n = strlen(re);

    if (n > 128 || strchr(re, '{') != NULL)
        return true;
    for (i = 0; i < n; i++) {
        if (re[i] == '+')
            plus++;
        if (i > 0 && strchr("*+?", re[i]) != NULL &&
            strchr("*+?", re[i - 1]) != NULL)
            return true;
    }
    return plus > 8;
}

/*
 * Marks the hosts one pattern term matches; *out_any tells whether
 * anything matched.
 */
static int inv_match_term(const struct inventory *inv, const char *term,
                          bool *sel, bool *out_any, struct errbuf *err)
{
    size_t i, before = 0, after = 0;
    regex_t re;
    bool is_re = term[0] == '~';
    bool is_glob = strpbrk(term, "*?[") != NULL;
    int r = 0;

    for (i = 0; i < inv->nhosts; i++)
        before += sel[i];
    *out_any = false;
    if (strcmp(term, "all") == 0 || strcmp(term, "*") == 0) {
        for (i = 0; i < inv->nhosts; i++)
            sel[i] = true;
        *out_any = inv->nhosts > 0;
        return 0;
    }
    if (!is_re && (i = inv_group_find(inv, term)) != INV_NONE) {
        if (inv_mark_group(inv, i, sel) < 0)
            return errbuf_set(err, SS_ERR, "out of memory");
        *out_any = true;
    }
    if (!is_re && (i = inv_host_find(inv, term)) != INV_NONE) {
        sel[i] = true;
        *out_any = true;
    }
    if (*out_any || (!is_re && !is_glob))
        return 0;
    if (is_re && inv_regex_too_costly(term + 1))
        return errbuf_set(err, SS_EINVAL,
                          "regular expression '%.200s' is too complex (at "
                          "most 128 characters and 8 '+', no '{}', no "
                          "repeated repetitions)",
                          term);
    if (is_re) {
        struct buf b = BUF_INIT;
        /* Anchored at the start, as Ansible's re.match. */
        if (buf_printf(&b, "^(%s)", term + 1) < 0)
            return errbuf_set(err, SS_ERR, "out of memory");
        r = regcomp(&re, b.data, REG_EXTENDED | REG_NOSUB);
        buf_release(&b);
        if (r != 0)
            return errbuf_set(err, SS_EINVAL,
                              "bad regular expression in '%.200s'", term);
    }
    for (i = 0; i < inv->ngroups; i++) {
        const char *name = inv->groups[i].name;
        bool m = is_re ? regexec(&re, name, 0, NULL, 0) == 0
                       : fnmatch(term, name, 0) == 0;
        if (m && inv_mark_group(inv, i, sel) < 0) {
            r = errbuf_set(err, SS_ERR, "out of memory");
            goto out;
        }
        *out_any = *out_any || m;
    }
    for (i = 0; i < inv->nhosts; i++) {
        const char *name = inv->hosts[i].name;
        bool m = is_re ? regexec(&re, name, 0, NULL, 0) == 0
                       : fnmatch(term, name, 0) == 0;
        if (m)
            sel[i] = true;
    }
out:
    if (is_re)
        regfree(&re);
    for (i = 0; i < inv->nhosts; i++)
        after += sel[i];
    *out_any = *out_any || after > before;
    return r;
}

/* A group in the order its vars apply: by depth, then name. */
struct inv_rank {
    size_t depth;
    const char *name;
    size_t group;
};

/* Orders ranks by depth, then name. */
static int inv_rank_cmp(const void *pa, const void *pb)
{
    const struct inv_rank *a = pa, *b = pb;

    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Lays vars over the resolved target t. */
static int inv_apply(struct exec_target *t, const struct inv_vars *v)
{
    if (v->address != NULL) {
        free(t->address);
        if ((t->address = strdup(v->address)) == NULL)
            return SS_ERR;
    }
    if (v->user != NULL) {
        free(t->user);
        if ((t->user = strdup(v->user)) == NULL)
            return SS_ERR;
    }
    if (v->port != 0)
        t->port = v->port;
    if (v->become >= 0)
        t->become = v->become != 0;
    return 0;
}

/* Resolves host h's settings through its groups into t. */
static int inv_resolve(const struct inventory *inv, size_t h,
                       struct exec_target *t, bool *seen,
                       struct inv_rank *order)
{
    const struct inv_host *host = &inv->hosts[h];
    size_t n = 0, k = 0, i;

    memset(t, 0, sizeof(*t));
    if ((t->name = strdup(host->name)) == NULL)
        return SS_ERR;
    /* Breadth-first up the parents from the direct groups. */
    order[n++].group = INV_GROUP_ALL;
    seen[INV_GROUP_ALL] = true;
    if (host->groups.n == 0) {
        order[n++].group = INV_GROUP_UNGROUPED;
        seen[INV_GROUP_UNGROUPED] = true;
    }
    for (i = 0; i < host->groups.n; i++) {
        if (!seen[host->groups.v[i]]) {
            seen[host->groups.v[i]] = true;
            order[n++].group = host->groups.v[i];
        }
    }
    for (k = 0; k < n; k++) {
        const struct inv_group *g = &inv->groups[order[k].group];
        for (i = 0; i < g->parents.n; i++) {
            if (!seen[g->parents.v[i]]) {
                seen[g->parents.v[i]] = true;
                order[n++].group = g->parents.v[i];
            }
        }
    }
    for (k = 0; k < n; k++) {
        order[k].depth = inv->groups[order[k].group].depth;
        order[k].name = inv->groups[order[k].group].name;
    }
    qsort(order, n, sizeof(*order), inv_rank_cmp);
    for (k = 0; k < n; k++) {
        seen[order[k].group] = false;
        if (inv_apply(t, &inv->groups[order[k].group].vars) < 0)
            return SS_ERR;
    }
    return inv_apply(t, &host->vars);
}

/* Splits a --limit pattern into its terms (caller frees the copy). */
static char **inv_split(char **out_copy, size_t *out_n, const char *pattern)
{
    char sep = strchr(pattern, ',') != NULL ? ',' : ':';
    char *copy = strdup(pattern), *p, **terms = NULL;
    size_t n = 0, alloc = 0;

    if (copy == NULL)
        return NULL;
    /* A single regex may hold ':'. */
    if (sep == ':' && pattern[0] == '~')
        sep = '\0';
    p = copy;
    for (;;) {
        char *end = sep != '\0' ? strchr(p, sep) : NULL;
        char *s = p, *e;
        if (end != NULL)
            *end = '\0';
        while (isspace((unsigned char)*s))
            s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s != '\0') {
            if (n + 1 >= alloc) {
                size_t na = alloc ? alloc * 2 : 8;
                char **t = realloc(terms, na * sizeof(*t));
                if (t == NULL) {
                    free(terms);
                    free(copy);
                    return NULL;
                }
                terms = t;
                alloc = na;
            }
            terms[n++] = s;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (terms == NULL && (terms = calloc(1, sizeof(*terms))) == NULL) {
        free(copy);
        return NULL;
    }
    *out_copy = copy;
    *out_n = n;
    return terms;
}

/* Combines the hosts one term matched (tmp) into sel, as its kind says. */
static void inv_combine(bool *sel, const bool *tmp, size_t n, int kind)
{
    size_t k;

    for (k = 0; k < n; k++) {
        if (kind == 0)
            sel[k] = sel[k] || tmp[k];
        else if (kind == 1)
            sel[k] = sel[k] && tmp[k];
        else
            sel[k] = sel[k] && !tmp[k];
    }
}

/*
 * Marks in sel the hosts the terms select, as Ansible: unions first, then
 * intersections ('&'), then exclusions ('!'); tmp is scratch of nhosts.
 */
static int inv_select_terms(bool *sel, bool *tmp, const struct inventory *inv,
                            char **terms, size_t nterms, struct errbuf *err)
{
    bool any_union = false, any;
    size_t i, pass;
    int r;

    for (pass = 0; pass < 3; pass++) {
        for (i = 0; i < nterms; i++) {
            const char *t = terms[i];
            int kind = t[0] == '&' ? 1 : t[0] == '!' ? 2 : 0;
            if (kind != (int)pass)
                continue;
            if (kind != 0)
                t++;
            if (pass == 1 && !any_union) {
                memset(sel, 1, inv->nhosts * sizeof(*sel));
                any_union = true;
            }
            memset(tmp, 0, inv->nhosts * sizeof(*tmp));
            if ((r = inv_match_term(inv, t, tmp, &any, err)) < 0)
                return r;
            if (!any)
                return errbuf_set(err, SS_EINVAL,
                                  "--limit term '%.200s' matches no host or "
                                  "group",
                                  terms[i]);
            inv_combine(sel, tmp, inv->nhosts, kind);
            if (kind == 0)
                any_union = true;
        }
        if (pass == 0 && !any_union) {
            memset(sel, 1, inv->nhosts * sizeof(*sel));
            any_union = true;
        }
    }
    return 0;
}

/* The n resolved targets of the hosts marked in sel (caller frees). */
static int inv_select_targets(struct exec_target **out,
                              const struct inventory *inv, const bool *sel,
                              size_t n)
{
    struct exec_target *targets;
    struct inv_rank *order = NULL;
    bool *seen = NULL;
    size_t i, k;
    int r = SS_ERR;

    *out = NULL;
    if (n == 0)
        return 0;
    targets = calloc(n, sizeof(*targets));
    seen = calloc(inv->ngroups + 1, sizeof(*seen));
    order = calloc(inv->ngroups + 2, sizeof(*order));
    if (targets == NULL || seen == NULL || order == NULL)
        goto out;
    for (k = 0, i = 0; k < inv->nhosts; k++) {
        if (!sel[k])
            continue;
        if (inv_resolve(inv, k, &targets[i], seen, order) < 0) {
            n = i + 1; /* the one being resolved holds what it got */
            goto out;
        }
        i++;
    }
    *out = targets;
    targets = NULL;
    r = 0;
out:
    inventory_targets_free(targets, n);
    free(seen);
    free(order);
    return r;
}

int inventory_select(struct exec_target **out, size_t *out_n,
                     const struct inventory *inv, const char *pattern,
                     struct errbuf *err)
{
    bool *sel = NULL, *tmp = NULL;
    size_t nterms = 0, n = 0, k;
    char *copy = NULL, **terms = NULL;
    int r = SS_ERR;

    *out = NULL;
    *out_n = 0;
    sel = calloc(inv->nhosts + 1, sizeof(*sel));
    tmp = calloc(inv->nhosts + 1, sizeof(*tmp));
    if (sel == NULL || tmp == NULL)
        goto nomem;
    if (pattern == NULL || pattern[0] == '\0')
        pattern = "all";
    if ((terms = inv_split(&copy, &nterms, pattern)) == NULL)
        goto nomem;
    if ((r = inv_select_terms(sel, tmp, inv, terms, nterms, err)) < 0)
        goto out;
    for (k = 0; k < inv->nhosts; k++)
        n += sel[k];
    if (n == 0 && strcmp(pattern, "all") != 0) {
        r = errbuf_set(err, SS_EINVAL, "--limit '%.200s' selects no host",
                       pattern);
        goto out;
    }
    if (inv_select_targets(out, inv, sel, n) < 0)
        goto nomem;
    *out_n = n;
    r = 0;
    goto out;
nomem:
    r = errbuf_set(err, SS_ERR, "out of memory");
out:
    free(sel);
    free(tmp);
    free(terms);
    free(copy);
    return r;
}

void inventory_targets_free(struct exec_target *t, size_t n)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < n; i++)
        exec_target_release(&t[i]);
    free(t);
}
