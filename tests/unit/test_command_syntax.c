/*
 * tests/unit/test_command_syntax.c — every command the client sends, checked
 * against the RFC 3501 / 9051 command grammar.
 *
 * A small responder (not a script: it answers whatever comes with a
 * plausible reply, by command name) stands in for the server, and every
 * operation of imap/ is run against it under several capability sets. Each
 * command line it receives, literals included, goes through check_command:
 *
 *   command     = tag SP command-name *(SP argument) CRLF
 *   tag         = 1*<any ASTRING-CHAR except "+">
 *   argument    = atom / quoted / literal / "(" [argument *(SP argument)] ")"
 *   quoted      = DQUOTE *(QUOTED-CHAR / "\" quoted-specials) DQUOTE
 *   literal     = "{" number ["+"] "}" CRLF *CHAR8
 *
 * so: one space between arguments and none after "(" or before ")" (Cyrus
 * answers BAD to `RETURN (SUBSCRIBED )`), escapes only before DQUOTE and
 * "\", no CR/LF/NUL outside literals, a literal's length exact. Atoms may
 * hold a section spec "[...]" (BODY.PEEK[HEADER.FIELDS (LIST-ID)]) whose
 * inside follows the same rules. Each command also has a shape: its name
 * and the kinds of its arguments (see shapes[]).
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/client.h"
#include "imap/content.h"
#include "imap/folder_ops.h"
#include "imap/folders.h"
#include "imap/messages.h"
#include "imap/write.h"

TestSuite(command_syntax, .timeout = 30);

/* ---- the grammar ---- */

enum tok { T_ATOM, T_QUOTED, T_LITERAL, T_LIST };

struct lex {
	const char *p, *end;
	char why[200];
};

static bool fail(struct lex *l, const char *what)
{
	if (!l->why[0])
		snprintf(l->why, sizeof l->why, "%s at \"%.30s\"", what, l->p);
	return false;
}

static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("(){\"%*]", c);
}

static bool argument(struct lex *l, enum tok *kind, int depth);

/* "(" [argument *(SP argument)] ")" or, inside a section, "[" ... "]". */
static bool list_body(struct lex *l, char close, int depth)
{
	if (depth > 8)
		return fail(l, "lists nested too deep");
	if (l->p < l->end && *l->p == ' ')
		return fail(l, "space after the opening bracket");
	while (l->p < l->end && *l->p != close) {
		enum tok k;
		if (!argument(l, &k, depth + 1))
			return false;
		if (l->p < l->end && *l->p == ' ') {
			l->p++;
			if (l->p < l->end && (*l->p == close || *l->p == ' '))
				return fail(l, "space before a closing bracket or two spaces");
		} else if (l->p < l->end && *l->p != close) {
			return fail(l, "arguments not separated by one space");
		}
	}
	if (l->p >= l->end)
		return fail(l, "unclosed list");
	l->p++;
	return true;
}

static bool argument(struct lex *l, enum tok *kind, int depth)
{
	if (l->p >= l->end)
		return fail(l, "argument expected");
	unsigned char c = (unsigned char)*l->p;
	if (c == '(') {
		l->p++;
		*kind = T_LIST;
		return list_body(l, ')', depth);
	}
	if (c == '"') {
		*kind = T_QUOTED;
		for (l->p++; l->p < l->end && *l->p != '"'; l->p++) {
			unsigned char q = (unsigned char)*l->p;
			if (q == '\r' || q == '\n' || q == '\0')
				return fail(l, "CR, LF or NUL in a quoted string");
			if (q == '\\') {
				if (l->p + 1 >= l->end || (l->p[1] != '"' && l->p[1] != '\\'))
					return fail(l, "backslash before something other than \" or \\");
				l->p++;
			}
		}
		if (l->p >= l->end)
			return fail(l, "unterminated quoted string");
		l->p++;
		return true;
	}
	if (c == '{') {
		*kind = T_LITERAL;
		char *e;
		unsigned long n = strtoul(l->p + 1, &e, 10);
		if (e == l->p + 1)
			return fail(l, "literal without a length");
		if (*e == '+')
			e++;
		if (e + 3 > l->end || memcmp(e, "}\r\n", 3) != 0)
			return fail(l, "literal length not followed by } CRLF");
		e += 3;
		if ((size_t)(l->end - e) < n)
			return fail(l, "literal shorter than announced");
		if (memchr(e, '\0', n))
			return fail(l, "NUL in a literal");
		l->p = e + n;
		return true;
	}
	/* an atom, possibly with sections "[...]" and a partial "<a.b>" */
	*kind = T_ATOM;
	const char *start = l->p;
	while (l->p < l->end) {
		c = (unsigned char)*l->p;
		if (c == '[') {
			l->p++;
			if (!list_body(l, ']', depth + 1))
				return false;
			continue;
		}
		if (!atom_char(c) && c != '*' && c != '%')
			break;
		l->p++;
	}
	if (l->p == start)
		return fail(l, "not an atom, string or list");
	return true;
}

