# kincount: a Unix filter from Kinesis records to counter keys.
# Targets: all run check e2e bench bench-collide lint fuzz mutants lambda-zip install uninstall deb
# clean.  SANITIZE=1 builds with
# AddressSanitizer and UndefinedBehaviorSanitizer.  User CFLAGS/LDFLAGS are added to.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

PKGS     = yajl jansson hiredis zlib libmd
# libcurl's headers only: lambda.c loads the library with dlopen(3) (see there).
CURL_CFLAGS = $$(pkg-config --cflags libcurl)
BUILD_DEBS = build-essential pkg-config libyajl-dev libjansson-dev libhiredis-dev zlib1g-dev libmd-dev libcurl4-openssl-dev
TEST_DEBS  = bats bats-support bats-assert redis-server redis-tools jq mandoc bsdutils python3 gzip \
	     clang-14 libclang-rt-14-dev debhelper dpkg-dev fakeroot lintian man-db git procps

KC_CFLAGS  = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	     -Wstrict-prototypes -Wmissing-prototypes
KC_LDLIBS  = -lm -ldl
# Without the sanitizers, whatever SANITIZE says: for the Lambda zip's kincount.
REL_CFLAGS := $(KC_CFLAGS)
ifeq ($(SANITIZE),1)
KC_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
KC_LDFLAGS = -fsanitize=address,undefined
endif

SRCS = kincount.c run.c lambda.c decode.c keys.c sink.c match.c input.c redis.c util.c kpl.c gunzip.c
OBJS = $(SRCS:.c=.o)
HDRS = $(wildcard *.h)

# Every fuzz target fuzz/fuzz_NAME.c also gets fuzz/replay-NAME: the same entry point driven by
# fuzz/replay.c instead of libFuzzer, built with $(CC) and the same flags as kincount (so under
# SANITIZE=1 with ASan and UBSan), linked with every module but kincount.c. make check runs
# each over every file of fuzz/regress (in test/55-untested.bats).
FUZZ_SRCS = $(wildcard fuzz/fuzz_*.c)
REPLAYS   = $(patsubst fuzz/fuzz_%.c,fuzz/replay-%,$(FUZZ_SRCS))
LIB_OBJS  = $(filter-out kincount.o,$(OBJS))
FUZZ_OBJS = fuzz/replay.o $(FUZZ_SRCS:.c=.o)

all: kincount replays

# The object files record which build (plain or sanitized) made them, so switching rebuilds.
BUILDTAG = .build-$(if $(filter 1,$(SANITIZE)),sanitize,plain)
$(BUILDTAG):
	@rm -f .build-* $(OBJS) kincount $(FUZZ_OBJS) $(REPLAYS)
	@touch $@

kincount: $(OBJS)
	$(CC) $(KC_LDFLAGS) $(LDFLAGS) -o $@ $(OBJS) $$(pkg-config --libs $(PKGS)) $(KC_LDLIBS) $(LDLIBS)

