/* The libcurl driver: one reusable easy handle per client, so a workload runs over
 * one kept-alive connection with one TLS session. It knows nothing of ARM: it sends
 * what it is given and reports what came back. */
#ifndef ACR_HTTP_H
#define ACR_HTTP_H

#include "buf.h"

/* Transport failures, before or instead of an HTTP status. */
typedef enum acr_transport_error {
  ACR_TE_NONE = 0,
  ACR_TE_TIMEOUT,        /* connect or whole-request timeout */
  ACR_TE_CONNECT,        /* could not resolve/connect, or the peer dropped the connection */
  ACR_TE_TLS,            /* handshake or certificate verification failed */
  ACR_TE_TOO_LARGE,      /* response body over the limit */
  ACR_TE_OTHER
} acr_transport_error;

typedef struct acr_header {
  char *name;            /* lower-cased */
  char *value;           /* surrounding white space trimmed */
} acr_header;

typedef struct acr_http_response {
  long status;                   /* 0 when transport != ACR_TE_NONE */
  acr_header *headers;           /* of the last response (interim 1xx are dropped) */
  size_t nheaders, cap_headers;
  acr_buf body;
  acr_transport_error transport;
  char error[256];               /* libcurl's message for a transport error */
} acr_http_response;

typedef struct acr_http_options {
  long connect_timeout_ms;       /* 0: libcurl's default */
  long timeout_ms;               /* whole request; 0: none */
  const char *ca_file;           /* NULL: the system store. Verification is always on. */
  const char *user_agent;
  size_t max_body;               /* bytes; 0: 64 MiB */
  void *share;                   /* a CURLSH shared by a client's handles, or NULL */
} acr_http_options;

typedef struct acr_http acr_http;  /* opaque: owns the CURL easy handle */

/* Once per process, thread-safe after the first call (curl_global_init behind a guard). */
int acr_http_global_init(void);

acr_http *acr_http_new(const acr_http_options *opt, char *err, size_t errlen);
void acr_http_free(acr_http *h);

/* Send one request and wait for the whole response.
 * method: an upper-case token ("GET", "HEAD", "OPTIONS", ...); HEAD reads no body.
 * headers: NULL-terminated array of "Name: value" lines added to the fixed ones
 *   (User-Agent, Accept: application/json); body/body_len: may be NULL/0.
 *   A PUT/PATCH/POST with a body gets Content-Type: application/json unless given.
 * timeout_ms: > 0 overrides the handle's whole-request timeout for this call.
 * Returns 0 when a status arrived, -1 on a transport error (res->transport set).
 * res is reset first; the caller frees it with acr_http_response_free. */
int acr_http_perform(acr_http *h, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t body_len,
                     long timeout_ms, acr_http_response *res);

/* The two halves of acr_http_perform, for a driver that runs transfers in a multi
 * handle: begin sets the request on the handle (0, or -1 with res failed); the caller
 * runs it (curl_multi_add_handle on acr_http_easy(h)) and hands its CURLcode to end,
 * which fills res as perform does. res must stay put in between. */
int acr_http_begin(acr_http *h, const char *method, const char *url,
                   const char *const *headers, const char *body, size_t body_len,
                   long timeout_ms, acr_http_response *res);
int acr_http_end(acr_http *h, int curl_code);
void *acr_http_easy(acr_http *h);          /* the CURL easy handle; CURLOPT_PRIVATE is h */
void acr_http_set_user(acr_http *h, void *user);
void *acr_http_user(const acr_http *h);

/* Whether the next acr_http_perform must open a new connection. libcurl re-sends a
 * request, silently, when a reused connection dies before any answer; for a request
 * that must not reach the server twice (the caller's retry policy would not repeat
 * it), a fresh connection leaves nothing for libcurl to re-send, and the failure is
 * reported instead. */
void acr_http_fresh_connect(acr_http *h, int fresh);

/* Value of a response header (name compared case-insensitively), or NULL. */
const char *acr_http_header(const acr_http_response *res, const char *name);

void acr_http_response_init(acr_http_response *res);
void acr_http_response_free(acr_http_response *res);

/* TCP connections this handle has opened (for connection-reuse checks). */
long acr_http_connections(const acr_http *h);

/* "libcurl/7.88.1" for the User-Agent. */
const char *acr_http_version(void);

#endif
