/* The operation's side of getting a token: the credential's answer taken in, a token
 * request that failed in transport sent again as an ARM request would be, and every
 * error of getting a token marked as such (err.during = "token"). */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "error.h"
#include "op_private.h"
#include "opstate.h"
#include "retry.h"

void acr_opi_fail_token(lua_State *L, int idx, acr_op *op)
{
  lua_pushliteral(L, "token");
  lua_setfield(L, -2, "during");
  acr_opi_fail(L, idx, op);
}

/* The back-off one operation waits out before its next token request holds the
 * client's others too: the endpoint that failed it would otherwise get their requests
 * at once, one after another (each from an operation released by the last answer). */
static void hold_tokens(acr_client *c, double until)
{
  if (until > c->token_hold_until)
    c->token_hold_until = until;
}

/* The credential's error at top: when it is a connection failure or a timeout that may
 * pass (the credential says so with err.retryable), the token request is sent again
 * with the client's retry policy, as an ARM request is, and within the bound of token
 * requests in a row, so the error seen at the end is the transport's own. */
static int retry_token(lua_State *L, acr_op *op)
{
  lua_getfield(L, -1, "code");
  const char *code = lua_tostring(L, -1);
  lua_getfield(L, -2, "retryable");
  int again = code && (!strcmp(code, "ConnectionFailed") || !strcmp(code, "Timeout")) &&
              lua_toboolean(L, -1) && op->token_attempt < op->client->retry.max_retries &&
              op->fetches < ACR_MAX_FETCHES;
  char what[64] = "";
  if (again)
    snprintf(what, sizeof what, "token endpoint: %s", code);
  lua_pop(L, 2);
  if (!again)
    return 0;
  op->token_attempt++;
  double wait = acr_retry_backoff(&op->client->retry, op->token_attempt, &op->client->seed);
  op->not_before = acr_now() + wait;
  hold_tokens(op->client, op->not_before);
  acr_opi_note_retry(op, op->token_attempt, wait, 0, what);
  lua_pop(L, 1);
  return 1;
}

/* The answer to a token request goes to the credential. A failed refresh is no failure
 * while the cached token is still valid. */
void acr_opi_feed_auth(lua_State *L, int idx, acr_op *op, const acr_auth_answer *a)
{
  op->awaiting_auth = 0;
  int cred = acr_opi_push_credential(L, idx);
  acr_token_target t = acr_opi_token_target(op);
  double delay = 0;
  acr_auth_outcome out = acr_credential_feed(L, cred, &t, a, &delay);
  if (out == ACR_AUTH_AGAIN) {
    op->not_before = acr_now() + delay;
    hold_tokens(op->client, op->not_before);
  }
  if (out == ACR_AUTH_OK) {
    op->client->token_hold_until = 0;
    op->just_fetched = 1;   /* used while valid, even inside its refresh window */
    op->token_attempt = 0;
  }
  if (out != ACR_AUTH_ERROR)
    return;
  if (acr_credential_valid_token(L, cred, t.scope)) {
    op->stale_ok = 1;
    op->token_attempt = 0;
    acr_credential_refresh_failed(L, cred);   /* the others use it too, not retry */
    return;
  }
  if (retry_token(L, op))
    return;
  acr_opi_fail_token(L, idx, op);
}
