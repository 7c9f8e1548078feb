# imapgw — plain Makefile.
#
#   make                 build build/imapgw (the first time `npm ci` in tools/ too)
#   make lint-openapi    the contract through Redocly CLI (part of make test)
#   make demo-check      make demo, its examples and its Ctrl-C stop (part of make test)
#   make check-deploy    systemd unit (systemd-analyze verify) and docker/ files (part of make test)
#   make test            install what is missing, build, run unit + integration tests
#   make unit            unit tests only (no Dovecot)
#   make integration     integration tests only (private Dovecot)
#   make SANITIZE=1 test the same under AddressSanitizer + UBSan (objects in build/sanitize)
#   make fuzz            libFuzzer targets (clang), each for FUZZ_TIME seconds
#   make CC=clang        any of the above with clang
#   make demo            imapgw on 127.0.0.1:8080 over a private, seeded Dovecot (Ctrl-C stops)
#   make bench           wrk against a private Dovecot with 10k/100k messages (~5 min)
#   make bench-events    memory and CPU of idle watched folders (GET /events, ~1 min)
#   make test-faults     faults and hostile input against the real daemon (~2 min)
#   make test-cluster    three replicas behind HAProxy: stickiness, a killed replica, a drain (~1 min)
#   make bench-cluster   requests/s of 1 and of 3 replicas behind HAProxy, and the ratio (~2 min)
#
# One test: make unit TEST='parser/*'   (a Criterion --filter pattern;
#           make integration TEST='corpus/content' is the corpus content test alone)

CC       ?= cc
SANITIZE ?= 0
FUZZ_TIME ?= 60
TEST     ?=
CORPUS   ?= $(CURDIR)/../shared/corpus

# The default compiler builds into build/ (so `make` gives build/imapgw);
# any other CC, and sanitizer builds, get their own object directories.
BUILD := build
ifneq ($(CC),cc)
BUILD := build/$(notdir $(CC))
endif
ifeq ($(SANITIZE),1)
BUILD := $(BUILD)/sanitize
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wpointer-arith -Wvla -Wundef \
        -Wcast-qual -Wwrite-strings -Wnull-dereference

PKGS := libmicrohttpd jansson openssl zlib libcurl libpsl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -D_GNU_SOURCE -I.
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c17 $(WARN) -MMD -MP $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lunistring -lpthread

ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS  += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp print_suppressions=0
endif

