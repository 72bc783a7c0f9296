"""What a kill at epoch k costs: train a run in a subprocess, SIGKILL it right after epoch k, train the same spec
again, and count the epochs and seconds the second attempt spends. Before checkpoints (kit up to v0.1) the
second attempt started from epoch 0; now it resumes from the last completed epoch.

    python bench/kill_resume.py                     # this checkout
    python bench/kill_resume.py --kit /path/to/old  # another checkout of the kit (e.g. a git worktree of an old commit)

Prints the epochs retrained and the wall time of the second attempt next to a straight run; writes
bench/results/kill_resume.json (or kill_resume_<label>.json with --label)."""
import argparse, json, os, subprocess, sys, tempfile, textwrap, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

TRAIN = textwrap.dedent('''
    import json, os, signal, sys, time
    from fastai.callback.core import Callback
    from regx_nb.training import train_run
    class KillAt(Callback):
        order = 99
        def __init__(self, k): self.k = k
        def after_epoch(self):
            if self.epoch == self.k and getattr(self.learn, 'epoch_log', None) is not None and self.learn.epoch_log.logged:
                os.kill(os.getpid(), signal.SIGKILL)
    class Count(Callback):
        order = 98
        def __init__(self, path): self.path, self.n = path, 0
        def after_train(self):
            self.n += 1
            with open(self.path, 'a') as f: f.write('epoch\\n')
    spec, root, k, log = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    train_run(spec, root, cbs=[Count(log)] + ([KillAt(k)] if k >= 0 else []))
''')

def attempt(kit, spec, root, k, log):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'REGX_DEVICE': 'cpu', 'PYTHONPATH': kit}
    env.pop('IN_TEST', None)
    t0 = time.perf_counter()
    # (cwd outside any checkout: `python -c` puts the current folder first on sys.path)
    p = subprocess.run([sys.executable, '-c', TRAIN, json.dumps(spec), str(root), str(k), str(log)], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir())
    return p.returncode, time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kit', default=str(Path(__file__).resolve().parents[1]), help='checkout whose regx_nb to use')
    ap.add_argument('--label', default='')
    ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--kill-after', type=int, default=4, help='0-based epoch after which the run is killed')
    ap.add_argument('--n-train', type=int, default=3000)
    a = ap.parse_args()
    spec = dict(reg='l2', epochs=a.epochs, n_train=a.n_train, bs=64)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d).resolve()
        rc, t_straight = attempt(a.kit, spec, d/'straight', -1, d/'straight.log')
        assert rc == 0
        rc, t_killed = attempt(a.kit, spec, d/'killed', a.kill_after, d/'first.log')
        assert rc == -9, rc
        rc, t_again = attempt(a.kit, spec, d/'killed', -1, d/'again.log')
        assert rc == 0
        first, again = (len((d/f).read_text().splitlines()) for f in ('first.log', 'again.log'))
    lost = first + again - a.epochs
    res = dict(kit=a.kit, epochs=a.epochs, killed_after_epoch=a.kill_after, epochs_before_kill=first, epochs_after_restart=again,
               epochs_lost=lost, straight_s=t_straight, after_restart_s=t_again)
    print(f"{a.epochs}-epoch run killed after epoch {a.kill_after + 1}: the restart trained {again} epochs "
          f"({lost} trained twice) in {t_again:.1f} s; a straight run takes {t_straight:.1f} s")
    write_result('kill_resume' + (f'_{a.label}' if a.label else ''), res)

if __name__ == '__main__': main()
