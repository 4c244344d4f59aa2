/* The inventory model shared by the INI and JSON readers and --limit. */
#ifndef SPAMSTOP_INV_INT_H
#define SPAMSTOP_INV_INT_H

#include <stddef.h>

#include "spamstop/error.h"
#include "spamstop/hmap.h"
#include "spamstop/inventory.h"

#define INV_NONE            ((size_t)-1)
#define INV_GROUP_ALL       0
#define INV_GROUP_UNGROUPED 1
#define INV_GROUPS_MAX      100000

/* Connection variables as set at one level (host or group). */
struct inv_vars {
    char *address; /* ansible_host; NULL = unset */
    char *user;    /* ansible_user; NULL = unset */
    int port;      /* ansible_port; 0 = unset */
    int become;    /* ansible_become; -1 = unset */
};

/* A growable list of indexes. */
struct inv_list {
    size_t *v;
    size_t n, alloc;
};

struct inv_host {
    char *name;
    struct inv_vars vars;
    struct inv_list groups; /* groups it was listed in directly */
};

struct inv_group {
    char *name;
    struct inv_vars vars;
    struct inv_list hosts;    /* direct members */
    struct inv_list children; /* child groups */
    struct inv_list parents;
    size_t depth; /* 0 for all, 1 for top-level groups, ... */
};

struct inventory {
    struct inv_host *hosts;
    size_t nhosts, ahosts;
    struct inv_group *groups;
    size_t ngroups, agroups;
    struct hmap hidx, gidx; /* name -> index in hosts, groups */
};

size_t inv_host_find(const struct inventory *inv, const char *name);
size_t inv_group_find(const struct inventory *inv, const char *name);

/* Find-or-create; *out is the index.  SS_EINVAL past the limits. */
int inv_host_get(struct inventory *inv, size_t *out, const char *name,
                 struct errbuf *err);
int inv_group_get(struct inventory *inv, size_t *out, const char *name,
                  struct errbuf *err);

/* Puts host h in group g (all and ungrouped are implicit). */
int inv_add_member(struct inventory *inv, size_t g, size_t h,
                   struct errbuf *err);
/* Makes child a child group of parent; SS_EINVAL for 'all' as child. */
int inv_add_child(struct inventory *inv, size_t parent, size_t child,
                  struct errbuf *err);

/*
 * Sets one variable from its text value; unknown keys are ignored.
 * Messages carry no location: the caller prefixes it.
 */
int inv_vars_set(struct inv_vars *v, const char *key, const char *value,
                 struct errbuf *err);
/* Sets ansible_become from a parsed boolean. */
void inv_vars_set_become(struct inv_vars *v, int on);

/* Checks a host or group name; SS_EINVAL with a message. */
int inv_check_name(const char *what, const char *name, struct errbuf *err);

/* Computes group depths and refuses cycles in children. */
int inv_finish(struct inventory *inv, struct errbuf *err);

int inv_parse_ini(struct inventory *inv, const char *text, size_t len,
                  const char *source, struct errbuf *err);
int inv_parse_json(struct inventory *inv, const char *text, size_t len,
                   const char *source, struct errbuf *err);

#endif
