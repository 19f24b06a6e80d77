"""Regenerate `docs/report-page.png`, the README's picture of a report, from `auditor demo`.

    python3 docs/make_screenshot.py [--service vemo-core] [--out docs/report-page.png]

Runs this checkout's `auditor demo` into a temporary folder, opens the service's HTML report
in headless Chromium (as tests/test_reports_browser.py does; `apt-get install chromium`),
screenshots the top of the page and stores it as a palette PNG, small enough for the
repository (about 50 KB). Nothing here reaches the network: the demo's GitLab is its own
simulator on 127.0.0.1 and the report loads nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FLAGS = (
    "--headless",
    "--no-sandbox",  # as root in a container, Chromium's sandbox cannot start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # the page has no name to resolve
)
WIDTH, HEIGHT = 1000, 1500
# A report is text, rules and a few chart colours: a palette PNG is a third of the size.
# Octree, not median cut: median cut merges the small red areas (a legend swatch, the
# median line) into the amber next to them.
COLOURS = 256


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit("make_screenshot: chromium is not installed (apt-get install chromium)")
    return found


def run_demo(folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    subprocess.run(
        [sys.executable, "-m", "auditor", "demo", "--out", str(folder)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )


def screenshot(page: Path, target: Path, profile: Path) -> None:
    subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={target}",
            f"--window-size={WIDTH},{HEIGHT}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def shrink(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE)
        small.save(target, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--service", default="vemo-core", help="whose report (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-page.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auditor-shot-") as tmp:
        folder = Path(tmp)
        run_demo(folder / "demo")
        page = folder / "demo" / f"{args.service}.html"
        if not page.is_file():
            raise SystemExit(f"make_screenshot: the demo wrote no report for {args.service!r}")
        raw = folder / "raw.png"
        screenshot(page, raw, folder / "profile")
        shrink(raw, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
