/* See netguard.h. The check is on the resolved address libcurl is about to connect to,
 * not on the URL, so names that resolve elsewhere and proxies are caught too. */
#include "netguard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int is_loopback(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (IN6_IS_ADDR_LOOPBACK(a))
      return 1;
    return !memcmp(a->s6_addr, mapped, sizeof mapped) && a->s6_addr[12] == 127;
  }
  return sa->sa_family == AF_UNIX;
}

static void describe(const struct sockaddr *sa, char *out, size_t n)
{
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  snprintf(out, n, "lua-acr: ACR_LOOPBACK_GUARD refused a connection to %s port %u (pid %ld)\n",
           host, port, (long)getpid());
}

static void record(const char *file, const char *line)
{
  size_t len = strlen(line);
  int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    if (write(fd, line, len) < 0) { /* the stderr copy below still tells */ }
    close(fd);
  }
  if (write(2, line, len) < 0) { /* nothing more to do */ }
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
  (void)purpose;
  if (!is_loopback(&a->addr)) {
    char line[160];
    describe(&a->addr, line, sizeof line);
    record((const char *)ud, line);
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

CURLcode acr_netguard_install(CURL *curl)
{
  /* getenv's string lives as long as the environment entry: read per handle, so a
   * process that sets the variable late still gets the guard on its new clients. */
  const char *file = getenv("ACR_LOOPBACK_GUARD");
  if (!file || !*file)
    return CURLE_OK;
  CURLcode rc = curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  if (rc == CURLE_OK)
    rc = curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, (void *)file);
  return rc;
}
