/* The transfers of a client over one libcurl multi handle (see pool.h). Handles are
 * reused, never freed before the pool: each keeps its options, and libcurl's cost of a
 * new easy handle is paid once per concurrent transfer, not once per request.
 *
 * The multi handle is run by events (curl_multi_socket_action), not by
 * curl_multi_perform: perform visits every transfer on each call and, not knowing
 * which sockets are ready, polls each one's socket again. With a hundred transfers
 * out, that walk was most of the client's CPU. Here an epoll set holds the sockets
 * libcurl asks to watch, and only a socket that is ready, or libcurl's timer, makes
 * libcurl do work. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "pool.h"

enum { TAKEN = 0, IDLE, RUNNING };

#define MAX_EVENTS 64
#define MAX_UNWATCHED 16
#define UNWATCHED_WAIT_MS 10   /* how often a socket the epoll set refused is looked at */

struct acr_pool {
  CURLM *multi;
  CURLSH *share;
  acr_http_options opt;
  char *ca_file, *user_agent;   /* owned copies of opt's strings */
  acr_http **all;               /* every handle made, idle or not */
  int *state;                   /* of all[i]: IDLE, TAKEN (by a driver) or RUNNING */
  int n, cap;
  int running;
  int epfd;                     /* the sockets libcurl wants watched */
  double timer_at;              /* when libcurl wants its timeout action (ms); <0: never */
  curl_socket_t unwatched[MAX_UNWATCHED];   /* sockets the epoll set refused */
  int nunwatched;
};

static double now_ms(void)
{
  return acr_clock() * 1e3;
}

static void forget_unwatched(acr_pool *p, curl_socket_t s)
{
  for (int i = 0; i < p->nunwatched; i++)
    if (p->unwatched[i] == s)
      p->unwatched[i--] = p->unwatched[--p->nunwatched];
}

static void add_unwatched(acr_pool *p, curl_socket_t s)
{
  forget_unwatched(p, s);
  if (p->nunwatched < MAX_UNWATCHED)
    p->unwatched[p->nunwatched++] = s;
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set as libcurl wants it. socketp is
 * non-NULL once the socket is in the set (curl_multi_assign). */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
  (void)easy;
  acr_pool *p = userp;
  if (what == CURL_POLL_REMOVE) {
    if (socketp)
      epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);   /* fails only if already closed */
    curl_multi_assign(p->multi, s, NULL);
    forget_unwatched(p, s);
    return 0;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = s;
  int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(p->epfd, op, s, &ev) != 0) {
    /* the set and libcurl's view disagree (a socket number reused): take libcurl's */
    op = errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(p->epfd, op, s, &ev) != 0) {
      /* Out of epoll watches (ENOMEM, ENOSPC). Returning -1 would abort every
       * transfer of the multi handle; this socket is looked at every few ms instead
       * (and if even that list is full, libcurl's timeout still ends its transfer). */
      add_unwatched(p, s);
      return 0;
    }
  }
  if (!socketp)
    curl_multi_assign(p->multi, s, p);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: libcurl's single timeout, run by acr_pool_run. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
  (void)multi;
  acr_pool *p = userp;
  p->timer_at = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
  return 0;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static char *dup_opt(const char *s, int *oom)
{
  char *d = s ? strdup(s) : NULL;
  if (s && !d)
    *oom = 1;
  return d;
}

/* One thread drives a pool, so the share needs no lock callbacks. */
static CURLSH *new_share(void)
{
  CURLSH *sh = curl_share_init();
  if (sh && (curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
             curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
             curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK)) {
    curl_share_cleanup(sh);
    return NULL;
  }
  return sh;
}

static int set_multi(acr_pool *p, long max_connections)
{
  CURLM *m = p->multi;
  long max = max_connections > 0 ? max_connections : 1;
  return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_SOCKETDATA, p) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_TIMERDATA, p) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, max) != CURLM_OK ||
         curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, max) != CURLM_OK;
}

