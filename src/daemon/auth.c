/* SPDX-License-Identifier: MIT */
#include "auth.h"
#include "link_wire.h"

#include <errno.h>
#include <munge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Two contexts: munge_decode writes the credential's options (cipher,
 * MAC, ...) into its context, and an encode with the options of a
 * credential that failed to decode would fail too ("Invalid MAC type"). */
struct skiff_auth {
	munge_ctx_t enc;
	munge_ctx_t dec;
};

/* Version word first: a later payload layout is refused, never misread. */
static int payload(char *buf, size_t n, const char *fabric, const char *from,
		   const char *to, uint64_t boot)
{
	int r = snprintf(buf, n, "skiff-link/1 fabric=%s from=%s to=%s "
			 "boot=%016llx", fabric, from, to,
			 (unsigned long long)boot);

	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : r;
}

int skiff_auth_open(struct skiff_auth **out, const char *socket_path)
{
	struct skiff_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->enc = munge_ctx_create();
	a->dec = munge_ctx_create();
	if (!a->enc || !a->dec) {
		skiff_auth_close(a);
		return -ENOMEM;
	}
	if (socket_path &&
	    (munge_ctx_set(a->enc, MUNGE_OPT_SOCKET, socket_path) != EMUNGE_SUCCESS ||
	     munge_ctx_set(a->dec, MUNGE_OPT_SOCKET, socket_path) != EMUNGE_SUCCESS)) {
		skiff_auth_close(a);
		return -EINVAL;
	}
	*out = a;
	return 0;
}

void skiff_auth_close(struct skiff_auth *a)
{
	if (!a)
		return;
	if (a->enc)
		munge_ctx_destroy(a->enc);
	if (a->dec)
		munge_ctx_destroy(a->dec);
	free(a);
}

int skiff_auth_encode_text(struct skiff_auth *a, const char *pl,
			   char *cred, size_t cap, uint32_t *len,
			   char *why, size_t whylen)
{
	char *c = NULL;
	munge_err_t e;
	size_t n;

	e = munge_encode(&c, a->enc, pl, (int)strlen(pl));
	if (e != EMUNGE_SUCCESS) {
		snprintf(why, whylen, "munge_encode: %s", munge_strerror(e));
		free(c);
		return -EIO;
	}
	n = strlen(c);
	if (n == 0 || n > cap) {
		snprintf(why, whylen, "credential of %zu bytes (at most %zu)",
			 n, cap);
		free(c);
		return -EIO;
	}
	memcpy(cred, c, n);
	*len = (uint32_t)n;
	free(c);
	return 0;
}

int skiff_auth_encode(struct skiff_auth *a, const char *fabric,
		      const char *from, const char *to, uint64_t boot,
		      char *cred, size_t cap, uint32_t *len,
		      char *why, size_t whylen)
{
	char pl[4 * SKIFF_LINK_NAME_LEN];

	if (payload(pl, sizeof(pl), fabric, from, to, boot) < 0) {
		snprintf(why, whylen, "names too long");
		return -EIO;
	}
	return skiff_auth_encode_text(a, pl, cred, cap, len, why, whylen);
}

int skiff_auth_check_text(struct skiff_auth *a, const char *cred,
			  uint32_t len, const char *want, char *why,
			  size_t whylen)
{
	char text[SKIFF_LINK_CRED_MAX + 1];
	void *got = NULL;
	int glen = 0, ret = -EACCES;
	size_t wlen = strlen(want);
	uid_t uid;
	gid_t gid;
	munge_err_t e;

	if (len == 0 || len > SKIFF_LINK_CRED_MAX) {
		snprintf(why, whylen, "no credential");
		return -EACCES;
	}
	memcpy(text, cred, len);
	text[len] = '\0';
	/* munged decides validity: signature (the same key), expiry and
	 * replay (EMUNGE_CRED_REPLAYED); any error is a refusal */
	e = munge_decode(text, a->dec, &got, &glen, &uid, &gid);
	if (e != EMUNGE_SUCCESS) {
		snprintf(why, whylen, "credential refused by munged: %s",
			 munge_strerror(e));
		goto out;
	}
	/* the same user, or root, runs the other daemon: a credential of
	 * another local user of that host does not speak for its scifd */
	if (uid != 0 && uid != geteuid()) {
		snprintf(why, whylen, "credential of uid %ld, not 0 or %ld",
			 (long)uid, (long)geteuid());
		goto out;
	}
	if (glen < 0 || (size_t)glen != wlen || memcmp(got, want, wlen) != 0) {
		snprintf(why, whylen, "credential not made for this record "
			 "(fabric, hosts, boot id or request differ)");
		goto out;
	}
	ret = 0;
out:
	free(got);
	return ret;
}

int skiff_auth_check(struct skiff_auth *a, const char *cred, uint32_t len,
		     const char *fabric, const char *from, const char *to,
		     uint64_t boot, char *why, size_t whylen)
{
	char want[4 * SKIFF_LINK_NAME_LEN];

	if (payload(want, sizeof(want), fabric, from, to, boot) < 0) {
		snprintf(why, whylen, "names too long");
		return -EACCES;
	}
	return skiff_auth_check_text(a, cred, len, want, why, whylen);
}
