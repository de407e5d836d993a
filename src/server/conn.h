/* Connections: accepting clients, reading their sockets, their reply
 * buffers and writing them out (internal to src/server/). */
#ifndef STRATA_SERVER_CONN_H
#define STRATA_SERVER_CONN_H

#include <stddef.h>

#include "server/srv.h"

/* The current end of c's replies; srv__truncate_replies drops what follows it. */
srv__reply_mark srv__mark_replies(const srv_client *c);
void srv__truncate_replies(srv_client *c, const srv__reply_mark *m);
/* Starts (on=1) or stops reading c's socket. */
void srv__set_read(srv_client *c, int on);
/* Reads a paused client again (unless it is closing or stalled) and runs its input. */
void srv__resume_client(srv_client *c);
/* Writes the replies of every client with pending output; arms EV_WRITE for the rest. */
void srv__flush_pending(void);
/* Applies client-output-buffer-limit to c: marks it CLOSE_ASAP when past a limit. */
void srv__check_output_limits(srv_client *c);
/* Installs the loop's fence that closes pipeline groups spanning clients. */
void srv__conn_loop_init(ev_loop *l);
/* Listener callback: accepts connections and registers them with the loop. */
void srv__accept_handler(ev_loop *l, int lfd, void *data, int mask);
/* Frees c's queued MULTI commands. */
void srv__free_queued(srv_client *c);

#endif
