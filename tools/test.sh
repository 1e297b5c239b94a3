#!/usr/bin/env bash
# tools/test.sh - THE test command (README and .ci/run call it).
#
#   1. tools/deps.sh, tools/build.sh
#   2. unit tests: each executable of tests/unit/meson.build, built with
#      ASan+UBSan (build-asan/), run in a sandbox host; TAP points are counted
#   3. integration tests: tests/integration/run.py (each test in its own sandbox)
#   4. fuzz smoke: every tests/fuzz/fuzz-*.c, built with clang and libFuzzer
#      against the core sources, run for FUZZ_SECONDS (default 30) from its
#      seeds in tests/fuzz/corpus-NAME/; one fuzzer is one test
#   5. the real host's state (links, routes, firewall, mounts, sysctls, cgroups,
#      state dirs) must be what it was before all this
#
# Ends with ONE line "N passed, N failed, N skipped" (all parts summed) and
# exits non-zero if anything failed. With CI=true or DIYCTL_TEST_NO_SKIP=1 a
# skip counts as a failure.
#
# Environment: FUZZ_SECONDS (30), JOBS (parallel integration sandboxes, 2),
# UNIT_TIMEOUT (seconds per unit test executable, 300).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO=$PWD
RUN_PY=$REPO/tests/integration/run.py
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-2}
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}

strict=0
if [ "${CI:-}" = true ] || [ "${DIYCTL_TEST_NO_SKIP:-}" = 1 ]; then
	strict=1
fi

passed=0 failed=0 skipped=0
work=$(mktemp -d /tmp/diyctl-test-sh.XXXXXX)
trap 'rm -rf "$work"' EXIT

