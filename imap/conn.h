/*
 * imap/conn.h — one TCP connection to an IMAP server, optionally TLS, with
 * deadlines on every blocking step. No parsing happens here.
 *
 * Deadlines are absolute times on CLOCK_MONOTONIC in milliseconds
 * (imap_now_ms() + timeout, see imap/base/clock.h); every call that may
 * block takes one and returns IMAP_ERR_TIMEOUT when it passes. The socket
 * is non-blocking and waits in poll(), so a deadline holds even in the
 * middle of a TLS record.
 *
 * TLS: OpenSSL, TLS 1.2 or newer, the peer's chain verified against the
 * system store or a configured CA file, and the host name (or IP address)
 * checked against the certificate; SNI is sent for names, not addresses.
 * Verification cannot be turned off through this API.
 *
 * OpenSSL writes to the socket with write(): a program using TLS
 * connections must ignore SIGPIPE.
 */
#ifndef IMAPGW_IMAP_CONN_H
#define IMAPGW_IMAP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "imap/base/clock.h"
#include "imap/base/error.h"

/* A TLS client context shared by every connection to one server config. */
struct imap_tls;

/* New TLS context verifying against ca_file (PEM; NULL: the system store).
 * Returns NULL and fills *err when the CA file cannot be loaded. */
struct imap_tls *imap_tls_new(const char *ca_file, struct imap_error *err);

/* Free the context and set *tls to NULL. NULL-safe. Connections made with
 * it hold their own reference and may outlive it. */
void imap_tls_free(struct imap_tls **tls);

struct imap_conn;

/* Resolve host, connect over TCP to host:port before the deadline.
 * Returns 0 and sets *out, or IMAP_ERR_RESOLVE / IMAP_ERR_CONNECT /
 * IMAP_ERR_TIMEOUT. Name resolution uses getaddrinfo, which cannot be
 * interrupted: use numeric addresses where that matters. */
int imap_conn_open(struct imap_conn **out, const char *host, uint16_t port,
                   int64_t deadline, struct imap_error *err);

/* Run the TLS handshake on an open connection (implicit TLS right after
 * connect, or after a STARTTLS "OK"). `name` is what the certificate must
 * name: a host name or an IP address literal. Returns 0, IMAP_ERR_TLS_VERIFY
 * (chain or name not trusted), IMAP_ERR_TLS, IMAP_ERR_IO or IMAP_ERR_TIMEOUT.
 * The caller must make sure no plain-text bytes it read ahead are left
 * over (they could be a STARTTLS injection). */
int imap_conn_start_tls(struct imap_conn *c, struct imap_tls *tls, const char *name,
                        int64_t deadline, struct imap_error *err);

/* Read what is available (at least one byte) into buf. Returns the number of
 * bytes (> 0), or IMAP_ERR_IO (EOF or error) / IMAP_ERR_TLS / IMAP_ERR_TIMEOUT. */
long imap_conn_read(struct imap_conn *c, char *buf, size_t cap, int64_t deadline,
                    struct imap_error *err);

/* Read what has arrived already, without waiting: the number of bytes
 * (> 0), 0 when nothing is there now (TLS records without data, such as
 * session tickets, are taken in and give 0), or IMAP_ERR_IO (EOF or error) /
 * IMAP_ERR_TLS. One poll() when nothing has arrived. */
long imap_conn_read_ready(struct imap_conn *c, char *buf, size_t cap, struct imap_error *err);

/* The socket, for waiting on it with poll() beside other descriptors
 * (data already decrypted is only seen by imap_conn_read_ready). */
int imap_conn_fd(const struct imap_conn *c);

/* Write all of buf. Returns 0, or IMAP_ERR_IO / IMAP_ERR_TLS / IMAP_ERR_TIMEOUT.
 * *written (may be NULL) receives the bytes handed to the kernel, also on
 * failure: 0 there means that nothing of buf left this process. */
int imap_conn_write(struct imap_conn *c, const char *buf, size_t len, int64_t deadline,
                    size_t *written, struct imap_error *err);

/* True when TLS is active on the connection. */
int imap_conn_is_tls(const struct imap_conn *c);

/* Close (with a TLS close_notify when possible, never blocking) and free;
 * sets *c to NULL. NULL-safe. */
void imap_conn_close(struct imap_conn **c);

#endif
