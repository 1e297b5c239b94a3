#!/usr/bin/env bash
# build.sh [--no-asan] - build diyctl.
#
#   build/       the normal build (buildtype debugoptimized, fault injection on):
#                diyctl, dc-probe, unit tests
#   build-asan/  the unit tests with AddressSanitizer + UBSan (skipped by --no-asan)
#
# Re-running is cheap: an existing build dir is reconfigured, not recreated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

asan=1
for a in "$@"; do
	case $a in
	--no-asan) asan=0 ;;
	*) echo "usage: tools/build.sh [--no-asan]" >&2; exit 2 ;;
	esac
done

# setup DIR MESON-OPTIONS...: configure DIR, or update the options of an existing one.
setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ] && [ -f "$dir/meson-private/coredata.dat" ]; then
		meson configure "$dir" "$@"
	else
		# a half-made build dir (an earlier setup failed) cannot be reconfigured
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}

# The unit test executables, from tests/unit/meson.build (unit_tests = [...]).
unit_tests() {
	python3 - <<'PY'
import re
text = open("tests/unit/meson.build").read()
m = re.search(r"unit_tests\s*=\s*\[(.*?)\]", text, re.S)
print("\n".join(re.findall(r"'([^']+)'", m.group(1))) if m else "")
PY
}

setup build -Dfault_injection=enabled
ninja -C build

if [ $asan -eq 1 ]; then
	setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	# Only the unit tests: dc-probe links -static, which ASan cannot do.
	targets=()
	while IFS= read -r t; do
		[ -n "$t" ] && targets+=("tests/unit/$t")
	done < <(unit_tests)
	if [ ${#targets[@]} -gt 0 ]; then
		ninja -C build-asan "${targets[@]}"
	fi
fi
