# pam_jwt — build, test, bench, install. GNU make.
# The one version number: VERSION. pam-jwtctl --version, pam-jwtd --version and the manual
# pages take it from there; debian/changelog must agree (tests/integration/test_package.sh).
VERSION  := $(shell cat VERSION)
BUILD    ?= build
PKG_CONFIG ?= pkg-config
PKGS     := jansson libssl libcrypto hiredis libkeyutils
WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wwrite-strings
HARDEN   := -fstack-protector-strong -fPIC -fvisibility=hidden
CFLAGS   ?= -O2 -g
# SANITIZE=1 comes after CFLAGS (its -O1 wins) and keeps them.
ifeq ($(SANITIZE),1)
SANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
else
HARDEN   += -D_FORTIFY_SOURCE=2
endif
ifeq ($(WERROR),1)
WARN     += -Werror
endif
# -MMD -MP: each object records the headers it includes (dependency tracking, $(BUILD)/**/*.d)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -Icore \
             $(shell $(PKG_CONFIG) --cflags $(PKGS)) -MMD -MP
LDHARDEN := -Wl,-z,relro,-z,now -Wl,--as-needed
ALL_LDFLAGS = $(LDSAN) $(LDHARDEN) $(LDFLAGS)
CORE_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm
PAM_CFLAGS = $(shell $(PKG_CONFIG) --cflags pam)
PAM_LIBS   = $(shell $(PKG_CONFIG) --libs pam)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS   = $(shell $(PKG_CONFIG) --libs cmocka)

# Where "make install" puts things (GNU names; DESTDIR is prepended to each). Programs and
# manual pages follow PREFIX; the rest goes where its reader looks, whatever PREFIX is:
# the module in libpam's directory (pam.pc, else the multiarch triplet), the units and
# tmpfiles.d where systemd.pc says, the profile where pam-auth-update reads, and the
# configuration where the module reads it (/etc/security/pam_jwt.conf).
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
PAM_LIBDIR = $(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null)
PAMDIR   ?= $(if $(PAM_LIBDIR),$(PAM_LIBDIR),/lib/$(shell $(CC) -print-multiarch))/security
SYSTEMD_VAR = $(shell $(PKG_CONFIG) --variable=$(1) systemd 2>/dev/null)
SYSTEMDUNITDIR ?= $(or $(call SYSTEMD_VAR,systemdsystemunitdir),/lib/systemd/system)
TMPFILESDIR ?= $(or $(call SYSTEMD_VAR,tmpfilesdir),/usr/lib/tmpfiles.d)
PAMCONFIGDIR ?= /usr/share/pam-configs
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SECURITYDIR  ?= /etc/security
INSTALL  ?= install
INSTALL_PROGRAM ?= $(INSTALL)

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
CORE_LIB := $(BUILD)/libpamjwt_core.a
MODULE   := $(BUILD)/pam_jwt.so
CTL      := $(BUILD)/pam-jwtctl
DAEMON   := $(BUILD)/pam-jwtd
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PAMT_SRC := $(wildcard tests/pam/test_*.c)
PAMT_BIN := $(PAMT_SRC:tests/pam/%.c=$(BUILD)/tests/%)
# Drivers for the integration suites (not test_*: run-all.sh does not run them itself).
HELP_BIN := $(BUILD)/tests/redis_probe
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps demo check check-build test-asan fuzz fuzz-build bench clean install \
        install-strip uninstall check-unit check-pam check-integration check-fuzz
all: $(MODULE) $(CTL) $(DAEMON)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihelper -c $< -o $@

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pam_module/%.o: ALL_CFLAGS += $(PAM_CFLAGS)
$(MODULE): $(BUILD)/pam_module/pam_jwt.o $(CORE_LIB) pam_module/pam_jwt.map
	$(CC) -shared $(ALL_LDFLAGS) -Wl,--version-script=pam_module/pam_jwt.map \
	    -o $@ $(BUILD)/pam_module/pam_jwt.o $(CORE_LIB) $(CORE_LIBS) $(PAM_LIBS)

# The version the helpers print, from VERSION.
$(BUILD)/version.h: VERSION
	@mkdir -p $(dir $@)
	printf '#define PAM_JWT_VERSION "%s"\n' '$(VERSION)' >$@
$(BUILD)/helper/pam-jwtctl.o $(BUILD)/helper/pam-jwtd.o: $(BUILD)/version.h
$(BUILD)/helper/%.o: ALL_CFLAGS += -I$(BUILD)

# libcurl is for the JWKS fetch only: the helpers link it, the PAM module never does.
CURL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS   = $(shell $(PKG_CONFIG) --libs libcurl)
$(BUILD)/helper/%.o: ALL_CFLAGS += $(CURL_CFLAGS)

$(CTL): $(BUILD)/helper/pam-jwtctl.o $(BUILD)/helper/jwtctl_daemon.o $(BUILD)/helper/jwksfetch.o \
	    $(BUILD)/helper/checkcfg.o $(BUILD)/helper/isotime.o $(CORE_LIB)
	$(CC) -pie $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(CORE_LIB) $(CORE_LIBS) $(CURL_LIBS)

