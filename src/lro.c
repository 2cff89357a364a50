/* LRO rules from ARM's async-operation contract, as azure-core applies them. */
#include <string.h>
#include <strings.h>

#include "lro.h"

acr_lro_state acr_lro_parse_state(const char *s)
{
  if (!s)
    return ACR_LRO_RUNNING;
  if (!strcasecmp(s, "Succeeded"))
    return ACR_LRO_SUCCEEDED;
  if (!strcasecmp(s, "Failed"))
    return ACR_LRO_FAILED;
  if (!strcasecmp(s, "Canceled") || !strcasecmp(s, "Cancelled"))
    return ACR_LRO_CANCELED;
  return ACR_LRO_RUNNING;
}

acr_poll_via acr_lro_choose(const char *method, const char *async_url, const char *location)
{
  if (async_url && *async_url)
    return ACR_POLL_ASYNC;
  if (location && *location)
    return ACR_POLL_LOCATION;
  if (!strcmp(method, "PUT") || !strcmp(method, "PATCH"))
    return ACR_POLL_BODY;
  return ACR_POLL_NONE;
}

int acr_lro_parse_final_via(const char *s)
{
  if (!s || !strcasecmp(s, "default"))
    return ACR_FINAL_DEFAULT;
  if (!strcasecmp(s, "azure-async-operation"))
    return ACR_FINAL_ASYNC;
  if (!strcasecmp(s, "location"))
    return ACR_FINAL_LOCATION;
  if (!strcasecmp(s, "original-uri"))
    return ACR_FINAL_ORIGINAL;
  return -1;
}

int acr_lro_final_get(const char *method, acr_poll_via via, acr_final_via fsv, int have_location)
{
  if (!strcmp(method, "DELETE"))
    return 0;
  switch (fsv) {
  case ACR_FINAL_ORIGINAL: return 1;
  case ACR_FINAL_LOCATION: return have_location ? 2 : 0;
  case ACR_FINAL_ASYNC: return 0;
  case ACR_FINAL_DEFAULT: break;
  }
  if (via == ACR_POLL_ASYNC) {
    if (!strcmp(method, "POST"))
      return have_location ? 2 : 0;
    return 1;
  }
  /* Location polling ends on the result itself; body polling already holds it. */
  return 0;
}
