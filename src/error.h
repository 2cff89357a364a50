/* acr.Error: the structured run-time error every failing call returns as `nil, err`. */
#ifndef ACR_ERROR_H
#define ACR_ERROR_H

#include "compat.h"

#define ACR_ERROR_MT "acr.Error"

int acr_error_open(lua_State *L);

/* Pushes a new acr.Error with code and message (status 0 = none). */
void acr_error_push(lua_State *L, const char *code, const char *message, long status);

/* Pushes an acr.Error for an HTTP error response: code/message/details from ARM's
 * `{"error":{…}}` in the decoded body at body_idx (0 = none); from another shape
 * (OAuth's `{"error":"…","error_description":…}`, `{"message":…}`) or from the raw body
 * text at text_idx (0 = none) when it is not JSON, the service's words, bounded and made
 * safe to print (errtext.h); request ids from the headers table at hdr_idx (0 = none). */
void acr_error_push_response(lua_State *L, long status, int hdr_idx, int body_idx, int text_idx);

/* Sets err.retryable / err.request_id on the error at idx. */
void acr_error_set_retryable(lua_State *L, int idx, int retryable);
void acr_error_set_ids(lua_State *L, int idx, int hdr_idx);

/* `return nil, err` for an error pushed just before. */
int acr_error_return(lua_State *L);

#endif
