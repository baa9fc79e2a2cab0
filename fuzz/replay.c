/* Replays saved inputs through a fuzz target's entry point without libFuzzer, so that
 * `make check` (with the normal compiler, plain or under ASan+UBSan) keeps past findings
 * fixed.  Usage: replay-NAME FILE...; each file is read whole into a buffer of exactly its
 * size (so a read past the end is caught by ASan) and passed to LLVMFuzzerTestOneInput.
 * A target that finds a fault aborts; an unreadable file is exit 2. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

static int
replay(const char *path)
{
	FILE *fp;
	char *buf = NULL, *nb, *exact;
	size_t len = 0, cap = 0, r;

	if ((fp = fopen(path, "rb")) == NULL)
		goto fail;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		r = fread(buf + len, 1, cap - len, fp);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(fp))
		goto fail;
	fclose(fp);
	fp = NULL;
	/* Exactly len bytes (one when empty), so ASan sees any read past the input. */
	if ((exact = malloc(len ? len : 1)) == NULL)
		goto fail;
	if (len > 0)
		memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
	free(exact);
	return 0;
fail:
	fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
	if (fp != NULL)
		fclose(fp);
	free(buf);
	return -1;
}

int
main(int argc, char *argv[])
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: replay FILE...\n");
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (replay(argv[i]) == -1)
			return 2;
	printf("replayed %d input%s\n", argc - 1, argc == 2 ? "" : "s");
	return 0;
}
