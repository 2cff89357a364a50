# The README's commands. Each target installs what is missing first (tools/deps.sh).
BUILD   ?= build
ASAN    ?= build-asan
JOBS    ?= 2
CMAKE_FLAGS ?=

.PHONY: deps build test asan demo bench clean

deps:
	@sh tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite against an ASan+UBSan build of the Lua 5.4 module.
asan: deps
	cmake -S . -B $(ASAN) -DACR_SANITIZE=ON -DACR_LUAJIT=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ctest --output-on-failure -j $(JOBS)

demo: build
	sh tools/demo.sh $(BUILD)

bench: build
	sh tools/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN)
