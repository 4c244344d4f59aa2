/* Ansible's INI inventory format: hosts, [group], [g:vars], [g:children]. */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory/inv_int.h"

/* Hosts one range line may expand to. */
#define INI_RANGE_MAX 10000

enum ini_section { INI_HOSTS, INI_VARS, INI_CHILDREN };

/* Where the parser is. */
struct ini_state {
    struct inventory *inv;
    const char *source;
    size_t line;
    enum ini_section kind;
    size_t group; /* current group */
};

/* Sets err to "source:line: message" with SS_EINVAL. */
static int ini_error(struct ini_state *st, struct errbuf *err, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

static int ini_error(struct ini_state *st, struct errbuf *err, const char *fmt,
                     ...)
{
    char msg[ERRBUF_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return errbuf_set(err, SS_EINVAL, "%s:%zu: %s", st->source, st->line, msg);
}

/* Prefixes a lower layer's message with the location, keeping its code. */
static int ini_locate(struct ini_state *st, struct errbuf *err, int r)
{
    errbuf_prefix(err, "%s:%zu", st->source, st->line);
    return r;
}

/*
 * Splits line into words like shlex: blanks separate, quotes group, a
 * word starting with '#' ends the line.  Writes into buf (as long as the
 * line); returns the number of words or -1 on an unclosed quote.
 */
static int ini_words(char **words, int max, char *buf, const char *line)
{
    const char *p = line;
    char *o = buf;
    int n = 0;

    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            return n;
        if (n == max)
            return -2;
        words[n++] = o;
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                while (*p != '\0' && *p != q)
                    *o++ = *p++;
                if (*p != q)
                    return -1;
                p++;
            } else {
                *o++ = *p++;
            }
        }
        *o++ = '\0';
    }
}

/* Trims blanks at both ends in place. */
static char *ini_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* Strips one pair of matching quotes around s. */
static char *ini_unquote(char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        return s + 1;
    }
    return s;
}

/* "[name]" / "[name:vars]" / "[name:children]", with a comment allowed. */
static int ini_section(struct ini_state *st, char *line, struct errbuf *err)
{
    char *end = strchr(line, ']'), *colon, *rest;
    size_t g;
    int r;

    if (end == NULL)
        return ini_error(st, err, "section header '%.100s' has no ']'", line);
    rest = ini_trim(end + 1);
    if (*rest != '\0' && *rest != '#' && *rest != ';')
        return ini_error(st, err, "text after section header: '%.100s'", rest);
    *end = '\0';
    line++;
    colon = strchr(line, ':');
    st->kind = INI_HOSTS;
    if (colon != NULL) {
        *colon = '\0';
        if (strcmp(colon + 1, "vars") == 0)
            st->kind = INI_VARS;
        else if (strcmp(colon + 1, "children") == 0)
            st->kind = INI_CHILDREN;
        else
            return ini_error(st, err,
                             "unknown section type '%.60s' (vars or "
                             "children)",
                             colon + 1);
    }
    if ((r = inv_group_get(st->inv, &g, line, err)) < 0)
        return ini_locate(st, err, r);
    st->group = g;
    return 0;
}

/* Reads "name" or "name:port" or "[v6addr]:port" into name and port. */
static int ini_host_port(struct ini_state *st, char *word, int *port,
                         struct errbuf *err)
{
    char *colon = NULL, *p;
    int depth = 0, colons = 0;

