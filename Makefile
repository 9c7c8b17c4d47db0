# pam_jwt — build, test, bench. GNU make.
BUILD    ?= build
CC       ?= cc
PKGS     := jansson libssl libcrypto hiredis
WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wwrite-strings
HARDEN   := -fstack-protector-strong -fPIC -fvisibility=hidden
CFLAGS   ?= -O2 -g
ifeq ($(SANITIZE),1)
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
else
HARDEN   += -D_FORTIFY_SOURCE=2
endif
ifeq ($(WERROR),1)
WARN     += -Werror
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(CFLAGS) -Icore \
             $(shell pkg-config --cflags $(PKGS))
LDHARDEN := -Wl,-z,relro,-z,now -Wl,--as-needed
CORE_LIBS = $(shell pkg-config --libs $(PKGS)) -lkeyutils -lm

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

.PHONY: all deps demo check check-build test-asan fuzz fuzz-build bench clean install
all: $(MODULE) $(CTL) $(DAEMON)

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c $(wildcard core/*.h) $(wildcard helper/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihelper -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(MODULE): $(BUILD)/pam_module/pam_jwt.o $(CORE_LIB) pam_module/pam_jwt.map
	$(CC) -shared $(LDSAN) $(LDHARDEN) -Wl,--version-script=pam_module/pam_jwt.map \
	    -o $@ $(BUILD)/pam_module/pam_jwt.o $(CORE_LIB) $(CORE_LIBS) -lpam

# libcurl is for the JWKS fetch only: the helpers link it, the PAM module never does.
CURL_CFLAGS = $(shell pkg-config --cflags libcurl)
CURL_LIBS   = $(shell pkg-config --libs libcurl)
$(BUILD)/helper/%.o: ALL_CFLAGS += $(CURL_CFLAGS)

$(CTL): $(BUILD)/helper/pam-jwtctl.o $(BUILD)/helper/jwtctl_daemon.o $(BUILD)/helper/jwksfetch.o \
	    $(BUILD)/helper/checkcfg.o $(CORE_LIB)
	$(CC) -pie $(LDSAN) $(LDHARDEN) -o $@ $(filter %.o,$^) $(CORE_LIB) $(CORE_LIBS) $(CURL_LIBS)

$(DAEMON): $(BUILD)/helper/pam-jwtd.o $(BUILD)/helper/jwksfetch.o $(CORE_LIB)
	$(CC) -pie $(LDSAN) $(LDHARDEN) -o $@ $(filter %.o,$^) $(CORE_LIB) $(CORE_LIBS) $(CURL_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(CORE_LIB) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LDSAN) $(CORE_LIB) $(CORE_LIBS) -lcmocka

$(BUILD)/tests/%: tests/pam/%.c $(MODULE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDSAN) $(CORE_LIB) $(CORE_LIBS) -lpam -lcmocka -ldl

$(BUILD)/tests/redis_probe: tests/integration/helpers/redis_probe.c $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDSAN) $(CORE_LIB) $(CORE_LIBS)

$(BUILD)/bench/%: bench/%.c $(CORE_LIB) bench/benchutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CORE_LIB) $(CORE_LIBS) -lpam -ldl

check-build: all $(UNIT_BIN) $(PAMT_BIN) $(HELP_BIN)

# The test command: installs what is missing, builds, runs every suite (also under
# ASan+UBSan and a bounded fuzz run), and ends with "N passed, N failed".
check: deps
	@$(MAKE) --no-print-directory check-build WERROR=$(if $(CI),1,0)
	@$(MAKE) --no-print-directory check-build BUILD=build-asan SANITIZE=1 WERROR=$(if $(CI),1,0)
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run-all.sh

test-asan:
	@$(MAKE) --no-print-directory check-build BUILD=build-asan SANITIZE=1
	@BUILD=build-asan tests/run-all.sh --only-unprivileged

FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -Icore \
              $(shell pkg-config --cflags $(PKGS))
fuzz-build: $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
build-fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard core/*.h)
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(CORE_LIBS)

fuzz: fuzz-build
	@for f in build-fuzz/fuzz_*; do FUZZ_SECONDS=$${FUZZ_SECONDS:-60} \
	    tests/fuzz/run-bounded.sh $$f || exit 1; done

bench: deps all $(BENCH_BIN)
	@bench/run.sh

demo: deps all
	@scripts/demo.sh
	@scripts/demo-fleet.sh

# The configuration file is not installed: copy conf/pam_jwt.conf by hand (see README).
install: all
	install -D -m 0644 $(MODULE) $(DESTDIR)/lib/x86_64-linux-gnu/security/pam_jwt.so
	install -D -m 0755 $(CTL) $(DESTDIR)/usr/sbin/pam-jwtctl
	install -D -m 0755 $(DAEMON) $(DESTDIR)/usr/sbin/pam-jwtd
	install -D -m 0644 conf/systemd/pam-jwtd.service \
	    $(DESTDIR)/lib/systemd/system/pam-jwtd.service
	install -D -m 0644 conf/systemd/pam-jwt-restore.service \
	    $(DESTDIR)/lib/systemd/system/pam-jwt-restore.service
	install -D -m 0644 conf/tmpfiles.d/pam_jwt.conf $(DESTDIR)/usr/lib/tmpfiles.d/pam_jwt.conf
	install -D -m 0644 man/pam_jwt.8 $(DESTDIR)/usr/share/man/man8/pam_jwt.8
	install -D -m 0644 man/pam-jwtd.8 $(DESTDIR)/usr/share/man/man8/pam-jwtd.8
	install -D -m 0644 man/pam_jwt.conf.5 $(DESTDIR)/usr/share/man/man5/pam_jwt.conf.5
	install -D -m 0644 man/pam-jwtctl.1 $(DESTDIR)/usr/share/man/man1/pam-jwtctl.1

clean:
	rm -rf build build-asan build-fuzz
