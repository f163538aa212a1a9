# ironroot entry points. Each target installs what it needs first (scripts/install-deps).
.PHONY: all deps debug release test demo bench fuzz clang format clean firmware

all: debug

deps:
	@scripts/install-deps

debug: deps
	cmake --preset debug
	cmake --build --preset debug

release: deps
	cmake --preset release
	cmake --build --preset release

# Every test, on the debug build (AddressSanitizer + UndefinedBehaviorSanitizer). The preset runs
# three at a time on two cores: many tests wait on real processes, two of them for a whole minute.
test: debug
	ctest --preset debug

# The main job on the embedded defaults, in a fresh folder under build/.
demo: release
	scripts/demo build/release build/demo

# Signed images for the device simulator: build/firmware/ironroot-firmware-VERSION.signed.bin
# and bootloader-VERSION.signed.bin, with keys in build/keys/ (made when missing).
# SELFTEST=fail signs a firmware whose self-test fails (a test boot of it is reverted).
firmware:
	@test -n "$(VERSION)" || { echo "error: VERSION is missing: make firmware VERSION=x.y.z [SELFTEST=fail]" >&2; exit 2; }
	$(MAKE) release
	scripts/make-firmware build/release "$(VERSION)" "$(SELFTEST)"

# Benchmarks, as ratios against baselines measured in the same run: writes docs/BENCHMARKS.md.
bench: release
	scripts/bench build/release docs/BENCHMARKS.md

# Every fuzz target, for a bounded time each (FUZZ_SECONDS, default 60).
fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz
	scripts/fuzz build/fuzz $${FUZZ_SECONDS:-60}

# The same build under Clang 14, to keep -Wall -Wextra -Werror clean on both compilers.
clang: deps
	cmake --preset clang
	cmake --build --preset clang
	ctest --preset clang

format:
	find libs apps tests bench fuzz -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf build
