/* What the handle's setup (http.c) uses of the request in progress (http_request.c). */
#ifndef ACR_HTTP_REQUEST_H
#define ACR_HTTP_REQUEST_H

#include <curl/curl.h>

/* Cleanses every line of l, then frees the list. */
void acr_http_slist_wipe(struct curl_slist *l);

#endif