acr_pool *acr_pool_new(const acr_http_options *opt, long max_connections, char *err,
                       size_t errlen)
{
  if (acr_http_global_init() != 0) {
    set_err(err, errlen, "libcurl global initialisation failed");
    return NULL;
  }
  acr_pool *p = calloc(1, sizeof *p);
  int oom = !p;
  if (p) {
    p->timer_at = -1;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);   /* not inherited by az or a helper */
    p->opt = *opt;
    p->ca_file = dup_opt(opt->ca_file, &oom);
    p->user_agent = dup_opt(opt->user_agent, &oom);
    p->opt.ca_file = p->ca_file;
    p->opt.user_agent = p->user_agent;
    p->multi = curl_multi_init();
    p->share = new_share();
    p->opt.share = p->share;
  }
  if (oom || !p->multi || !p->share || p->epfd < 0 || set_multi(p, max_connections)) {
    set_err(err, errlen, p && p->epfd < 0 ? "no epoll instance" : "out of memory");
    acr_pool_free(p);
    return NULL;
  }
  return p;
}

void acr_pool_free(acr_pool *p)
{
  if (!p)
    return;
  for (int i = 0; i < p->n; i++) {
    if (p->state[i] == RUNNING)
      curl_multi_remove_handle(p->multi, acr_http_easy(p->all[i]));
    acr_http_free(p->all[i]);   /* before the share they use */
  }
  if (p->multi)
    curl_multi_cleanup(p->multi);
  if (p->share)
    curl_share_cleanup(p->share);
  if (p->epfd >= 0)
    close(p->epfd);   /* after the multi handle, whose cleanup may still remove sockets */
  free(p->all);
  free(p->state);
  free(p->ca_file);
  free(p->user_agent);
  free(p);
}

static int grow(acr_pool *p)
{
  int cap = p->cap ? p->cap * 2 : 8;
  acr_http **all = realloc(p->all, (size_t)cap * sizeof *all);
  if (!all)
    return -1;
  p->all = all;
  int *state = realloc(p->state, (size_t)cap * sizeof *state);
  if (!state)
    return -1;
  p->state = state;
  p->cap = cap;
  return 0;
}

static int index_of(const acr_pool *p, const acr_http *h)
{
  for (int i = 0; i < p->n; i++)
    if (p->all[i] == h)
      return i;
  return -1;
}

acr_http *acr_pool_get(acr_pool *p, char *err, size_t errlen)
{
  for (int i = 0; i < p->n; i++) {
    if (p->state[i] == IDLE) {
      p->state[i] = TAKEN;
      return p->all[i];
    }
  }
  if (p->n == p->cap && grow(p) != 0) {
    set_err(err, errlen, "out of memory");
    return NULL;
  }
  acr_http *h = acr_http_new(&p->opt, err, errlen);
  if (!h)
    return NULL;
  p->all[p->n] = h;
  p->state[p->n++] = TAKEN;
  return h;
}

void acr_pool_put(acr_pool *p, acr_http *h)
{
  int i = index_of(p, h);
  if (i < 0 || p->state[i] == IDLE)
    return;
  if (p->state[i] == RUNNING) {
    curl_multi_remove_handle(p->multi, acr_http_easy(h));
    p->running--;
  }
  acr_http_set_user(h, NULL);
  p->state[i] = IDLE;
}

int acr_pool_start(acr_pool *p, acr_http *h)
{
  int i = index_of(p, h);
  if (i < 0 || p->state[i] != TAKEN || curl_multi_add_handle(p->multi, acr_http_easy(h)) != CURLM_OK)
    return -1;
  p->state[i] = RUNNING;
  p->running++;
  return 0;
}

/* The wait for epoll: wait_ms, shortened to libcurl's timer. */
static int wait_for(const acr_pool *p, long wait_ms)
{
  if (p->nunwatched > 0 && wait_ms > UNWATCHED_WAIT_MS)
    wait_ms = UNWATCHED_WAIT_MS;
  if (p->timer_at < 0)
    return (int)wait_ms;
  double left = ceil(p->timer_at - now_ms());
  return left <= 0 ? 0 : left < (double)wait_ms ? (int)left : (int)wait_ms;
}

