"""The kit's version and the pin every lab installs in Colab, moved together.

    python tools/bump_version.py 0.3.0           # sets regx_nb.__version__ and the pin in every notebook
    python tools/bump_version.py --check 0.3.0   # exits 1 unless the version and every pin are 0.3.0
    python tools/bump_version.py --check         # exits 1 unless every pin is the package's version

Each lab's first cell installs `regx_nb==X.Y.Z` from PyPI, falling back to the tag `vX.Y.Z` of the repository
(before the release is on PyPI), never the moving `main`.
"""
import argparse, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT/'regx_nb'/'__init__.py'
PIN = re.compile(r"REGX_VERSION = '([0-9]+\.[0-9]+\.[0-9]+)'")

def version() -> str: return re.search(r'__version__ = "([^"]+)"', INIT.read_text()).group(1)

def pins() -> dict:
    "{notebook: the version its setup cell installs} for every notebook with a Colab setup cell."
    out = {}
    for p in sorted((ROOT/'nbs').glob('*.ipynb')):
        src = ''.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'][:2])
        if 'google.colab' in src:
            m = PIN.search(src); out[p.name] = m.group(1) if m else None
    return out

def bump(new: str):
    INIT.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{new}"', INIT.read_text()))
    for p in sorted((ROOT/'nbs').glob('*.ipynb')):
        txt = p.read_text()
        if 'REGX_VERSION = ' in txt: p.write_text(PIN.sub(f"REGX_VERSION = '{new}'", txt))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('version', nargs='?'); ap.add_argument('--check', action='store_true')
    a = ap.parse_args()
    if a.check:
        want = a.version or version()
        bad = {k: v for k, v in pins().items() if v != want}
        if version() != want or bad: sys.exit(f"version {version()}, wanted {want}; labs pinned otherwise: {bad}")
        print(f'version {want}, pinned by {len(pins())} labs'); return
    if not a.version or not re.fullmatch(r'[0-9]+\.[0-9]+\.[0-9]+', a.version): sys.exit('give the new version as X.Y.Z')
    bump(a.version); print(f'version {a.version} in regx_nb/__init__.py and {len(pins())} labs (now run nbdev-clean)')

if __name__ == '__main__': main()