$(DAEMON): $(BUILD)/helper/pam-jwtd.o $(BUILD)/helper/jwksfetch.o $(BUILD)/helper/isotime.o \
	    $(CORE_LIB)
	$(CC) -pie $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(CORE_LIB) $(CORE_LIBS) $(CURL_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit -o $@ $< $(LDSAN) $(LDFLAGS) $(CORE_LIB) \
	    $(CORE_LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/%: tests/pam/%.c $(MODULE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PAM_CFLAGS) $(CMOCKA_CFLAGS) -o $@ $< $(LDSAN) $(LDFLAGS) $(CORE_LIB) \
	    $(CORE_LIBS) $(PAM_LIBS) $(CMOCKA_LIBS) -ldl

$(BUILD)/tests/redis_probe: tests/integration/helpers/redis_probe.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDSAN) $(LDFLAGS) $(CORE_LIB) $(CORE_LIBS)

$(BUILD)/bench/%: bench/%.c $(CORE_LIB) bench/benchutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CORE_LIB) $(CORE_LIBS) -lpam -ldl

check-build: all $(UNIT_BIN) $(PAMT_BIN) $(HELP_BIN)

# The test command: installs what is missing, builds, runs every suite (also under
# ASan+UBSan and a bounded fuzz run), and ends with "N passed, N failed".
# check-unit, check-pam, check-integration and check-fuzz run one part of it each
# (tests/run-all.sh --only), with the builds that part needs.
CHECK_WERROR = WERROR=$(if $(CI),1,0)
check: deps
	@$(MAKE) --no-print-directory check-build $(CHECK_WERROR)
	@$(MAKE) --no-print-directory check-build BUILD=build-asan SANITIZE=1 $(CHECK_WERROR)
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run-all.sh

check-unit check-pam: deps
	@$(MAKE) --no-print-directory check-build $(CHECK_WERROR)
	@$(MAKE) --no-print-directory check-build BUILD=build-asan SANITIZE=1 $(CHECK_WERROR)
	@tests/run-all.sh --only $(@:check-%=%)

check-integration: deps
	@$(MAKE) --no-print-directory check-build $(CHECK_WERROR)
	@tests/run-all.sh --only integration

check-fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run-all.sh --only fuzz

test-asan:
	@$(MAKE) --no-print-directory check-build BUILD=build-asan SANITIZE=1
	@BUILD=build-asan tests/run-all.sh --only-unprivileged

FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -Icore \
              $(shell $(PKG_CONFIG) --cflags $(PKGS))
fuzz-build: $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard core/*.h)
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(CORE_LIBS)

fuzz: fuzz-build
	@for f in build-fuzz/fuzz_*; do FUZZ_SECONDS=$${FUZZ_SECONDS:-60} \
	    tests/fuzz/run-bounded.sh $$f || exit 1; done

bench: deps all $(BENCH_BIN)
	@bench/run.sh

demo:
	@scripts/install-deps demo
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh
	@scripts/demo-fleet.sh

# Installs the module, both programs, units, tmpfiles.d entry, pam-auth-update profile and
# manual pages (debian/rules runs it too). The configuration is installed only where there
# is none yet, and uninstall leaves it. install-strip: the same, with stripped binaries.
MANPAGES := man/pam_jwt.8 man/pam-jwtd.8 man/pam_jwt.conf.5 man/pam-jwtctl.1
# The units name the programs by their installed paths; the manual pages get the version.
UNIT_SED := -e 's|/usr/sbin/pam-jwtd|$(SBINDIR)/pam-jwtd|g' \
            -e 's|/usr/bin/pam-jwtctl|$(BINDIR)/pam-jwtctl|g'
MAN_SED  := -e '/^\.TH /s|"pam_jwt"|"pam_jwt $(VERSION)"|'
install: all
	$(INSTALL) -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(PAMCONFIGDIR) \
	    $(DESTDIR)$(SECURITYDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL_PROGRAM) -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_jwt.so
	$(INSTALL_PROGRAM) -m 0755 $(CTL) $(DESTDIR)$(BINDIR)/pam-jwtctl
	$(INSTALL_PROGRAM) -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/pam-jwtd
	for u in pam-jwtd pam-jwt-restore; do \
	    sed $(UNIT_SED) conf/systemd/$$u.service >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.service || exit 1; done
	$(INSTALL) -m 0644 conf/tmpfiles.d/pam_jwt.conf $(DESTDIR)$(TMPFILESDIR)/pam_jwt.conf
	$(INSTALL) -m 0644 conf/pam-configs/jwt $(DESTDIR)$(PAMCONFIGDIR)/jwt
	$(INSTALL) -m 0644 conf/bash-completion/pam-jwtctl $(DESTDIR)$(BASHCOMPDIR)/pam-jwtctl
	[ -e $(DESTDIR)$(SECURITYDIR)/pam_jwt.conf ] || \
	    $(INSTALL) -m 0644 conf/pam_jwt.conf $(DESTDIR)$(SECURITYDIR)/pam_jwt.conf
	for m in $(MANPAGES); do \
	    d=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; \
	    sed $(MAN_SED) $$m >$$d && chmod 0644 $$d || exit 1; done

install-strip:
	@$(MAKE) --no-print-directory install INSTALL_PROGRAM='$(INSTALL) -s'

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_jwt.so $(DESTDIR)$(BINDIR)/pam-jwtctl \
	    $(DESTDIR)$(SBINDIR)/pam-jwtd $(DESTDIR)$(SYSTEMDUNITDIR)/pam-jwtd.service \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/pam-jwt-restore.service \
	    $(DESTDIR)$(TMPFILESDIR)/pam_jwt.conf $(DESTDIR)$(PAMCONFIGDIR)/jwt \
	    $(DESTDIR)$(BASHCOMPDIR)/pam-jwtctl \
	    $(foreach m,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

clean:
	rm -rf build build-asan build-fuzz