/* An error or hang-up is handed on as readable and writable, so libcurl finds it on
 * the socket itself: CURL_CSELECT_ERR alone would fail the transfer outright, and the
 * event may be a stale one for a socket number closed and reused within this batch. */
static int ready_mask(uint32_t events)
{
  if (events & (EPOLLERR | EPOLLHUP))
    return CURL_CSELECT_IN | CURL_CSELECT_OUT;
  return (events & EPOLLIN ? CURL_CSELECT_IN : 0) | (events & EPOLLOUT ? CURL_CSELECT_OUT : 0);
}

int acr_pool_run(acr_pool *p, long wait_ms)
{
  struct epoll_event ev[MAX_EVENTS];
  int still = 0, rc = 0;
  int n = epoll_wait(p->epfd, ev, MAX_EVENTS, wait_for(p, wait_ms < 0 ? 0 : wait_ms));
  if (n < 0)
    return errno == EINTR ? 0 : -1;
  /* a socket that an earlier action here closed is unknown to libcurl: it ignores it */
  for (int i = 0; i < n; i++)
    if (curl_multi_socket_action(p->multi, ev[i].data.fd, ready_mask(ev[i].events), &still) !=
        CURLM_OK)
      rc = -1;
  /* no readiness known for these: libcurl looks at the socket itself (a copy: an
   * action may change the list) */
  curl_socket_t unwatched[MAX_UNWATCHED];
  int nu = p->nunwatched;
  memcpy(unwatched, p->unwatched, (size_t)nu * sizeof *unwatched);
  for (int i = 0; i < nu; i++)
    if (curl_multi_socket_action(p->multi, unwatched[i], 0, &still) != CURLM_OK)
      rc = -1;
  if (p->timer_at >= 0 && p->timer_at <= now_ms()) {
    /* A timeout action makes libcurl give its next timeout again, even one it gave
     * before (it forgets the last it gave), and gives none when none is left. */
    p->timer_at = -1;
    if (curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &still) != CURLM_OK)
      rc = -1;
  }
  return rc;
}

int acr_pool_due(const acr_pool *p)
{
  return p->nunwatched > 0 || (p->timer_at >= 0 && p->timer_at <= now_ms());
}

int acr_pool_run_many(acr_pool *const *pools, struct pollfd *fds, int n, long wait_ms)
{
  int ms = wait_ms < 0 ? 0 : (int)wait_ms;
  for (int i = 0; i < n; i++) {
    fds[i].fd = pools[i] ? pools[i]->epfd : -1;   /* poll() passes over a negative fd */
    fds[i].events = POLLIN;   /* an epoll fd is readable while its set has events */
    fds[i].revents = 0;
    if (pools[i])
      ms = wait_for(pools[i], ms);
  }
  if (poll(fds, (nfds_t)n, ms) < 0 && errno != EINTR)
    return -1;
  int rc = 0;
  for (int i = 0; i < n; i++)
    if (pools[i] && (fds[i].revents || acr_pool_due(pools[i])) && acr_pool_run(pools[i], 0) != 0)
      rc = -1;
  return rc;
}

acr_http *acr_pool_done(acr_pool *p, int *curl_code)
{
  int left = 0;
  CURLMsg *m;
  while ((m = curl_multi_info_read(p->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    acr_http *h = NULL;
    CURL *easy = m->easy_handle;
    *curl_code = (int)m->data.result;   /* m is invalid after the remove below */
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
    curl_multi_remove_handle(p->multi, easy);
    int i = index_of(p, h);
    if (i >= 0 && p->state[i] == RUNNING) {
      p->state[i] = TAKEN;
      p->running--;
    }
    return h;
  }
  return NULL;
}

int acr_pool_running(const acr_pool *p)
{
  return p->running;
}

long acr_pool_connections(const acr_pool *p)
{
  long n = 0;
  for (int i = 0; p && i < p->n; i++)
    n += acr_http_connections(p->all[i]);
  return n;
}
