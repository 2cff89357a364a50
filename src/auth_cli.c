/* The Azure CLI credential: `az account get-access-token`, run without a shell and
 * with a timeout; its JSON read in C, as a token response is. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "auth_flow.h"
#include "jsonscan.h"
#include "subprocess.h"

/* expiresOn is local time "YYYY-MM-DD HH:MM:SS[.ffffff]"; newer CLIs add expires_on. */
static double cli_expiry(double expires_on, const acr_buf *expires_at)
{
  if (expires_on > 0)
    return expires_on;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (!expires_at->data || sscanf(expires_at->data, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon,
                                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return (double)mktime(&tm);
}

/* az's JSON, read in C as a token response is: 0, or -1 out of memory, -2 no usable
 * token, -3 expired, -4 not JSON. */
static int cli_token(acr_credential *c, const acr_token_target *t, const acr_buf *out)
{
  acr_buf tok = ACR_BUF_INIT, at = ACR_BUF_INIT;
  double on = -1;
  acr_json_want w[] = {{"accessToken", &tok, NULL, ACR_JSON_ABSENT},
                       {"expires_on", NULL, &on, ACR_JSON_ABSENT},
                       {"expiresOn", &at, NULL, ACR_JSON_ABSENT}};
  int rc = acr_json_scan(out->data, out->len, w, 3);
  if (rc == 1) {
    double exp = cli_expiry(on, &at);
    rc = acr_auth_token_ok(&w[0])
         ? acr_credential_cache(c, t->scope, tok.data, tok.len, exp > 0 ? exp : (double)time(NULL) + 300)
         : -2;
  } else {
    rc = rc == -2 ? -1 : rc == 0 ? -2 : -4;
  }
  acr_buf_wipe(&tok);
  acr_buf_free(&at);
  return rc;
}

/* The first line of az's complaint, as its message. */
static void cli_failure(lua_State *L, acr_run_status st, int code, acr_buf *errout,
                        const char *err, double timeout)
{
  char msg[512];
  if (st == ACR_RUN_NOT_FOUND)
    snprintf(msg, sizeof msg, "the Azure CLI (az) was not found on PATH");
  else if (st == ACR_RUN_TIMEOUT)
    snprintf(msg, sizeof msg, "az did not answer within %g s", timeout);
  else if (st == ACR_RUN_ERROR)
    snprintf(msg, sizeof msg, "az could not be run: %s", err);
  else {
    size_t n = errout->len ? strcspn(errout->data, "\n") : 0;
    snprintf(msg, sizeof msg, "az exited with %d%s%.*s", code, n ? ": " : "", (int)(n > 300 ? 300 : n),
             n ? errout->data : "");
  }
  acr_auth_fail(L, "Azure CLI", msg);
}

acr_auth_step acr_auth_cli_fetch(lua_State *L, acr_credential *c, const acr_token_target *t)
{
  const char *argv[10] = {c->az_path, "account", "get-access-token", "--output", "json",
                          "--resource", t->resource, NULL, NULL, NULL};
  if (c->tenant_id) {
    argv[7] = "--tenant";
    argv[8] = c->tenant_id;
  }
  acr_buf out = ACR_BUF_INIT, errout = ACR_BUF_INIT;
  int code = 0;
  char err[256] = "";
  acr_run_status st = acr_run(argv, (long)(c->cli_timeout * 1000), &out, &errout, &code, err,
                              sizeof err);
  int rc = 0;
  if (st != ACR_RUN_OK || code != 0) {
    c->unavailable = 1;   /* no az here, or one that is not logged in */
    cli_failure(L, st, code, &errout, err, c->cli_timeout);
  } else if ((rc = cli_token(c, t, &out)) != 0) {
    acr_auth_fail(L, "Azure CLI", rc == -4 ? "az printed something that is not JSON"
                         : rc == -3 ? ACR_EXPIRED_ON_ARRIVAL
                         : rc == -1 ? "out of memory" : "az's answer has no usable accessToken");
  }
  acr_buf_wipe(&out);
  acr_buf_wipe(&errout);
  return st != ACR_RUN_OK || code != 0 || rc != 0 ? ACR_AUTH_FAILED : ACR_AUTH_READY;
}
