/* Glob matching; see glob.h. */
#include "util/glob.h"

#include <ctype.h>

#define GLOB_MAX_DEPTH 1000

static int lower(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

static int match(const char *p, size_t pl, const char *s, size_t sl, int nocase, int depth)
{
    if (depth > GLOB_MAX_DEPTH) return 0;
    while (pl) {
        switch (*p) {
        case '*':
            while (pl > 1 && p[1] == '*') p++, pl--;
            if (pl == 1) return 1;
            for (size_t i = 0; i <= sl; i++)
                if (match(p + 1, pl - 1, s + i, sl - i, nocase, depth + 1)) return 1;
            return 0;
        case '?':
            if (!sl) return 0;
            s++, sl--;
            break;
        case '[': {
            if (!sl) return 0;
            p++, pl--;
            int neg = pl && *p == '^';
            if (neg) p++, pl--;
            int hit = 0;
            while (pl && *p != ']') {
                if (*p == '\\' && pl >= 2) {
                    p++, pl--;
                    if (*p == *s) hit = 1;
                } else if (pl >= 3 && p[1] == '-') {
                    int a = lower((unsigned char)p[0], nocase),
                        b = lower((unsigned char)p[2], nocase);
                    int c = lower((unsigned char)*s, nocase);
                    if (a > b) {
                        int t = a;
                        a = b;
                        b = t;
                    }
                    if (c >= a && c <= b) hit = 1;
                    p += 2, pl -= 2;
                } else if (lower((unsigned char)*p, nocase) == lower((unsigned char)*s, nocase)) {
                    hit = 1;
                }
                p++, pl--;
            }
            if (neg) hit = !hit;
            if (!hit) return 0;
            s++, sl--;
            if (!pl) return 0 == sl; /* unterminated class: pattern ends here */
            break;
        }
        case '\\':
            if (pl >= 2) p++, pl--;
            /* fall through */
        default:
            if (!sl || lower((unsigned char)*p, nocase) != lower((unsigned char)*s, nocase))
                return 0;
            s++, sl--;
            break;
        }
        p++, pl--;
    }
    return sl == 0;
}

int glob_match(const char *pattern, size_t plen, const char *str, size_t slen, int nocase)
{
    return match(pattern, plen, str, slen, nocase, 0);
}
