/* SPDX-License-Identifier: MIT */
/*
 * test_knob: the one parser behind every environment knob and size
 * argument (src/common/knob.c): suffixes, bounds, garbage never taken as 0,
 * and one warning naming the variable, the value and what is used.
 */
#include "harness.h"

#include <fcntl.h>

#include "knob.h"

static void parses(const char *s, unsigned flags, uint64_t want)
{
	uint64_t v = 0;

	STEP("parse '%s'", s);
	EXPECT_EQ(skiff_parse_u64(s, 0, UINT64_MAX, flags, &v), 0);
	EXPECT_EQ(v, want);
}

static void refuses(const char *s, uint64_t min, uint64_t max, unsigned flags,
		    int err)
{
	uint64_t v = 777;

	STEP("refuse '%s'", s);
	EXPECT_EQ(skiff_parse_u64(s, min, max, flags, &v), -err);
	EXPECT_EQ(v, 777);
}

/* The value of @name=@val through skiff_knob_u64, and what went to stderr. */
static uint64_t knob(const char *name, const char *val, char *err, size_t n)
{
	int p[2], save = dup(2);
	uint64_t v;
	ssize_t k;

	CHECK_OK(pipe(p));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	dup2(p[1], 2);
	setenv(name, val, 1);
	v = skiff_knob_u64(name, 50, 0, 1000000, 0, "microseconds");
	dup2(save, 2);
	close(save);
	close(p[1]);
	k = read(p[0], err, n - 1);
	err[k > 0 ? k : 0] = 0;
	close(p[0]);
	return v;
}

int main(int argc, char **argv)
{
	char err[512];

	h_init(argc, argv, "knob", 30, NULL);

	parses("0", 0, 0);
	parses("4096", 0, 4096);
	parses("4M", SKIFF_KNOB_SIZE, 4u << 20);
	parses("4MiB", SKIFF_KNOB_SIZE, 4u << 20);
	parses("4mb", SKIFF_KNOB_SIZE, 4u << 20);
	parses("2k", SKIFF_KNOB_SIZE, 2048);
	parses("1G", SKIFF_KNOB_SIZE, 1u << 30);
	parses("1T", SKIFF_KNOB_SIZE, 1ull << 40);
	parses("64B", SKIFF_KNOB_SIZE, 64);
	parses("8192", SKIFF_KNOB_POW2, 8192);

	refuses("", 0, 100, 0, EINVAL);
	refuses("garbage", 0, 100, 0, EINVAL);
	refuses("-1", 0, 100, 0, EINVAL);
	refuses(" 1", 0, 100, 0, EINVAL);
	refuses("1x", 0, 100, 0, EINVAL);
	refuses("4M", 0, UINT64_MAX, 0, EINVAL); /* no suffix allowed here */
	refuses("4Q", 0, UINT64_MAX, SKIFF_KNOB_SIZE, EINVAL);
	refuses("101", 0, 100, 0, ERANGE);
	refuses("3", 4, 100, 0, ERANGE);
	refuses("99999999999999999999", 0, UINT64_MAX, 0, ERANGE);
	refuses("20000000T", 0, UINT64_MAX, SKIFF_KNOB_SIZE, ERANGE);
	refuses("6000", 0, UINT64_MAX, SKIFF_KNOB_POW2, EINVAL);
	refuses("0", 0, UINT64_MAX, SKIFF_KNOB_POW2, EINVAL);

	STEP("a good knob is taken silently");
	EXPECT_EQ(knob("SKIFF_TEST_KNOB", "7", err, sizeof(err)), 7);
	EXPECT_EQ(strlen(err), 0);
	STEP("garbage gives the default and one warning");
	EXPECT_EQ(knob("SKIFF_TEST_KNOB", "garbage", err, sizeof(err)), 50);
	EXPECT(strstr(err, "SKIFF_TEST_KNOB=garbage") != NULL);
	EXPECT(strstr(err, "using 50") != NULL);
	EXPECT(strchr(err, '\n') == err + strlen(err) - 1);
	STEP("out of range gives the default and one warning");
	EXPECT_EQ(knob("SKIFF_TEST_KNOB", "2000000", err, sizeof(err)), 50);
	EXPECT(strstr(err, "from 0 to 1000000") != NULL);
	return h_finish();
}
