/* Long-running-operation rules: which header to poll, what is terminal, where the
 * result comes from. Pure decisions; operation.c carries them out. */
#ifndef ACR_LRO_H
#define ACR_LRO_H

typedef enum acr_poll_via {
  ACR_POLL_NONE = 0,
  ACR_POLL_ASYNC,        /* Azure-AsyncOperation: a status resource {"status": …} */
  ACR_POLL_LOCATION,     /* Location: 202 while running, any other 2xx when done */
  ACR_POLL_BODY          /* the resource's own properties.provisioningState */
} acr_poll_via;

typedef enum acr_final_via {
  ACR_FINAL_DEFAULT = 0,
  ACR_FINAL_ASYNC,       /* "azure-async-operation" */
  ACR_FINAL_LOCATION,    /* "location" */
  ACR_FINAL_ORIGINAL     /* "original-uri" */
} acr_final_via;

typedef enum acr_lro_state {
  ACR_LRO_RUNNING = 0,
  ACR_LRO_SUCCEEDED,
  ACR_LRO_FAILED,
  ACR_LRO_CANCELED
} acr_lro_state;

/* Terminal states compared case-insensitively; anything else is still running. */
acr_lro_state acr_lro_parse_state(const char *s);

/* The mechanism for an initial 2xx response. */
acr_poll_via acr_lro_choose(const char *method, const char *async_url, const char *location);

/* -1 for an unknown final-state-via name. */
int acr_lro_parse_final_via(const char *s);

/* What to GET once the poll says Succeeded:
 * 0 none (the poll response is the result), 1 the original URL, 2 the Location URL. */
int acr_lro_final_get(const char *method, acr_poll_via via, acr_final_via fsv, int have_location);

#endif
