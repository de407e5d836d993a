/* Command dispatch: parsing a client's input into commands, checks before
 * a command runs, running it, committing its write batch, WATCH, slowlog
 * and the durable point (internal to src/server/). */
#ifndef STRATA_SERVER_DISPATCH_H
#define STRATA_SERVER_DISPATCH_H

#include "server/srv.h"

/* Runs the complete commands in c's query buffer, until the buffer is empty
 * or the client must stop (paused, blocked, closing, output backpressure). */
void srv__process_input(srv_client *c);
/* The same for a client's read handler: a pipeline group may stay open for
 * the commands of the next clients read in this batch of events. */
void srv__process_input_open(srv_client *c);
/* Commits the open group if c has commands in it (before c is freed). */
void srv__group_leave(srv_client *c);
/* Makes l close the group before every event handler but client_read and
 * after each batch of events. */
void srv__group_fence_install(ev_loop *l, ev_fn client_read);
/* Makes the writes committed so far as durable as appendfsync promises
 * (one fsync or one write to the OS); called before any reply is written. */
void srv__durable_point(void);
/* The WAL error that refuses writes (Redis's MISCONF), 0 if none: a failed
 * hand-over of the WAL to the OS, or (everysec) a failed periodic fsync. */
int srv__disk_error(void);
/* Retries a failed WAL hand-over (cron: once per tick while it fails). */
void srv__retry_wal(void);
/* Command filter: MISCONF for writes and PING while srv__disk_error(). */
const char *srv__disk_filter(srv_client *c, const cmd_def *d);
#endif
