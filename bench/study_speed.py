"""`make study` before and after: the default study's grid (its configurations, seeds and analyses as of the
commit `--old`) trained, measured and reported by the code of that commit and by this checkout, one after the
other on this machine, each from an empty folder in a fresh process. Prints the wall times and their ratio.

The old code runs from a `git worktree` of `--old` put first on `sys.path` (the same installed dependencies);
both get the same explicit settings, so a later change of the defaults does not change what is compared.

    python bench/study_speed.py [--old 943ab0c] [--order old,new]   # writes bench/results/study_speed.json
"""
import argparse, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
# the default study as of the old commit, written out
GRID = ['--data', 'fashion_scenes', '--models', 'simple_cnn',
        '--regs', 'none', 'l1:lam=1e-4', 'l2:lam=1e-4,1e-3,1e-2', 'jacobian', 'confidence_penalty', 'label_smoothing', 'dropout', 'batchnorm',
        '--seeds', '0', '1', '2', '--epochs', '30', '--patience', '3', '--lr', '1e-3', '--bs', '64',
        '--data-kw', 'image_size=32', 'n_scenes=[1000,500,1000]', '--shortcut', '0.9',
        '--analyses', 'accuracy', 'weights', 'attribution', 'adversarial', 'boundary', 'rwc', 'jacobian_norm', 'shortcut']

def run(code_dir: Path | None, out: Path, home: Path, extra=()) -> dict:
    "One study in a fresh process: the old code (`code_dir` first on sys.path) or this checkout's command."
    env = {**os.environ, 'REGX_HOME': str(home)}
    for k in ('IN_TEST', 'REGX_QUICK'): env.pop(k, None)
    if code_dir is None: cmd = [str(Path(sys.executable).parent/'regx-study'), '--out', str(out), *GRID, *extra]
    else: cmd = [sys.executable, '-c', f"import sys; sys.path.insert(0, {str(code_dir)!r}); import regx_nb; "
                 f"assert regx_nb.__file__.startswith({str(code_dir)!r}), regx_nb.__file__; "
                 f"from regx_nb.study import regx_study; regx_study(sys.argv[1:])", '--out', str(out), *GRID]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode: raise SystemExit(f"{'old' if code_dir else 'new'} study failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    m = re.search(r'report: .*\((.*)\)', p.stdout)
    return dict(wall_s=wall, stages=m.group(1) if m else '', runs=len(list(out.glob('runs/*/metrics.json'))))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--old', default='943ab0c', help='the commit to compare with (default: main before the speed work)')
    ap.add_argument('--order', default='old,new', help='which runs first')
    a = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '--detach', str(d/'old'), a.old], check=True, capture_output=True)
        try:
            for which in a.order.split(','):
                res[which] = run(d/'old' if which == 'old' else None, d/f'{which}_study', d/f'{which}_home')
                print(f"{which}: {res[which]['wall_s']:.0f} s for {res[which]['runs']} runs ({res[which]['stages']})", flush=True)
        finally: subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force', str(d/'old')], capture_output=True)
    ratio = res['new']['wall_s'] / res['old']['wall_s']
    print(f"new / old wall time: {ratio:.2f} (goal <= 0.60)")
    commit = subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    write_result('study_speed', dict(old=a.old, new=commit, grid=GRID, old_result=res['old'], new_result=res['new'], ratio=ratio, goal=0.60))

if __name__ == '__main__': main()
