"""How the study's analyses and its report scale with the number of runs.

Simulates a study of up to 256 tiny runs (simple_cnn, 1 epoch, quick-sized scenes and analyses), then for
N = 32, 64, 128, 256 measures, each in a fresh process (so that peak memory is that of the step alone):

- analyse: the driver measures every run that has no kept result (the worst case: nothing was measured in
  the jobs), then writes the report;
- re-report: every result is kept; the report is drawn again from them (its digest removed, so it is redrawn).

    python bench/study_scale.py            # writes bench/results/study_scale.json and prints the table

The 256 runs train once (about 4 minutes on 2 cores); the table's rows take about as long again."""
import json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

REGS = ['none', 'l2', 'dropout', 'label_smoothing']
NS = (32, 64, 128, 256)

def study_kw(n):
    return dict(regs=REGS, seeds=list(range(n // len(REGS))), epochs=1, patience=None, no_shortcut=True, progress=False,
                analyses=['accuracy', 'weights', 'attribution', 'adversarial', 'boundary', 'rwc'])

def phase(root: str, n: int, what: str):
    "One step in this process; prints its wall time and the process's peak memory as JSON."
    from regx_nb.study import run_study
    t0 = time.perf_counter()
    st = run_study(root, **study_kw(n))
    out = dict(n=n, phase=what, seconds=time.perf_counter() - t0, timings=st.timings,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, runs=len(st.runs),
               page_kb=st.report_path.stat().st_size / 1024)
    print('RESULT ' + json.dumps(out))

def _run(root, n, what):
    env = {**os.environ, 'REGX_QUICK': '1', 'OMP_NUM_THREADS': '1', 'REGX_DEVICE': 'cpu'}
    env.pop('IN_TEST', None)
    p = subprocess.run([sys.executable, __file__, '--phase', what, str(root), str(n)], env=env, capture_output=True, text=True)
    if p.returncode: raise SystemExit(p.stderr[-3000:])
    return json.loads(next(l for l in p.stdout.splitlines() if l.startswith('RESULT '))[7:])

def main():
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)/'study'
        env = {**os.environ, 'REGX_QUICK': '1', 'OMP_NUM_THREADS': '1', 'REGX_DEVICE': 'cpu'}; env.pop('IN_TEST', None)
        t0 = time.perf_counter()  # train the 256 runs once, without analyses
        code = (f"from regx_nb.study import study_config, study_specs; from regx_nb.training import run_grid\n"
                f"c = study_config(**{{k: v for k, v in {study_kw(max(NS))!r}.items() if k not in ('no_shortcut', 'progress')}}, shortcut=None)\n"
                f"run_grid(study_specs(c)[1], {str(root/'runs')!r}, progress=False)")
        subprocess.run([sys.executable, '-c', code], env=env, check=True, capture_output=True)
        train_s = time.perf_counter() - t0
        rows = []
        for n in NS:
            for a in root.glob('runs/*/analyses'): shutil.rmtree(a)
            shutil.rmtree(root/'report', ignore_errors=True)
            first = _run(root, n, 'analyse')
            (root/'report'/'digest.txt').unlink()
            again = _run(root, n, 'report')
            rows.append(dict(n=n, analyse_s=first['seconds'], analyse_peak_mb=first['peak_rss_mb'], report_s=again['seconds'],
                             report_peak_mb=again['peak_rss_mb'], page_kb=again['page_kb']))
            print(f"N={n:4d}  analyse {first['seconds']:6.1f} s, peak {first['peak_rss_mb']:5.0f} MB   "
                  f"re-report {again['seconds']:5.1f} s, peak {again['peak_rss_mb']:5.0f} MB   page {again['page_kb']:.0f} kB", flush=True)
    per_run = (rows[-1]['analyse_s'] - rows[0]['analyse_s']) / (rows[-1]['n'] - rows[0]['n'])
    rep_per_run = (rows[-1]['report_s'] - rows[0]['report_s']) / (rows[-1]['n'] - rows[0]['n'])
    res = dict(train_256_s=train_s, rows=rows, analyse_s_per_run=per_run, report_s_per_run=rep_per_run,
               report_1000_s=rows[-1]['report_s'] + rep_per_run * (1000 - rows[-1]['n']))
    print(f"per run: analyse {per_run:.2f} s, re-report {rep_per_run * 1000:.1f} ms; re-report of 1000 runs ~ {res['report_1000_s']:.0f} s")
    write_result('study_scale', res)

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--phase': phase(sys.argv[3], int(sys.argv[4]), sys.argv[2])
    else: main()
