#!/usr/bin/env bash
# Installs the third-party servers Strata's tests start, into <repo>/.bin/:
#   versitygw        S3 server        (go install github.com/versity/versitygw/cmd/versitygw)
#   fake-gcs-server  GCS emulator     (go install github.com/fsouza/fake-gcs-server)
#   azurite          Azure emulator   (npm, into .bin/node_modules; skipped without npm)
#   memcached        index cache      (Debian package; installed only when missing and root)
# Idempotent: a tool already present at the pinned version is left alone.
#
#   scripts/install-test-deps.sh           install what is missing
#   scripts/install-test-deps.sh --check   only report what is missing; exit 1 if anything is
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
FAKE_GCS_VERSION=v1.56.1
AZURITE_VERSION=3.37.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.bin
GO=${GO:-go}
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
missing=0

# go_tool NAME MODULE PACKAGE VERSION installs PACKAGE@VERSION as $BIN/NAME
# unless the binary there was built from MODULE at VERSION.
go_tool() {
  local name=$1 module=$2 pkg=$3 version=$4
  if [[ -x $BIN/$name ]] &&
    "$GO" version -m "$BIN/$name" 2>/dev/null | awk -v m="$module" -v v="$version" '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }'; then
    log "$name $version present"
    return
  fi
  if ((CHECK)); then
    log "$name $version missing: run scripts/install-test-deps.sh"
    missing=1
    return
  fi
  log "building $name $version (takes a minute or two)"
  # -mod=mod: the tools' own go.mod decides, not this repository's settings.
  GOBIN=$BIN GOFLAGS=-mod=mod "$GO" install "$pkg@$version"
}

mkdir -p "$BIN"
go_tool versitygw github.com/versity/versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
go_tool fake-gcs-server github.com/fsouza/fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION"

# Azurite, from npm. The tests skip Azure (or fail under CI=true) without it.
azurite_pkg=$BIN/node_modules/azurite/package.json
if [[ -f $azurite_pkg ]] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$azurite_pkg"; then
  log "azurite $AZURITE_VERSION present"
elif ! command -v npm >/dev/null; then
  log "npm not found: skipping azurite (Azure tests will skip; apt-get install -y npm to get it)"
elif ((CHECK)); then
  log "azurite $AZURITE_VERSION missing: run scripts/install-test-deps.sh"
  missing=1
else
  log "installing azurite $AZURITE_VERSION with npm"
  npm install --prefix "$BIN" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION"
fi

# memcached, from Debian. The store gateway's memcached cache tests need it.
if command -v memcached >/dev/null; then
  log "memcached present"
elif ((CHECK)); then
  log "memcached missing: run apt-get install -y memcached"
  missing=1
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  log "installing memcached with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q memcached >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q memcached >/dev/null; }
else
  log "memcached missing and not root: install it with: sudo apt-get install -y memcached"
fi

exit "$missing"
