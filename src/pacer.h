/* Pacing by ARM's rate limits. ARM keeps a token bucket per subscription and kind of
 * request (reads, writes, deletes) and says what is left in
 * x-ms-ratelimit-remaining-*-<kind>; an empty bucket answers 429 with Retry-After.
 * The pacer keeps an estimate of each bucket from those headers and holds a request
 * back until its bucket should have a token for it, so a bulk job runs at the
 * bucket's rate instead of into 429s. One pacer per client: all its operations. */
#ifndef ACR_PACER_H
#define ACR_PACER_H

enum { ACR_KIND_READS, ACR_KIND_WRITES, ACR_KIND_DELETES, ACR_KINDS };

typedef struct acr_bucket {
  double tokens;        /* estimated tokens at `at`, after the requests answered */
  double at;            /* monotonic time of that estimate; 0: nothing heard yet */
  double capacity;      /* the most it can hold: ARM's public size for the kind, more
                         * when a header says so, less when a 429 shows it (pacer.c) */
  double peak;          /* the most a header has said is left (-1: none yet) */
  double refill;        /* tokens per second */
  double blocked_until; /* a 429's Retry-After: nothing of this kind before then */
  int out;              /* requests of this kind sent and not answered */
  double probe_at;      /* when the first request of an unknown bucket went */
  double active_at;     /* the last send or answer of the kind */
  int silent;           /* answers carry no header: nothing to pace by */
} acr_bucket;

typedef struct acr_pacer {
  acr_bucket kind[ACR_KINDS];
  long throttled;       /* 429s seen */
} acr_pacer;

void acr_pacer_init(acr_pacer *p);
int acr_pacer_kind(const char *method);   /* ACR_KIND_* for an HTTP method */

/* Seconds before a request of this method may go (0: now). own: the request is one
 * acr_pacer_sent already counts (handed out before and not answered yet). */
double acr_pacer_wait(const acr_pacer *p, const char *method, int own, double now);
/* The same for a request of a kind (ACR_KIND_*) not counted yet, were `more` others of
 * the kind sent first: how a driver finds, in one look, which of its operations may go. */
double acr_pacer_wait_more(const acr_pacer *p, int kind, int more, double now);
void acr_pacer_sent(acr_pacer *p, const char *method, double now);
/* Seconds a bucket of this kind takes to refill from where a request may go to full:
 * the longest a driver may let requests gather and still send them all at once. */
double acr_pacer_fill_time(const acr_pacer *p, int kind);

/* The answer to a request of this method: remaining is the smallest
 * x-ms-ratelimit-remaining-*-<kind> value (< 0: none), retry_after a 429's wait
 * (< 0: none). sent says whether acr_pacer_sent was called for it. */
void acr_pacer_answered(acr_pacer *p, const char *method, int sent, long status,
                        double remaining, double retry_after, double now);

#endif
