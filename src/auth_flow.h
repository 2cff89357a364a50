/* What the credential kinds' files share (auth_flow.c: token requests and the chain;
 * auth_cli.c: the Azure CLI). Nothing else includes this. */
#ifndef ACR_AUTH_FLOW_H
#define ACR_AUTH_FLOW_H

#include "auth.h"
#include "jsonscan.h"

#define ACR_EXPIRED_ON_ARRIVAL \
  "the token had already expired when it arrived (its expiry is in the past: is the clock right?)"

/* Pushes an AuthenticationFailed acr.Error reading "<kind>: <msg>". */
void acr_auth_fail(lua_State *L, const char *kind, const char *msg);
/* Whether a scanned token is usable: a string of one line, not empty. */
int acr_auth_token_ok(const acr_json_want *w);
/* Runs az for a token (blocking): READY with it cached, or FAILED with an error pushed. */
acr_auth_step acr_auth_cli_fetch(lua_State *L, acr_credential *c, const acr_token_target *t);

#endif