    *port = 0;
    for (p = word; *p != '\0'; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        else if (*p == ':' && depth == 0) {
            colon = p;
            colons++;
        }
    }
    /* Bare IPv6 addresses hold several colons: no port there. */
    if (colons != 1)
        return 0;
    if (colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return ini_error(st, err, "bad port in host '%.100s'", word);
    *port = atoi(colon + 1);
    if (*port < 1 || *port > 65535 || strlen(colon + 1) > 5)
        return ini_error(st, err, "bad port in host '%.100s'", word);
    *colon = '\0';
    if (word[0] == '[' && colon > word + 1 && colon[-1] == ']') {
        memmove(word, word + 1, (size_t)(colon - word) - 2);
        colon[-2] = '\0';
    }
    return 0;
}

/* One bound of a range: a number (with its width) or one letter. */
static int ini_bound(const char *s, long *out, int *width, bool *alpha)
{
    char *end = NULL;

    if (isalpha((unsigned char)s[0]) && s[1] == '\0') {
        *out = (unsigned char)s[0];
        *alpha = true;
        return 0;
    }
    if (!isdigit((unsigned char)s[0]) || strlen(s) > 9)
        return -1;
    *out = strtol(s, &end, 10);
    *width = (int)strlen(s);
    *alpha = false;
    return *end == '\0' ? 0 : -1;
}

/* Adds one host, with its line's variables, to the current group. */
static int ini_add_host(struct ini_state *st, const char *name, int port,
                        char **vars, int nvars, struct errbuf *err)
{
    struct inv_host *h;
    size_t hi;
    int i, r;

    if ((r = inv_host_get(st->inv, &hi, name, err)) < 0)
        return ini_locate(st, err, r);
    if ((r = inv_add_member(st->inv, st->group, hi, err)) < 0)
        return ini_locate(st, err, r);
    h = &st->inv->hosts[hi];
    if (port != 0)
        h->vars.port = port;
    for (i = 0; i < nvars; i++) {
        char *eq = strchr(vars[i], '=');
        *eq = '\0';
        r = inv_vars_set(&h->vars, vars[i], eq + 1, err);
        *eq = '=';
        if (r < 0)
            return ini_locate(st, err, r);
    }
    return 0;
}

/*
 * Expands the first [a:b] or [a:b:step] range in name (recursively for
 * later ones) and adds every host; *budget bounds the total.
 */
static int ini_expand(struct ini_state *st, const char *name, int port,
                      char **vars, int nvars, size_t *budget,
                      struct errbuf *err)
{
    const char *open = strchr(name, '['), *close;
    char spec[64], *a, *b, *c, item[600];
    long lo, hi, step = 1, v;
    int wlo = 0, whi = 0, r;
    bool alo = false, ahi = false;

    if (open != NULL && strchr(open, ']') == NULL)
        return ini_error(st, err, "bad host range in '%.100s'", name);
    if (open == NULL) {
        if (strchr(name, ']') != NULL)
            return ini_error(st, err, "bad host range in '%.100s'", name);
        if (*budget == 0)
            return ini_error(st, err,
                             "host ranges expand to more than %d "
                             "hosts",
                             INI_RANGE_MAX);
        (*budget)--;
        return ini_add_host(st, name, port, vars, nvars, err);
    }
    close = strchr(open, ']');
    if ((size_t)(close - open) >= sizeof(spec))
        return ini_error(st, err, "bad host range in '%.100s'", name);
    memcpy(spec, open + 1, (size_t)(close - open) - 1);
    spec[close - open - 1] = '\0';
    a = spec;
    if ((b = strchr(a, ':')) == NULL)
        return ini_error(st, err, "bad host range in '%.100s'", name);
    *b++ = '\0';
    if ((c = strchr(b, ':')) != NULL) {
        *c++ = '\0';
        step =
            strspn(c, "0123456789") == strlen(c) && strlen(c) < 6 ? atol(c) : 0;
    }
    if (ini_bound(a, &lo, &wlo, &alo) < 0 ||
        ini_bound(b, &hi, &whi, &ahi) < 0 || alo != ahi || lo > hi || step < 1)
        return ini_error(st, err, "bad host range '%.*s' in '%.100s'",
                         (int)(close - open + 1), open, name);
    for (v = lo; v <= hi; v += step) {
        int n;
        if (alo)
            n = snprintf(item, sizeof(item), "%.*s%c%s", (int)(open - name),
                         name, (char)v, close + 1);
        else
            n = snprintf(item, sizeof(item), "%.*s%0*ld%s", (int)(open - name),
                         name, wlo, v, close + 1);
        if (n < 0 || (size_t)n >= sizeof(item))
            return ini_error(st, err, "host name too long in '%.100s'", name);
        if ((r = ini_expand(st, item, port, vars, nvars, budget, err)) < 0)
            return r;
    }
    return 0;
}

/* A host line: "name[:port] key=value ...". */
static int ini_host_line(struct ini_state *st, const char *line,
                         struct errbuf *err)
{
    char *buf = NULL, *words[64];
    size_t budget = INI_RANGE_MAX;
    int n, i, port, r = SS_EINVAL;

