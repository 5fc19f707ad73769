/*
 * A libxenstore client for the conformance tests: Xen's own client library, not pvkit's, drives
 * pvkit's xenstored. It runs the commands given as arguments, one per argument, words separated by
 * spaces, and prints one line per command: the result, or "ERR <errno>" (libxenstore turns an
 * XS_ERROR reply into errno). "wait" reads a line from stdin, so a test can act between commands.
 * (XS_CONTROL is tested with Xen's xenstore-control itself.)
 *
 *   start <slot>            xs_transaction_start, kept in slot 0..9      -> "OK"
 *   end <slot> <T|F>        xs_transaction_end (F aborts)                -> "OK"
 *   read <slot|-> <path>    xs_read (in a transaction, or "-" for none)  -> the value
 *   write <slot|-> <path> <value>                                        -> "OK"
 *   mkdir <slot|-> <path> / rm <slot|-> <path>                           -> "OK"
 *   perms <path> / setperms <path> <perm>...                             -> "n0,r5" / "OK"
 *   introduce <domid> <mfn> <port> / release <domid> / resume <domid>    -> "OK"
 *   isintro <domid> / target <domid> <target>                            -> "T"/"F" / "OK"
 *   watch <path> <token> / unwatch <path> <token>                        -> "OK"
 *   wait                                                                 -> "GO"
 *
 * Built by the test with: gcc -o xs-client xs-client.c -lxenstore
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#define MAX_WORDS 64

static xs_transaction_t slots[10];

static xs_transaction_t slot(const char *s)
{
	if (!s || strcmp(s, "-") == 0)
		return XBT_NULL;
	return slots[atoi(s) % 10];
}

static void ok(bool done)
{
	if (done)
		printf("OK\n");
	else
		printf("ERR %d\n", errno);
}

static void run(struct xs_handle *h, char **w, int n)
{
	const char *cmd = w[0];
	unsigned int len, num, i;

	if (strcmp(cmd, "start") == 0) {
		xs_transaction_t t = xs_transaction_start(h);
		if (t == XBT_NULL) {
			printf("ERR %d\n", errno);
			return;
		}
		slots[atoi(w[1]) % 10] = t;
		printf("OK\n");
	} else if (strcmp(cmd, "end") == 0) {
		ok(xs_transaction_end(h, slot(w[1]), strcmp(w[2], "F") == 0));
	} else if (strcmp(cmd, "read") == 0) {
		char *v = xs_read(h, slot(w[1]), w[2], &len);
		if (!v) {
			printf("ERR %d\n", errno);
			return;
		}
		printf("%.*s\n", (int)len, v);
		free(v);
	} else if (strcmp(cmd, "write") == 0) {
		const char *v = n > 3 ? w[3] : "";
		ok(xs_write(h, slot(w[1]), w[2], v, strlen(v)));
	} else if (strcmp(cmd, "mkdir") == 0) {
		ok(xs_mkdir(h, slot(w[1]), w[2]));
	} else if (strcmp(cmd, "rm") == 0) {
		ok(xs_rm(h, slot(w[1]), w[2]));
	} else if (strcmp(cmd, "perms") == 0) {
		struct xs_permissions *p = xs_get_permissions(h, XBT_NULL, w[1], &num);
		char buf[64];
		if (!p) {
			printf("ERR %d\n", errno);
			return;
		}
		for (i = 0; i < num; i++) {
			snprintf(buf, sizeof(buf), "%c%u", "nrwb"[p[i].perms & 3], p[i].id);
			printf("%s%s", i ? "," : "", buf);
		}
		printf("\n");
		free(p);
	} else if (strcmp(cmd, "setperms") == 0) {
		struct xs_permissions p[MAX_WORDS];
		num = n - 2;
		for (i = 0; i < num; i++) {
			const char *letter = strchr("nrwb", w[2 + i][0]);
			if (!letter || !w[2 + i][0]) {
				printf("BAD %s\n", w[2 + i]);
				return;
			}
			p[i].perms = letter - "nrwb";
			p[i].id = strtoul(w[2 + i] + 1, NULL, 0);
		}
		ok(xs_set_permissions(h, XBT_NULL, w[1], p, num));
	} else if (strcmp(cmd, "introduce") == 0) {
		ok(xs_introduce_domain(h, atoi(w[1]), strtoul(w[2], NULL, 0), atoi(w[3])));
	} else if (strcmp(cmd, "release") == 0) {
		ok(xs_release_domain(h, atoi(w[1])));
	} else if (strcmp(cmd, "resume") == 0) {
		ok(xs_resume_domain(h, atoi(w[1])));
	} else if (strcmp(cmd, "isintro") == 0) {
		errno = 0;
		bool yes = xs_is_domain_introduced(h, atoi(w[1]));
		if (!yes && errno)
			printf("ERR %d\n", errno);
		else
			printf("%s\n", yes ? "T" : "F");
	} else if (strcmp(cmd, "target") == 0) {
		ok(xs_set_target(h, atoi(w[1]), atoi(w[2])));
	} else if (strcmp(cmd, "watch") == 0) {
		ok(xs_watch(h, w[1], w[2]));
	} else if (strcmp(cmd, "unwatch") == 0) {
		ok(xs_unwatch(h, w[1], w[2]));
	} else if (strcmp(cmd, "wait") == 0) {
		char line[64];
		if (!fgets(line, sizeof(line), stdin))
			exit(3);
		printf("GO\n");
	} else {
		printf("BAD %s\n", cmd);
	}
}

int main(int argc, char **argv)
{
	struct xs_handle *h = xs_open(0);
	if (!h) {
		perror("xs_open");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int a = 1; a < argc; a++) {
		char *copy = strdup(argv[a]);
		char *w[MAX_WORDS];
		int n = 0;
		for (char *tok = strtok(copy, " "); tok && n < MAX_WORDS; tok = strtok(NULL, " "))
			w[n++] = tok;
		if (n > 0)
			run(h, w, n);
		free(copy);
	}
	xs_close(h);
	return 0;
}