/* Shapes: the command name(s), then one letter per argument:
 *   a astring (atom, quoted or literal)   s string (quoted or literal)
 *   l list                                n a number or sequence set (atom)
 *   w an atom                             * any further arguments (checked lexically)
 *   ? the rest is optional                                                          */
struct shape {
	const char *name;
	const char *args;
};

static const struct shape shapes[] = {
	{"CAPABILITY", ""}, {"NOOP", ""}, {"LOGOUT", ""}, {"STARTTLS", ""}, {"IDLE", ""},
	{"NAMESPACE", ""}, {"CLOSE", ""}, {"UNSELECT", ""}, {"CHECK", ""},
	{"LOGIN", "aa"}, {"AUTHENTICATE", "w?w"}, {"ENABLE", "w*"}, {"ID", "*"},
	{"SELECT", "a?l"}, {"EXAMINE", "a?l"}, {"CREATE", "a?l"}, {"DELETE", "a"},
	{"RENAME", "aa"}, {"SUBSCRIBE", "a"}, {"UNSUBSCRIBE", "a"},
	{"LIST", "aa?wl"}, {"LSUB", "aa"}, {"STATUS", "al"},
	{"APPEND", "a*"}, /* mailbox [SP flag-list] [SP date-time] SP literal */
	{"UID FETCH", "n*"}, {"FETCH", "n*"}, {"UID STORE", "nw*"}, {"STORE", "nw*"},
	{"UID COPY", "na"}, {"COPY", "na"}, {"UID MOVE", "na"}, {"MOVE", "na"},
	{"UID EXPUNGE", "n"}, {"UID SEARCH", "*"}, {"SEARCH", "*"}, {"UID SORT", "*"},
	{"SORT", "*"},
};

/* Check one command (tag to CRLF, literals included). Returns true, or
 * false with the reason in why. `name` gets the command name. */
static bool check_command(const char *cmd, size_t len, char *name, size_t name_cap, char *why,
                          size_t why_cap)
{
	struct lex l = {.p = cmd, .end = cmd + len};
	name[0] = '\0';
	bool ok = true;
	if (len < 2 || memcmp(cmd + len - 2, "\r\n", 2) != 0) {
		ok = fail(&l, "no CRLF at the end");
		goto out;
	}
	l.end -= 2;
	const char *t = l.p;
	while (l.p < l.end && atom_char((unsigned char)*l.p) && *l.p != '+')
		l.p++;
	if (l.p == t || l.p >= l.end || *l.p != ' ') {
		ok = fail(&l, "bad tag");
		goto out;
	}
	l.p++;
	enum tok kinds[64];
	const char *starts[64];
	size_t n = 0;
	while (ok && l.p < l.end) {
		if (n == 64) {
			ok = fail(&l, "too many arguments");
			break;
		}
		starts[n] = l.p;
		ok = argument(&l, &kinds[n], 0);
		n++;
		if (!ok)
			break;
		if (l.p < l.end) {
			if (*l.p != ' ')
				ok = fail(&l, "arguments not separated by one space");
			else if (++l.p >= l.end || *l.p == ' ')
				ok = fail(&l, "a trailing space or two spaces");
		}
	}
	if (!ok)
		goto out;
	if (n == 0 || kinds[0] != T_ATOM) {
		ok = fail(&l, "no command name");
		goto out;
	}
	size_t skip = 1;
	size_t w0 = strcspn(starts[0], " \r");
	snprintf(name, name_cap, "%.*s", (int)w0, starts[0]);
	if (strcmp(name, "UID") == 0 && n > 1) {
		size_t w1 = strcspn(starts[1], " \r");
		snprintf(name, name_cap, "UID %.*s", (int)w1, starts[1]);
		skip = 2;
	}
	const struct shape *sh = NULL;
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		if (strcmp(shapes[i].name, name) == 0)
			sh = &shapes[i];
	if (!sh) {
		ok = fail(&l, "unknown command name");
		goto out;
	}
	size_t i = skip;
	bool optional = false;
	for (const char *a = sh->args; *a && ok; a++) {
		if (*a == '?') {
			optional = true;
			continue;
		}
		if (*a == '*') {
			i = n;
			break;
		}
		if (i >= n) {
			if (!optional) {
				l.p = l.end;
				ok = fail(&l, "missing argument");
			}
			break;
		}
		enum tok k = kinds[i];
		bool fits = (*a == 'a' && k != T_LIST) || (*a == 's' && (k == T_QUOTED || k == T_LITERAL)) ||
		            (*a == 'l' && k == T_LIST) || ((*a == 'n' || *a == 'w') && k == T_ATOM);
		if (fits && *a == 'n') {
			for (const char *q = starts[i]; q < l.end && *q != ' ' && fits; q++)
				fits = isdigit((unsigned char)*q) || *q == ':' || *q == ',' || *q == '*';
		}
		if (!fits) {
			l.p = starts[i];
			ok = fail(&l, "argument of the wrong kind");
		}
		i++;
	}
	if (ok && i < n) {
		l.p = starts[i];
		ok = fail(&l, "extra argument");
	}
out:
	snprintf(why, why_cap, "%s", l.why);
	return ok;
}

