/* Glob-style matching with Redis's rules (KEYS, SCAN MATCH, HSCAN MATCH):
 *   *      any run of bytes, ?  one byte, \x  the byte x literally,
 *   [abc]  one of the set, [^abc] none of it, [a-z] a range (reversed
 *          bounds are swapped), \ escapes inside a set, an unterminated
 *          set runs to the end of the pattern.
 * As in Redis, the empty subject matches only the empty pattern; callers
 * treat the pattern "*" alone as "everything" before calling (Redis does). */
#ifndef STRATA_KEYSPACE_GLOB_H
#define STRATA_KEYSPACE_GLOB_H

#include <stddef.h>

/* 1 if s matches pattern p, else 0. Iterative: no recursion and O(plen*slen)
 * at worst, so hostile patterns cannot exhaust the stack. */
int ks_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase);

#endif
