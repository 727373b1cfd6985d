"""Take a screenshot of a run report in headless Chromium, to check by eye that its figures render.

Not part of CI (it needs Debian's ``chromium``: ``apt-get install -y chromium``). The page is drawn in a
tall window, the blank space below the page is trimmed, and the image is also cut into tiles small enough
for an image viewer. It also checks that every embedded figure decoded (Chromium draws a broken image
as a small icon, so each <img> is verified as a PNG of real size here, before the browser sees it).

    python scripts/screenshot_report.py runs/x/report.html --out /tmp/shots/report.png
    python scripts/screenshot_report.py runs/x            # writes the report first, then the screenshot
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

IMG_RE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def check_figures(html: str) -> list[tuple[int, int]]:
    """The size of every embedded PNG; raises if one is missing or does not decode."""
    sizes = []
    for data in IMG_RE.findall(html):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            im.verify()
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            sizes.append(im.size)
    if not sizes:
        raise SystemExit("the report embeds no figure")
    return sizes


def screenshot(html_path: Path, out: Path, *, width: int = 1280, height: int = 12000, tile: int = 1400) -> list[Path]:
    """Render ``html_path`` in headless Chromium; write ``out`` (trimmed) and ``out``-N tiles; return all paths."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed: apt-get update && apt-get install -y chromium")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            html_path.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    with Image.open(out) as im:
        rgb = im.convert("RGB")
    # Trim the white space below the page: the last row that is not pure white, plus a margin.
    gray = rgb.convert("L").point(lambda v: 255 if v < 250 else 0)
    box = gray.getbbox()
    bottom = min(rgb.height, (box[3] if box else rgb.height) + 20)
    if bottom >= rgb.height:
        print(f"warning: the page may be taller than {height}px; pass --height", file=sys.stderr)
    rgb = rgb.crop((0, 0, width, bottom))
    rgb.save(out)
    paths = [out]
    for i, top in enumerate(range(0, bottom, tile)):
        part = out.with_name(f"{out.stem}-{i}{out.suffix}")
        rgb.crop((0, top, width, min(top + tile, bottom))).save(part)
        paths.append(part)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", help="report.html, or a run directory (its report is written first)")
    parser.add_argument("--out", default="report.png", help="screenshot path (tiles are written beside it)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=12000, help="window height; the blank rest is trimmed")
    args = parser.parse_args(argv)
    path = Path(args.report)
    if path.is_dir():
        from skillopt_dspy.report import write_report

        path = write_report(path)
    sizes = check_figures(path.read_text(encoding="utf-8"))
    print(f"{len(sizes)} embedded figures decode: {sizes}")
    for p in screenshot(path, Path(args.out), width=args.width, height=args.height):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
