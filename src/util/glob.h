/* Redis-style glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET):
 * '*', '?', '[abc]', '[^a-z]', '\x' escapes. Binary safe. Recursion on '*'
 * backtracks to the last star only (no exponential cases). */
#ifndef STRATA_UTIL_GLOB_H
#define STRATA_UTIL_GLOB_H

#include <stddef.h>

/* 1 if str[0..slen) matches pattern[0..plen), else 0. */
int glob_match(const char *pattern, size_t plen, const char *str, size_t slen, int nocase);

#endif
