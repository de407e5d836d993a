/* Glob matching (see glob.h). One backtracking point (the last '*') is
 * enough because every other pattern element consumes exactly one byte, so
 * the match is linear in practice and O(plen*slen) at worst. */
#include "keyspace/glob.h"

#include <ctype.h>

static int fold(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* Matches byte c against the set starting at p[0] == '['. *used gets the
 * pattern bytes the set occupies ('[' through ']' or to the end). */
static int match_set(const char *p, size_t plen, unsigned char c, int nocase, size_t *used)
{
    size_t i = 1;
    int neg = 0, hit = 0;
    if (i < plen && p[i] == '^') {
        neg = 1;
        i++;
    }
    for (;;) {
        if (i >= plen) { /* unterminated: the set runs to the end */
            *used = plen;
            break;
        }
        if (p[i] == '\\' && plen - i >= 2) {
            i++;
            if ((unsigned char)p[i] == c) hit = 1;
        } else if (p[i] == ']') {
            *used = i + 1;
            break;
        } else if (plen - i >= 3 && p[i + 1] == '-') {
            int lo = fold((unsigned char)p[i], nocase), hi = fold((unsigned char)p[i + 2], nocase);
            int x = fold(c, nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            if (x >= lo && x <= hi) hit = 1;
            i += 2;
        } else if (fold((unsigned char)p[i], nocase) == fold(c, nocase)) {
            hit = 1;
        }
        i++;
    }
    return neg ? !hit : hit;
}

int ks_glob_match(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    if (slen == 0) return plen == 0;
    size_t pi = 0, si = 0, star_p = 0, star_s = 0;
    int have_star = 0;
    while (si < slen) {
        if (pi < plen) {
            unsigned char c = (unsigned char)s[si];
            size_t used = 1;
            int ok;
            switch (p[pi]) {
            case '*':
                while (pi < plen && p[pi] == '*') pi++;
                if (pi == plen) return 1;
                have_star = 1;
                star_p = pi;
                star_s = si;
                continue;
            case '?': ok = 1; break;
            case '[': ok = match_set(p + pi, plen - pi, c, nocase, &used); break;
            case '\\':
                if (plen - pi >= 2) used = 2;
                ok = fold((unsigned char)p[pi + used - 1], nocase) == fold(c, nocase);
                break;
            default: ok = fold((unsigned char)p[pi], nocase) == fold(c, nocase); break;
            }
            if (ok) {
                pi += used;
                si++;
                continue;
            }
        }
        if (!have_star) return 0;
        /* Let the last '*' swallow one more byte and retry after it. */
        si = ++star_s;
        pi = star_p;
    }
    while (pi < plen && p[pi] == '*') pi++;
    return pi == plen;
}
