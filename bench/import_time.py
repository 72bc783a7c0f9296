"""What the kit costs before it computes anything: importing it, and a command that has nothing to compute.

Each line is the median wall time of fresh processes (the first one, which writes bytecode caches, is not counted),
minus a bare `python -c pass`, side by side with fastai's own import; with `--old COMMIT`, the same lines for the
code of that commit (a `git worktree` put first on `sys.path`). `python -X importtime` adds the kit's own modules
and the optional packages that an import loads.

    python bench/import_time.py [--old 943ab0c] [--n 7]      # writes bench/results/import_time.json
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
KIT = 'import regx_nb.study, regx_nb.adversarial, regx_nb.vae, regx_nb.segmentation'
OPTIONAL = ('captum', 'submitit', 'accelerate', 'playwright', 'sklearn', 'scipy', 'IPython', 'ipywidgets')

def env():
    e = {**os.environ}
    for k in ('PYTHONDONTWRITEBYTECODE', 'IN_TEST', 'REGX_QUICK'): e.pop(k, None)
    return e

def wall(code: str, n: int, path: str | None = None) -> float:
    pre = f"import sys; sys.path.insert(0, {path!r}); " if path else ''
    cmd = [sys.executable, '-c', pre + code]
    subprocess.run(cmd, env=env(), capture_output=True)  # writes the bytecode caches
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); subprocess.run(cmd, env=env(), capture_output=True); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

def importtime(code: str, path: str | None = None) -> dict:
    "The kit's own modules' self time and the optional packages loaded, from `python -X importtime`."
    pre = f"import sys; sys.path.insert(0, {path!r}); " if path else ''
    p = subprocess.run([sys.executable, '-X', 'importtime', '-c', pre + code], env=env(), capture_output=True, text=True)
    rows = [l[len('import time:'):].split('|') for l in p.stderr.splitlines() if l.startswith('import time:') and 'self [us]' not in l]
    mods = {r[2].strip(): int(r[0]) for r in rows if len(r) == 3}
    return dict(kit_self_ms=sum(v for k, v in mods.items() if k.startswith('regx_nb')) / 1e3,
                optional_loaded=sorted(o for o in OPTIONAL if o in mods))

def lines(n: int, path: str | None, new: bool) -> dict:
    cli = "from regx_nb.cli import study_main; sys.argv = ['regx-study', '{}']; study_main()" if new else \
          "from regx_nb.study import regx_study; regx_study(['{}'])"
    cli = ('import sys\n' if new else '') + cli
    base = wall('pass', n)
    out = {'import fastai.learner': wall('import fastai.learner', n) - base,
           'import the kit (study, adversarial, vae, segmentation)': wall(KIT, n, path) - base,
           'regx-study --help': wall(cli.format('--help'), n, path) - base,
           'regx-study --epochs ten (a bad argument)': wall(cli.format('--epochs=ten'), n, path) - base}
    return dict(seconds=out, ratio_kit_to_fastai=out['import the kit (study, adversarial, vae, segmentation)'] / out['import fastai.learner'],
                **importtime(KIT, path))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--old', default=None, help='a commit to compare with, e.g. 943ab0c')
    ap.add_argument('--n', type=int, default=7)
    a = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as d:
        if a.old:
            subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '--detach', f'{d}/old', a.old], check=True, capture_output=True)
        try:
            if a.old: res['old'] = lines(a.n, f'{d}/old', new=False)
            res['new'] = lines(a.n, None, new=True)
        finally:
            if a.old: subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force', f'{d}/old'], capture_output=True)
    for which, r in res.items():
        print(f"{which}: seconds above a bare `python -c pass` (median of {a.n})")
        for k, v in r['seconds'].items(): print(f"  {k:58s} {v:6.2f} s")
        print(f"  kit / fastai.learner: {r['ratio_kit_to_fastai']:.2f}x; the kit's own modules {r['kit_self_ms']:.0f} ms; "
              f"optional packages loaded on import: {', '.join(r['optional_loaded']) or 'none'}")
    write_result('import_time', dict(n=a.n, old_commit=a.old, **res))

if __name__ == '__main__': main()
