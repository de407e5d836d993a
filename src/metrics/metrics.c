/* Prometheus text format and minimal HTTP; see metrics.h. */
#include "metrics/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void metrics_family(sbuf *out, const char *name, const char *type, const char *help)
{
    sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_head(sbuf *out, const char *name, const char *labels)
{
    sbuf_puts(out, name);
    if (labels && *labels) sbuf_printf(out, "{%s}", labels);
}

void metrics_sample(sbuf *out, const char *name, const char *labels, double value)
{
    sample_head(out, name, labels);
    sbuf_printf(out, " %.17g\n", value);
}

void metrics_sample_u64(sbuf *out, const char *name, const char *labels, uint64_t value)
{
    sample_head(out, name, labels);
    sbuf_printf(out, " %llu\n", (unsigned long long)value);
}

void metrics_histogram(sbuf *out, const char *name, const char *labels, const hist *h)
{
    uint64_t cum = 0;
    const char *sep = labels && *labels ? "," : "";
    for (int i = 0; i < HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        if (i == HIST_BUCKETS - 1)
            sbuf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "", sep,
                        (unsigned long long)cum);
        else
            sbuf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels ? labels : "", sep,
                        (double)hist_bound(i) / 1e6, (unsigned long long)cum);
    }
    sbuf_printf(out, "%s_sum", name);
    if (labels && *labels) sbuf_printf(out, "{%s}", labels);
    sbuf_printf(out, " %.9g\n", (double)h->sum_us / 1e6);
    sbuf_printf(out, "%s_count", name);
    if (labels && *labels) sbuf_printf(out, "{%s}", labels);
    sbuf_printf(out, " %llu\n", (unsigned long long)h->count);
}

void metrics_label_value(sbuf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            sbuf_puts(out, "\\\\");
        else if (s[i] == '"')
            sbuf_puts(out, "\\\"");
        else if (s[i] == '\n')
            sbuf_puts(out, "\\n");
        else
            sbuf_append(out, &s[i], 1);
    }
}

int metrics_http_request(const char *buf, size_t len, char *path, size_t pathlen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) end = memmem(buf, len, "\n\n", 2);
    if (!end) return len > 8192 ? -1 : 0;
    const char *sp = memchr(buf, ' ', (size_t)(end - buf));
    if (!sp) return -1;
    const char *p = sp + 1;
    const char *sp2 = memchr(p, ' ', (size_t)(end - p));
    const char *nl = memchr(p, '\r', (size_t)(end - p));
    if (!sp2 || (nl && nl < sp2)) sp2 = nl ? nl : end;
    size_t n = (size_t)(sp2 - p);
    if (n + 1 > pathlen) return -1;
    memcpy(path, p, n);
    path[n] = '\0';
    return 1;
}

void metrics_http_response(sbuf *out, const char *status, const char *ctype, const char *body,
                           size_t blen)
{
    sbuf_printf(out,
                "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
                "close\r\n\r\n",
                status, ctype, blen);
    sbuf_append(out, body, blen);
}

uint64_t metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, rss = 0;
    int ok = fscanf(f, "%llu %llu", &size, &rss) == 2;
    fclose(f);
    return ok ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
