/* limits.h — api/'s defences against abusive clients (docs/https.md,
 * "Limits"): a bounded table of authentication failures per source address
 * (ratelimit.c), deadlines that close connections too slow to send their
 * request (deadline.c), and how a TCP peer is named (peer.c).
 *
 * Times are milliseconds of a monotonic clock passed in by the caller, so
 * that tests can drive them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t api_now_ms(void);

/* ---- ratelimit.c: authentication failures per address ------------------- */

typedef struct api_ratelimit api_ratelimit;

/* A token bucket per address: per_minute failures in a burst, refilled at
 * per_minute a minute. The table holds at most `slots` addresses (rounded
 * up to a multiple of its set size); when full, the address closest to a
 * full bucket (the least suspicious) makes room. */
api_ratelimit *api_ratelimit_new(unsigned per_minute, size_t slots);
void api_ratelimit_free(api_ratelimit *rl);

/* 0: the address may try its credentials; else the seconds until it may
 * (for Retry-After). Never records anything. */
unsigned api_ratelimit_check(api_ratelimit *rl, const char *addr, uint64_t now_ms);

/* The address failed to authenticate once. */
void api_ratelimit_failed(api_ratelimit *rl, const char *addr, uint64_t now_ms);

/* ---- peer.c: naming a TCP peer --------------------------------------------- */

#define API_ADDR_KEY_MAX 56

/* "192.0.2.7:51234" or "[2001:db8::7]:51234" (an IPv4-mapped IPv6 address
 * as plain IPv4). false for other families (unix). */
bool api_peer_format(const struct sockaddr *sa, char *buf, size_t len);

/* What the failure limiter counts by: the IPv4 address, or the /64 of an
 * IPv6 address (one host usually holds a whole /64). */
bool api_peer_key(const struct sockaddr *sa, char key[API_ADDR_KEY_MAX]);

/* ---- deadline.c: slow connections ----------------------------------------- */

typedef struct api_deadlines api_deadlines;
typedef struct api_conn_deadline api_conn_deadline;

/* header_s: seconds to finish the TLS handshake and the request's headers;
 * request_s: seconds to finish the whole request, body included. Both
 * count from the connection's start, or from the previous response on a
 * kept-alive connection. 0 leaves that deadline off. */
api_deadlines *api_deadlines_new(unsigned header_s, unsigned request_s);
/* Start the thread that sweeps once every 250 ms; -1 if it cannot. */
int api_deadlines_start(api_deadlines *d);
/* Stop the thread (if started) and free; every connection must be closed. */
void api_deadlines_free(api_deadlines *d);

/* A connection on fd opened: its deadlines start now. */
api_conn_deadline *api_deadlines_open(api_deadlines *d, int fd, uint64_t now_ms);
/* Its request headers are in: the header deadline is met. */
void api_deadlines_headers(api_deadlines *d, api_conn_deadline *c);
/* Its whole request is in: the request deadline is met. */
void api_deadlines_received(api_deadlines *d, api_conn_deadline *c);
/* Its response is sent: the next request's deadlines start now. */
void api_deadlines_rearm(api_deadlines *d, api_conn_deadline *c, uint64_t now_ms);
/* It closed (before its fd is closed): forget it. NULL is ignored. */
void api_deadlines_close(api_deadlines *d, api_conn_deadline *c);

/* Shut down (shutdown(2), both ways) the sockets of connections past a
 * deadline; the HTTP server then sees them fail and closes them. Returns
 * how many. */
size_t api_deadlines_sweep(api_deadlines *d, uint64_t now_ms);
/* How many connections sweeps have cut since the start. */
uint64_t api_deadlines_cut(api_deadlines *d);
