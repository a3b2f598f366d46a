# Convenience wrapper; the scripts are the source of truth.
.PHONY: all serve test test-fast bench clean
all:
	scripts/build.sh
serve:
	scripts/serve.sh
test:
	scripts/test.sh
test-fast:
	SANITIZE=0 scripts/test.sh
bench: all
	tests/bench/bench.sh
clean:
	rm -rf build build-asan