section() { printf '\n# ===== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }
indent() { sed -u 's/^/    /'; }
# add P F S: add counts from a part (skips become failures in strict mode)
add() {
	passed=$((passed + $1))
	failed=$((failed + $2))
	if [ $strict -eq 1 ]; then
		failed=$((failed + $3))
	else
		skipped=$((skipped + $3))
	fi
}
# Names from a meson list in FILE: meson_list FILE VAR [files]
meson_list() {
	python3 - "$@" <<'PY'
import re, sys
path, var = sys.argv[1], sys.argv[2]
text = open(path).read()
m = re.search(var + r"\s*=\s*(?:files\s*\()?\s*\[?(.*?)[\])]", text, re.S)
print("\n".join(re.findall(r"'([^']+)'", m.group(1))) if m else "")
PY
}

# ---------------------------------------------------------------- 1. build
section "dependencies"
if ! bash tools/deps.sh; then
	fail "tools/deps.sh"
	summary
	exit 1
fi

section "build"
if ! bash tools/build.sh; then
	fail "tools/build.sh: the build failed"
	summary
	exit 1
fi

# Everything below runs in sandbox hosts; this is the check that it stayed so.
host_before=$work/host-before.json
if ! python3 "$RUN_PY" --host-snapshot "$host_before"; then
	fail "could not take a snapshot of the host state"
	host_before=
fi

# ---------------------------------------------------------------- 2. unit
section "unit tests (ASan + UBSan)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:color=never}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:color=never}
while IFS= read -r t; do
	[ -n "$t" ] || continue
	exe=$REPO/build-asan/tests/unit/$t
	if [ ! -x "$exe" ]; then
		fail "unit: $t: not built ($exe)"
		continue
	fi
	out=$work/unit-$t.out
	echo "# $t"
	# meson runs unit tests in tests/unit (workdir); so do we. On a pty (script),
	# so stdout is line-buffered: LeakSanitizer ends the process at exit before
	# stdio is flushed, and fully buffered TAP lines would be lost.
	(cd tests/unit && python3 "$RUN_PY" --sandbox --timeout "$UNIT_TIMEOUT" -- \
		script -qefc "$(printf '%q' "$exe")" /dev/null) </dev/null 2>&1 | tr -d '\r' >"$out"
	rc=${PIPESTATUS[0]}
	indent <"$out"
	read -r p f s plan < <(awk '
		/^ok /     { if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) s++; else p++ }
		/^not ok / { if ($0 ~ /#[ \t]*TODO/) p++; else f++ }
		/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0 }
		END { print p + 0, f + 0, s + 0, (plan == "" ? -1 : plan) }' "$out")
	if [ "$plan" -ge 0 ] && [ $((p + f + s)) -ne "$plan" ]; then
		echo "    # $t: plan says $plan test points, output has $((p + f + s))"
		f=$((f + 1))
	fi
	if grep -qE '(ERROR: [A-Za-z]+Sanitizer|runtime error:)' "$out"; then
		echo "    # $t: sanitizer report (one more failure)"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "    # $t: exited with $rc"
		f=1
	fi
	if [ $((p + f + s)) -eq 0 ]; then
		echo "    # $t: no TAP output"
		f=1
	fi
	echo "# $t: $p passed, $f failed, $s skipped"
	add "$p" "$f" "$s"
done < <(meson_list tests/unit/meson.build unit_tests)

# ---------------------------------------------------------------- 3. integration
section "integration tests"
# Each test runs in its own sandbox host; run.py prints TAP. Its own summary
# line is relabelled so this script's last line is the only summary.
python3 "$RUN_PY" -j "$JOBS" 2>&1 |
	sed -u -E 's/^([0-9]+ passed, [0-9]+ failed, [0-9]+ skipped)$/# integration: \1/' |
	tee "$work/integration.out"
rc=${PIPESTATUS[0]}
line=$(sed -n -E 's/^# integration: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$work/integration.out" | tail -1)
if [ -z "$line" ]; then
	fail "integration: run.py ended without a summary (exit $rc)"
else
	read -r p f s <<<"$line"
	# run.py already counts skips as failures in strict mode
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "integration: run.py exited with $rc"
	fi
fi

# ---------------------------------------------------------------- 4. fuzz
shopt -s nullglob
fuzzers=(tests/fuzz/fuzz-*.c)
shopt -u nullglob
if [ ${#fuzzers[@]} -gt 0 ]; then
	section "fuzz smoke (${FUZZ_SECONDS}s each)"
	fuzz_ok=1
	# The core library, instrumented for libFuzzer, by meson in build-fuzz/.
	pkgs=()
	for pc in libconfig libnl-3.0 libnl-route-3.0 libarchive json-c nettle libcap libseccomp libnftables; do
		pkg-config --exists "$pc" && pkgs+=("$pc")
	done
	if [ -f build-fuzz/build.ninja ]; then
		cfg=(meson configure build-fuzz)
	else
		rm -rf build-fuzz
		cfg=(env CC=clang meson setup build-fuzz)
	fi
	if ! "${cfg[@]}" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
		-Dc_args=-fsanitize=fuzzer-no-link >"$work/fuzz-setup.out" 2>&1 ||
		! ninja -C build-fuzz libdiyctl-core.a >>"$work/fuzz-setup.out" 2>&1; then
		indent <"$work/fuzz-setup.out" | tail -40
		fuzz_ok=0
	fi
	mkdir -p build-fuzz/artifacts
	for src in "${fuzzers[@]}"; do
		name=$(basename "$src" .c)
		short=${name#fuzz-}
		if [ $fuzz_ok -eq 0 ]; then
			fail "fuzz: $name: the core library does not build with clang (see above)"
			continue
		fi
		# shellcheck disable=SC2046
		if ! clang -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
			-fsanitize=fuzzer,address,undefined -Iinclude -Isrc -I. -Ibuild-fuzz \
			$(pkg-config --cflags "${pkgs[@]}") "$src" build-fuzz/libdiyctl-core.a \
			$(pkg-config --libs "${pkgs[@]}") -o "build-fuzz/$name" >"$work/$name.build" 2>&1; then
			indent <"$work/$name.build" | tail -40
			fail "fuzz: $name: does not build"
			continue
		fi
		args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
			-artifact_prefix="$REPO/build-fuzz/artifacts/$name-")
		[ -f "tests/fuzz/$short.dict" ] && args+=(-dict="$REPO/tests/fuzz/$short.dict")
		mkdir -p "$work/corpus-$name"
		# the plan fuzzer also starts from every example config, as it is now
		[ "$short" = plan ] && cp examples/*.conf "$work/corpus-$name/" 2>/dev/null
		args+=("$work/corpus-$name")   # new inputs go here, not into the repo
		[ -d "tests/fuzz/corpus-$short" ] && args+=("$REPO/tests/fuzz/corpus-$short")
		python3 "$RUN_PY" --sandbox --timeout $((FUZZ_SECONDS + 120)) -- \
			"$REPO/build-fuzz/$name" "${args[@]}" >"$work/$name.out" 2>&1
		rc=$?
		grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|Done [0-9]+ runs)' "$work/$name.out" | indent
		if [ $rc -eq 0 ]; then
			pass "fuzz: $name"
		else
			indent <"$work/$name.out" | tail -60
			fail "fuzz: $name (exit $rc; reproducers in build-fuzz/artifacts/)"
		fi
	done
fi

# ---------------------------------------------------------------- 5. host
section "host state"
if [ -n "$host_before" ]; then
	if python3 "$RUN_PY" --host-compare "$host_before"; then
		pass "the real host's state is unchanged"
	else
		fail "the real host's state changed during the test run (see above; or something else on this machine changed it)"
	fi
fi

echo
summary
[ $failed -eq 0 ]
