/*
 * imap/base/clock.h — the one clock every deadline is measured on.
 *
 * Deadlines throughout imapgw (IMAP connections, the session pool, HTTP
 * requests, the worker queue) are absolute times in milliseconds on
 * CLOCK_MONOTONIC: now plus a timeout. Wall-clock jumps do not move them.
 */
#ifndef IMAPGW_IMAP_BASE_CLOCK_H
#define IMAPGW_IMAP_BASE_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC. Never blocks; safe on any thread. */
int64_t imap_now_ms(void);

#endif
