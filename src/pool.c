/* The transfers of a client over one libcurl multi handle (see pool.h). Handles are
 * reused, never freed before the pool: each keeps its options, and libcurl's cost of a
 * new easy handle is paid once per concurrent transfer, not once per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "pool.h"

enum { TAKEN = 0, IDLE, RUNNING };

struct acr_pool {
  CURLM *multi;
  CURLSH *share;
  acr_http_options opt;
  char *ca_file, *user_agent;   /* owned copies of opt's strings */
  acr_http **all;               /* every handle made, idle or not */
  int *state;                   /* of all[i]: IDLE, TAKEN (by a driver) or RUNNING */
  int n, cap;
  int running;
};

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

static int set_multi(CURLM *m, long max_connections)
{
  long max = max_connections > 0 ? max_connections : 1;
  return curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK ||
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
    p->opt = *opt;
    p->ca_file = dup_opt(opt->ca_file, &oom);
    p->user_agent = dup_opt(opt->user_agent, &oom);
    p->opt.ca_file = p->ca_file;
    p->opt.user_agent = p->user_agent;
    p->multi = curl_multi_init();
    p->share = new_share();
    p->opt.share = p->share;
  }
  if (oom || !p->multi || !p->share || set_multi(p->multi, max_connections)) {
    set_err(err, errlen, "out of memory");
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

int acr_pool_run(acr_pool *p, long wait_ms)
{
  int still = 0;
  if (wait_ms > 0 && curl_multi_poll(p->multi, NULL, 0, (int)wait_ms, NULL) != CURLM_OK)
    return -1;
  return curl_multi_perform(p->multi, &still) == CURLM_OK ? 0 : -1;
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
