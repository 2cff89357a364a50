/* The handle's state, shared by its setup (http.c), the capture of its responses
 * (http_response.c) and the request in progress (http_request.c). Nothing else includes
 * this. */
#ifndef ACR_HTTP_PRIVATE_H
#define ACR_HTTP_PRIVATE_H

#include <curl/curl.h>

#include "http.h"

/* A server may send any number of header lines; cap them as we cap the body. */
#define MAX_HEADERS 1000

struct acr_http {
  CURL *curl;
  struct curl_slist *fixed;   /* Accept, Expect: — the head is Accept (see link_fixed) */
  long timeout_ms;
  size_t max_body;
  long connections;
  int fresh;                   /* the next request opens a new connection */
  void *user;                  /* the driver's, for a transfer found through a multi handle */
  /* State of the transfer in progress, for the callbacks and acr_http_end. */
  acr_http_response *res;
  struct curl_slist *extra, *tail;   /* this request's header lines; tail links the fixed */
  int too_large;               /* 1: the body, 2: the header count */
  int oom;
  char errbuf[CURL_ERROR_SIZE];
};

/* curl_easy_setopt(c, o, v) unless an earlier one failed: a run of options keeps its
 * first failure in rc (c and rc are the caller's locals). */
#define SET(o, v) \
  do { \
    if (rc == CURLE_OK) \
      rc = curl_easy_setopt(c, o, v); \
  } while (0)

/* ASCII only: header names must not depend on the locale. */
static inline char ascii_lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

#endif
