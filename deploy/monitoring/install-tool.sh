#!/usr/bin/env bash
# install-tool.sh promtool|amtool: the checkers tests/test_monitoring.py runs, installed only
# if missing. promtool checks and unit-tests deploy/monitoring/alerts.yaml; amtool checks
# deploy/monitoring/alertmanager.yaml. One on PATH is used as is; else the Debian package that
# ships it (`prometheus`, `prometheus-alertmanager`) is downloaded and only that binary is
# unpacked into .tools/bin/. Unpacked rather than `apt-get install`ed: the package would also
# install, and start, a Prometheus or Alertmanager server. Needs apt (Debian/Ubuntu); the
# package lists are fetched once if absent (root).
set -euo pipefail
tool=${1:?usage: install-tool.sh promtool|amtool}
case "$tool" in
  promtool) package=prometheus ;;
  amtool) package=prometheus-alertmanager ;;
  *) echo "unknown tool: $tool" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
dest=.tools/bin/$tool
if command -v "$tool" >/dev/null 2>&1 || [ -x "$dest" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$tool is missing and apt-get is not here: install it on PATH" >&2
  exit 1
fi
echo "installing $tool (Debian's $package package, unpacked) into .tools/bin/"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download "$package" >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$work" && apt-get download "$package" >/dev/null)
fi
mkdir -p .tools/bin
dpkg-deb --fsys-tarfile "$work"/"${package}"_*.deb | tar -xO "./usr/bin/$tool" >"$work/$tool"
chmod 0755 "$work/$tool"
"$work/$tool" --version >/dev/null
mv "$work/$tool" "$dest"
