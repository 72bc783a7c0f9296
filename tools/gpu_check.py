"""`make gpu-check`: the GPU path of the kit, on a machine with a CUDA GPU, with the time of each stage.

1. the notebook cells flagged `#| cuda` (nbdev-test --flags cuda) in the lessons that have them;
2. the GPU tests (gpu_tests/, which `make test` never collects);
3. a quick study on CUDA with mixed precision (`REGX_QUICK=1 regx-study`).

Never run in CI (CI has no GPU). Prints one line per stage and exits 1 if any stage failed.
"""
import os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def stage(name, cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    dt = time.perf_counter() - t0
    print(f"gpu-check: {name}: {'ok' if p.returncode == 0 else 'FAILED'} in {dt:.1f} s", flush=True)
    return p.returncode == 0, dt

def main():
    import torch
    if not torch.cuda.is_available(): sys.exit('gpu-check needs a CUDA GPU (torch.cuda.is_available() is False)')
    print(f"gpu-check on {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    env = {'REGX_DEVICE': 'cuda'}
    results = [stage('cuda notebook cells', [str(BIN/'nbdev-test'), '--flags', 'cuda', '--n-workers', '1', '--file-re', '(04|09|11)_.*'], env),
               stage('gpu tests', [sys.executable, '-m', 'pytest', 'gpu_tests', '-q'], env)]
    with tempfile.TemporaryDirectory() as d:
        results.append(stage('quick study on CUDA (mixed precision)', [str(BIN/'regx-study'), '--out', str(Path(d)/'study')], {**env, 'REGX_QUICK': '1'}))
    print(f"gpu-check: total {sum(t for _, t in results):.1f} s; {'all stages passed' if all(ok for ok, _ in results) else 'a stage FAILED'}")
    sys.exit(0 if all(ok for ok, _ in results) else 1)

if __name__ == '__main__': main()
