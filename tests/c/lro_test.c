/* Tests for src/lro.c: which header an LRO polls, what is terminal, where the result
 * comes from (../shared/DESIGN.md, "Behaviour"). Built and run by ctest (c/lro and
 * c-asan/lro); by hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
 *       -Wstrict-prototypes -Wmissing-prototypes -g -Isrc \
 *       tests/c/lro_test.c src/lro.c -o /tmp/lro_test && /tmp/lro_test
 *
 * The rest of the rules (202 from a Location poll = still running, any other 2xx = done;
 * a 202 without a polling header is an error) are applied by operation.c, which needs a
 * Lua state and a client: the specs test those. */
#include "check.h"
#include "lro.h"

static const char *via_name(acr_poll_via v)
{
  static const char *const names[] = {"NONE", "ASYNC", "LOCATION", "BODY"};
  return (unsigned)v < 4 ? names[v] : "?";
}

static const char *final_name(acr_final_via f)
{
  static const char *const names[] = {"DEFAULT", "ASYNC", "LOCATION", "ORIGINAL"};
  return (unsigned)f < 4 ? names[f] : "?";
}

static void test_parse_state(void)
{
  static const struct { const char *s; acr_lro_state want; } cases[] = {
    {"Succeeded", ACR_LRO_SUCCEEDED}, {"succeeded", ACR_LRO_SUCCEEDED},
    {"SUCCEEDED", ACR_LRO_SUCCEEDED}, {"Failed", ACR_LRO_FAILED}, {"fAILED", ACR_LRO_FAILED},
    {"Canceled", ACR_LRO_CANCELED}, {"CANCELED", ACR_LRO_CANCELED},
    {"Cancelled", ACR_LRO_CANCELED},
    /* anything else is still running, even when it is close to a terminal state */
    {"InProgress", ACR_LRO_RUNNING}, {"Running", ACR_LRO_RUNNING},
    {"Accepted", ACR_LRO_RUNNING}, {"Creating", ACR_LRO_RUNNING},
    {"Deleting", ACR_LRO_RUNNING}, {"", ACR_LRO_RUNNING}, {"Succeeded ", ACR_LRO_RUNNING},
    {" Failed", ACR_LRO_RUNNING}, {"Succeed", ACR_LRO_RUNNING},
    {"SucceededX", ACR_LRO_RUNNING}, {"Cancel", ACR_LRO_RUNNING},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acr_lro_state got = acr_lro_parse_state(cases[i].s);
    CHECKF(got == cases[i].want, "acr_lro_parse_state(\"%s\") is %d, want %d", cases[i].s,
           (int)got, (int)cases[i].want);
  }
  CHECK_INT(acr_lro_parse_state(NULL), ACR_LRO_RUNNING);
}

