# StrataDB build. `make` builds release binaries, `make test` builds and runs
# every test (unit tests under ASan+UBSan, black-box, fault, fuzz), `make run`
# starts a single node. Sources are found by wildcard: a new .c in a layer
# folder, a new tests/unit/test_*.c or tests/fuzz/fuzz_*.c needs no edit here.

CC      ?= cc
CLANG   ?= clang
LAYERS  := util engine keyspace metrics server commands repl cluster
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-missing-field-initializers
ifeq ($(CI),true)
WARN    += -Werror
endif
CPPFLAGS := -Isrc -Iinclude -D_GNU_SOURCE
CFLAGS_COMMON := -std=c11 -g -pthread $(WARN) -fno-strict-aliasing
REL_CFLAGS  := $(CFLAGS_COMMON) -O2
ASAN_CFLAGS := $(CFLAGS_COMMON) -O1 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
LIBS    := -lzstd -llz4 -lxxhash -lm -pthread
BENCH_LIBS := -lrocksdb -lleveldb -llmdb -lsqlite3

LIB_SRC  := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
BIN_SRC  := $(wildcard src/bin/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_LIB := $(wildcard bench/lib/*.c)

REL_OBJ  := $(LIB_SRC:%.c=build/rel/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/%.o)
BINS     := $(BIN_SRC:src/bin/%.c=bin/%)
ASAN_BINS := $(BIN_SRC:src/bin/%.c=build/asan/bin/%)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)

.PHONY: all deps test soak run clean format bench-engine bench-server bench-repl test-build
all: deps $(BINS) build/rel/libstrata.a

deps:
	@sh scripts/deps.sh

-include $(REL_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)

# Headers come from Debian packages: with -j, nothing compiles before deps.sh ran.
$(REL_OBJ) $(ASAN_OBJ) $(FUZZ_OBJ): | deps

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -MMD -MP -c $< -o $@
build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@
build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@

build/rel/libstrata.a: $(REL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
build/asan/libstrata.a: $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
build/fuzz/libstrata.a: $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

bin/%: src/bin/%.c build/rel/libstrata.a
	@mkdir -p bin
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) $< build/rel/libstrata.a -o $@ $(LIBS)
build/asan/bin/%: src/bin/%.c build/asan/libstrata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ASAN_CFLAGS) $< build/asan/libstrata.a -o $@ $(LIBS)
build/asan/tests/%: tests/unit/%.c $(UNIT_HELPERS) build/asan/libstrata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(ASAN_CFLAGS) $< $(UNIT_HELPERS) build/asan/libstrata.a -o $@ $(LIBS)
build/fuzz/bin/%: tests/fuzz/%.c build/fuzz/libstrata.a
	@mkdir -p $(dir $@)
	$(CLANG) $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $< build/fuzz/libstrata.a -o $@ $(LIBS)
build/rel/bench/%: bench/%.c $(BENCH_LIB) $(wildcard bench/lib/*.h) build/rel/libstrata.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibench/lib $(REL_CFLAGS) $< $(BENCH_LIB) build/rel/libstrata.a -o $@ $(LIBS) $(BENCH_LIBS)

test-build: deps $(BINS) $(ASAN_BINS) $(UNIT_BINS) $(FUZZ_BINS) build/rel/bench/bench_engine

test: test-build
	@sh scripts/run_tests.sh

soak: test-build
	@STRATA_SOAK=1 sh scripts/run_tests.sh

run: all
	@mkdir -p data
	./bin/strata-server --port 6379 --dir ./data

bench-engine: deps build/rel/bench/bench_engine
	./build/rel/bench/bench_engine $(if $(N),--num $(N)) $(if $(REPEAT),--repeat $(REPEAT))

bench-server: deps $(BINS)
	/usr/bin/python3 bench/bench_server.py $(if $(N),--keys $(N)) $(if $(FSYNC),--modes $(FSYNC))

bench-repl: all
	/usr/bin/python3 bench/bench_repl.py

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

clean:
	rm -rf build bin
