/* The monotonic clock that every timeout, due time and wait of the core is read from. */
#ifndef ACR_CLOCK_H
#define ACR_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary start; never goes back (CLOCK_MONOTONIC). */
static inline double acr_clock(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
