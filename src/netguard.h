/* The loopback guard for test runs: with ACR_LOOPBACK_GUARD=FILE in the environment,
 * every connection a libcurl handle would open to an address outside 127.0.0.0/8 and
 * ::1 is refused before the socket exists, and a line naming the address is appended
 * to FILE (and written to stderr). The suite fails when FILE is not empty, so no spec
 * can reach IMDS (169.254.169.254) or any host outside the machine by mistake. */
#ifndef ACR_NETGUARD_H
#define ACR_NETGUARD_H

#include <curl/curl.h>

/* Installs the guard on the handle when the variable is set; CURLE_OK otherwise. */
CURLcode acr_netguard_install(CURL *curl);

#endif
