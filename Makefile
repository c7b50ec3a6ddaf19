# Makefile — the one build file of hostd.
#
#   make                      build hostd, wsctl, hostd-agent and the tests' programs
#   make check                build, then run the whole test suite (tests/run)
#   make install              install under $(DESTDIR)$(PREFIX) (default /usr/local)
#   make DEVELOPER=1          warnings are errors (CI and tests build this way)
#   make SANITIZE=address,undefined
#
# Each module folder (common, images, cloudinit, orchestrator, api, hostd) is
# compiled into a static library under $(B)/; a program links the ones it needs.
# Objects are rebuilt when a header they include changes (-MMD) and when the
# compiler flags change ($(B)/FLAGS).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/hostd
DATADIR ?= $(PREFIX)/share/hostd
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
DESTDIR ?=

B ?= build
O = $(B)/obj
CC ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
LDFLAGS ?=
DEVELOPER ?= 0
SANITIZE ?=

PKGS := libvirt libxml-2.0 libguestfs sqlite3 libmicrohttpd jansson libcrypto libssl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl jansson 2>/dev/null)
CURL_LIBS := $(shell $(PKG_CONFIG) --libs libcurl jansson libcrypto 2>/dev/null)

WARNINGS := -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith -Wwrite-strings \
	-Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition -Wvla \
	-Wundef -Wcast-align -Wimplicit-fallthrough -Wno-unused-parameter \
	-Wno-missing-field-initializers

ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -I. $(WARNINGS) $(CFLAGS) -pthread
ALL_LDFLAGS := $(LDFLAGS) -pthread
ifeq ($(DEVELOPER),1)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# ---- sources ----------------------------------------------------------------
MODULES := common images cloudinit orchestrator api hostd
define module_objs
$(patsubst %.c,$(O)/%.o,$(filter-out hostd/main.c,$(wildcard $(1)/*.c)))
endef
LIB_common := $(B)/libcommon.a
LIB_images := $(B)/libimages.a
LIB_cloudinit := $(B)/libcloudinit.a
LIB_orchestrator := $(B)/liborchestrator.a
LIB_api := $(B)/libapi.a
LIB_hostd := $(B)/libhostd.a
# Where hostd looks for the agent unless hostd.conf says otherwise.
$(O)/hostd/config.o: ALL_CFLAGS += -DHOSTD_AGENT_PATH='"$(LIBEXECDIR)/hostd-agent"'
# Link order: callers before callees.
DAEMON_LIBS := $(LIB_hostd) $(LIB_api) $(LIB_orchestrator) $(LIB_cloudinit) $(LIB_images) $(LIB_common)

AGENT_SRC := $(wildcard agent/*.c)
WSCTL_SRC := $(wildcard tools/wsctl/*.c)
BENCH_SRC := $(wildcard tools/bench/*.c)
TEST_SRC := $(wildcard tests/unit/test-*.c)
ITEST_SRC := $(wildcard tests/integration/itest-*.c)
TEST_HELPER_SRC := $(wildcard tests/helpers/*.c)

PROGRAMS := $(if $(wildcard hostd/main.c),$(B)/hostd) \
	$(if $(WSCTL_SRC),$(B)/wsctl) \
	$(if $(AGENT_SRC),$(B)/hostd-agent) \
	$(patsubst tools/bench/%.c,$(B)/%,$(BENCH_SRC))
TEST_PROGRAMS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC)) \
	$(patsubst tests/integration/%.c,$(B)/tests/%,$(ITEST_SRC)) \
	$(patsubst tests/helpers/%.c,$(B)/tests/%,$(TEST_HELPER_SRC))

all: $(PROGRAMS) $(TEST_PROGRAMS)

# Quiet output unless V=1 (the git style).
ifneq ($(V),1)
QUIET_CC = @echo '   ' CC $@;
QUIET_LINK = @echo '   ' LINK $@;
QUIET_AR = @echo '   ' AR $@;
endif

# ---- flag tracking (rebuild everything when flags change) -------------------
FLAGS_LINE := $(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) $(CURL_CFLAGS) | $(ALL_LDFLAGS) | $(LIBEXECDIR)
$(B)/FLAGS: FORCE
	@mkdir -p $(B)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(FLAGS_LINE)' ]; then \
		echo '$(FLAGS_LINE)' > $@; echo "    * new build flags"; fi

# ---- compile ----------------------------------------------------------------
$(O)/agent/%.o: agent/%.c $(B)/FLAGS
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/tools/wsctl/%.o: tools/wsctl/%.c $(B)/FLAGS
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) $(CURL_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/%.o: %.c $(B)/FLAGS
	@mkdir -p $(@D)
	$(QUIET_CC)$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(foreach m,$(MODULES),$(eval $(LIB_$(m)): $(call module_objs,$(m))))
$(B)/lib%.a:
	@mkdir -p $(@D)
	$(QUIET_AR)rm -f $@ && ar rcs $@ $^

# ---- link -------------------------------------------------------------------
$(B)/hostd: $(O)/hostd/main.o $(DAEMON_LIBS)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/wsctl: $(patsubst %.c,$(O)/%.o,$(WSCTL_SRC)) $(LIB_common)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CURL_LIBS)

# The agent runs inside guests of any distribution: static, libc only.
$(B)/hostd-agent: $(patsubst %.c,$(O)/%.o,$(AGENT_SRC))
	$(QUIET_LINK)$(CC) $(filter-out -fsanitize=%,$(ALL_LDFLAGS)) -static -o $@ $^

$(B)/%: $(O)/tools/bench/%.o $(DAEMON_LIBS)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: $(O)/tests/unit/%.o $(DAEMON_LIBS)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: $(O)/tests/integration/%.o $(DAEMON_LIBS)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/tests/%: $(O)/tests/helpers/%.o $(DAEMON_LIBS)
	@mkdir -p $(@D)
	$(QUIET_LINK)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The agent is built without sanitizers: a static binary cannot carry them.
$(O)/agent/%.o: ALL_CFLAGS := $(filter-out -fsanitize=% -fno-omit-frame-pointer,$(ALL_CFLAGS))

# ---- check, install, clean --------------------------------------------------
check: all
	B=$(abspath $(B)) tests/run

install: $(PROGRAMS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/hostd
	$(if $(wildcard $(B)/hostd),install -m 0755 $(B)/hostd $(DESTDIR)$(SBINDIR)/hostd)
	$(if $(wildcard $(B)/wsctl),install -m 0755 $(B)/wsctl $(DESTDIR)$(BINDIR)/wsctl)
	$(if $(wildcard $(B)/hostd-agent),install -m 0755 $(B)/hostd-agent $(DESTDIR)$(LIBEXECDIR)/hostd-agent)
	install -d $(DESTDIR)$(LIBEXECDIR)/mkgolden.d
	install -m 0755 tools/mkgolden $(DESTDIR)$(LIBEXECDIR)/mkgolden
	install -m 0644 tools/mkgolden.d/sources.sh $(DESTDIR)$(LIBEXECDIR)/mkgolden.d/sources.sh
	ln -sf $(LIBEXECDIR)/mkgolden $(DESTDIR)$(SBINDIR)/hostd-mkgolden
	sed 's|/usr/local/sbin|$(SBINDIR)|g' systemd/hostd.service > $(DESTDIR)$(UNITDIR)/hostd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hostd.service
	$(if $(wildcard hostd/hostd.conf.example),install -m 0644 hostd/hostd.conf.example $(DESTDIR)$(DATADIR)/hostd.conf.example)

clean:
	rm -rf $(B)

.PHONY: all check install clean FORCE
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
