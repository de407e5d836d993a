/* Glob matching; see glob.h.
 *
 * Iterative with backtracking to the most recent '*' only, which is enough
 * for glob patterns (a later star can absorb anything an earlier one could),
 * so the cost is O(len(pattern) * len(string)) at worst, never exponential. */
#include "util/glob.h"

#include <ctype.h>

static int lower(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* Matches one pattern token starting at p[*pi] against ch; on success sets
 * *pi past the token and returns 1. */
static int token(const char *p, size_t pl, size_t *pi, unsigned char ch, int nocase)
{
    size_t i = *pi;
    int c = lower(ch, nocase);
    switch (p[i]) {
    case '?': *pi = i + 1; return 1;
    case '[': {
        i++;
        int neg = i < pl && p[i] == '^';
        if (neg) i++;
        int hit = 0;
        while (i < pl && p[i] != ']') {
            if (p[i] == '\\' && i + 1 < pl) {
                i++;
                if ((unsigned char)p[i] == ch) hit = 1;
            } else if (i + 2 < pl && p[i + 1] == '-') {
                int a = lower((unsigned char)p[i], nocase),
                    b = lower((unsigned char)p[i + 2], nocase);
                if (a > b) {
                    int t = a;
                    a = b;
                    b = t;
                }
                if (c >= a && c <= b) hit = 1;
                i += 2;
            } else if (lower((unsigned char)p[i], nocase) == c) {
                hit = 1;
            }
            i++;
        }
        if (i < pl) i++; /* the closing ']' (an unterminated class ends the pattern) */
        if (neg) hit = !hit;
        *pi = i;
        return hit;
    }
    case '\\':
        if (i + 1 < pl) i++;
        /* fall through */
    default:
        if (lower((unsigned char)p[i], nocase) != c) return 0;
        *pi = i + 1;
        return 1;
    }
}

int glob_match(const char *p, size_t pl, const char *s, size_t sl, int nocase)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < sl) {
        if (pi < pl && p[pi] == '*') {
            star_p = pi++;
            star_s = si;
            continue;
        }
        size_t next = pi;
        if (pi < pl && token(p, pl, &next, (unsigned char)s[si], nocase)) {
            pi = next;
            si++;
            continue;
        }
        if (star_p == (size_t)-1) return 0;
        pi = star_p + 1;
        si = ++star_s;
    }
    while (pi < pl && p[pi] == '*') pi++;
    return pi == pl;
}