static bool check_str(const char *cmd, char *why)
{
	char name[32];
	return check_command(cmd, strlen(cmd), name, sizeof name, why, 200);
}

Test(command_syntax, the_grammar_itself)
{
	char why[200];
	static const char *const good[] = {
		"A1 LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)\r\n",
		"A1 LIST \"\" \"*\" RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT))\r\n",
		"A2 UID FETCH 1:3,7 (UID FLAGS BODY.PEEK[HEADER.FIELDS (LIST-ID)])\r\n",
		"A3 UID FETCH 4 (BODY.PEEK[1.2]<0.4096>)\r\n",
		"A4 LOGIN {5}\r\nal\"ce \"p\\\\w\"\r\n",
		"A5 UID STORE 4 FLAGS.SILENT ()\r\n",
		"A6 SELECT \"Old Mail\" (CONDSTORE)\r\n",
		"A7 APPEND Drafts (\\Draft) \"17-Jul-1996 02:44:25 -0700\" {3+}\r\nabc\r\n",
		"A8 UID SEARCH RETURN (ALL) CHARSET UTF-8 FROM \"J\\\"x\" UNSEEN\r\n",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_expect(check_str(good[i], why), "refused %s: %s", good[i], why);
	static const char *const bad[] = {
		/* what imapgw once sent: Dovecot takes it, Cyrus answers BAD */
		"A1 LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE )\r\n",
		"A1 LIST \"\" \"*\" RETURN ( SUBSCRIBED)\r\n",
		"A1 LIST  \"\" \"*\"\r\n",
		"A1 LIST \"\" \"*\" \r\n",
		"A1 LIST \"\" \"*\"\n",
		"A1 SELECT Old Mail\r\n",
		"A1 SELECT \"a\\b\"\r\n",
		"A1 SELECT \"a\rb\"\r\n",
		"A1 LOGIN {6}\r\nabc\r\n",
		"A1 UID FETCH 1:3 (UID FLAGS\r\n",
		"A1 FROB x\r\n",
		"A1 STATUS INBOX\r\n",
		"A1 UID MOVE 3 \"x\" extra\r\n",
		"A1 UID FETCH 1:a (UID)\r\n",
		"+1 NOOP\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect(!check_str(bad[i], why), "accepted %s", bad[i]);
}

/* ---- the responder ---- */

struct responder {
	int lfd;
	uint16_t port;
	const char *greeting;   /* the first line, CRLF added */
	const char *caps;       /* for CAPABILITY */
	pthread_t thr;
	/* results */
	char names[64][32];     /* distinct command names seen */
	size_t nnames;
	char errors[4096];
	size_t nbad;
	size_t ncommands;
};

static void sendstr(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t w = write(fd, s, len);
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* Read one line (up to LF) into buf at *len; false at EOF. */
static bool read_line(int fd, char **buf, size_t *len, size_t *cap)
{
	for (;;) {
		if (*len + 2 > *cap) {
			*cap = *cap ? *cap * 2 : 4096;
			*buf = realloc(*buf, *cap);
		}
		ssize_t r = read(fd, *buf + *len, 1);
		if (r <= 0)
			return false;
		(*len)++;
		if ((*buf)[*len - 1] == '\n')
			return true;
	}
}

static bool read_n(int fd, char **buf, size_t *len, size_t *cap, size_t n)
{
	while (*len + n + 1 > *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		*buf = realloc(*buf, *cap);
	}
	while (n) {
		ssize_t r = read(fd, *buf + *len, n);
		if (r <= 0)
			return false;
		*len += (size_t)r;
		n -= (size_t)r;
	}
	return true;
}

#define FETCH_ITEMS                                                                          \
	"UID 3 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 620 "       \
	"ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"Hi\" ((\"A\" NIL \"a\" \"x.test\")) NIL " \
	"NIL ((NIL NIL \"b\" \"x.test\")) NIL NIL NIL \"<m1@x.test>\") "                          \
	"BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL " \
	"NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 1 NIL NIL NIL NIL) " \
	"\"alternative\" (\"boundary\" \"b\") NIL NIL NIL)"

static void answer(struct responder *r, int fd, const char *tag, const char *name,
                   const char *cmd)
{
	char out[4096];
	const char *extra = "";
	char buf[2048] = "";
	if (strcmp(name, "CAPABILITY") == 0) {
		snprintf(buf, sizeof buf, "* CAPABILITY %s\r\n", r->caps);
		extra = buf;
	} else if (strcmp(name, "SELECT") == 0 || strcmp(name, "EXAMINE") == 0) {
		extra = "* 5 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 9] ok\r\n"
		        "* FLAGS (\\Seen \\Deleted)\r\n* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] ok\r\n";
	} else if (strcmp(name, "LIST") == 0 || strcmp(name, "LSUB") == 0) {
		extra = "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		        "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
		        "* LIST (\\HasChildren) \"/\" Archive\r\n"
		        "* LIST (\\HasNoChildren) \"/\" \"Archive/Old Mail\"\r\n"
		        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Donn&AOk-es\"\r\n";
	} else if (strcmp(name, "STATUS") == 0) {
		extra = "* STATUS INBOX (MESSAGES 5 UNSEEN 1 UIDNEXT 9 UIDVALIDITY 7)\r\n";
	} else if (strcmp(name, "UID SEARCH") == 0 || strcmp(name, "SEARCH") == 0) {
		if (strstr(cmd, "RETURN (")) {
			snprintf(buf, sizeof buf, "* ESEARCH (TAG \"%s\") UID COUNT 3 ALL 3:5\r\n", tag);
			extra = buf;
		} else {
			extra = "* SEARCH 3 4 5\r\n";
		}
	} else if (strcmp(name, "UID SORT") == 0 || strcmp(name, "SORT") == 0) {
		if (strstr(cmd, "RETURN (")) {
			snprintf(buf, sizeof buf, "* ESEARCH (TAG \"%s\") UID COUNT 3 PARTIAL (1:3 5,3,4)\r\n",
			         tag);
			extra = buf;
		} else {
			extra = "* SORT 5 3 4\r\n";
		}
	} else if (strcmp(name, "UID FETCH") == 0 || strcmp(name, "FETCH") == 0) {
		extra = "* 1 FETCH (" FETCH_ITEMS ")\r\n";
	} else if (strcmp(name, "UID MOVE") == 0) {
		extra = "* OK [COPYUID 8 3 10] moved\r\n* 1 EXPUNGE\r\n";
	} else if (strcmp(name, "LOGOUT") == 0) {
		extra = "* BYE bye\r\n";
	}
	const char *code = "";
	if (strcmp(name, "UID COPY") == 0)
		code = "[COPYUID 8 3 10] ";
	else if (strcmp(name, "APPEND") == 0)
		code = "[APPENDUID 7 10] ";
	else if (strcmp(name, "SELECT") == 0)
		code = "[READ-WRITE] ";
	snprintf(out, sizeof out, "%s%s OK %sdone\r\n", extra, tag, code);
	sendstr(fd, out);
}

static void note_name(struct responder *r, const char *name)
{
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i], name) == 0)
			return;
	if (r->nnames < 64)
		snprintf(r->names[r->nnames++], sizeof r->names[0], "%s", name);
}

