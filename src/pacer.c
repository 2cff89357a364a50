/* The pacer (see pacer.h). ARM's bucket sizes and refill rates are public (reads
 * 250 + 25/s, writes and deletes 200 + 10/s per subscription); the headers say where
 * a bucket stands now, the rates how fast it comes back. Until a header is heard the
 * bucket is unknown and nothing is held back.
 * A bucket may be smaller than ARM's public size (a tenant's limit, say): a 429 shows
 * it, and the size becomes the most a header has said is left, plus the request it
 * counted. Without that, every pause would be followed by as many requests as the
 * public size allows, and all but the real bucket's worth would come back 429, round
 * after round. A 429 of another limit, with headers that said plenty was left, leaves
 * the size about as it was. */
#include <string.h>

#include "pacer.h"

/* Keep one token in hand: other clients of the subscription take from it too, and
 * the estimate is only as fresh as the last answer. */
#define RESERVE 1.0
#define SLOW_START 0.02   /* s between looks while the first answer of a kind is awaited */
#define PROBE_MAX 2.0     /* s: a first request unanswered for longer holds nothing back */
/* s: requests counted out with no send or answer of their kind for this long were
 * abandoned (handed out, never fed): they no longer count */
#define OUT_STALE 120.0

void acr_pacer_init(acr_pacer *p)
{
  static const double cap[ACR_KINDS] = {250, 200, 200}, rate[ACR_KINDS] = {25, 10, 10};
  memset(p, 0, sizeof *p);
  for (int k = 0; k < ACR_KINDS; k++) {
    p->kind[k].capacity = cap[k];
    p->kind[k].refill = rate[k];
    p->kind[k].peak = -1;
  }
}

int acr_pacer_kind(const char *method)
{
  if (!strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS"))
    return ACR_KIND_READS;
  return !strcmp(method, "DELETE") ? ACR_KIND_DELETES : ACR_KIND_WRITES;
}

/* Tokens the bucket should hold at now, less those the requests out will take. */
static double available(const acr_bucket *b, int out, double now)
{
  double t = b->tokens + b->refill * (now - b->at);
  if (t > b->capacity)
    t = b->capacity;
  return t - out;
}

/* The wait of a request of bucket b with `out` requests of its kind out before it;
 * probe_at: when the first request of an unknown bucket went. */
static double wait_for(const acr_bucket *b, int out, double probe_at, double now)
{
  double wait = b->blocked_until > now ? b->blocked_until - now : 0;
  /* the bucket is unknown: one request first, to hear where it is (not for ever: an
   * abandoned request is never answered) */
  if (b->at == 0 && !b->silent && out > 0 && now - probe_at < PROBE_MAX && wait < SLOW_START)
    wait = SLOW_START;
  if (b->at > 0) {
    double lack = RESERVE + 1 - available(b, out, now);
    if (lack > 0 && lack / b->refill > wait)
      wait = lack / b->refill;
  }
  return wait;
}

/* The requests of b's kind out now, less `own` (one of them, the caller's): none once
 * they are stale (see OUT_STALE). */
static int out_now(const acr_bucket *b, int own, double now)
{
  return now - b->active_at > OUT_STALE ? 0 : b->out - (own ? 1 : 0);
}

double acr_pacer_wait(const acr_pacer *p, const char *method, int own, double now)
{
  const acr_bucket *b = &p->kind[acr_pacer_kind(method)];
  int out = out_now(b, own, now);
  return wait_for(b, out, b->probe_at, now);
}

double acr_pacer_fill_time(const acr_pacer *p, int kind)
{
  const acr_bucket *b = &p->kind[kind];
  double t = (b->capacity - RESERVE - 1) / b->refill;
  return t > 0 ? t : 0;
}

double acr_pacer_wait_more(const acr_pacer *p, int kind, int more, double now)
{
  const acr_bucket *b = &p->kind[kind];
  int out = out_now(b, 0, now);
  /* the first of `more` into an unknown bucket would be its probe, sent now */
  double probe_at = b->at == 0 && out == 0 && more > 0 ? now : b->probe_at;
  return wait_for(b, out + more, probe_at, now);
}

void acr_pacer_sent(acr_pacer *p, const char *method, double now)
{
  acr_bucket *b = &p->kind[acr_pacer_kind(method)];
  if (b->at == 0 && b->out == 0)
    b->probe_at = now;
  if (now - b->active_at > OUT_STALE)
    b->out = 0;
  b->out++;
  b->active_at = now;
}

void acr_pacer_answered(acr_pacer *p, const char *method, int sent, long status,
                        double remaining, double retry_after, double now)
{
  acr_bucket *b = &p->kind[acr_pacer_kind(method)];
  if (sent && b->out > 0)
    b->out--;
  b->active_at = now;
  if (remaining < 0 && status != 429 && status != 0 && b->at == 0)
    b->silent = 1;   /* not ARM, or the headers are stripped: no slow start */
  if (remaining >= 0) {
    if (remaining > b->peak)
      b->peak = remaining;
    /* the header counts this request already taken */
    b->tokens = remaining;
    b->at = now;
    if (remaining + 1 > b->capacity)
      b->capacity = remaining + 1;   /* a bigger bucket than ARM's public default */
  }
  if (status == 429) {
    p->throttled++;
    /* the bucket is no bigger than the most it has had; one that others of the
     * subscription were draining when this client began is thought smaller, and
     * grows back as soon as a header says more is left */
    if (b->peak >= 0 && b->peak + 1 < b->capacity)
      b->capacity = b->peak + 1 > RESERVE + 1 ? b->peak + 1 : RESERVE + 1;
    if (b->at == 0 || remaining < 0) {
      b->tokens = 0;
      b->at = now;
    }
    if (retry_after >= 0 && now + retry_after > b->blocked_until)
      b->blocked_until = now + retry_after;
  }
}
