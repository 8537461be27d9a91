#!/usr/bin/env bash
# The server image installs only the runtime packages its Dockerfile names (no compiler, no
# -dev packages). This checks, without Docker, that those packages and their dependencies hold
# every shared library the real fleetrate-server links, as `ldd` lists them, and that the
# builder stage installs every build package scripts/lib.sh installs.
# Usage: runtime_libs_test.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
dockerfile=$src/Dockerfile
source "$src/tests/support/test_lib.sh"

# The package names of one stage's `apt-get install` (from its FROM line to the next FROM).
stage_packages() {
  sed -n "/^FROM .* AS $1\$/,/^FROM /p" "$dockerfile" |
    sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    grep -vxE 'apt-get|install|rm|update|DEBIAN_FRONTEND=noninteractive' | sort -u
}
runtime=$(stage_packages runtime-base)
[ -n "$runtime" ]
check "the runtime stage names its packages" $?

# Installed dependencies, recursively, from dpkg's own database (no apt lists needed).
declare -A closure=()
read -r -a queue <<<"$(tr '\n' ' ' <<<"$runtime")"
while [ ${#queue[@]} -gt 0 ]; do
  pkg=${queue[0]}
  queue=("${queue[@]:1}")
  [ -n "${closure[$pkg]:-}" ] && continue
  closure[$pkg]=1
  depends=$(dpkg-query -W -f='${Depends},${Pre-Depends}' "$pkg" 2>/dev/null) || {
    echo "FAIL: $pkg is not installed here, so its dependencies cannot be followed"
    failures=$((failures + 1))
    continue
  }
  # "a (>= 1), b | c, d:any" -> a b d (the first of alternatives, no versions or arch).
  for dep in $(tr ',' '\n' <<<"$depends" | sed 's/|.*//; s/(.*)//; s/:any//' | tr -d ' '); do
    [ -n "$dep" ] && [ -z "${closure[$dep]:-}" ] && queue+=("$dep")
  done
done

libs=$(ldd "$bin" | awk '/=>/ {print $3}')
[ -n "$libs" ]
check "ldd lists the server's libraries" $?
for lib in $libs; do
  owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null)
  pkg=$(head -1 <<<"$owner" | cut -d: -f1)
  [ -n "$pkg" ] && [ -n "${closure[$pkg]:-}" ]
  check "${lib##*/} ($pkg) comes with the runtime packages" $?
done

# The builder installs every package scripts/lib.sh builds with (its test packages aside).
builder=$(stage_packages builder)
build_packages=$(bash -c 'source "$1/scripts/lib.sh" && printf "%s\n" "${FLEETRATE_BUILD_PACKAGES[@]}"' \
  _ "$src")
[ -n "$build_packages" ]
check "scripts/lib.sh lists the build packages" $?
for pkg in $build_packages; do
  grep -qx -- "$pkg" <<<"$builder"
  check "the builder stage installs $pkg (scripts/lib.sh builds with it)" $?
done

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
