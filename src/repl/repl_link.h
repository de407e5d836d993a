/* The replica side of replication: the link to the primary (connect,
 * handshake, PSYNC), the receipt of a full sync and the application of the
 * change-log stream, ACKs. Internal to src/repl; loop thread only. */
#ifndef STRATA_REPL_LINK_H
#define STRATA_REPL_LINK_H

#include "server/cmd.h"
#include "util/sbuf.h"

/* Starts following repl__g.mhost:mport (connects before the loop's next
 * sleep, repl__link_connect_due). */
void repl__link_start(void);
/* Closes the link (a partial full sync is deleted); the state is kept. */
void repl__link_close(void);
/* repl__link_close and no reconnection (promotion, shutdown). */
void repl__link_stop(void);
/* Starts connecting when an attempt is due (a new link, or a second after
 * a failure); 1 when it did. Before each sleep and in the cron, so that a
 * new link does not wait for the next cron. */
int repl__link_connect_due(void);
/* Cron: connects, times out a silent primary, sends the ACK each second. */
void repl__link_cron(void);
/* 1 while a full sync is being received. */
int repl__link_in_transfer(void);

/* ROLE of a replica; INFO replication and Prometheus parts of this side. */
void repl__link_role(srv_client *c);
void repl__link_info(sbuf *o);
void repl__link_metrics(sbuf *o);

#endif
