#!/usr/bin/env bash
# Installs npm standardwebhooks, the Standard Webhooks reference
# implementation, at a pinned version into /tmp/wxpay-standardwebhooks for
# pkg/webhook's interop test, and prints the node_modules directory to
# export as WXPAY_TEST_NODE_MODULES. It writes nothing into the repository,
# and keeps an install of the pinned version, so that running it again is
# quick and needs no network.
set -euo pipefail

version=1.1.1 # the latest of `npm view standardwebhooks versions` when pinned
prefix=/tmp/wxpay-standardwebhooks
modules=$prefix/node_modules

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "standardwebhooks-install: node and npm are needed" >&2
  exit 1
fi
installed=$(node -p "require('$modules/standardwebhooks/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$version" ]; then
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --prefix "$prefix" "standardwebhooks@$version" >&2
fi
echo "$modules"