static void *responder_main(void *arg)
{
	struct responder *r = arg;
	int fd = accept(r->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char greet[1024];
	snprintf(greet, sizeof greet, "%s\r\n", r->greeting);
	sendstr(fd, greet);
	char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		size_t len = 0;
		if (!read_line(fd, &buf, &len, &cap))
			break;
		/* literals: {n} or {n+} at the end of a line */
		for (;;) {
			if (len < 4 || buf[len - 2] != '\r' || buf[len - 3] != '}')
				break;
			size_t o = len - 3;
			bool plus = o > 0 && buf[o - 1] == '+';
			size_t d = plus ? o - 1 : o;
			while (d > 0 && isdigit((unsigned char)buf[d - 1]))
				d--;
			if (d == 0 || buf[d - 1] != '{')
				break;
			size_t n = strtoul(buf + d, NULL, 10);
			if (!plus)
				sendstr(fd, "+ go on\r\n");
			if (!read_n(fd, &buf, &len, &cap, n) || !read_line(fd, &buf, &len, &cap))
				goto done;
		}
		buf[len] = '\0';
		char name[32], why[200];
		r->ncommands++;
		bool ok = check_command(buf, len, name, sizeof name, why, sizeof why);
		if (!ok) {
			r->nbad++;
			size_t el = strlen(r->errors);
			snprintf(r->errors + el, sizeof r->errors - el, "%.*s\n  -> %s\n",
			         (int)(len > 300 ? 300 : len - 2), buf, why);
		}
		note_name(r, name[0] ? name : "?");
		char tag[32];
		snprintf(tag, sizeof tag, "%.*s", (int)strcspn(buf, " "), buf);
		const char *mech = buf + strlen(tag) + 14; /* after "AUTHENTICATE " */
		if (strcmp(name, "AUTHENTICATE") == 0 && !memchr(mech, ' ', strcspn(mech, "\r"))) {
			/* no initial response: ask for it, read it */
			sendstr(fd, "+ \r\n");
			len = 0;
			if (!read_line(fd, &buf, &len, &cap))
				break;
		}
		answer(r, fd, tag, name, buf);
		if (strcmp(name, "LOGOUT") == 0)
			break;
	}
done:
	free(buf);
	close(fd);
	return NULL;
}

