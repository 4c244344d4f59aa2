/* The one hash map of the library: string keys, integer values. */
#include <stdlib.h>
#include <string.h>

#include "spamstop/error.h"
#include "spamstop/hmap.h"

/* FNV-1a over a string, folded to 32 bits. */
static uint32_t hmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Starts an empty map of at most max entries. */
void hmap_init(struct hmap *m, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->max = max;
}

/* Frees the table; the map is empty and usable again. */
void hmap_release(struct hmap *m)
{
    if (m == NULL)
        return;
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

/* The slot of key, or the free slot where it would go. */
static struct hmap_slot *hmap_probe(const struct hmap *m, const char *key,
                                    uint32_t h)
{
    size_t mask = m->cap - 1, j = h & mask;

    while (m->slots[j].key != NULL &&
           (m->slots[j].hash != h || strcmp(m->slots[j].key, key) != 0))
        j = (j + 1) & mask;
    return &m->slots[j];
}

/* Doubles the table (at least 8 slots); the stored hashes place entries. */
static int hmap_grow(struct hmap *m)
{
    size_t want = m->cap ? m->cap * 2 : 8, i, j;
    struct hmap_slot *slots = calloc(want, sizeof(*slots));

    if (slots == NULL)
        return SS_ERR;
    for (i = 0; i < m->cap; i++) {
        if (m->slots[i].key == NULL)
            continue;
        for (j = m->slots[i].hash & (want - 1); slots[j].key != NULL;
             j = (j + 1) & (want - 1))
            ;
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = want;
    return 0;
}

/* Finds or adds key; see hmap.h. */
int hmap_put(size_t **out, struct hmap *m, const char *key, size_t value)
{
    struct hmap_slot *s;
    uint32_t h = hmap_hash(key);

    if ((m->n + 1) * 2 > m->cap && hmap_grow(m) < 0)
        return SS_ERR;
    s = hmap_probe(m, key, h);
    if (s->key == NULL) {
        if (m->max != 0 && m->n >= m->max)
            return SS_ETOOBIG;
        s->key = key;
        s->hash = h;
        s->value = value;
        m->n++;
        *out = &s->value;
        return 1;
    }
    *out = &s->value;
    return 0;
}

/* Looks key up; see hmap.h. */
int hmap_get(size_t *out, const struct hmap *m, const char *key)
{
    const struct hmap_slot *s;

    if (m->n == 0)
        return SS_ENOENT;
    s = hmap_probe(m, key, hmap_hash(key));
    if (s->key == NULL)
        return SS_ENOENT;
    *out = s->value;
    return 0;
}

/* The next entry at or after *pos; see hmap.h. */
bool hmap_next(const struct hmap_slot **out, const struct hmap *m, size_t *pos)
{
    for (; *pos < m->cap; (*pos)++)
        if (m->slots[*pos].key != NULL) {
            *out = &m->slots[(*pos)++];
            return true;
        }
    return false;
}
