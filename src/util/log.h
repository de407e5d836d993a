/* Process-wide leveled logging to stderr or a file, Redis-style lines:
 * "pid:role dd Mon yyyy hh:mm:ss.mmm <level-char> message". Thread-safe. */
#ifndef STRATA_UTIL_LOG_H
#define STRATA_UTIL_LOG_H

enum { LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3, LOG_NOTHING = 4 };

/* Sets the minimum level written. */
void log_set_level(int level);
int log_get_level(void);
/* Sends output to path (appending), or stderr when path is NULL or "". */
int log_set_file(const char *path);
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)   log_write(LOG_DEBUG, __VA_ARGS__)
#define log_verbose(...) log_write(LOG_VERBOSE, __VA_ARGS__)
#define log_notice(...)  log_write(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...)    log_write(LOG_WARNING, __VA_ARGS__)

#endif
