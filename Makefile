# eddy - plain GNU make. Sources are found by folder; outputs go to $(BUILD).
#   make            build eddyd, eddy, fake-rudderstack
#   make test       every suite; last line "N passed, N failed"
#   make asan       the same tests built with -fsanitize=address,undefined
#   make run        fake RudderStack + eddyd on loopback (see README)
#   make bench | bench-peers | fuzz | soak | format | lint | install | clean | deps

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CXX     ?= c++
SAN     ?=

PKGS     := lmdb libevent libevent_pthreads jansson libcurl inih zlib yajl libisal libdeflate libcrypto simdjson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP $(SAN) $(PKG_CFLAGS)
LDFLAGS += -pthread $(SAN)
CXXFLAGS ?= -O2 -g
# C++ only for storage/batch_fast.cpp, simdjson's wrapper.
CXXFLAGS += -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP $(SAN) $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lstdc++ -lm

STORAGE_SRC := $(wildcard storage/*.c storage/*.cpp)
DAEMON_SRC  := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
TOOLS_SRC   := $(filter-out tools/eddy.c,$(wildcard tools/*.c))
UNIT_SRC    := $(wildcard tests/unit/*/test_*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)
SHIM_SRC    := $(wildcard tests/shim/*.c)
TTOOL_SRC   := $(wildcard tests/tools/*.c)

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(1)))

STORAGE_LIB := $(BUILD)/libeddystore.a
DAEMON_LIB  := $(BUILD)/libeddyd.a
TOOLS_LIB   := $(BUILD)/libeddytools.a
BINS := $(if $(wildcard daemon/main.c),$(BUILD)/eddyd) \
        $(if $(wildcard tools/eddy.c),$(BUILD)/eddy) \
        $(if $(wildcard tests/fake_rudderstack.c),$(BUILD)/fake-rudderstack)
# tests/unit/<module>/test_x.c builds build/tests/test_x (one flat folder).
UNIT_BINS  := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(UNIT_SRC)))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
SHIMS      := $(patsubst tests/shim/%.c,$(BUILD)/shim/%.so,$(SHIM_SRC))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TTOOL_SRC))
PL_BINS    := $(if $(wildcard tests/powerloss/recorder.c),$(BUILD)/powerloss/recorder.so $(BUILD)/powerloss/plread)

.PHONY: all deps test unit e2e asan tsan run bench bench-peers fuzz soak format lint install clean check-deps \
        powerloss
.DEFAULT_GOAL := all
.SECONDARY:

all: check-deps
	@$(MAKE) --no-print-directory build-all

.PHONY: build-all
build-all: $(BINS) $(UNIT_BINS) $(BENCH_BINS) $(SHIMS) $(TEST_TOOLS) $(PL_BINS)

# Installs what is missing (Debian 12, as root); silent when all is there.
DEB_PKGS := build-essential pkg-config liblmdb-dev lmdb-utils libevent-dev libjansson-dev \
            libcurl4-openssl-dev libinih-dev zlib1g-dev libyajl-dev libisal-dev libdeflate-dev libssl-dev \
            libsimdjson-dev \
            libcmocka-dev bats \
            clang clang-format clang-tidy cppcheck libclang-rt-14-dev curl wrk python3 \
            iproute2 e2fsprogs procps psmisc nginx-light openssl haproxy python3-yaml \
            libseccomp-dev systemd
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing $$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

check-deps:
	@pkg-config --exists $(PKGS) cmocka libseccomp && command -v bats >/dev/null || $(MAKE) --no-print-directory deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(STORAGE_LIB): $(call obj,$(STORAGE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(DAEMON_LIB): $(call obj,$(DAEMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(TOOLS_LIB): $(call obj,$(TOOLS_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/eddyd: $(call obj,daemon/main.c) $(DAEMON_LIB) $(STORAGE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# eddy reads the status object through daemon/status.c (status.h says why)
$(BUILD)/eddy: $(call obj,tools/eddy.c) $(TOOLS_LIB) $(call obj,daemon/status.c) $(STORAGE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/fake-rudderstack: $(call obj,tests/fake_rudderstack.c)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
define unit_bin
$(BUILD)/tests/$(basename $(notdir $(1))): $(call obj,$(1)) $(DAEMON_LIB) $(TOOLS_LIB) $(STORAGE_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(CMOCKA_LIBS) $$(LDLIBS)
endef
$(foreach s,$(UNIT_SRC),$(eval $(call unit_bin,$(s))))
$(BUILD)/tests/tools/%: $(call obj,tests/tools/%.c) $(STORAGE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/tools/seccomp_run: LDLIBS += -lseccomp
$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(DAEMON_LIB) $(STORAGE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/shim/%.so: tests/shim/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl
$(BUILD)/powerloss/recorder.so: tests/powerloss/recorder.c tests/powerloss/trace.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl -pthread
$(BUILD)/powerloss/plread: $(call obj,tests/powerloss/plread.c) $(STORAGE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- tests ---------------------------------------------------------------

test: all
	@BUILD=$(abspath $(BUILD)) tests/run.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan CC=clang CXX=clang++ SAN="-fsanitize=thread" all
	@TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" BUILD=$(abspath build/tsan) SUITES="e2e" tests/run.sh

soak: all
	@BUILD=$(abspath $(BUILD)) EDDY_SOAK=1 tests/run.sh

bench: all
	@BUILD=$(abspath $(BUILD)) tests/bench/run.sh

# eddyd beside Redis, PostgreSQL and beanstalkd, each acknowledging after
# fsync (tests/bench/peers.sh). The servers are installed here, not by
# make deps: nothing else needs them.
PEER_PKGS := redis-server postgresql beanstalkd
bench-peers: all
	@missing=$$(for p in $(PEER_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make bench-peers: installing $$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@BUILD=$(abspath $(BUILD)) bash tests/bench/peers.sh

fuzz: check-deps
	@BUILD=$(abspath build/fuzz) tests/fuzz/run.sh $(FUZZ_SECONDS)

run: all
	@BUILD=$(abspath $(BUILD)) tests/demo.sh

# Power loss (README "Power loss"): crash states built from recorded
# write traces. STATES=N, SYNC=none (must report loss), FAULT=1 (a build
# that answers 200 before its commit, in build/fault: must report loss).
STATES ?= 2000
SYNC   ?= full
powerloss: all
	@$(if $(FAULT),$(MAKE) --no-print-directory BUILD=build/fault SAN=-DEDDY_FAULT_ACK_BEFORE_COMMIT build-all &&) \
	BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/powerloss/powerloss.py --states $(STATES) \
	    --sync $(SYNC) $(if $(FAULT),--daemon-build $(abspath build/fault))

# ---- hygiene --------------------------------------------------------------

C_FILES = $(shell git ls-files '*.c' '*.cpp' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')

format:
	clang-format -i $(C_FILES)

lint: check-deps
	@clang-format --dry-run --Werror $(C_FILES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --std=c11 -D_GNU_SOURCE --suppress=missingIncludeSystem \
	    -I storage -I daemon -I tools daemon storage tools tests/fake_rudderstack.c

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/eddy
	install -m 0755 $(BUILD)/eddy $(DESTDIR)$(PREFIX)/bin/eddy
	install -m 0755 $(BUILD)/eddyd $(DESTDIR)$(PREFIX)/sbin/eddyd
	[ ! -f etc/man/eddy.1 ] || install -m 0644 etc/man/eddy.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	[ ! -f etc/man/eddyd.8 ] || install -m 0644 etc/man/eddyd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 etc/eddy.conf etc/eddyd.service $(DESTDIR)$(PREFIX)/share/doc/eddy/

clean:
	rm -rf build
