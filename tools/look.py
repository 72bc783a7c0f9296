"""Screenshot pages in headless Chromium, to look at notebooks rendered with nbconvert (Quarto is not needed).

    make html                                         # renders nbs/*.ipynb to _html/*.html
    python tools/look.py _html/06_gradcam.html        # writes _html/06_gradcam.png (full page, 1000 px wide)
    python tools/look.py study/report/index.html --height 2400
"""
import argparse, os, shutil
from pathlib import Path

def chromium() -> str:
    for name in (os.environ.get('REGX_CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome'):
        if name and shutil.which(name): return shutil.which(name)
    raise SystemExit("no Chromium found: install Debian's chromium or set REGX_CHROMIUM")

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('pages', nargs='+')
    ap.add_argument('--width', type=int, default=1000)
    ap.add_argument('--height', type=int, default=0, help='clip to this height (0: the full page)')
    ap.add_argument('--out', default=None, help='output PNG (one page only); default: next to the page')
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=['--no-sandbox', '--disable-gpu'])
        page = b.new_page(viewport={'width': a.width, 'height': a.height or 800})
        for f in a.pages:
            page.goto(Path(f).resolve().as_uri(), wait_until='load')
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            out = Path(a.out) if a.out and len(a.pages) == 1 else Path(f).with_suffix('.png')
            page.screenshot(path=str(out), full_page=not a.height)
            print(f"{out}  images: {page.evaluate('document.images.length')}  broken: {len(broken)}", *broken, sep='\n  ' if broken else '')
        b.close()

if __name__ == '__main__': main()
