/* A client's transfers: one libcurl multi handle and the easy handles (acr_http) that
 * run in it. The multi handle keeps the client's connections, so transfers share them:
 * HTTP/2 multiplexes many over one TLS connection, HTTP/1.1 keeps up to
 * max_connections alive. TLS sessions, DNS and cookies are shared by every handle. */
#ifndef ACR_POOL_H
#define ACR_POOL_H

#include "http.h"

struct pollfd;

typedef struct acr_pool acr_pool;

/* opt is copied into every handle; its share field is the pool's own. */
acr_pool *acr_pool_new(const acr_http_options *opt, long max_connections, char *err,
                       size_t errlen);
void acr_pool_free(acr_pool *p);   /* aborts whatever runs */

/* An idle handle (a new one when none is), or NULL when out of memory. */
acr_http *acr_pool_get(acr_pool *p, char *err, size_t errlen);
/* Back to idle; a handle still running is removed from the multi handle first. */
void acr_pool_put(acr_pool *p, acr_http *h);

/* Starts h's transfer, set up by acr_http_begin. 0 ok, -1 libcurl refused. */
int acr_pool_start(acr_pool *p, acr_http *h);
/* Lets the transfers progress: waits up to wait_ms (0: not at all) for one of them to
 * have something to do, then does it. 0 ok, -1 a libcurl failure. */
int acr_pool_run(acr_pool *p, long wait_ms);
/* The same for n pools at once (acr.drive): one poll() over their epoll sets, as long
 * as the soonest of wait_ms and each one's own timers allows, then each pool with
 * something to do does it. A NULL pool (a closed client's) is passed over. fds is the
 * caller's scratch of n entries. 0 ok, -1 a failure of poll or libcurl. */
int acr_pool_run_many(acr_pool *const *pools, struct pollfd *fds, int n, long wait_ms);
/* Whether libcurl has something to do without a socket event: its timer has come (a
 * transfer just started has it at 0), or a socket it asked for is one the epoll set
 * refused. */
int acr_pool_due(const acr_pool *p);
/* The next finished transfer and its CURLcode, or NULL. It is no longer running. */
acr_http *acr_pool_done(acr_pool *p, int *curl_code);

int acr_pool_running(const acr_pool *p);     /* transfers started and not yet taken */
long acr_pool_connections(const acr_pool *p); /* connections opened, over all handles */

#endif
