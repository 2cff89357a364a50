#ifndef ACR_VERSION_H
#define ACR_VERSION_H
#define ACR_VERSION "0.1.0"
#endif
