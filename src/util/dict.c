/* Chained hash map; see dict.h. FNV-1a style hashing with a final mix. */
#include "util/dict.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static inline unsigned char fold(unsigned char c, int nocase)
{
    return (nocase && c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

uint64_t dict_hash(const void *key, size_t klen, int nocase)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < klen; i++) {
        h ^= fold(p[i], nocase);
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

void dict_init(dict *d, int nocase)
{
    memset(d, 0, sizeof(*d));
    d->nocase = nocase;
}

void dict_clear(dict *d, void (*free_val)(void *))
{
    for (size_t i = 0; i < d->size; i++) {
        dict_entry *e = d->tab[i];
        while (e) {
            dict_entry *n = e->next;
            if (free_val) free_val(e->val);
            free(e);
            e = n;
        }
    }
    free(d->tab);
    d->tab = NULL;
    d->size = d->count = 0;
}

static int key_eq(const dict *d, const dict_entry *e, const void *key, size_t klen)
{
    if (e->klen != klen) return 0;
    return d->nocase ? strncasecmp(e->key, key, klen) == 0 : memcmp(e->key, key, klen) == 0;
}

dict_entry *dict_find(const dict *d, const void *key, size_t klen)
{
    if (!d->size) return NULL;
    uint64_t h = dict_hash(key, klen, d->nocase);
    for (dict_entry *e = d->tab[h & (d->size - 1)]; e; e = e->next)
        if (e->hash == h && key_eq(d, e, key, klen)) return e;
    return NULL;
}

static void grow(dict *d)
{
    size_t nsize = d->size ? d->size * 2 : 16;
    dict_entry **nt = calloc(nsize, sizeof(*nt));
    if (!nt) abort();
    for (size_t i = 0; i < d->size; i++) {
        dict_entry *e = d->tab[i];
        while (e) {
            dict_entry *n = e->next;
            size_t b = e->hash & (nsize - 1);
            e->next = nt[b];
            nt[b] = e;
            e = n;
        }
    }
    free(d->tab);
    d->tab = nt;
    d->size = nsize;
}

dict_entry *dict_add(dict *d, const void *key, size_t klen, void *val)
{
    if (d->count >= d->size) grow(d);
    dict_entry *e = malloc(sizeof(*e) + klen + 1);
    if (!e) abort();
    e->hash = dict_hash(key, klen, d->nocase);
    e->val = val;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t b = e->hash & (d->size - 1);
    e->next = d->tab[b];
    d->tab[b] = e;
    d->count++;
    return e;
}

void *dict_del(dict *d, const void *key, size_t klen)
{
    if (!d->size) return NULL;
    uint64_t h = dict_hash(key, klen, d->nocase);
    dict_entry **pp = &d->tab[h & (d->size - 1)];
    for (; *pp; pp = &(*pp)->next) {
        dict_entry *e = *pp;
        if (e->hash == h && key_eq(d, e, key, klen)) {
            void *v = e->val;
            *pp = e->next;
            free(e);
            d->count--;
            return v;
        }
    }
    return NULL;
}

void dict_iter_init(dict_iter *it, const dict *d)
{
    it->d = d;
    it->bucket = 0;
    it->next = NULL;
}

dict_entry *dict_next(dict_iter *it)
{
    while (!it->next) {
        if (it->bucket >= it->d->size) return NULL;
        it->next = it->d->tab[it->bucket++];
    }
    dict_entry *e = it->next;
    it->next = e->next;
    return e;
}
