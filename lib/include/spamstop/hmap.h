/* A hash map from borrowed strings to integers, with a cap on entries. */
#ifndef SPAMSTOP_HMAP_H
#define SPAMSTOP_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One slot of the table; key is NULL while the slot is free. */
struct hmap_slot {
    const char *key; /* borrowed: the caller keeps it alive and unchanged */
    size_t value;    /* an index or a count: the caller's choice */
    uint32_t hash;   /* compared before the key */
};

/*
 * Open addressing with linear probing in a power-of-two table at most half
 * full; entries are never removed.  max bounds the entries (0 = no bound,
 * only for keys we produce ourselves): keys from a remote host always get
 * one, as struct buf's cap.
 */
struct hmap {
    struct hmap_slot *slots;
    size_t cap; /* slots: 0 or a power of two */
    size_t n;   /* entries */
    size_t max; /* most entries; 0 = unbounded */
};

#define HMAP_INIT                                                              \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

/* An empty map of at most max entries (0 = unbounded). */
void hmap_init(struct hmap *m, size_t max);
/* Frees the table and empties the map (keeps max); NULL-safe. */
void hmap_release(struct hmap *m);

/*
 * Finds key or adds it with value.  *out points at the entry's value until
 * the next hmap_put.  Returns 1 when key was added, 0 when it was there,
 * SS_ETOOBIG when adding would pass max, SS_ERR when out of memory.
 */
int hmap_put(size_t **out, struct hmap *m, const char *key, size_t value);

/* Sets *out to key's value; SS_ENOENT (out untouched) when key is absent. */
int hmap_get(size_t *out, const struct hmap *m, const char *key);

/*
 * Steps through the entries in table order: start with *pos = 0; each call
 * sets *out to the next entry and returns true, false after the last.
 */
bool hmap_next(const struct hmap_slot **out, const struct hmap *m, size_t *pos);

#endif
