/* libFuzzer target for keyspace/ pure parts. The first input byte picks:
 *   0: glob. The rest is "pattern 0xFF subject" (each cut to 24 bytes): the
 *      iterative ks_glob_match must agree with a plain recursive matcher of
 *      the same rules (below), with and without nocase.
 *   1: overlay. The rest is a list of operations (op u8 | key u8 | key2 u8)
 *      on keys "k<byte>": put, delete, range delete, lookups. The overlay must
 *      agree with a 256-entry model after every step, and its sorted view
 *      must list exactly the model's written keys in order.
 * Any disagreement aborts. */
#include "keyspace/glob.h"
#include "keyspace/overlay.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lc(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* Reference: recursion on the first pattern element. */
static int ref(const char *p, size_t pl, const char *s, size_t sl, int nc)
{
    if (pl == 0) return sl == 0;
    if (p[0] == '*') {
        for (size_t i = 0; i <= sl; i++)
            if (ref(p + 1, pl - 1, s + i, sl - i, nc)) return 1;
        return 0;
    }
    if (sl == 0) return 0;
    unsigned char c = (unsigned char)s[0];
    if (p[0] == '?') return ref(p + 1, pl - 1, s + 1, sl - 1, nc);
    if (p[0] == '[') {
        size_t i = 1;
        int neg = 0, hit = 0;
        if (i < pl && p[i] == '^') neg = 1, i++;
        size_t end = pl; /* unterminated: to the end */
        while (i < pl) {
            if (p[i] == '\\' && pl - i >= 2) {
                if ((unsigned char)p[i + 1] == c) hit = 1;
                i += 2;
            } else if (p[i] == ']') {
                end = i + 1;
                break;
            } else if (pl - i >= 3 && p[i + 1] == '-') {
                int a = lc((unsigned char)p[i], nc), b = lc((unsigned char)p[i + 2], nc),
                    x = lc(c, nc);
                if (a > b) {
                    int t = a;
                    a = b;
                    b = t;
                }
                if (x >= a && x <= b) hit = 1;
                i += 3;
            } else {
                if (lc((unsigned char)p[i], nc) == lc(c, nc)) hit = 1;
                i++;
            }
        }
        if (neg) hit = !hit;
        return hit && ref(p + end, pl - end, s + 1, sl - 1, nc);
    }
    size_t w = 1;
    unsigned char lit = (unsigned char)p[0];
    if (p[0] == '\\' && pl >= 2) w = 2, lit = (unsigned char)p[1];
    return lc(lit, nc) == lc(c, nc) && ref(p + w, pl - w, s + 1, sl - 1, nc);
}

static void fuzz_glob(const uint8_t *d, size_t n)
{
    const uint8_t *sep = memchr(d, 0xFF, n);
    size_t pl = sep ? (size_t)(sep - d) : n;
    const char *p = (const char *)d, *s = sep ? (const char *)sep + 1 : "";
    size_t sl = sep ? n - pl - 1 : 0;
    if (pl > 24) pl = 24;
    if (sl > 24) sl = 24;
    for (int nc = 0; nc < 2; nc++) {
        /* Redis's matcher answers 0 for an empty subject unless the pattern is empty. */
        int want = sl == 0 ? pl == 0 : ref(p, pl, s, sl, nc);
        int got = ks_glob_match(p, pl, s, sl, nc);
        if (got != want) {
            fprintf(stderr,
                    "glob mismatch: pattern '%.*s' subject '%.*s' nocase %d: got %d want %d\n",
                    (int)pl, p, (int)sl, s, nc, got, want);
            abort();
        }
    }
}

static void fuzz_overlay(const uint8_t *d, size_t n)
{
    ks__overlay *o = ks__ov_new();
    if (!o) return;
    int state[256]; /* 0 unknown (engine decides), 1 value, 2 deleted */
    uint8_t val[256];
    int covered[256];
    memset(state, 0, sizeof(state));
    memset(covered, 0, sizeof(covered));
    for (size_t i = 0; i + 3 <= n; i += 3) {
        int op = d[i] % 4, a = d[i + 1], b = d[i + 2];
        char ka[8], kb[8];
        snprintf(ka, sizeof(ka), "k%03d", a);
        snprintf(kb, sizeof(kb), "k%03d", b);
        if (op == 0) {
            if (ks__ov_put(o, ka, 4, &d[i + 2], 1)) abort();
            state[a] = 1;
            val[a] = d[i + 2];
        } else if (op == 1) {
            if (ks__ov_del(o, ka, 4)) abort();
            state[a] = 2;
        } else if (op == 2) {
            int lo = a < b ? a : b, hi = a < b ? b : a;
            snprintf(ka, sizeof(ka), "k%03d", lo);
            snprintf(kb, sizeof(kb), "k%03d", hi);
            if (ks__ov_del_range(o, ka, 4, kb, 4)) abort();
            for (int k = lo; k < hi; k++) {
                covered[k] = 1;
                if (state[k] == 1) state[k] = 2;
            }
        }
        for (int k = 0; k < 256; k++) {
            char kk[8];
            snprintf(kk, sizeof(kk), "k%03d", k);
            const ks__ov_entry *e = ks__ov_get(o, kk, 4);
            int st = e ? (e->val ? 1 : 2) : 0;
            if (st != state[k] || (st == 1 && (e->vlen != 1 || e->val[0] != val[k]))) abort();
            if (!e && ks__ov_covered(o, kk, 4) != covered[k]) abort();
        }
    }
    size_t cnt;
    ks__ov_entry *const *sv = ks__ov_sorted(o, &cnt);
    size_t want = 0;
    for (int k = 0; k < 256; k++) want += state[k] != 0;
    if (cnt != want) abort();
    for (size_t j = 1; j < cnt; j++)
        if (ks__keycmp(sv[j - 1]->key, sv[j - 1]->klen, sv[j]->key, sv[j]->klen) >= 0) abort();
    ks__ov_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] % 2 == 0)
        fuzz_glob(data + 1, size - 1);
    else
        fuzz_overlay(data + 1, size - 1);
    return 0;
}
