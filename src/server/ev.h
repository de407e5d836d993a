/* Event loop over epoll: file events (readable/writable callbacks per fd),
 * one periodic timer, and a before-sleep hook (group commit, pending writes).
 *
 * Invariants: one loop thread; fds are < EV_MAX_FDS is not assumed (the
 * per-fd table grows); callbacks may add, change or remove any fd, including
 * their own; ev_stop() makes ev_run() return after the current iteration. */
#ifndef STRATA_SERVER_EV_H
#define STRATA_SERVER_EV_H

#include <stdint.h>

enum { EV_READ = 1, EV_WRITE = 2 };

typedef struct ev_loop ev_loop;
typedef void (*ev_fn)(ev_loop *l, int fd, void *data, int mask);
typedef void (*ev_hook)(ev_loop *l, void *data);

ev_loop *ev_create(void);
void ev_free(ev_loop *l);
/* Sets the events of interest for fd (0 removes it); rfn/wfn are the
 * callbacks for readable/writable. Returns 0 or ERR_IO. */
int ev_set(ev_loop *l, int fd, int mask, ev_fn rfn, ev_fn wfn, void *data);
int ev_mask(ev_loop *l, int fd);
/* Calls fn every period_ms from the loop thread. */
void ev_set_timer(ev_loop *l, int period_ms, ev_hook fn, void *data);
/* Called before each wait (and after each batch of events). */
void ev_set_before_sleep(ev_loop *l, ev_hook fn, void *data);
/* fn runs before every callback except read callbacks equal to keep, and
 * after each batch of events (before timers and the before-sleep hook): work
 * that keep's callbacks leave open across fds (a write group spanning
 * clients) is closed before any other code can observe it. */
void ev_set_fence(ev_loop *l, ev_fn keep, ev_hook fn, void *data);
/* Makes the next wait return after at most ms milliseconds (once). */
void ev_wake_in(ev_loop *l, int ms);
void ev_run(ev_loop *l);
void ev_stop(ev_loop *l);
/* A cheap monotonic tick counter (the TSC on x86-64, calibrated against
 * CLOCK_MONOTONIC at first use; nanoseconds elsewhere), for per-command
 * timing where a clock_gettime per call would cost more than the command. */
uint64_t ev_ticks(void);
/* Converts a tick difference to microseconds. */
uint64_t ev_ticks_to_us(uint64_t ticks);
uint64_t ev_ticks_to_ns(uint64_t ticks);
/* Monotonic milliseconds and microseconds. */
uint64_t ev_now_ms(void);
uint64_t ev_now_us(void);

#endif
