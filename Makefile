# postroom - one non-recursive Makefile.
#
#   make            build every program into build/bin
#   make check      unit tests (Check) and integration tests (real Dovecot, SMTP, daemons)
#   make demo       the whole pipeline on a private Dovecot with a demo mailbox
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install missing Debian packages (root, apt-get)
#
# Options: WERROR=1, SANITIZE=address,undefined, V=1.

PREFIX  ?= /usr/local
DESTDIR ?=
# a sanitizer build keeps its objects apart, so the two never mix
ifeq ($(SANITIZE),)
B       ?= build
else
B       ?= build-san
endif
PKG_CONFIG ?= pkg-config

CC      ?= cc
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wno-missing-field-initializers
HARDEN  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CFLAGS  ?= -O2 -g
LDHARD  := -pie -Wl,-z,relro,-z,now

ifeq ($(WERROR),1)
WARN    += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
HARDEN  := -fPIE
LDHARD  += -fsanitize=$(SANITIZE)
endif

# Debian packages each library comes from; `make deps` installs what is missing.
DEBS := pkg-config libcurl4-openssl-dev libgmime-3.0-dev libzmq3-dev libglib2.0-dev \
        libsqlite3-dev libjansson-dev libmicrohttpd-dev libxml2-dev libcrypt-dev check xxd \
        dovecot-imapd dovecot-pop3d python3-aiosmtpd runit openssl curl jq sqlite3 \
        chromium chromium-driver

PKGS_COMMON := glib-2.0 libzmq jansson
PKGS_FETCHD := $(PKGS_COMMON) libcurl
PKGS_PARSED := $(PKGS_COMMON) gmime-3.0 libxml-2.0
PKGS_ROUTED := $(PKGS_COMMON) sqlite3
PKGS_AGENTD := $(PKGS_COMMON) libmicrohttpd libcurl gmime-3.0
PKGS_TOOLS  := $(PKGS_COMMON)

pkgcflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pkglibs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

ALL_CFLAGS = $(CSTD) $(WARN) $(HARDEN) $(CFLAGS) -Icommon -MMD -MP

# Every daemon directory: main.c is the program, the rest is a library the
# unit tests link against.
DAEMONS := fetchd parsed routed agentd
TOOLS   := postroom-tap postroom-passwd postroom-config

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
COMMON_LIB := $(B)/libcommon.a

define daemon_rules
$(1)_SRC  := $$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c))
$(1)_OBJ  := $$($(1)_SRC:%.c=$(B)/%.o) $$($(1)_EXTRA_OBJ)
$(1)_LIB  := $(B)/lib$(1).a
$(1)_PKGS := $$(PKGS_$(shell echo $(1) | tr a-z A-Z))
$(1)_LDLIBS := $$(call pkglibs,$$($(1)_PKGS)) $$($(1)_EXTRA_LIBS)

$(B)/$(1)/%.o: $(1)/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -I$(1) -I$(B)/$(1) $$(call pkgcflags,$$($(1)_PKGS)) -c -o $$@ $$<

$$($(1)_LIB): $$($(1)_OBJ)
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^

$(B)/bin/$(1): $(B)/$(1)/main.o $$($(1)_LIB) $(COMMON_LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDHARD) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LDLIBS)
endef

