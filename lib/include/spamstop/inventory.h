/* Inventories: hosts from Ansible INI or JSON files, selected by --limit. */
#ifndef SPAMSTOP_INVENTORY_H
#define SPAMSTOP_INVENTORY_H

#include <stddef.h>

#include "spamstop/error.h"
#include "spamstop/exec.h"

/* Largest inventory file read, and most hosts one inventory may hold. */
#define INVENTORY_FILE_MAX  (16u * 1024 * 1024)
#define INVENTORY_HOSTS_MAX 100000

struct inventory;

/* An empty inventory (for hosts named on the command line); NULL on ENOMEM. */
struct inventory *inventory_new(void);

/*
 * Parses an inventory held in memory: JSON when the first non-blank byte is
 * '{', else Ansible's INI format.  source_name names it in messages
 * ("fleet.ini:12: ...").  Errors are SS_EINVAL.  The caller frees *out
 * with inventory_free.
 */
int inventory_parse_string(struct inventory **out, const char *text, size_t len,
                           const char *source_name, struct errbuf *err);

/* Reads and parses the file at path. */
int inventory_load(struct inventory **out, const char *path,
                   struct errbuf *err);

/* Adds a host named on the command line (no group); SS_EINVAL if bad. */
int inventory_add_host(struct inventory *inv, const char *name,
                       struct errbuf *err);

/* Number of hosts. */
size_t inventory_count(const struct inventory *inv);

/*
 * The hosts matching pattern (NULL or "" = all), in inventory order, with
 * their connection settings resolved (host vars over child group vars over
 * parent group vars over [all:vars]).  Pattern syntax as Ansible's
 * --limit: names, groups, globs (* ? [..]), ~regex, joined by ',' or ':';
 * '!' excludes, '&' intersects.  A term that matches nothing is an error
 * (SS_EINVAL): a typo must not widen or silently shrink the run.  The
 * caller frees the array with inventory_targets_free.
 */
int inventory_select(struct exec_target **out, size_t *out_n,
                     const struct inventory *inv, const char *pattern,
                     struct errbuf *err);

void inventory_targets_free(struct exec_target *t, size_t n);

/* NULL-safe. */
void inventory_free(struct inventory *inv);

#endif
