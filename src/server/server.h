/* The strata-server process: what src/bin/strata-server.c calls. */
#ifndef STRATA_SERVER_SERVER_H
#define STRATA_SERVER_SERVER_H

/* Opens the listeners and the engine per srv_cfg (config.h). Returns 0 or a
 * negative ERR_* with a message (err_msg()). */
int srv_start(void);
/* Runs the event loop until SHUTDOWN or srv_request_shutdown(). */
void srv_run(void);
/* Closes clients, commits and syncs, closes the engine. */
void srv_stop(void);
/* Async-signal-safe: asks the loop to stop (SIGTERM, SIGINT). */
void srv_request_shutdown(void);

#endif