static void test_choose(void)
{
  static const char A[] = "https://h/operations/1", L[] = "https://h/results/1";
  static const struct {
    const char *method, *async, *location;
    acr_poll_via want;
  } cases[] = {
    /* Azure-AsyncOperation over Location, for every method */
    {"PUT", A, L, ACR_POLL_ASYNC}, {"PATCH", A, L, ACR_POLL_ASYNC},
    {"POST", A, L, ACR_POLL_ASYNC}, {"DELETE", A, L, ACR_POLL_ASYNC},
    {"PUT", A, NULL, ACR_POLL_ASYNC}, {"POST", A, NULL, ACR_POLL_ASYNC},
    {"DELETE", A, "", ACR_POLL_ASYNC},
    /* Location over the body */
    {"PUT", NULL, L, ACR_POLL_LOCATION}, {"PATCH", NULL, L, ACR_POLL_LOCATION},
    {"POST", NULL, L, ACR_POLL_LOCATION}, {"DELETE", NULL, L, ACR_POLL_LOCATION},
    {"POST", "", L, ACR_POLL_LOCATION},
    /* no header: PUT/PATCH poll the resource's provisioningState, others nothing */
    {"PUT", NULL, NULL, ACR_POLL_BODY}, {"PATCH", NULL, NULL, ACR_POLL_BODY},
    {"PUT", "", "", ACR_POLL_BODY}, {"POST", NULL, NULL, ACR_POLL_NONE},
    {"DELETE", NULL, NULL, ACR_POLL_NONE}, {"DELETE", "", "", ACR_POLL_NONE},
    {"GET", NULL, NULL, ACR_POLL_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acr_poll_via got = acr_lro_choose(cases[i].method, cases[i].async, cases[i].location);
    CHECKF(got == cases[i].want, "acr_lro_choose(%s, async=%s, location=%s) is %s, want %s",
           cases[i].method, cases[i].async ? cases[i].async : "NULL",
           cases[i].location ? cases[i].location : "NULL", via_name(got),
           via_name(cases[i].want));
  }
}

static void test_parse_final_via(void)
{
  static const struct { const char *s; int want; } cases[] = {
    {"azure-async-operation", ACR_FINAL_ASYNC}, {"Azure-Async-Operation", ACR_FINAL_ASYNC},
    {"location", ACR_FINAL_LOCATION}, {"LOCATION", ACR_FINAL_LOCATION},
    {"original-uri", ACR_FINAL_ORIGINAL}, {"Original-URI", ACR_FINAL_ORIGINAL},
    {"default", ACR_FINAL_DEFAULT},
    {"operation-location", -1}, {"azure-asyncoperation", -1}, {"original_uri", -1},
    {"locations", -1}, {"", -1}, {" location", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = acr_lro_parse_final_via(cases[i].s);
    CHECKF(got == cases[i].want, "acr_lro_parse_final_via(\"%s\") is %d, want %d", cases[i].s,
           got, cases[i].want);
  }
  CHECK_INT(acr_lro_parse_final_via(NULL), ACR_FINAL_DEFAULT);
}

enum { NO_GET = 0, GET_ORIGINAL = 1, GET_LOCATION = 2 };

static void test_final_get(void)
{
  static const struct {
    const char *method;
    acr_poll_via via;
    acr_final_via fsv;
    int have_location, want;
  } cases[] = {
    /* Azure-AsyncOperation: PUT/PATCH GET the original URL, POST the Location if any */
    {"PUT", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 0, GET_ORIGINAL},
    {"PUT", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 1, GET_ORIGINAL},
    {"PATCH", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 1, GET_ORIGINAL},
    {"POST", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 1, GET_LOCATION},
    {"POST", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 0, NO_GET},
    /* DELETE never has a final GET, whatever final_state_via says */
    {"DELETE", ACR_POLL_ASYNC, ACR_FINAL_DEFAULT, 1, NO_GET},
    {"DELETE", ACR_POLL_LOCATION, ACR_FINAL_DEFAULT, 1, NO_GET},
    {"DELETE", ACR_POLL_ASYNC, ACR_FINAL_ORIGINAL, 1, NO_GET},
    {"DELETE", ACR_POLL_ASYNC, ACR_FINAL_LOCATION, 1, NO_GET},
    /* Location polling ends on the last Location response; body polling holds it */
    {"PUT", ACR_POLL_LOCATION, ACR_FINAL_DEFAULT, 1, NO_GET},
    {"PATCH", ACR_POLL_LOCATION, ACR_FINAL_DEFAULT, 1, NO_GET},
    {"POST", ACR_POLL_LOCATION, ACR_FINAL_DEFAULT, 1, NO_GET},
    {"PUT", ACR_POLL_BODY, ACR_FINAL_DEFAULT, 0, NO_GET},
    {"PATCH", ACR_POLL_BODY, ACR_FINAL_DEFAULT, 0, NO_GET},
    /* final_state_via overrides */
    {"POST", ACR_POLL_ASYNC, ACR_FINAL_ORIGINAL, 1, GET_ORIGINAL},
    {"POST", ACR_POLL_LOCATION, ACR_FINAL_ORIGINAL, 1, GET_ORIGINAL},
    {"PUT", ACR_POLL_LOCATION, ACR_FINAL_ORIGINAL, 1, GET_ORIGINAL},
    {"PUT", ACR_POLL_ASYNC, ACR_FINAL_LOCATION, 1, GET_LOCATION},
    {"PUT", ACR_POLL_ASYNC, ACR_FINAL_LOCATION, 0, NO_GET},
    {"POST", ACR_POLL_ASYNC, ACR_FINAL_LOCATION, 1, GET_LOCATION},
    {"PUT", ACR_POLL_ASYNC, ACR_FINAL_ASYNC, 1, NO_GET},
    {"PATCH", ACR_POLL_ASYNC, ACR_FINAL_ASYNC, 0, NO_GET},
    {"POST", ACR_POLL_ASYNC, ACR_FINAL_ASYNC, 1, NO_GET},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = acr_lro_final_get(cases[i].method, cases[i].via, cases[i].fsv,
                                cases[i].have_location);
    CHECKF(got == cases[i].want,
           "acr_lro_final_get(%s, via=%s, final_state_via=%s, have_location=%d) is %d, want %d",
           cases[i].method, via_name(cases[i].via), final_name(cases[i].fsv),
           cases[i].have_location, got, cases[i].want);
  }
}

int main(void)
{
  test_parse_state();
  test_choose();
  test_parse_final_via();
  test_final_get();
  return check_exit();
}
