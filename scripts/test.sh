#!/usr/bin/env bash
# Sets up everything the test suite needs on a Debian machine and runs it (the README's test command).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
source scripts/node-env.sh
npm ci --no-audit --no-fund --loglevel=error
npm test
