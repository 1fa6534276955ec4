#!/usr/bin/env bash
# Deterministic cores must not read ambient randomness: the seed would stop reproducing the run.
# Biome bans the globals and imports in core folders; this catches the one thing it cannot name: Math.random.
set -euo pipefail
cd "$(dirname "$0")/.."
hits=$(grep -rn --include='*.ts' 'Math\.random' packages/*/src 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "Math.random in package sources (inject a Random instead):"
  echo "$hits"
  exit 1
fi
echo "determinism check: no Math.random in package sources"
