"""simple_cnn without regularization on the full Fashion-MNIST (from Debian's dataset-fashion-mnist or
REGX_DATA): test accuracy after at most 5 epochs. Target: >= 91%.

    python bench/fashion_full.py [--epochs 5] [--lr 3e-3] [--bs 64]
"""
import argparse, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.training import train_run

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    spec = dict(data='fashion_mnist', model='simple_cnn', reg='none', epochs=a.epochs, lr=a.lr, bs=a.bs, seed=a.seed)
    t0 = time.perf_counter()
    run = train_run(spec, tempfile.mkdtemp())
    m = run.metrics
    print(run.history.round(4).to_string(index=False))
    print(f"test accuracy {m['test_acc']:.4f} after {a.epochs} epochs ({time.perf_counter() - t0:.0f} s; target >= 0.91)")
    write_result('fashion_full', dict(spec=spec, metrics=m, history=run.history.to_dict('list'), target=0.91,
                                      passed=m['test_acc'] >= 0.91 and a.epochs <= 5))

if __name__ == '__main__': main()
