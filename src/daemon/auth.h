/* SPDX-License-Identifier: MIT */
/*
 * auth.h - MUNGE credentials for the links between daemons (issue 10).
 *
 * A HELLO carries a credential whose payload binds the fabric, the sender
 * host, the receiver host and the sender's boot id, so a credential is good
 * for one link of one daemon's life and nothing else; munged checks the
 * signature, the expiry and its replay cache. No cryptography of ours.
 */
#ifndef SKIFF_AUTH_H
#define SKIFF_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct skiff_auth;

/* A context talking to the munged at @socket_path (NULL: libmunge's
 * default). 0 or -errno. */
int skiff_auth_open(struct skiff_auth **out, const char *socket_path);
void skiff_auth_close(struct skiff_auth *a);

/*
 * A fresh credential for the HELLO of @from to @to in @fabric with boot id
 * @boot, as text in @cred (at most @cap bytes, not NUL terminated), its
 * length in @len. 0, or -EIO with the reason in @why (munged not running,
 * say).
 */
int skiff_auth_encode(struct skiff_auth *a, const char *fabric,
		      const char *from, const char *to, uint64_t boot,
		      char *cred, size_t cap, uint32_t *len,
		      char *why, size_t whylen);

/*
 * Check the credential of a HELLO claiming to come from @from to @to in
 * @fabric with boot id @boot: munged must decode it (valid signature, not
 * expired, not replayed), its uid must be 0 or ours, and its payload must
 * name exactly these. 0, or -EACCES with one line saying why in @why.
 */
int skiff_auth_check(struct skiff_auth *a, const char *cred, uint32_t len,
		     const char *fabric, const char *from, const char *to,
		     uint64_t boot, char *why, size_t whylen);

/*
 * The same for any record: a credential whose payload is the text @pl
 * (a version word first, then what the record binds), and its check
 * against the text the receiver expects, @want. The uid rule is the
 * HELLO's: the credential is the other daemon's (root or our user).
 */
int skiff_auth_encode_text(struct skiff_auth *a, const char *pl,
			   char *cred, size_t cap, uint32_t *len,
			   char *why, size_t whylen);
int skiff_auth_check_text(struct skiff_auth *a, const char *cred,
			  uint32_t len, const char *want, char *why,
			  size_t whylen);

#endif
