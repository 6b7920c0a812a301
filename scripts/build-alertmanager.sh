#!/usr/bin/env bash
# Builds alertmanager and amtool into <repo>/.bin/ from the Alertmanager Go module at the
# version go.mod requires (the rule and alerting end-to-end tests start a real Alertmanager).
#
# `go install github.com/prometheus/alertmanager/cmd/alertmanager@VERSION` does not work: the
# module's ui package embeds ui/app/dist, the npm-built web UI, which is not in the module.
# So the module source (fetched through the Go module proxy like any module) is copied to
# .bin/src/alertmanager@VERSION, given a one-page placeholder UI, and built there with the
# module's own go.mod and go.sum, exactly the dependency versions `go install` would use.
# The API the tests use needs no UI. The go build cache makes a second build take seconds.
#
#   scripts/build-alertmanager.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.bin
GO=${GO:-go}
MODULE=github.com/prometheus/alertmanager

VERSION=$(cd "$ROOT" && "$GO" list -m -f '{{.Version}}' "$MODULE")
SRC=$BIN/src/alertmanager@$VERSION
if [[ ! -f $SRC/ui/app/dist/index.html ]]; then
  modDir=$(cd "$ROOT" && GOFLAGS=-mod=mod "$GO" mod download -json "$MODULE@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $modDir && -f $modDir/go.mod ]] || { echo "build-alertmanager: no source for $MODULE@$VERSION" >&2; exit 1; }
  rm -rf "$SRC" "$SRC.tmp"
  mkdir -p "$(dirname "$SRC")"
  cp -R "$modDir" "$SRC.tmp"
  chmod -R u+w "$SRC.tmp"
  mkdir -p "$SRC.tmp/ui/app/dist"
  printf '<!doctype html>\n<title>Alertmanager</title>\n<p>Web UI not built; the API is at /api/v2/.\n' \
    >"$SRC.tmp/ui/app/dist/index.html"
  mv "$SRC.tmp" "$SRC" # last, so an interrupted copy is not mistaken for a complete one
fi

# The module's own go.mod decides (-mod=mod), not this repository's settings; the version
# goes where `alertmanager --version` and /api/v2/status report it.
cd "$SRC"
GOWORK=off GOFLAGS=-mod=mod "$GO" build \
  -ldflags "-X github.com/prometheus/common/version.Version=${VERSION#v}" \
  -o "$BIN/" ./cmd/alertmanager ./cmd/amtool
