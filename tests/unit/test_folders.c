/*
 * tests/unit/test_folders.c — listing folders (imap/folders.h) against the
 * scripted fake server (tests/support/fake_session.h).
 */
#include <criterion/criterion.h>

#include <string.h>

#include "imap/folders.h"
#include "tests/support/fake_session.h"

TestSuite(folders, .timeout = 20);

static const struct imap_folder *folder_at(const struct imap_folder_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	cr_assert_fail("no folder %s", path);
	return NULL;
}

Test(folders, courier_special_use_by_name_and_pipelined_status)
{
	/* No LIST-EXTENDED, no SPECIAL-USE, everything under "INBOX." with "." */
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 CHILDREN NAMESPACE] Courier-IMAP ready\r\n"),
		FAKE_EXPECT("LIST \"\" \"*\""),
		FAKE_SEND("* LIST (\\HasChildren) \".\" \"INBOX\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Sent\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Trash\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Drafts\"\r\n"
		          "* LIST (\\HasChildren) \".\" \"INBOX.Projects\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Projects.Sent\"\r\n"
		          "* LIST (\\Noselect \\HasChildren) \".\" \"INBOX.Donn&AOk-es\"\r\n"
		          "$TAG OK LIST completed\r\n"),
		FAKE_EXPECT("LSUB \"\" \"*\""),
		FAKE_SEND("* LSUB () \".\" \"INBOX.Sent\"\r\n$TAG OK LSUB completed\r\n"),
		/* one STATUS per selectable folder, sent back to back */
		FAKE_EXPECT("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Trash (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Drafts (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Projects (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Projects.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		/* answers in the server's own order: matched by tag and name */
		FAKE_SEND("* STATUS INBOX.Trash (MESSAGES 2 UNSEEN 2 UIDNEXT 3 UIDVALIDITY 82)\r\nA5 OK\r\n"
		          "* STATUS INBOX (MESSAGES 3 UNSEEN 1 UIDNEXT 4 UIDVALIDITY 77)\r\nA3 OK\r\n"
		          "* STATUS INBOX.Sent (MESSAGES 9 UNSEEN 0 UIDNEXT 10 UIDVALIDITY 81)\r\nA4 OK\r\n"
		          "* STATUS INBOX.Drafts (MESSAGES 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 78)\r\nA6 OK\r\n"
		          "* STATUS INBOX.Projects (MESSAGES 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 79)\r\nA7 OK\r\n"
		          "* STATUS INBOX.Projects.Sent (MESSAGES 1 UNSEEN 0 UIDNEXT 2 UIDVALIDITY 80)\r\nA8 OK\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_folder_list l;
	cr_assert_eq(imap_folders_list(h.s, NULL, true, FAKE_DEADLINE(), &l, &h.err), 0, "%s", h.err.msg);
	cr_assert_eq(l.n, 7);
	const struct imap_folder *sent = folder_at(&l, "INBOX.Sent");
	cr_assert_str_eq(sent->special_use, "\\Sent");
	cr_assert(sent->subscribed);
	cr_assert_eq(sent->delimiter, '.');
	cr_assert_str_eq(imap_folder_name(sent), "Sent");
	cr_assert_eq(sent->messages, 9);
	cr_assert_str_eq(folder_at(&l, "INBOX.Trash")->special_use, "\\Trash");
	cr_assert_str_eq(folder_at(&l, "INBOX.Drafts")->special_use, "\\Drafts");
	cr_assert_null(folder_at(&l, "INBOX.Projects.Sent")->special_use, "only at the top");
	cr_assert_eq(folder_at(&l, "INBOX.Projects.Sent")->uidvalidity, 80);
	const struct imap_folder *d = folder_at(&l, "INBOX.Donn\u00e9es");
	cr_assert(!d->selectable);
	cr_assert(!d->has_status, "no STATUS for a \\Noselect folder");
	cr_assert_eq(folder_at(&l, "INBOX")->unseen, 1);
	imap_folder_list_free(&l);
	fake_session_finish(&h, "A1 LIST \"\" \"*\"\nA2 LSUB \"\" \"*\"\n"
	           "A3 STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A4 STATUS INBOX.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A5 STATUS INBOX.Trash (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A6 STATUS INBOX.Drafts (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A7 STATUS INBOX.Projects (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A8 STATUS INBOX.Projects.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)");
}
