/* Leveled logging (see log.h). */
#include "util/log.h"

#include "util/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int min_level = LOG_NOTICE;
static FILE *out;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int level)
{
    min_level = level;
}
int log_get_level(void)
{
    return min_level;
}

int log_set_file(const char *path)
{
    FILE *f = NULL;
    if (path && *path) {
        f = fopen(path, "a");
        if (!f) return err_set(err_from_errno(errno), "logfile %s: %s", path, strerror(errno));
    }
    pthread_mutex_lock(&mu);
    if (out && out != stderr) fclose(out);
    out = f;
    pthread_mutex_unlock(&mu);
    return 0;
}

void log_write(int level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    if (level < min_level || level >= LOG_NOTHING) return;
    char msg[1024], ts[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%d %b %Y %H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03d", (int)(tv.tv_usec / 1000));
    pthread_mutex_lock(&mu);
    FILE *f = out ? out : stderr;
    fprintf(f, "%d:M %s %c %s\n", (int)getpid(), ts, marks[level], msg);
    fflush(f);
    pthread_mutex_unlock(&mu);
}