# agentd serves its page from the binary: www/ files become C arrays.
agentd_EXTRA_OBJ  := $(B)/agentd/www.o
agentd_EXTRA_LIBS := -lcrypt
$(B)/agentd/www.c: tools/embed.sh $(wildcard agentd/www/*)
	@mkdir -p $(@D)
	sh tools/embed.sh $@ $(wildcard agentd/www/*)
$(B)/agentd/www.o: $(B)/agentd/www.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

$(B)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(call pkgcflags,$(PKGS_COMMON)) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJ)
	$(AR) rcs $@ $^

$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(call pkgcflags,$(PKGS_TOOLS)) -c -o $@ $<

$(B)/bin/postroom-%: $(B)/tools/%.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDHARD) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_TOOLS)) -lcrypt

PROGRAMS := $(DAEMONS:%=$(B)/bin/%) $(TOOLS:%=$(B)/bin/%)

all: $(PROGRAMS)
.DEFAULT_GOAL := all

# Unit tests: tests/unit/check_<dir>[_<what>].c links with lib<dir> and
# libcommon (check_common_*.c with libcommon alone).
UNIT_SRC   := $(wildcard tests/unit/check_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
unit_dir    = $(firstword $(subst _, ,$(patsubst check_%,%,$(notdir $(1)))))

define unit_rule
$(B)/tests/$(1): tests/unit/$(1).c $(if $(filter common,$(2)),,$$($(2)_LIB)) $(COMMON_LIB) $(wildcard tests/unit/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -Itests/unit -I$(2) -I$(B)/$(2) $$(call pkgcflags,check $$(PKGS_$(3))) \
	    $$(LDHARD) $$(LDFLAGS) -o $$@ $$< $$(filter %.a,$$^) $$(call pkglibs,check $$(PKGS_$(3))) $$($(2)_EXTRA_LIBS)
endef
$(foreach t,$(UNIT_SRC:tests/unit/%.c=%),$(eval $(call unit_rule,$(t),$(call unit_dir,$(t)),$(shell echo $(call unit_dir,$(t)) | tr a-z A-Z))))

unit: $(UNIT_BIN) $(PROGRAMS)
	@tests/run-unit.sh $(UNIT_BIN)

# parsed against its golden files and the shared corpus (skipped without
# ../shared), and its peak memory on a 50 MB message
parse: $(B)/bin/parsed $(B)/bench/parsed-drive
	@PARSED=$(B)/bin/parsed tests/golden.sh
	@PARSED=$(B)/bin/parsed tests/corpus.sh
	@PARSED=$(B)/bin/parsed DRIVE=$(B)/bench/parsed-drive tests/bigmail.sh

# parsed's benchmarks (bench/README.md): figures, not tests
$(B)/bench/gmime-bare: bench/gmime-bare.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(call pkgcflags,gmime-3.0) $(LDHARD) $(LDFLAGS) -o $@ $< \
	    $(call pkglibs,gmime-3.0)
$(B)/bench/parsed-drive: bench/parsed-drive.c $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(call pkgcflags,$(PKGS_COMMON)) $(LDHARD) $(LDFLAGS) -o $@ $< \
	    $(COMMON_LIB) $(call pkglibs,$(PKGS_COMMON))
bench-parsed: $(B)/bin/parsed $(B)/bench/gmime-bare $(B)/bench/parsed-drive
	B=$(B) bench/parsed.sh

integration: $(PROGRAMS)
	@POSTROOM_BIN=$(CURDIR)/$(B)/bin tests/run-integration.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory parse
	@$(MAKE) --no-print-directory integration

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get install $$missing)" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/postroom
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin
	cp -R etc $(DESTDIR)$(PREFIX)/share/postroom/

clean:
	rm -rf $(B)

.PHONY: all check unit parse integration demo deps install clean bench-parsed

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# The sample files in etc/ come from the key tables (common/config.c).
samples: $(B)/bin/postroom-config
	$(B)/bin/postroom-config sample postroom > etc/postroom.conf
	$(B)/bin/postroom-config sample account > etc/accounts/support.conf
	$(B)/bin/postroom-config sample group > etc/groups/support.conf
	$(B)/bin/postroom-config sample agent > etc/agents/ada.conf
.PHONY: samples

# parsed under libFuzzer (clang; not part of make check).  `make fuzz` builds
# $(B)/fuzz/fuzz_parse, installing clang's runtime with apt-get if it is
# missing; `make fuzz-run FUZZ_TIME=SECONDS` runs it (tests/fuzz/run.sh).
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_SRC  := tests/fuzz/fuzz_parse.c $(filter-out parsed/main.c,$(wildcard parsed/*.c)) $(COMMON_SRC)
$(B)/fuzz/fuzz_parse: $(FUZZ_SRC) $(wildcard parsed/*.h common/*.h)
	@command -v $(FUZZ_CC) >/dev/null && \
	    echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null || \
	    { echo "make fuzz: installing clang and libclang-rt-14-dev"; \
	      apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev; }
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CSTD) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Icommon -Iparsed $(call pkgcflags,$(PKGS_PARSED)) \
	    -o $@ $(FUZZ_SRC) $(call pkglibs,$(PKGS_PARSED))
fuzz: $(B)/fuzz/fuzz_parse
fuzz-run: $(B)/fuzz/fuzz_parse
	tests/fuzz/run.sh $(B)/fuzz/fuzz_parse $(FUZZ_TIME)
.PHONY: fuzz fuzz-run
