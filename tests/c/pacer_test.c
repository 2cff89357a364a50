/* Tests for src/pacer.c: the estimate of ARM's buckets from the headers, a 429's
 * Retry-After, and a bucket smaller than ARM's public size, learned from a 429.
 * Built and run by ctest (c/pacer and c-asan/pacer); by hand, from the repository root:
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -g -Isrc tests/c/pacer_test.c src/pacer.c \
 *       -o /tmp/pacer_test && /tmp/pacer_test */
#include "check.h"
#include "pacer.h"

/* One GET sent at t and answered at t with `remaining` left (< 0: no header). */
static void read_at(acr_pacer *p, double t, long status, double remaining, double retry_after)
{
  acr_pacer_sent(p, "GET", t);
  acr_pacer_answered(p, "GET", 1, status, remaining, retry_after, t);
}

static void test_public_size(void)
{
  acr_pacer p;
  acr_pacer_init(&p);
  /* unknown: one request first, to hear where the bucket is */
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 1.0) == 0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 1, 1.0) > 0);
  read_at(&p, 1.0, 200, 0, -1);
  /* empty at 1.0: a request needs 2 tokens (one kept in reserve), 25 come a second */
  CHECK_RANGE(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 1.0), 0.079, 0.081);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 1.1) == 0);
  /* ARM's 250: after 20 s quiet, 249 may go at once (one kept) */
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 248, 21.0) == 0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 249, 21.0) > 0);
  CHECK_RANGE(acr_pacer_fill_time(&p, ACR_KIND_READS), 9.91, 9.93);
  /* a header that says more than ARM's public size: the bucket is bigger */
  read_at(&p, 30.0, 200, 400, -1);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 398, 30.0) == 0);
}

static void test_retry_after(void)
{
  acr_pacer p;
  acr_pacer_init(&p);
  read_at(&p, 1.0, 200, 100, -1);
  read_at(&p, 1.5, 429, 0, 2.0);
  CHECK_RANGE(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 1.5), 1.99, 2.01);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_WRITES, 0, 1.5) == 0);   /* another kind's bucket */
  CHECK(p.throttled == 1);
}

static void test_small_bucket(void)
{
  acr_pacer p;
  acr_pacer_init(&p);
  /* a bucket of 2 tokens that refills 25 a second: the first answers say 1 and 0 left */
  read_at(&p, 1.0, 200, 1, -1);
  read_at(&p, 1.01, 200, 0, -1);
  /* after a quarter of a second the estimate of ARM's 250 has 6.25 tokens: 5 go */
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 4, 1.26) == 0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 5, 1.26) > 0);
  read_at(&p, 1.26, 429, 0, 1.0);
  /* learned: the bucket holds 2, so after the Retry-After one may go, not 25 */
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 2.5) == 0);
  CHECKF(acr_pacer_wait_more(&p, ACR_KIND_READS, 1, 2.5) > 0, "the bucket is still thought %g",
         p.kind[ACR_KIND_READS].capacity);
  CHECK(acr_pacer_fill_time(&p, ACR_KIND_READS) == 0);
  /* and a header that says more makes it bigger again */
  read_at(&p, 3.0, 200, 50, -1);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 48, 3.0) == 0);
}

static void test_other_limit_429(void)
{
  acr_pacer p;
  acr_pacer_init(&p);
  /* headers said 240 were left: a 429 then is some other limit's, and the bucket stays
   * about ARM's size: once full again, 238 may go at once */
  read_at(&p, 1.0, 200, 240, -1);
  read_at(&p, 1.1, 429, 239, 1.0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 238, 20.0) == 0);
  /* a bucket that never said more than 0 was left: the floor, one request and one kept */
  acr_pacer_init(&p);
  read_at(&p, 1.0, 200, 0, -1);
  read_at(&p, 1.1, 429, 0, 1.0);
  CHECK(p.kind[ACR_KIND_READS].capacity == 2);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 5.0) == 0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 1, 5.0) > 0);
}

static void test_no_header_429(void)
{
  acr_pacer p;
  acr_pacer_init(&p);
  /* a 429 from a service that sends no header: its Retry-After, ARM's public size kept */
  read_at(&p, 1.0, 429, -1, 1.0);
  CHECK(acr_pacer_wait_more(&p, ACR_KIND_READS, 0, 1.5) > 0);
  CHECK(p.kind[ACR_KIND_READS].capacity == 250);
}

int main(void)
{
  test_public_size();
  test_retry_after();
  test_small_bucket();
  test_other_limit_429();
  test_no_header_429();
  return check_exit();
}