# The library: everything in imap/ (with its base/ and mail/ parts) and api/;
# the daemon adds server/.
LIB_SRCS    := $(wildcard imap/base/*.c imap/mail/*.c imap/*.c api/*.c)
SERVER_SRCS := $(wildcard server/*.c)
LIB_OBJS    := $(LIB_SRCS:%.c=$(BUILD)/%.o)
SERVER_OBJS := $(SERVER_SRCS:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/libimapgw.a

# The OpenAPI contract, served at /openapi.json: openapi/embed.py turns the YAML
# into compact JSON in a C array (api/openapi.h), compiled into the library.
# Debian's python3 first: tests/install-deps.sh installs python3-yaml for it.
PYTHON      ?= $(firstword $(wildcard /usr/bin/python3) python3)
OPENAPI_C   := $(BUILD)/gen/openapi_json.c
LIB_OBJS    += $(OPENAPI_C:.c=.o)

# Outside tools, pinned in tools/package-lock.json and installed by `npm ci`
# when the lock file is newer than the last install: Redocly CLI lints the
# contract (make lint-openapi, part of make test); Redoc's standalone bundle
# is compiled in for GET /docs (openapi/embed.py --asset, like the contract).
TOOLS_STAMP := tools/node_modules/.installed
REDOC_JS    := tools/node_modules/redoc/bundles/redoc.standalone.js
REDOC_C     := $(BUILD)/gen/redoc_js.c
LIB_OBJS    += $(REDOC_C:.c=.o)

UNIT_SRCS    := $(wildcard tests/unit/*.c)
INTEG_SRCS   := $(wildcard tests/integration/*.c)
SUPPORT_SRCS := $(wildcard tests/support/*.c)
UNIT_OBJS    := $(UNIT_SRCS:%.c=$(BUILD)/%.o)
INTEG_OBJS   := $(INTEG_SRCS:%.c=$(BUILD)/%.o)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(BUILD)/%.o)
TEST_LIBS    := -lcriterion

UNIT_BIN  := $(BUILD)/tests/unit-tests
INTEG_BIN := $(BUILD)/tests/integration-tests

CRITERION_ARGS := --jobs=2 $(if $(TEST),--filter='$(TEST)')

.PHONY: all deps tools lint-openapi check-deploy demo-check test unit integration test-faults test-cluster bench-cluster fuzz demo bench bench-events clean seedgen check-layers
.DEFAULT_GOAL := all

all: $(BUILD)/imapgw

# Debian packages, then the npm tools (before any parallel build needs them:
# .ci/run builds two trees at once after `make deps`).
deps:
	@tests/install-deps.sh
	@$(MAKE) -s --no-print-directory tools

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

%/gen/openapi_json.c: openapi/openapi.yaml openapi/embed.py
	@mkdir -p $(@D)
	$(PYTHON) openapi/embed.py $< $@

$(OPENAPI_C:.c=.o): $(OPENAPI_C)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(TOOLS_STAMP): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@
tools: $(TOOLS_STAMP)

$(REDOC_JS): $(TOOLS_STAMP)
	@test -s $@ || { echo "$@ is missing: run make tools" >&2; exit 1; }

%/gen/redoc_js.c: $(REDOC_JS) openapi/embed.py
	@mkdir -p $(@D)
	$(PYTHON) openapi/embed.py --asset api_redoc_js $< $@

$(REDOC_C:.c=.o): $(REDOC_C)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# make demo as a user runs it: its printed examples work, Ctrl-C ends it cleanly.
demo-check: $(BUILD)/imapgw $(SEEDGEN)
	@tests/demo-check.sh

# systemd/imapgw.service (systemd-analyze verify, when installed) and docker/.
check-deploy: $(BUILD)/imapgw
	@tests/check-deploy.sh $(BUILD)/imapgw

# The contract through an outside validator (Redocly CLI, rules in
# tools/redocly.yaml): no error, no warning.
lint-openapi: $(TOOLS_STAMP)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		tools/node_modules/.bin/redocly lint --config tools/redocly.yaml --max-problems 50 \
		openapi/openapi.yaml

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/imapgw: $(SERVER_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test programs may use internal headers and relax the prototype rule
# (Criterion's macros define functions without prototypes).
$(BUILD)/tests/%.o: CFLAGS += -Wno-missing-prototypes

# Unit tests of server/ pieces that need no libmicrohttpd link in.
UNIT_SERVER_OBJS := $(BUILD)/server/workers.o $(BUILD)/server/web.o $(BUILD)/server/config.o \
                    $(BUILD)/server/log.o

$(UNIT_BIN): $(UNIT_OBJS) $(SUPPORT_OBJS) $(UNIT_SERVER_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

$(INTEG_BIN): $(INTEG_OBJS) $(SUPPORT_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

SEEDGEN := $(BUILD)/tests/seedgen
$(SEEDGEN): tests/seed/seedgen.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $<
seedgen: $(SEEDGEN)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(INTEG_BIN) $(SEEDGEN)
	@$(MAKE) --no-print-directory lint-openapi check-deploy unit integration demo-check

# imap/base/ is used by every layer and includes nothing of ours outside itself;
# imap/mail/ decodes mail and knows no IMAP protocol (parser, conn, client,
# command, pool ...): it includes only imap/base/ and imap/mail/.
check-layers:
	@bad=$$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' imap/base/*.[ch] imap/mail/*.[ch] \
		| grep -vE ':[[:space:]]*#[[:space:]]*include[[:space:]]*"imap/base/[a-z0-9_]+\.h"' \
		| grep -vE '^imap/mail/[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"imap/mail/[a-z0-9_]+\.h"'); \
	if [ -n "$$bad" ]; then \
		echo "check-layers: imap/base/ and imap/mail/ may include only imap/base/ (and imap/mail/ for mail):"; \
		echo "$$bad"; exit 1; fi

unit: check-layers $(UNIT_BIN)
	IMAPGW_CORPUS=$(CORPUS) $(UNIT_BIN) $(CRITERION_ARGS)

integration: $(INTEG_BIN) $(BUILD)/imapgw $(SEEDGEN)
	IMAPGW_BIN=$(BUILD)/imapgw PYTHON=$(PYTHON) IMAPGW_CORPUS=$(CORPUS) \
		tests/with-dovecot.sh $(SEEDGEN) -- \
		tests/run-integration.sh $(if $(TEST),--partial) $(INTEG_BIN) $(CRITERION_ARGS)

# The fault and hostile-input suite (tests/faults.py) under a private Dovecot.
test-faults: deps
	@$(MAKE) --no-print-directory all $(SEEDGEN)
	IMAPGW_BIN=$(BUILD)/imapgw IMAPGW_TEST_DOVECOT2=0 tests/with-dovecot.sh $(SEEDGEN) -- \
		$(PYTHON) tests/faults.py

# Three replicas behind HAProxy with deploy/haproxy.cfg (tests/cluster.py), over a
# private Dovecot only.
test-cluster: deps
	@$(MAKE) --no-print-directory all $(SEEDGEN)
	IMAPGW_BIN=$(BUILD)/imapgw IMAPGW_TEST_SERVERS= IMAPGW_TEST_DOVECOT2=0 \
		tests/with-dovecot.sh $(SEEDGEN) -- $(PYTHON) tests/cluster.py

# libFuzzer: clang only, its own object directory.
FUZZ_DIR  := build/fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_FLAGS := -std=c17 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
comma := ,

# The library is compiled once for all targets (coverage without libFuzzer's
# main), then each target links it.
FUZZ_OBJ_FLAGS := $(subst -fsanitize=fuzzer$(comma),-fsanitize=fuzzer-no-link$(comma),$(FUZZ_FLAGS))
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/obj/%.o) $(FUZZ_DIR)/obj/gen/openapi_json.o \
                 $(FUZZ_DIR)/obj/gen/redoc_js.o

.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_DIR)/gen/openapi_json.c $(FUZZ_DIR)/gen/redoc_js.c

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_OBJ_FLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/obj/gen/%.o: $(FUZZ_DIR)/gen/%.c
	@mkdir -p $(@D)
	clang $(FUZZ_OBJ_FLAGS) -c -o $@ $<

$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_OBJS) $(LDLIBS)

fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		name=$$(basename $$f); corpus=$(FUZZ_DIR)/corpus/$$name; mkdir -p $$corpus; \
		seeds=tests/fuzz/seeds/$$name; [ -d $$seeds ] || seeds=; \
		case $$name in fuzz_parser|fuzz_bodystructure) \
			[ -d $(CORPUS)/imap ] && seeds="$$seeds $(CORPUS)/imap";; esac; \
		echo "fuzz: $$name for $(FUZZ_TIME)s"; \
		$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
			$$corpus $$seeds >$(FUZZ_DIR)/$$name.log 2>&1 || { tail -40 $(FUZZ_DIR)/$$name.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units' $(FUZZ_DIR)/$$name.log; \
	done

# imapgw on 127.0.0.1:8080 (IMAPGW_DEMO_PORT) over a private, seeded Dovecot; Ctrl-C stops it.
demo: deps
	@$(MAKE) --no-print-directory all $(SEEDGEN)
	@tests/demo.sh $(BUILD)/imapgw $(SEEDGEN)

# Throughput, latency and CPU per request against a private Dovecot with 10k and 100k
# messages (wrk); not part of `make test`. Results in build/bench/results.txt.
BENCH_TOOLS := $(BUILD)/tests/bench/mailgen $(BUILD)/tests/bench/imapbase
$(BUILD)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_TOOLS)
	@IMAPGW_BIN=$(BUILD)/imapgw IMAPGW_BENCH_TOOLS=$(BUILD)/tests/bench tests/bench/bench.sh

# 1 and 3 replicas behind deploy/haproxy.cfg, index warm (tests/bench/cluster.py);
# not part of `make test`. Results in build/bench/cluster.txt.
bench-cluster: deps
	@$(MAKE) --no-print-directory all $(SEEDGEN)
	@IMAPGW_BIN=$(BUILD)/imapgw IMAPGW_TEST_SERVERS= IMAPGW_TEST_DOVECOT2=0 \
		tests/with-dovecot.sh $(SEEDGEN) -- $(PYTHON) tests/bench/cluster.py

# What watched folders (GET /events, IDLE) cost imapgw while idle (~1 min).
bench-events: deps
	@$(MAKE) --no-print-directory all $(SEEDGEN)
	IMAPGW_BIN=$(BUILD)/imapgw IMAPGW_TEST_SERVERS= tests/with-dovecot.sh $(SEEDGEN) -- \
		tests/bench/events.sh

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(SERVER_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(INTEG_OBJS:.o=.d) $(SUPPORT_OBJS:.o=.d)
-include $(FUZZ_LIB_OBJS:.o=.d)