    if ((buf = malloc(strlen(line) + 1)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    n = ini_words(words, 64, buf, line);
    if (n == -1) {
        r = ini_error(st, err, "unclosed quote");
        goto out;
    }
    if (n == -2) {
        r = ini_error(st, err, "too many variables on one line");
        goto out;
    }
    if (n == 0) {
        r = 0;
        goto out;
    }
    for (i = 1; i < n; i++) {
        if (strchr(words[i], '=') == NULL || words[i][0] == '=') {
            r = ini_error(st, err,
                          "expected key=value after the host, found "
                          "'%.100s'",
                          words[i]);
            goto out;
        }
    }
    if ((r = ini_host_port(st, words[0], &port, err)) < 0)
        goto out;
    r = ini_expand(st, words[0], port, words + 1, n - 1, &budget, err);
out:
    free(buf);
    return r;
}

/* A [g:vars] line: "key=value" or "key = value". */
static int ini_vars_line(struct ini_state *st, char *line, struct errbuf *err)
{
    char *eq = strchr(line, '='), *key, *value;
    int r;

    if (eq == NULL)
        return ini_error(st, err, "expected key=value, found '%.100s'", line);
    *eq = '\0';
    key = ini_trim(line);
    value = ini_unquote(ini_trim(eq + 1));
    if (*key == '\0')
        return ini_error(st, err, "variable without a name");
    r = inv_vars_set(&st->inv->groups[st->group].vars, key, value, err);
    return r < 0 ? ini_locate(st, err, r) : 0;
}

/* A [g:children] line: one group name. */
static int ini_child_line(struct ini_state *st, char *line, struct errbuf *err)
{
    char *buf = NULL, *words[2];
    size_t child;
    int n, r;

    if ((buf = malloc(strlen(line) + 1)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    n = ini_words(words, 2, buf, line);
    if (n != 1) {
        r = ini_error(st, err, "expected one group name, found '%.100s'", line);
        goto out;
    }
    if ((r = inv_group_get(st->inv, &child, words[0], err)) < 0 ||
        (r = inv_add_child(st->inv, st->group, child, err)) < 0)
        r = ini_locate(st, err, r);
out:
    free(buf);
    return r;
}

/* A line starting with '[' is a header when only a comment follows ']'. */
static bool ini_is_header(const char *line)
{
    const char *end = strchr(line, ']');

    if (end == NULL)
        return true; /* reported as a header without ']' */
    end++;
    while (*end == ' ' || *end == '\t')
        end++;
    return *end == '\0' || *end == '#' || *end == ';';
}

int inv_parse_ini(struct inventory *inv, const char *text, size_t len,
                  const char *source, struct errbuf *err)
{
    struct ini_state st = {inv, source, 0, INI_HOSTS, INV_GROUP_UNGROUPED};
    char *copy = NULL, *line, *next, *end;
    int r = 0;

    if (memchr(text, '\0', len) != NULL)
        return errbuf_set(err, SS_EINVAL, "%s: holds a NUL byte", source);
    if ((copy = malloc(len + 1)) == NULL)
        return errbuf_set(err, SS_ERR, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    for (line = copy; line != NULL && r == 0; line = next) {
        st.line++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        end = line + strlen(line);
        if (end > line && end[-1] == '\r')
            end[-1] = '\0';
        line = ini_trim(line);
        if (*line == '\0' || *line == '#' || *line == ';')
            continue;
        if (*line == '[' && ini_is_header(line)) {
            r = ini_section(&st, line, err);
            continue;
        }
        switch (st.kind) {
        case INI_HOSTS: r = ini_host_line(&st, line, err); break;
        case INI_VARS: r = ini_vars_line(&st, line, err); break;
        case INI_CHILDREN: r = ini_child_line(&st, line, err); break;
        }
    }
    free(copy);
    return r;
}
