# Top-level build of the mail suite.  Plain make; pkg-config finds the
# libraries.  Every object goes under build/ (or build-asan/ for `make asan`).
#
#   make            build every daemon and libcommon.a
#   make check      install missing packages, build, run unit + integration tests
#   make asan       the same tests against an ASan+UBSan build
#   make bench      benchmarks side by side with Postfix/Dovecot (slow)
#   make demo       a working deployment on loopback, in the foreground
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       apt-get the Debian packages the build and tests need

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
PYTHON  ?= /usr/bin/python3

PKGS    := libevent libevent_pthreads libevent_openssl ldap lber lmdb openssl libsasl2 libcares
CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wmissing-prototypes -Werror
CFLAGS  ?= -O2 -g
# Flags the build needs whatever CFLAGS the caller sets (make asan does).
SUITE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Icommon -MMD -MP \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

COMMON_SRC := $(wildcard common/*.c)
STORE_SRC  := $(wildcard store/*.c)
# mta/NAME_main.c is the entry point of a channel program, bin/NAME.
MTA_MAINS  := mta/main.c $(wildcard mta/*_main.c)
MTA_SRC    := $(filter-out $(MTA_MAINS),$(wildcard mta/*.c))
JOBCTL_SRC := $(filter-out jobctl/main.c,$(wildcard jobctl/*.c))
MMP_SRC    := $(wildcard mmp/*.c)
UNIT_SRC   := $(wildcard t/unit/test_*.c)
TOOL_SRC   := $(wildcard t/tools/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
STORE_OBJ  := $(STORE_SRC:%.c=$(BUILD)/obj/%.o)
MTA_OBJ    := $(MTA_SRC:%.c=$(BUILD)/obj/%.o)
JOBCTL_OBJ := $(JOBCTL_SRC:%.c=$(BUILD)/obj/%.o)
MMP_OBJ    := $(MMP_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/%)
TOOL_BIN   := $(TOOL_SRC:t/tools/%.c=$(BUILD)/t/tools/%)
LIBCOMMON  := $(BUILD)/libcommon.a
LIBMTA     := $(BUILD)/libmta.a
LIBJOBCTL  := $(BUILD)/libjobctl.a
DAEMONS    := $(BUILD)/bin/store $(BUILD)/bin/mta $(BUILD)/bin/jobctl \
              $(BUILD)/bin/mmp
PROGRAMS   := $(patsubst mta/%_main.c,$(BUILD)/bin/%,$(wildcard mta/*_main.c))

# Keep objects of tests and tools: make removes chained intermediates.
.SECONDARY:

.PHONY: all check asan bench demo install clean deps unit integration

all: $(DAEMONS) $(PROGRAMS) $(UNIT_BIN) $(TOOL_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SUITE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The MTA's modules; every test and tool links them (unused members cost
# nothing), test_mta_* and tools/mta* see their headers.
$(LIBMTA): $(MTA_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/t/unit/test_mta_%.o $(BUILD)/obj/t/tools/mta%.o: SUITE_CFLAGS += -Imta
$(BUILD)/obj/t/unit/test_jobctl_%.o: SUITE_CFLAGS += -Ijobctl

# The job controller's modules, likewise.
$(LIBJOBCTL): $(JOBCTL_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bin/store: $(STORE_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(STORE_OBJ) $(LIBCOMMON) $(LDLIBS)

$(BUILD)/bin/mmp: $(MMP_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(MMP_OBJ) $(LIBCOMMON) $(LDLIBS)

$(BUILD)/bin/mta: $(BUILD)/obj/mta/main.o $(LIBMTA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBMTA) $(LIBCOMMON) $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/obj/mta/%_main.o $(LIBMTA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBMTA) $(LIBCOMMON) $(LDLIBS)

$(BUILD)/bin/jobctl: $(BUILD)/obj/jobctl/main.o $(LIBJOBCTL) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBJOBCTL) $(LIBCOMMON) $(LDLIBS)

$(BUILD)/t/%: $(BUILD)/obj/t/unit/%.o $(LIBJOBCTL) $(LIBMTA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBJOBCTL) $(LIBMTA) $(LIBCOMMON) $(LDLIBS)

# Small C programs the integration tests drive (e.g. a directory probe).
$(BUILD)/t/tools/%: $(BUILD)/obj/t/tools/%.o $(LIBMTA) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBMTA) $(LIBCOMMON) $(LDLIBS)

# The integration tests drive the real daemons with real clients; the C unit
# tests run inside the same pytest session so that one summary line counts
# everything.
check: deps
	$(MAKE) all
	SUITE_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider t

asan:
	LSAN_OPTIONS=suppressions=$(abspath t/lib/lsan.supp) $(MAKE) BUILD=build-asan \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" check

# The peers (Postfix's smtp-source, Dovecot) are installed only here.
bench:
	@BENCH=1 t/lib/deps.sh
	$(MAKE) all
	t/bench/run $(abspath $(BUILD))

demo: deps
	$(MAKE) all
	conf/demo/run $(abspath $(BUILD))

deps:
	@t/lib/deps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man5 \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/mailsuite/ldap \
	  $(DESTDIR)$(PREFIX)/share/mailsuite/mta $(DESTDIR)$(PREFIX)/libexec/mailsuite
	install -m 755 $(DAEMONS) $(DESTDIR)$(PREFIX)/sbin/
	$(if $(PROGRAMS),install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/libexec/mailsuite/)
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 conf/ldap/* $(DESTDIR)$(PREFIX)/share/mailsuite/ldap/
	install -m 644 conf/mta/* $(DESTDIR)$(PREFIX)/share/mailsuite/mta/

clean:
	rm -rf build build-asan run

-include $(COMMON_OBJ:.o=.d) $(STORE_OBJ:.o=.d) $(MTA_OBJ:.o=.d) \
  $(JOBCTL_OBJ:.o=.d) $(MMP_OBJ:.o=.d) $(MTA_MAINS:%.c=$(BUILD)/obj/%.d) \
  $(BUILD)/obj/jobctl/main.d \
  $(UNIT_SRC:%.c=$(BUILD)/obj/%.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d)
