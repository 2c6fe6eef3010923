#!/usr/bin/env bash
# promtool (checks and unit-tests deploy/monitoring/alerts.yaml: tests/test_monitoring.py),
# installed only if missing: one on PATH is used as is; else Debian's `prometheus` package
# (which ships it) is downloaded and only its promtool is unpacked into .tools/bin/. Unpacked
# rather than `apt-get install`ed: the package would also install, and start, a Prometheus
# server. Needs apt (Debian/Ubuntu); the package lists are fetched once if absent (root).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.tools/bin/promtool
if command -v promtool >/dev/null 2>&1 || [ -x "$dest" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool is missing and apt-get is not here: install Prometheus' promtool on PATH" >&2
  exit 1
fi
echo "installing promtool (Debian's prometheus package, unpacked) into .tools/bin/"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$work" && apt-get download prometheus >/dev/null)
fi
mkdir -p .tools/bin
dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$work/promtool"
chmod 0755 "$work/promtool"
"$work/promtool" --version >/dev/null
mv "$work/promtool" "$dest"
