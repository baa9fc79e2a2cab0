/* An LD_PRELOAD shim for the tests: a disk that fills up.  write(2) to the file named by
 * SHORTWRITE_PATH (an absolute path, as /proc/self/fd shows it) takes SHORTWRITE_BYTES bytes
 * in all; the write that crosses the limit is cut short there, as on a full disk, and every
 * later one fails with ENOSPC.  Other descriptors are not touched.
 *
 *	cc -shared -fPIC -o shortwrite.so shortwrite.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long long left = -1;	/* bytes the "disk" still takes; -1 before the first call */

static int
is_target(int fd)
{
	const char *want = getenv("SHORTWRITE_PATH");
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (want == NULL)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	return strcmp(path, want) == 0;
}

ssize_t
write(int fd, const void *p, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	const char *limit;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (n == 0 || !is_target(fd))
		return real(fd, p, n);
	if (left < 0)
		left = (limit = getenv("SHORTWRITE_BYTES")) != NULL ? atoll(limit) : 0;
	if (left == 0) {
		errno = ENOSPC;
		return -1;
	}
	if ((long long)n > left)
		n = (size_t)left;
	left -= (long long)n;
	return real(fd, p, n);
}
