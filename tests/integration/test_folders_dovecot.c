/*
 * Folder listing and the selected-mailbox cache against the private Dovecot
 * (alice's seeded mailbox: tests/seed/seedgen.c).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "imap/client.h"
#include "imap/folders.h"
#include "tests/support/gateway.h"

static struct imap_tls *tls;

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	tls = test_tls_open();
}

static void teardown(void)
{
	imap_tls_free(&tls);
}

TestSuite(folders_dovecot, .init = setup, .fini = teardown, .timeout = 60);

static void count_commands(void *ctx, char dir, const char *text, size_t len)
{
	struct imap_buf *b = ctx;
	if (dir == 'C')
		imap_buf_printf(b, "%.*s\n", (int)len, text);
}

static struct imap_session *alice(struct imap_buf *trace)
{
	struct imap_client_config cfg;
	struct imap_error err = {0};
	imap_client_config_default(&cfg);
	cfg.host = getenv("IMAPGW_TEST_HOST");
	cfg.port = (uint16_t)atoi(getenv("IMAPGW_TEST_IMAPS_PORT"));
	cfg.tls = tls;
	cfg.trace = trace ? count_commands : NULL;
	cfg.trace_ctx = trace;
	struct imap_session *s = NULL;
	int64_t dl = imap_now_ms() + 10000;
	cr_assert_eq(imap_session_connect(&s, &cfg, dl, &err), 0, "%s", err.msg);
	cr_assert_eq(imap_session_login(s, IMAP_MECH_AUTO, "alice", "alice-secret", dl, &err), 0);
	cr_assert_eq(imap_session_enable(s, dl, &err), 0);
	return s;
}

/* Messages the seed manifest puts in a folder. */
static unsigned manifest_count(const char *folder)
{
	FILE *f = fopen(getenv("IMAPGW_TEST_SEED_MANIFEST"), "r");
	cr_assert_not_null(f);
	char line[4096];
	unsigned n = 0;
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab || line[0] == '-' || line[0] == '#')
			continue;
		char *end = strchr(tab + 1, '\t');
		if (end && (size_t)(end - tab - 1) == strlen(folder) &&
		    strncmp(tab + 1, folder, strlen(folder)) == 0)
			n++;
	}
	fclose(f);
	return n;
}

Test(folders_dovecot, list_with_counts_in_one_round_trip)
{
	struct imap_buf t;
	imap_buf_init(&t, 0);
	struct imap_session *s = alice(&t);
	struct imap_folder_list l;
	struct imap_error err = {0};
	size_t before = t.len;
	cr_assert_eq(imap_folders_list(s, NULL, true, imap_now_ms() + 10000, &l, &err), 0, "%s",
	             err.msg);
	cr_assert_eq(strchr(t.data + before, '\n') - (t.data + before) + 1,
	             (long)(t.len - before), "one command: %s", t.data + before);
	cr_assert(strstr(t.data + before, "RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS") != NULL);

	cr_assert_str_eq(l.v[0].path, "INBOX");
	const struct imap_folder *inbox = test_folder_must(&l, "INBOX");
	cr_assert(inbox->has_status);
	cr_assert_eq(inbox->messages, manifest_count("INBOX"));
	cr_assert_gt(inbox->uidvalidity, 0);
	cr_assert_gt(inbox->uidnext, inbox->messages);
	cr_assert_eq(inbox->delimiter, '/');

	const struct imap_folder *d = test_folder_must(&l, "Donn\u00e9es");
	cr_assert_str_eq(d->raw, "Donn&AOk-es");
	cr_assert_str_eq(imap_folder_name(test_folder_must(&l, "Archive/2024/Q1")), "Q1");
	cr_assert_not_null(test_folder_find(&l, "\u65e5\u672c\u8a9e"));
	cr_assert_not_null(test_folder_find(&l, "Say \"Hi\""));
	cr_assert_not_null(test_folder_find(&l, "Back\\slash"));
	cr_assert_str_eq(test_folder_must(&l, "Sent")->special_use, "\\Sent");
	cr_assert_str_eq(test_folder_must(&l, "Trash")->special_use, "\\Trash");
	cr_assert_null(test_folder_must(&l, "Old Mail")->special_use);
	cr_assert(test_folder_must(&l, "Sent")->subscribed);
	const struct imap_folder *parent = test_folder_find(&l, "\u00dcn\u00efc\u00f6d\u00e9");
	if (parent)  /* a \Noselect placeholder on maildir:LAYOUT=fs */
		cr_assert(!parent->selectable || parent->has_status);
	imap_folder_list_free(&l);

	/* One folder by name, wildcard characters taken literally. */
	cr_assert_eq(imap_folders_list(s, "Archive/2024", true, imap_now_ms() + 10000, &l, &err), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].path, "Archive/2024");
	imap_folder_list_free(&l);
	cr_assert_eq(imap_folders_list(s, "Arch*", false, imap_now_ms() + 10000, &l, &err), 0);
	cr_assert_eq(l.n, 0);
	imap_folder_list_free(&l);
	imap_session_logout(&s, imap_now_ms() + 2000);
	imap_buf_free(&t);
}