static void responder_start(struct responder *r, const char *greeting, const char *caps)
{
	memset(r, 0, sizeof *r);
	r->greeting = greeting;
	r->caps = caps;
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	cr_assert(bind(r->lfd, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(listen(r->lfd, 1) == 0);
	cr_assert(getsockname(r->lfd, (struct sockaddr *)&a, &alen) == 0);
	r->port = ntohs(a.sin_port);
	cr_assert(pthread_create(&r->thr, NULL, responder_main, r) == 0);
}

static void responder_finish(struct responder *r)
{
	pthread_join(r->thr, NULL);
	close(r->lfd);
	cr_expect_eq(r->nbad, 0, "%zu of %zu commands break the grammar:\n%s", r->nbad, r->ncommands,
	             r->errors);
}

static bool responder_saw(const struct responder *r, const char *name)
{
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

static struct imap_session *connect_to(const struct responder *r)
{
	struct imap_client_config cfg;
	imap_client_config_default(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = r->port;
	cfg.tls_mode = IMAP_TLS_NONE;
	struct imap_session *s = NULL;
	struct imap_error err;
	cr_assert_eq(imap_session_connect(&s, &cfg, imap_now_ms() + 5000, &err), 0, "%s", err.msg);
	return s;
}

/* ---- every operation ---- */

static void run_everything(struct imap_session *s)
{
	struct imap_error err;
	int64_t dl = imap_now_ms() + 10000;
	imap_session_enable(s, dl, &err);

	struct imap_folder_list fl;
	imap_folders_list(s, NULL, true, dl, &fl, &err);
	imap_folder_list_free(&fl);
	imap_folders_list(s, "Archive/Old Mail", false, dl, &fl, &err);
	imap_folder_list_free(&fl);
	imap_folders_list(s, "50% *off*", true, dl, &fl, &err);
	imap_folder_list_free(&fl);
	struct imap_folder st;
	imap_folder_status(s, "Donn\xc3\xa9" "es", "(MESSAGES UIDNEXT)", &st, dl, &err);

	/* pages: every sort key, both orders, with and without filters and cursor */
	for (int key = IMAP_SORT_ARRIVAL; key <= IMAP_SORT_SIZE; key++) {
		for (int variant = 0; variant < 4; variant++) {
			struct imap_page_request req = {.sort = (enum imap_sort_key)key,
			                                .desc = variant & 1, .page = 1, .per_page = 2};
			if (variant >= 2) {
				req.filter = (struct imap_filter){
					.unseen = true, .flagged = true, .has_unsubscribe = true,
					.from = "J\xc3\xbcrgen \"JM\" M\xc3\xbcller", .to = "a\\b",
					.subject = "Re: (draft) 50% off", .text = "line one\r\nline two",
					.since = "1-Feb-2024", .before = "3-Mar-2024",
					.has_larger = true, .larger = 10, .has_smaller = true, .smaller = 100000};
			}
			if (variant == 3) {
				req.has_cursor = true;
				req.after_uid = 3;
				req.after_pos = 0;
			}
			struct imap_page p;
			memset(&p, 0, sizeof p);
			imap_messages_page(s, variant == 1 ? "Archive/Old Mail" : "INBOX", &req, dl, &p,
			                   &err);
			imap_page_free(&p);
		}
	}

	/* reading */
	imap_content_select(s, "Archive/Old Mail", false, 7, 3, dl, &err);
	struct imap_message m;
	memset(&m, 0, sizeof m);
	if (imap_message_fetch(s, 3, dl, &m, &err) == 0)
		imap_message_fetch_text(s, &m, 4096, dl, &err);
	imap_message_free(&m);
	struct imap_bodystructure *bs = NULL;
	if (imap_content_structure(s, 3, dl, &bs, &err) == 0)
		imap_bodystructure_free(&bs);
	imap_content_exists(s, 3, dl, &err);
	imap_content_select(s, "INBOX", true, 0, 3, dl, &err);
	memset(&m, 0, sizeof m);
	if (imap_message_fetch(s, 3, dl, &m, &err) == 0)
		imap_message_mark_seen(s, &m, dl, &err);
	imap_message_free(&m);

	/* flags */
	const uint32_t uids[] = {3, 4, 5, 9};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_flags_result fr;
	imap_flags_get(s, &ref, uids, 4, dl, &fr, &err);
	imap_flags_result_free(&fr);
	const char *add[] = {"\\Seen", "$Work"}, *rem[] = {"\\Flagged"};
	struct imap_store stt = {.add = add, .nadd = 2, .remove = rem, .nremove = 1};
	imap_flags_store(s, &ref, uids, 4, &stt, dl, &fr, &err);
	imap_flags_result_free(&fr);
	stt = (struct imap_store){.replace = true};
	imap_flags_store(s, &ref, uids, 1, &stt, dl, &fr, &err);
	imap_flags_result_free(&fr);

	/* copy, move, delete */
	struct imap_transfer_result tr;
	imap_messages_transfer(s, &ref, uids, 2, "Archive/Old Mail", false, dl, &tr, &err);
	imap_transfer_result_free(&tr);
	imap_messages_transfer(s, &ref, uids, 2, "Donn\xc3\xa9" "es", true, dl, &tr, &err);
	imap_transfer_result_free(&tr);
	struct imap_delete_result dr;
	imap_message_delete(s, &ref, 3, false, dl, &dr, &err);
	imap_delete_result_free(&dr);
	imap_message_delete(s, &ref, 4, true, dl, &dr, &err);
	imap_delete_result_free(&dr);

	/* append */
	static const char msg[] = "Message-ID: <n@x.test>\r\nSubject: hi\r\n\r\nbody\r\n";
	const char *aflags[] = {"\\Draft", "$Label"};
	struct imap_append ap = {.folder = "Donn\xc3\xa9" "es", .uidvalidity = 7, .data = msg,
	                         .len = sizeof msg - 1, .flags = aflags, .nflags = 2,
	                         .internaldate = "17-Jul-1996 02:44:25 -0700"};
	struct imap_appended ad;
	imap_message_append(s, &ap, dl, &ad, &err);
	ap = (struct imap_append){.folder = "Old Mail", .data = msg, .len = sizeof msg - 1};
	imap_message_append(s, &ap, dl, &ad, &err);

	/* folder writes */
	imap_folder_create(s, "Projects/New \"Stuff\"", true, dl, &err);
	imap_folder_rename(s, "Archive/Old Mail", "Archive/Older Mail", 7, dl, &err);
	imap_folder_subscribe(s, "Donn\xc3\xa9" "es", false, dl, &err);
	imap_folder_subscribe(s, "Donn\xc3\xa9" "es", true, dl, &err);
	struct imap_folder_deleted fd;
	memset(&fd, 0, sizeof fd);
	imap_folder_delete(s, "Archive", true, 0, dl, &fd, &err);
	imap_folder_deleted_free(&fd);
	imap_session_logout(&s, imap_now_ms() + 3000);
}

static void expect_seen(const struct responder *r, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		cr_expect(responder_saw(r, names[i]), "no %s was sent", names[i]);
}

Test(command_syntax, every_command_with_every_extension)
{
	static const char caps[] =
		"IMAP4rev1 LITERAL+ ENABLE CONDSTORE UIDPLUS MOVE SORT ESORT ESEARCH "
		"LIST-EXTENDED LIST-STATUS SPECIAL-USE CHILDREN NAMESPACE PARTIAL CONTEXT=SORT";
	struct responder r;
	responder_start(&r, "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ ENABLE CONDSTORE UIDPLUS "
	                    "MOVE SORT ESORT ESEARCH LIST-EXTENDED LIST-STATUS SPECIAL-USE CHILDREN "
	                    "NAMESPACE PARTIAL CONTEXT=SORT] hi", caps);
	run_everything(connect_to(&r));
	responder_finish(&r);
	static const char *const want[] = {"LIST", "STATUS", "SELECT", "UID SORT", "UID SEARCH",
	                                   "UID FETCH", "UID STORE", "UID COPY", "UID MOVE",
	                                   "UID EXPUNGE", "APPEND", "CREATE", "RENAME",
	                                   "SUBSCRIBE", "UNSUBSCRIBE", "DELETE", "ENABLE", NULL};
	expect_seen(&r, want);
}

Test(command_syntax, every_command_on_a_plain_imap4rev1_server)
{
	/* No LITERAL+ (synchronizing literals), no extensions: LSUB, STATUS one
	 * by one, COPY + STORE + UID EXPUNGE, local sort. */
	struct responder r;
	responder_start(&r, "* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] hi", "IMAP4rev1 UIDPLUS");
	run_everything(connect_to(&r));
	responder_finish(&r);
	static const char *const want[] = {"LIST", "LSUB", "STATUS", "EXAMINE", "UID SEARCH",
	                                   "UID FETCH", "UID STORE", "UID COPY", "UID EXPUNGE",
	                                   "APPEND", "CREATE", NULL};
	expect_seen(&r, want);
}

Test(command_syntax, every_command_on_a_courier_like_server)
{
	static const char caps[] = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT "
	                           "THREAD=REFERENCES SORT QUOTA IDLE";
	struct responder r;
	responder_start(&r, "* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE "
	                    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE] hi", caps);
	run_everything(connect_to(&r));
	responder_finish(&r);
	static const char *const want[] = {"LIST", "LSUB", "UID SORT", "UID COPY", NULL};
	expect_seen(&r, want);
}

Test(command_syntax, logins_quote_what_needs_quoting)
{
	static const char *const users[] = {"alice", "al ice", "a\"l\\ice", "j\xc3\xbcrgen",
	                                    "NIL", "x{3}"};
	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
		for (int mech = 0; mech < 2; mech++) {
			struct responder r;
			const char *caps = mech ? "IMAP4rev1 AUTH=PLAIN" : "IMAP4rev1 SASL-IR AUTH=PLAIN";
			char greet[128];
			snprintf(greet, sizeof greet, "* OK [CAPABILITY %s] hi", caps);
			responder_start(&r, greet, caps);
			struct imap_session *s = connect_to(&r);
			struct imap_error err;
			int64_t dl = imap_now_ms() + 5000;
			imap_session_login(s, IMAP_MECH_LOGIN, users[i], "p\"a ss\\w(o)rd{2}", dl, &err);
			imap_session_logout(&s, dl);
			responder_finish(&r);
			cr_expect(responder_saw(&r, "LOGIN"));

			responder_start(&r, greet, caps);
			s = connect_to(&r);
			imap_session_login(s, IMAP_MECH_PLAIN, users[i], "secret", dl, &err);
			imap_session_logout(&s, dl);
			responder_finish(&r);
			cr_expect(responder_saw(&r, "AUTHENTICATE"));
		}
	}
}
