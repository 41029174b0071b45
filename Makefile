# vslide: `make demo` and `make test` set up a fresh Debian bookworm machine.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Each part compiled in batches of files (CMake unity build): a clean build, as
# CI makes twice, takes a fraction of the CPU. UNITY=OFF for file-by-file.
UNITY ?= ON

.PHONY: all deps configure build test demo clean format asan durability fuzz fuzz-ci

all: build

deps:
	./scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVSLIDE_UNITY_BUILD=$(UNITY) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

demo: build
	./scripts/demo.sh $(BUILD)

# The sanitizer configuration: ASan + UBSan over the whole suite.
asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DVSLIDE_SANITIZE=ON

# libFuzzer targets (fuzz/, clang-14, ASan + UBSan; docs/TESTING.md): 10 minutes each,
# or a short run from the committed corpus for CI (20 s each, ~2 min plus the clang build).
fuzz:
	./scripts/fuzz.sh $(or $(FUZZ_SECONDS),600)

fuzz-ci:
	./scripts/fuzz.sh $(or $(FUZZ_SECONDS),20)

# The acquisition fault-injection suites over 20 seeds (`make test` runs 3):
# kills at random moments, a full disk at every write site, a power cut.
durability: build
	cd $(BUILD) && VSLIDE_SEEDS=20 ./tests/acquire/acquire_tests --gtest_filter='Seeds/*'

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
