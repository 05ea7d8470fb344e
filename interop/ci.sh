#!/usr/bin/env bash
# CI for the interop module (issue 15): real identity providers on 127.0.0.1,
# their tokens verified through the kit. Runs on a clean checkout, as root;
# needs only the npm registry and the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '\n== %s\n' "$*"; }

export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log "Node.js"
if ! command -v node >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node --version
npm --version
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "node-oidc-provider 9 needs Node.js 20 or newer; this is $(node --version)" >&2
	exit 1
fi

log "npm ci (oidc-provider)"
npm ci --prefix oidc-provider --no-audit --no-fund

log "static checks: interop"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go mod tidy -diff

log "go test -race ./... (interop, providers required)"
AUTHKIT_INTEROP_REQUIRED=1 go test -race -count=1 ./...
