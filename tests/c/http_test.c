/* Tests for src/http.c, src/http_request.c and src/http_response.c against a real
 * loopback server (tests/c/http_server.py, which this program starts and stops with
 * $ACR_PYTHON3, else the python3 on PATH). Built and run by ctest (c/http and
 * c-asan/http, see CMakeLists.txt). By hand, from the repository root:
 *
 *   gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
 *       -Wstrict-prototypes -Wmissing-prototypes -g -O1 \
 *       -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
 *       -Isrc tests/c/http_test.c src/http.c src/http_request.c src/http_response.c \
 *       src/netguard.c src/buf.c src/secmem.c -o /tmp/http_test \
 *       -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc $(pkg-config --libs libcurl libcrypto) \
 *     && /tmp/http_test tests/c/http_server.py
 *
 * The --wrap flags route the allocations made by the http*.c files, buf.c and this file
 * through the failure injector below (libcurl's own are not), for the out-of-memory test.
 * Prints one line per failed check and exits 1 if any failed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "check.h"
#include "http.h"

/* ---- allocation failure injection (see --wrap in the build line) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long alloc_countdown;   /* 0: off; k: the k-th allocation from now fails */
static int alloc_failed;

static int inject(void)
{
  if (alloc_countdown > 0 && --alloc_countdown == 0) {
    alloc_failed = 1;
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n)
{
  return inject() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
  return inject() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
  return inject() ? NULL : __real_realloc(p, n);
}


/* ---- the server ---- */

static pid_t server_pid;
static int server_stdin = -1;
static int http_port, https_port;
static char cert_path[512];
static char tmpdir[] = "/tmp/acr-http-test-XXXXXX";

static int start_server(const char *script)
{
  int in[2], out[2];
  char line[700];
  if (!mkdtemp(tmpdir) || pipe(in) || pipe(out))
    return -1;
  server_pid = fork();
  if (server_pid < 0)
    return -1;
  if (server_pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    const char *python = getenv("ACR_PYTHON3");
    if (!python || !*python)
      python = "python3";
    execlp(python, python, script, tmpdir, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  server_stdin = in[1];
  FILE *f = fdopen(out[0], "r");
  if (!f)
    return -1;
  int ok = fgets(line, sizeof line, f) &&
           sscanf(line, "READY %d %d %511s", &http_port, &https_port, cert_path) == 3;
  fclose(f);
  return ok ? 0 : -1;
}

/* Closing its stdin ends the server; then remove what it made. */
static void stop_server(void)
{
  char p[600];
  if (server_stdin >= 0)
    close(server_stdin);
  if (server_pid > 0)
    waitpid(server_pid, NULL, 0);
  snprintf(p, sizeof p, "%s/cert.pem", tmpdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/key.pem", tmpdir);
  unlink(p);
  rmdir(tmpdir);
}

/* A loopback port nobody listens on (bound, then released). */
static int closed_port(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) ||
      getsockname(s, (struct sockaddr *)&a, &len))
    return 1;
  close(s);
  return ntohs(a.sin_port);
}

static char url_buf[4][256];

/* A URL on the plain listener; up to four live at once. */
static const char *url(const char *path)
{
  static int i;
  i = (i + 1) % 4;
  snprintf(url_buf[i], sizeof url_buf[i], "http://127.0.0.1:%d%s", http_port, path);
  return url_buf[i];
}

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static acr_http *new_handle(long timeout_ms, size_t max_body, const char *ca)
{
  char err[256];
  acr_http_options o = {2000, timeout_ms, ca, "lua-acr-test/1", max_body, NULL};
  acr_http *h = acr_http_new(&o, err, sizeof err);
  if (!h)
    fprintf(stderr, "acr_http_new: %s\n", err);
  return h;
}

/* Does the /echo body contain this line? */
static int echoed(const acr_http_response *r, const char *line)
{
  size_t n = strlen(line);
  for (const char *p = r->body.data; p && (p = strstr(p, line)); p++)
    if ((p == r->body.data || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return 1;
  return 0;
}

static int echoed_prefix(const acr_http_response *r, const char *prefix)
{
  return r->body.data && strstr(r->body.data, prefix) != NULL;
}

/* A bearer token in the request must never show up in an error message. */
static const char *const auth_headers[] = {"Authorization: Bearer SECRET-TOKEN", NULL};

static void check_transport(acr_http *h, const char *u, long timeout, acr_transport_error want,
                            int line)
{
  acr_http_response r;
  acr_http_response_init(&r);
  int rc = acr_http_perform(h, "GET", u, auth_headers, NULL, 0, timeout, &r);
  check_at(rc == -1, line, "perform fails");
  check_at(r.transport == want, line, "transport error kind");
  if (r.transport != want)
    fprintf(stderr, "  got %d (%s), want %d\n", (int)r.transport, r.error, (int)want);
  check_at(r.status == 0, line, "status 0");
  check_at(r.error[0] != '\0', line, "error message set");
  check_at(strstr(r.error, "SECRET") == NULL, line, "no token in the error");
  check_at(r.nheaders == 0 && r.body.len == 0, line, "nothing partial kept");
  acr_http_response_free(&r);
}

/* ---- the tests ---- */

static void test_status_headers_body(void)
{
  acr_http *h = new_handle(5000, 0, NULL);
  acr_http_response r;
  acr_http_response_init(&r);
  CHECK(acr_http_perform(h, "GET", url("/status/201"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 201 && r.transport == ACR_TE_NONE && r.error[0] == '\0');
  CHECK_STR(r.body.data, "status 201");
  CHECK(r.body.len == 10);
  CHECK_STR(acr_http_header(&r, "x-test-header"), "padded value");
  CHECK_STR(acr_http_header(&r, "X-TEST-Header"), "padded value");
  CHECK_STR(acr_http_header(&r, "X-MS-Request-Id"), "abc-123");
  CHECK_STR(acr_http_header(&r, "content-length"), "10");
  CHECK(acr_http_header(&r, "x-absent") == NULL);
  CHECK(acr_http_header(&r, "x-test") == NULL);   /* a prefix is not a match */

  /* 4xx/5xx are responses, not transport errors. */
  CHECK(acr_http_perform(h, "GET", url("/status/404"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 404 && r.transport == ACR_TE_NONE);
  CHECK(acr_http_perform(h, "DELETE", url("/status/503"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 503);
  CHECK_STR(r.body.data, "status 503");

  CHECK(acr_http_perform(h, "GET", url("/headers"), NULL, NULL, 0, 0, &r) == 0);
  for (size_t i = 0; i < r.nheaders; i++)
    for (const char *c = r.headers[i].name; *c; c++)
      CHECK(!(*c >= 'A' && *c <= 'Z'));
  CHECK_STR(acr_http_header(&r, "mixed-case"), "Value With Spaces");
  CHECK_STR(acr_http_header(&r, "x-dup"), "one");   /* the first of repeated headers */
  CHECK_STR(acr_http_header(&r, "x-empty"), "");
  int dups = 0;
  for (size_t i = 0; i < r.nheaders; i++)
    dups += strcmp(r.headers[i].name, "x-dup") == 0;
  CHECK(dups == 2);

  /* Only the final response's headers remain after an interim 100. */
  CHECK(acr_http_perform(h, "GET", url("/interim"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200);
  CHECK_STR(r.body.data, "final");
  CHECK(acr_http_header(&r, "x-interim") == NULL);
  CHECK_STR(acr_http_header(&r, "x-final"), "yes");

  /* Redirects are reported, not followed. */
  CHECK(acr_http_perform(h, "GET", url("/redirect"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 302);
  CHECK_STR(acr_http_header(&r, "location"), "/echo");

  /* Compressed bodies arrive decoded. */
  CHECK(acr_http_perform(h, "GET", url("/gzip"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200 && r.body.len == 700);
  CHECK(r.body.data && strncmp(r.body.data, "zipped zipped ", 14) == 0);

  acr_http_response_free(&r);
  acr_http_free(h);
}

static void test_methods_and_request_headers(void)
{
  acr_http *h = new_handle(5000, 0, NULL);
  acr_http_response r;
  acr_http_response_init(&r);
  const char *hdrs[] = {"Authorization: Bearer tok", "X-Custom:  v1", NULL};
  const char *json = "{\"a\":1}";

  CHECK(acr_http_perform(h, "POST", url("/echo"), hdrs, json, 7, 0, &r) == 0);
  CHECK(echoed(&r, "method=POST") && echoed(&r, "len=7"));
  CHECK(echoed(&r, "body={\"a\":1}"));
  CHECK(echoed(&r, "h:content-type=application/json"));
  CHECK(echoed(&r, "h:accept=application/json"));
  CHECK(echoed(&r, "h:authorization=Bearer tok"));
  CHECK(echoed(&r, "h:x-custom=v1"));
  CHECK(echoed(&r, "h:user-agent=lua-acr-test/1"));
  CHECK(!echoed_prefix(&r, "h:expect="));

  /* A GET after a POST on the same handle: no body, no length, no type, no headers
   * left over from the previous call. */
  CHECK(acr_http_perform(h, "GET", url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(echoed(&r, "method=GET") && echoed(&r, "len=0"));
  CHECK(!echoed_prefix(&r, "h:content-length="));
  CHECK(!echoed_prefix(&r, "h:content-type="));
  CHECK(!echoed_prefix(&r, "h:authorization="));
  CHECK(!echoed_prefix(&r, "h:transfer-encoding="));
  CHECK(echoed(&r, "h:accept=application/json"));

  /* PUT/POST with no body still say Content-Length: 0 (ARM wants a length), and
   * libcurl's form Content-Type is suppressed. */
  CHECK(acr_http_perform(h, "PUT", url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(echoed(&r, "method=PUT") && echoed(&r, "h:content-length=0"));
  CHECK(!echoed_prefix(&r, "h:content-type="));
  CHECK(acr_http_perform(h, "PATCH", url("/echo"), NULL, json, 7, 0, &r) == 0);
  CHECK(echoed(&r, "method=PATCH") && echoed(&r, "len=7"));

  CHECK(acr_http_perform(h, "DELETE", url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(echoed(&r, "method=DELETE") && !echoed_prefix(&r, "h:content-length="));

  CHECK(acr_http_perform(h, "HEAD", url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200 && r.body.len == 0);
  CHECK(acr_http_header(&r, "content-length") != NULL);
  CHECK(acr_http_perform(h, NULL, url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(echoed(&r, "method=GET"));   /* NULL method: GET, and not HEAD any more */

  /* The caller's Content-Type and Accept replace ours, rather than adding a second. */
  const char *form[] = {"content-type: application/x-www-form-urlencoded",
                        "Accept: text/plain", NULL};
  CHECK(acr_http_perform(h, "POST", url("/echo"), form, "scope=x", 7, 0, &r) == 0);
  CHECK(echoed(&r, "h:content-type=application/x-www-form-urlencoded"));
  CHECK(echoed(&r, "h:accept=text/plain") && !echoed(&r, "h:accept=application/json"));

  /* A large body goes without waiting for 100-continue. */
  size_t big = 2u << 20;
  char *b = malloc(big);
  CHECK(b != NULL);
  if (b) {
    memset(b, 'b', big);
    CHECK(acr_http_perform(h, "PUT", url("/echo"), NULL, b, big, 0, &r) == 0);
    CHECK(echoed(&r, "len=2097152") && !echoed_prefix(&r, "h:expect="));
    free(b);
  }

  /* Cookies live in the handle's memory, not in other handles. */
  CHECK(acr_http_perform(h, "GET", url("/cookie/set"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(acr_http_perform(h, "GET", url("/cookie/get"), NULL, NULL, 0, 0, &r) == 0);
  CHECK_STR(r.body.data, "session=s3cr3t");
  acr_http *h2 = new_handle(5000, 0, NULL);
  CHECK(acr_http_perform(h2, "GET", url("/cookie/get"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.body.len == 0);
  acr_http_free(h2);

  acr_http_response_free(&r);
  acr_http_free(h);
}

static void test_bad_requests(void)
{
  acr_http *h = new_handle(5000, 0, NULL);
  acr_http_response r;
  acr_http_response_init(&r);
  const char *smuggle[] = {"X-A: 1\r\nX-B: 2", NULL};
  const char *nocolon[] = {"X-A 1", NULL};
  CHECK(acr_http_perform(h, "GE T", url("/echo"), NULL, NULL, 0, 0, &r) == -1);
  CHECK(r.transport == ACR_TE_OTHER && r.error[0]);
  CHECK(acr_http_perform(h, "get", url("/echo"), NULL, NULL, 0, 0, &r) == -1);
  CHECK(acr_http_perform(h, "GET", url("/echo"), smuggle, NULL, 0, 0, &r) == -1);
  CHECK(acr_http_perform(h, "GET", url("/echo"), nocolon, NULL, 0, 0, &r) == -1);
  CHECK(acr_http_perform(h, "POST", url("/echo"), NULL, NULL, 5, 0, &r) == -1);
  CHECK(acr_http_perform(h, "GET", url("/echo"), NULL, "x", 1, 0, &r) == -1);
  CHECK(acr_http_perform(h, "GET", NULL, NULL, NULL, 0, 0, &r) == -1);
  CHECK(acr_http_perform(NULL, "GET", url("/echo"), NULL, NULL, 0, 0, &r) == -1);
  CHECK(acr_http_perform(h, "GET", "ftp://127.0.0.1/x", NULL, NULL, 0, 0, &r) == -1);
  CHECK(r.transport == ACR_TE_OTHER);
  CHECK(acr_http_perform(h, "GET", "not a url", NULL, NULL, 0, 0, &r) == -1);
  /* The handle still works after all that. */
  CHECK(acr_http_perform(h, "GET", url("/status/200"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200);
  acr_http_response_free(&r);
  acr_http_response_free(&r);   /* idempotent */
  acr_http_free(h);
  acr_http_free(NULL);
  CHECK(acr_http_header(NULL, "x") == NULL);
  CHECK(acr_http_connections(NULL) == 0);
}

static void test_connection_reuse(void)
{
  static const char *const methods[] = {"GET", "POST", "PUT", "HEAD", "DELETE"};
  acr_http *h = new_handle(5000, 0, NULL);
  acr_http_response r;
  acr_http_response_init(&r);
  int ok = 0;
  for (int i = 0; i < 20; i++) {
    const char *m = methods[i % 5];
    int body = !strcmp(m, "POST") || !strcmp(m, "PUT");
    ok += acr_http_perform(h, m, url("/echo"), NULL, body ? "{}" : NULL, body ? 2 : 0, 0,
                           &r) == 0 && r.status == 200;
  }
  CHECK(ok == 20);
  CHECK(acr_http_connections(h) == 1);
  /* A 404 and a redirect keep the connection too. */
  acr_http_perform(h, "GET", url("/status/404"), NULL, NULL, 0, 0, &r);
  acr_http_perform(h, "GET", url("/redirect"), NULL, NULL, 0, 0, &r);
  CHECK(acr_http_connections(h) == 1);
  /* A dropped connection is replaced by a new one. */
  acr_http_perform(h, "GET", url("/drop"), NULL, NULL, 0, 0, &r);
  CHECK(acr_http_perform(h, "GET", url("/echo"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(acr_http_connections(h) >= 2);
  acr_http_response_free(&r);
  acr_http_free(h);
}

static void test_transport_errors(void)
{
  char refused[64];
  acr_http *h = new_handle(0, 0, NULL);
  double t0 = now();
  check_transport(h, url("/slow?ms=3000"), 300, ACR_TE_TIMEOUT, __LINE__);
  CHECK(now() - t0 < 2.0);
  acr_http *ht = new_handle(300, 0, NULL);   /* the handle's own timeout */
  check_transport(ht, url("/slow?ms=3000"), 0, ACR_TE_TIMEOUT, __LINE__);
  acr_http_response r;
  acr_http_response_init(&r);
  /* A per-call timeout longer than the handle's wins. */
  CHECK(acr_http_perform(ht, "GET", url("/slow?ms=500"), NULL, NULL, 0, 3000, &r) == 0);
  CHECK(r.status == 200);
  acr_http_free(ht);

  snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", closed_port());
  check_transport(h, refused, 0, ACR_TE_CONNECT, __LINE__);
  check_transport(h, "http://no-such-host.invalid/", 0, ACR_TE_CONNECT, __LINE__);
  check_transport(h, url("/drop"), 0, ACR_TE_CONNECT, __LINE__);
  check_transport(h, url("/truncate"), 0, ACR_TE_CONNECT, __LINE__);
  CHECK(acr_http_perform(h, "GET", url("/status/200"), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200);
  acr_http_response_free(&r);
  acr_http_free(h);
}

static void test_body_limit(void)
{
  char u[64];
  const size_t max = 1u << 20;
  acr_http *h = new_handle(10000, max, NULL);
  acr_http_response r;
  acr_http_response_init(&r);
  snprintf(u, sizeof u, "/big?n=%zu", max);
  CHECK(acr_http_perform(h, "GET", url(u), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200 && r.body.len == max);
  snprintf(u, sizeof u, "/chunked?n=%zu", max);
  CHECK(acr_http_perform(h, "GET", url(u), NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200 && r.body.len == max);
  /* One byte over: refused from Content-Length, or cut off while streaming. */
  snprintf(u, sizeof u, "/big?n=%zu", max + 1);
  check_transport(h, url(u), 0, ACR_TE_TOO_LARGE, __LINE__);
  snprintf(u, sizeof u, "/chunked?n=%zu", max + 1);
  check_transport(h, url(u), 0, ACR_TE_TOO_LARGE, __LINE__);
  CHECK(acr_http_perform(h, "GET", url("/status/200"), NULL, NULL, 0, 0, &r) == 0);
  acr_http_free(h);

  /* The default limit is 64 MiB. */
  h = new_handle(60000, 0, NULL);
  snprintf(u, sizeof u, "/chunked?n=%zu", ((size_t)64 << 20) + 1);
  check_transport(h, url(u), 0, ACR_TE_TOO_LARGE, __LINE__);
  acr_http_response_free(&r);
  acr_http_free(h);
}

static void test_tls(void)
{
  char u[128], bad[700];
  acr_http_response r;
  acr_http_response_init(&r);
  snprintf(u, sizeof u, "https://127.0.0.1:%d/status/200", https_port);

  acr_http *h = new_handle(5000, 0, NULL);   /* system store: our certificate is unknown */
  check_transport(h, u, 0, ACR_TE_TLS, __LINE__);
  acr_http_free(h);

  h = new_handle(5000, 0, cert_path);
  CHECK(acr_http_perform(h, "GET", u, NULL, NULL, 0, 0, &r) == 0);
  CHECK(r.status == 200);
  CHECK_STR(r.body.data, "status 200");
  CHECK(acr_http_perform(h, "GET", u, NULL, NULL, 0, 0, &r) == 0);
  CHECK(acr_http_connections(h) == 1);
  /* Trusted certificate, wrong name: the host name is verified too. */
  snprintf(u, sizeof u, "https://localhost:%d/status/200", https_port);
  check_transport(h, u, 0, ACR_TE_TLS, __LINE__);
  acr_http_free(h);

  snprintf(bad, sizeof bad, "%s.missing", cert_path);
  h = new_handle(5000, 0, bad);
  snprintf(u, sizeof u, "https://127.0.0.1:%d/status/200", https_port);
  check_transport(h, u, 0, ACR_TE_TLS, __LINE__);
  acr_http_free(h);
  acr_http_response_free(&r);
}

/* Fail the 1st, 2nd, ... allocation made by http*.c/buf.c until a run completes untouched:
 * each must end in an error (or a complete response), never a crash or (under LSan) a
 * leak. */
static void test_out_of_memory(void)
{
  const char *hdrs[] = {"Authorization: Bearer x", "X-A: b", NULL};
  int errors = 0, absorbed = 0, completed = 0;
  for (long k = 1; k < 10000 && !completed; k++) {
    char err[128] = "";
    acr_http_response r;
    acr_http_response_init(&r);
    alloc_failed = 0;
    alloc_countdown = k;
    acr_http *h = acr_http_new(NULL, err, sizeof err);
    int rc = -1;
    if (h) {
      rc = acr_http_perform(h, "POST", url("/echo"), hdrs, "{}", 2, 0, &r);
      if (rc == 0)
        rc = acr_http_perform(h, "GET", url("/headers"), NULL, NULL, 0, 0, &r);
      if (rc != 0)
        CHECK(r.transport == ACR_TE_OTHER && strstr(r.error, "memory"));
    } else {
      CHECK(strstr(err, "memory") != NULL);
    }
    alloc_countdown = 0;
    completed = !alloc_failed;
    /* The one allowed exception: the body pre-sizing is only a hint (one per request). */
    if (!completed && rc == 0) {
      absorbed++;
      CHECK(r.status == 200 && r.body.len > 0);
    }
    CHECK(!completed || (rc == 0 && r.status == 200));
    errors += rc != 0;
    acr_http_response_free(&r);
    acr_http_free(h);
  }
  CHECK(completed);
  CHECK(errors > 5);
  CHECK(absorbed <= 2);
}

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  if (start_server(argc > 1 ? argv[1] : "tests/c/http_server.py") != 0) {
    fprintf(stderr, "could not start the test server\n");
    stop_server();
    return 2;
  }
  CHECK(acr_http_global_init() == 0);
  CHECK(acr_http_global_init() == 0);
  CHECK(strncmp(acr_http_version(), "libcurl/", 8) == 0);
  test_status_headers_body();
  test_methods_and_request_headers();
  test_bad_requests();
  test_connection_reuse();
  test_transport_errors();
  test_body_limit();
  test_tls();
  test_out_of_memory();
  stop_server();
  curl_global_cleanup();
  int rc = check_exit();
  fflush(stdout);
  return rc;
}
