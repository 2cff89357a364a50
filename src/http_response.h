/* What the handle's setup (http.c) and the request in progress (http_request.c) use of
 * the response capture (http_response.c). */
#ifndef ACR_HTTP_RESPONSE_H
#define ACR_HTTP_RESPONSE_H

#include <stddef.h>

#include "http.h"

/* libcurl's CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION; ud is the acr_http. They
 * fill h->res, and report an over-large or failed append in h->too_large and h->oom. */
size_t acr_http_write_cb(char *p, size_t size, size_t nmemb, void *ud);
size_t acr_http_header_cb(char *p, size_t size, size_t nmemb, void *ud);

/* Drops the headers kept so far (the response's array stays for reuse). */
void acr_http_headers_clear(acr_http_response *res);

#endif
