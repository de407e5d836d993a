/* epoll event loop; see ev.h. */
#include "server/ev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#define EV_BATCH 256

typedef struct ev_slot {
    int mask;
    ev_fn rfn, wfn;
    void *data;
} ev_slot;

struct ev_loop {
    int epfd;
    int stop;
    ev_slot *slots;
    int nslots;
    int period_ms;
    uint64_t next_timer_ms;
    int wake_ms; /* -1 or a one-shot cap on the next wait */
    ev_hook timer_fn, before_fn, fence_fn;
    void *timer_data, *before_data, *fence_data;
    ev_fn fence_keep; /* read callbacks that run without the fence first */
};

uint64_t ev_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static double ticks_per_us;

uint64_t ev_ticks(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static void calibrate(void)
{
#if defined(__x86_64__)
    uint64_t u0 = ev_now_us(), t0 = ev_ticks();
    struct timespec ts = {0, 5000000L};
    nanosleep(&ts, NULL);
    uint64_t u1 = ev_now_us(), t1 = ev_ticks();
    ticks_per_us = u1 > u0 && t1 > t0 ? (double)(t1 - t0) / (double)(u1 - u0) : 1000.0;
#else
    ticks_per_us = 1000.0;
#endif
}

uint64_t ev_ticks_to_us(uint64_t ticks)
{
    if (ticks_per_us <= 0) calibrate();
    return (uint64_t)((double)ticks / ticks_per_us);
}

uint64_t ev_ticks_to_ns(uint64_t ticks)
{
    if (ticks_per_us <= 0) calibrate();
    return (uint64_t)((double)ticks * 1000.0 / ticks_per_us);
}

uint64_t ev_now_ms(void)
{
    return ev_now_us() / 1000;
}

ev_loop *ev_create(void)
{
    ev_loop *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->wake_ms = -1;
    if (ticks_per_us <= 0) calibrate();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

void ev_free(ev_loop *l)
{
    if (!l) return;
    close(l->epfd);
    free(l->slots);
    free(l);
}

static int ensure(ev_loop *l, int fd)
{
    if (fd < l->nslots) return 0;
    int n = l->nslots ? l->nslots : 1024;
    while (n <= fd) n *= 2;
    ev_slot *s = realloc(l->slots, (size_t)n * sizeof(*s));
    if (!s) return ERR_NOMEM;
    memset(s + l->nslots, 0, (size_t)(n - l->nslots) * sizeof(*s));
    l->slots = s;
    l->nslots = n;
    return 0;
}

int ev_set(ev_loop *l, int fd, int mask, ev_fn rfn, ev_fn wfn, void *data)
{
    if (ensure(l, fd)) return ERR_NOMEM;
    ev_slot *s = &l->slots[fd];
    struct epoll_event e = {0};
    e.data.fd = fd;
    if (mask & EV_READ) e.events |= EPOLLIN;
    if (mask & EV_WRITE) e.events |= EPOLLOUT;
    int op = s->mask == 0 ? EPOLL_CTL_ADD : (mask == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
    if (s->mask == 0 && mask == 0) return 0;
    if (s->mask != mask && epoll_ctl(l->epfd, op, fd, &e) < 0)
        return err_set(ERR_IO, "epoll_ctl: %s", strerror(errno));
    s->mask = mask;
    s->rfn = rfn;
    s->wfn = wfn;
    s->data = data;
    return 0;
}

int ev_mask(ev_loop *l, int fd)
{
    return fd < l->nslots ? l->slots[fd].mask : 0;
}

void ev_set_timer(ev_loop *l, int period_ms, ev_hook fn, void *data)
{
    l->period_ms = period_ms;
    l->timer_fn = fn;
    l->timer_data = data;
    l->next_timer_ms = ev_now_ms() + (uint64_t)period_ms;
}

void ev_set_before_sleep(ev_loop *l, ev_hook fn, void *data)
{
    l->before_fn = fn;
    l->before_data = data;
}

void ev_set_fence(ev_loop *l, ev_fn keep, ev_hook fn, void *data)
{
    l->fence_keep = keep;
    l->fence_fn = fn;
    l->fence_data = data;
}

void ev_wake_in(ev_loop *l, int ms)
{
    if (l->wake_ms < 0 || ms < l->wake_ms) l->wake_ms = ms;
}

void ev_stop(ev_loop *l)
{
    l->stop = 1;
}

void ev_run(ev_loop *l)
{
    struct epoll_event evs[EV_BATCH];
    l->stop = 0;
    while (!l->stop) {
        if (l->before_fn) l->before_fn(l, l->before_data);
        int timeout = -1;
        if (l->timer_fn) {
            uint64_t now = ev_now_ms();
            timeout = now >= l->next_timer_ms ? 0 : (int)(l->next_timer_ms - now);
        }
        if (l->wake_ms >= 0 && (timeout < 0 || l->wake_ms < timeout)) timeout = l->wake_ms;
        l->wake_ms = -1;
        int n = epoll_wait(l->epfd, evs, EV_BATCH, timeout);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd >= l->nslots) continue;
            ev_slot *s = &l->slots[fd];
            uint32_t ev = evs[i].events;
            int fired = 0;
            if ((s->mask & EV_READ) && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && s->rfn) {
                if (l->fence_fn && s->rfn != l->fence_keep) l->fence_fn(l, l->fence_data);
                s->rfn(l, fd, s->data, EV_READ);
                fired = 1;
            }
            /* the read callback may have closed or re-registered fd */
            s = &l->slots[fd];
            if ((s->mask & EV_WRITE) && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && s->wfn) {
                if (l->fence_fn) l->fence_fn(l, l->fence_data);
                s->wfn(l, fd, s->data, EV_WRITE);
                fired = 1;
            }
            (void)fired;
        }
        if (l->fence_fn) l->fence_fn(l, l->fence_data);
        if (l->timer_fn && ev_now_ms() >= l->next_timer_ms) {
            l->next_timer_ms = ev_now_ms() + (uint64_t)l->period_ms;
            l->timer_fn(l, l->timer_data);
        }
    }
}
