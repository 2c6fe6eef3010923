"""Lighthouse scores of one page, in the headless Chromium of the browser tests (ADR 0012).

Prints the four category scores (performance, accessibility, best practices, SEO, 0-100)
and, for each category under the threshold, the audits that cost it points; exits 1 when any
category scores under ``--threshold`` (default 95), 2 when Lighthouse could not run.

Lighthouse (npm, pinned in tools/lighthouse/) runs from .tools/lighthouse, where ``make
lighthouse`` installs it; ``LIGHTHOUSE`` names another executable, ``CHROME_PATH`` another
Chromium. Only pages on this machine: Chromium's flags send anything else to a closed port.

Usage: ``make lighthouse URL=http://127.0.0.1:PORT/some-page`` or
``python bench/lighthouse.py (URL | --sample) [--threshold 95] [--desktop] [--json FILE]``;
``--sample`` scores a small page served on 127.0.0.1 (dropwave_devstack.browser.SAMPLE_PAGES).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dropwave_devstack.browser import (
    CHROME_PATH_ENV,
    SAMPLE_PAGES,
    BrowserMissing,
    StaticSite,
    chromium_flags,
    chromium_path,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIGHTHOUSE = ROOT / ".tools" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
RUN_TIMEOUT_S = 180


def run_lighthouse(url: str, *, desktop: bool) -> dict[str, Any]:
    executable = os.environ.get("LIGHTHOUSE") or str(DEFAULT_LIGHTHOUSE)
    if not Path(executable).exists():
        raise FileNotFoundError(f"{executable} is missing: `make lighthouse` installs it")
    flags = ["--headless=new", *chromium_flags()]
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        report = Path(tmp) / "report.json"
        command = [
            executable,
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={shlex.join(flags)}",
        ]
        if desktop:
            command.append("--preset=desktop")
        env = {**os.environ, CHROME_PATH_ENV: chromium_path()}
        done = subprocess.run(  # noqa: S603 (our executable, a URL argument, no shell)
            command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
        if done.returncode != 0 or not report.exists():
            raise RuntimeError(f"lighthouse exited {done.returncode}: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(report.read_text())
    if result.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {result['runtimeError']}")
    return result


def scores(report: dict[str, Any]) -> dict[str, int]:
    """Category -> 0..100; a category Lighthouse could not score counts as 0."""
    categories = report["categories"]
    return {name: round((categories[name].get("score") or 0) * 100) for name in CATEGORIES}


def lost_points(report: dict[str, Any], category: str) -> list[str]:
    """The weighted audits of a category that did not pass, as 'id (score): title'."""
    audits = report["audits"]
    lines = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = audits[ref["id"]]
        score = audit.get("score")
        if ref.get("weight", 0) > 0 and score is not None and score < 1:
            lines.append(f"{ref['id']} ({round(score * 100)}): {audit['title']}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("url", nargs="?", help="a page on this machine (http://127.0.0.1:...)")
    target.add_argument("--sample", action="store_true", help="score the built-in sample page")
    parser.add_argument("--threshold", type=int, default=95, help="minimum score (0-100)")
    parser.add_argument("--desktop", action="store_true", help="desktop preset (default mobile)")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    args = parser.parse_args()

    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only pages on this machine (127.0.0.1 / localhost)")
    try:
        if args.sample:
            with StaticSite(SAMPLE_PAGES).running() as site:
                url = site.url("/")
                report = run_lighthouse(url, desktop=args.desktop)
        else:
            url = args.url
            report = run_lighthouse(url, desktop=args.desktop)
    except (BrowserMissing, FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"lighthouse could not run: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))

    result = scores(report)
    print(f"Lighthouse {report.get('lighthouseVersion', '?')} on {url}")
    for name, score in result.items():
        verdict = "ok" if score >= args.threshold else f"BELOW {args.threshold}"
        print(f"  {name:<15} {score:>3}  {verdict}")
        if score < args.threshold:
            for line in lost_points(report, name):
                print(f"      {line}")
    return 0 if all(s >= args.threshold for s in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