Test(folders_dovecot, second_select_sends_nothing)
{
	struct imap_buf t;
	imap_buf_init(&t, 0);
	struct imap_session *s = alice(&t);
	struct imap_error err = {0};
	int64_t dl = imap_now_ms() + 10000;
	cr_assert_eq(imap_session_select(s, "INBOX", true, dl, &err), 0, "%s", err.msg);
	const struct imap_mailbox *m = imap_session_mailbox(s);
	cr_assert_eq(m->exists, manifest_count("INBOX"));
	cr_assert_gt(m->uidvalidity, 0);
	cr_assert_gt(m->uidnext, 0);
	cr_assert_gt(m->highestmodseq, 0, "CONDSTORE enabled");
	size_t before = t.len;
	cr_assert_eq(imap_session_select(s, "INBOX", true, dl, &err), 0);
	cr_assert_eq(t.len, before, "no command for the same folder: %s", t.data + before);
	cr_assert(strstr(t.data, "EXAMINE INBOX") != NULL);

	/* Another folder: a new EXAMINE; an unknown one: NOT_FOUND, nothing selected. */
	cr_assert_eq(imap_session_select(s, "Donn\u00e9es", true, dl, &err), 0);
	cr_assert_str_eq(imap_session_mailbox(s)->name, "Donn\u00e9es");
	cr_assert(strstr(t.data, "EXAMINE Donn&AOk-es") != NULL);
	cr_assert_eq(imap_session_select(s, "Nope", true, dl, &err), IMAP_ERR_NOT_FOUND);
	cr_assert_null(imap_session_mailbox(s));
	imap_session_logout(&s, imap_now_ms() + 2000);
	imap_buf_free(&t);
}

Test(folders_dovecot, exists_tracks_new_mail)
{
	test_user_lock("alice");  /* creates and deletes one of alice's folders */
	struct imap_session *s = alice(NULL);
	struct imap_error err = {0};
	int64_t dl = imap_now_ms() + 10000;
	char box[64];
	snprintf(box, sizeof box, "track-%d", (int)getpid());
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "CREATE");
	imap_cmd_mailbox(&c, box, strlen(box));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, dl, &err), 0);
	imap_cmd_free(&c);
	cr_assert_eq(imap_session_select(s, box, false, dl, &err), 0);
	cr_assert_eq(imap_session_mailbox(s)->exists, 0);
	unsigned changes = imap_session_mailbox(s)->changes;

	/* Another session appends; ours learns of it from the next command. */
	struct imap_session *other = alice(NULL);
	imap_session_cmd(other, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, box, strlen(box));
	imap_cmd_literal(&c, "Subject: x\r\n\r\nx\r\n", 17);
	cr_assert_eq(imap_session_run(other, &c, NULL, NULL, dl, &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&other, dl);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, dl, &err), 0);
	imap_cmd_free(&c);
	cr_assert_eq(imap_session_mailbox(s)->exists, 1);
	cr_assert_neq(imap_session_mailbox(s)->changes, changes);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UNSELECT");
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, dl, &err), 0);
	imap_cmd_free(&c);
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "DELETE");
	imap_cmd_mailbox(&c, box, strlen(box));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, dl, &err), 0);
	imap_cmd_free(&c);
	imap_session_logout(&s, dl);
}
