# The README's commands. Each target installs what is missing first (tools/deps.sh).
BUILD   ?= build
JOBS    ?= 2
CMAKE_FLAGS ?=

.PHONY: deps build test asan demo bench fuzz clean

deps:
	@sh tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the ASan+UBSan flavour (make test runs it too, with the other two).
asan: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L lua5.4-asan

demo: build
	sh tools/demo.sh $(BUILD)

bench: build
	sh tools/bench.sh $(BUILD)

# A bounded fuzz pass over op:feed() under ASan+UBSan; not part of make test.
# FUZZ_SECONDS (60), FUZZ_SEED (1), FUZZ_CASES, FUZZ_CASE: see tools/fuzz.lua.
fuzz: build
	sh tools/fuzz.sh $(BUILD)

clean:
	rm -rf $(BUILD)
