/*
 * server/main.c — imapgw: a REST/JSON gateway to an IMAP server.
 *
 * Reads the configuration (flags and IMAPGW_* variables, see --help),
 * starts the HTTP front end (server/http.h explains the threading model),
 * and runs until SIGTERM or SIGINT, then drains in-flight requests.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "server/http.h"
#include "server/log.h"

int main(int argc, char **argv)
{
	struct server_config cfg;
	int rc = server_config_load(&cfg, argc, argv, stdout, stderr);
	if (rc != 0) {
		server_config_free(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_set_level((enum log_level)cfg.log_level);

	/* OpenSSL writes to sockets with write(): a closed peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);  /* threads started below inherit it */

	struct http_server *http = http_server_start(&cfg);
	if (!http) {
		server_config_free(&cfg);
		return 1;
	}
	char listen[300], imap[300];
	snprintf(listen, sizeof listen, "%s:%u", cfg.listen_host, (unsigned)cfg.listen_port);
	snprintf(imap, sizeof imap, "%s:%u", cfg.imap_host, (unsigned)cfg.imap_port);
	log_event(LOG_INFO, NULL, "listening", "listen", listen, "imap", imap, "imap_tls",
	          cfg.imap_tls == IMAP_TLS_IMPLICIT   ? "implicit"
	          : cfg.imap_tls == IMAP_TLS_STARTTLS ? "starttls"
	                                              : "none",
	          (const char *)NULL);

	int sig = 0;
	sigwait(&stop, &sig);
	log_event(LOG_INFO, NULL, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
	          (const char *)NULL);
	http_server_stop(&http);
	server_config_free(&cfg);
	log_event(LOG_INFO, NULL, "stopped", (const char *)NULL);
	return 0;
}