%.o: %.c $(HDRS) $(BUILDTAG) | deps
	$(CC) $(KC_CFLAGS) $$(pkg-config --cflags $(PKGS)) $(CURL_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

fuzz/%.o: KC_CFLAGS += -I.

fuzz/replay-%: fuzz/replay.o fuzz/fuzz_%.o $(LIB_OBJS)
	$(CC) $(KC_LDFLAGS) $(LDFLAGS) -o $@ fuzz/replay.o fuzz/fuzz_$*.o $(LIB_OBJS) \
		$$(pkg-config --libs $(PKGS)) $(KC_LDLIBS) $(LDLIBS)

replays: $(REPLAYS)
.SECONDARY: $(FUZZ_OBJS)

# The same replays built by clang with AddressSanitizer and its UndefinedBehaviorSanitizer,
# whatever SANITIZE says: clang's also reports arithmetic on a null pointer, which gcc's does
# not (both findings kept in fuzz/regress are of that kind).  make check runs them too.
CLANG_REPLAYS = $(patsubst fuzz/fuzz_%.c,fuzz/clang-replay-%,$(FUZZ_SRCS))
LIB_SRCS      = $(filter-out kincount.c,$(SRCS))
fuzz/clang-replay-%: fuzz/replay.c fuzz/fuzz_%.c $(LIB_SRCS) $(HDRS)
	@./tools/need-debs $(FUZZ_DEBS)
	clang-14 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -I. \
		$$(pkg-config --cflags $(PKGS)) $(CURL_CFLAGS) fuzz/replay.c fuzz/fuzz_$*.c $(LIB_SRCS) \
		$$(pkg-config --libs $(PKGS)) -lm -ldl -o $@

clang-replays: $(CLANG_REPLAYS)

# Install the Debian packages the build needs, when they are missing: with apt-get as root,
# else through sudo, else print the one line to run and stop.
deps:
	@./tools/need-debs $(BUILD_DEBS)

test-deps:
	@./tools/need-debs $(TEST_DEBS)

run: kincount
	./kincount fixtures/seed-event.json

# make check ends with the end-to-end test (test/e2e), or with the one line saying why its
# tools could not be installed (counted as skipped); KINCOUNT_E2E=0 leaves it out.
check: test-deps kincount replays clang-replays lambda-zip
	@./tools/run-tests

# The end-to-end test alone: kincount-pull with Debian's AWS CLI v2 against the Kinesis
# emulator kinesalite and a real redis-server, all on 127.0.0.1 (tools/e2e, test/e2e/e2e.bats).
# Installs what it needs (tools/e2e deps: Debian packages, npm ci in test/e2e).
e2e: kincount
	@./tools/run-tests --e2e

bench: kincount
	@bench/run.sh
	@bench/lambda.sh

# Hash flooding: keys that collided in the old unkeyed table hash, against random keys.
bench-collide: kincount
	@bench/collide.sh

lint:
	mandoc -Tlint -Wwarning man/kincount.1
	mandoc -Tlint -Wwarning man/kincount-pull.1
	dash -n kincount-pull
	shellcheck -s sh kincount-pull

# libFuzzer with ASan and UBSan over the decoder and the templates: first the inputs that
# once failed (fuzz/regress), then FUZZ_SECONDS of new ones from the fixtures.
FUZZ_SECONDS ?= 60
FUZZ_DEBS = clang-14 libclang-rt-14-dev
# The whole path: documents, records, KPL aggregates, gzip and CloudWatch Logs, templates.
fuzz/fuzz_decode: fuzz/fuzz_decode.c decode.c keys.c match.c util.c kpl.c gunzip.c $(HDRS)
	@./tools/need-debs $(FUZZ_DEBS)
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -I. $$(pkg-config --cflags yajl libmd) fuzz/fuzz_decode.c decode.c \
		keys.c match.c util.c kpl.c gunzip.c $$(pkg-config --libs yajl libmd zlib) -lm -o $@
fuzz/fuzz_kpl: fuzz/fuzz_kpl.c kpl.c util.c $(HDRS)
	@./tools/need-debs $(FUZZ_DEBS)
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -I. $$(pkg-config --cflags libmd) fuzz/fuzz_kpl.c kpl.c util.c \
		$$(pkg-config --libs libmd) -lm -o $@

# gunzip.c alone, seeded with the CloudWatch Logs fixtures as they are (gzip data whole).
fuzz/fuzz_gunzip: fuzz/fuzz_gunzip.c gunzip.c util.c $(HDRS)
	@./tools/need-debs $(FUZZ_DEBS)
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -I. fuzz/fuzz_gunzip.c gunzip.c util.c $$(pkg-config --libs zlib) \
		-lm -o $@

fuzz: deps fuzz/fuzz_decode fuzz/fuzz_gunzip fuzz/fuzz_kpl
	./fuzz/fuzz_decode -runs=0 fuzz/regress/*
	rm -rf fuzz/work && mkdir -p fuzz/work/corpus fuzz/work/found
	cp fixtures/seed-event.json fixtures/golden/*.in fuzz/regress/* fuzz/work/corpus/
	for f in fixtures/kpl/*.agg fixtures/cwl/*.gz; do \
		{ printf '\005'; base64 -w0 "$$f"; echo; } > "fuzz/work/corpus/$${f##*/}.b64"; \
	done
	./fuzz/fuzz_decode -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=5 \
		-rss_limit_mb=2048 -artifact_prefix=fuzz/work/found/ fuzz/work/corpus
	./fuzz/fuzz_gunzip -runs=0 fuzz/regress/*
	mkdir -p fuzz/work/gunzip-corpus
	cp fixtures/cwl/*.gz fuzz/work/gunzip-corpus/
	./fuzz/fuzz_gunzip -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=5 \
		-rss_limit_mb=2048 -artifact_prefix=fuzz/work/found/ fuzz/work/gunzip-corpus
	./fuzz/fuzz_kpl -runs=0 fuzz/regress/*
	mkdir -p fuzz/work/kpl
	cp fixtures/kpl/*.agg fuzz/work/kpl/
	./fuzz/fuzz_kpl -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=5 \
		-rss_limit_mb=2048 -artifact_prefix=fuzz/work/found/ fuzz/work/kpl

# Mutation testing (not part of check or CI): every mutant of tools/mutants.txt is built in a
# scratch copy and must make one of its named test files fail. Prints a score; fails when one
# survives.
mutants: test-deps
	@./tools/mutants

# kincount-lambda.zip: an AWS Lambda custom runtime for provided.al2023 (tools/lambda-zip
# says what goes in; lambda/bootstrap is its bootstrap).  Its kincount is built apart from
# the objects of the normal build, in one step and never with the sanitizers.
LAMBDA_ZIP   = kincount-lambda.zip
LAMBDA_STAGE = lambda/stage
LAMBDA_DEBS  = zip unzip binutils

lambda/kincount: $(SRCS) $(HDRS) | deps
	$(CC) $(REL_CFLAGS) $$(pkg-config --cflags $(PKGS)) $(CURL_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ \
		$(SRCS) $$(pkg-config --libs $(PKGS)) $(KC_LDLIBS) $(LDLIBS)

$(LAMBDA_ZIP): lambda/kincount lambda/bootstrap tools/lambda-zip
	@./tools/need-debs $(LAMBDA_DEBS)
	./tools/lambda-zip lambda/kincount lambda/bootstrap $(LAMBDA_STAGE) $@

lambda-zip: $(LAMBDA_ZIP)

install: kincount
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 kincount $(DESTDIR)$(BINDIR)/kincount
	install -m 644 man/kincount.1 $(DESTDIR)$(MANDIR)/man1/kincount.1
	install -m 755 kincount-pull $(DESTDIR)$(BINDIR)/kincount-pull
	install -m 644 man/kincount-pull.1 $(DESTDIR)$(MANDIR)/man1/kincount-pull.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kincount $(DESTDIR)$(MANDIR)/man1/kincount.1
	rm -f $(DESTDIR)$(BINDIR)/kincount-pull $(DESTDIR)$(MANDIR)/man1/kincount-pull.1

# The Debian package (debian/): dpkg-buildpackage -us -uc -b runs on a copy of the tree in
# DEBDIR, so the build in this tree is left alone; the .deb is checked by lintian (an error
# fails the target) and copied to DEBOUT.  The package holds what "make install PREFIX=/usr"
# installs, built with dpkg-buildflags' flags whatever was given to this make (SANITIZE=1,
# CFLAGS).
DEBDIR ?= build/deb
DEBOUT ?= .
DEB_DEBS = debhelper dpkg-dev fakeroot lintian $(BUILD_DEBS)
deb:
	@./tools/need-debs $(DEB_DEBS)
	rm -rf $(DEBDIR)/kincount $(DEBDIR)/kincount_* $(DEBDIR)/kincount-dbgsym_*
	mkdir -p $(DEBDIR)/kincount
	tar -cf - --exclude=./.git --exclude=./build --exclude='./kincount_*' \
		--exclude='./kincount-dbgsym_*' --exclude=./fuzz/work --exclude=./bench/work . \
		| tar -C $(DEBDIR)/kincount -xf -
	cd $(DEBDIR)/kincount && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u CFLAGS \
		-u CPPFLAGS -u LDFLAGS -u LDLIBS -u PREFIX -u BINDIR -u MANDIR -u DESTDIR \
		dpkg-buildpackage -us -uc -b
	rm -rf $(DEBDIR)/kincount
	lintian --fail-on error $(DEBDIR)/kincount_*.deb
	cp $(DEBDIR)/kincount_*.deb $(DEBOUT)/
	@ls $(DEBOUT)/kincount_*.deb

clean:
	rm -f kincount $(OBJS) .build-* fuzz/fuzz_decode fuzz/fuzz_gunzip fuzz/fuzz_kpl $(FUZZ_OBJS) $(REPLAYS) $(CLANG_REPLAYS)
	rm -rf fuzz/work build/deb
	rm -rf $(LAMBDA_ZIP) lambda/kincount $(LAMBDA_STAGE) $(LAMBDA_STAGE).ldd

.PHONY: all deps test-deps replays clang-replays run check e2e bench bench-collide lint fuzz mutants lambda-zip install uninstall deb clean
