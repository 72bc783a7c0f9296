"""Cost of the `RWC` callback: epoch time of `simple_cnn` on the Fashion-MNIST sample with and without it (and with
per-step recording), alternating in one process, median of repeats. Target: overhead ratio (with / without) <= 1.02.

    python bench/rwc_overhead.py [--epochs 1] [--repeats 12] [--every 10]

Each repeat runs the configurations back to back (order alternating); the ratio is the median over repeats of
(time with RWC) / (time without) of the same repeat, for wall-clock and for process CPU time. On a shared CPU
identical fits differ by several per cent, so the script also reports the time measured inside the callback
itself (`RWC.seconds`) as a share of the epoch: the part that is the callback's.
"""
import argparse, statistics, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.data import get_dls
from regx_nb.rwc import RWC
from regx_nb.training import make_learner

def fit_time(dls, epochs, cb):
    "Seconds per epoch of a fresh simple_cnn fit (same seed, one-cycle schedule), and the seconds spent inside `cb`."
    learn = make_learner(dls, 'simple_cnn', seed=0, cbs=[cb] if cb else [])
    with learn.no_bar(), learn.no_logging():
        t0, c0 = time.perf_counter(), time.process_time(); learn.fit_one_cycle(epochs, 3e-3)
        t, c = time.perf_counter() - t0, time.process_time() - c0
    return t / epochs, c / epochs, (cb.seconds / epochs if cb else 0.)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=1); ap.add_argument('--repeats', type=int, default=12)
    ap.add_argument('--every', type=int, default=10)
    a = ap.parse_args()
    dls = get_dls('fashion_mnist_sample', bs=64, seed=0)
    configs = {'plain': lambda: None, 'rwc': lambda: RWC(), f'rwc_every{a.every}': lambda: RWC(every=a.every)}
    times = {k: [] for k in configs}; cpu = {k: [] for k in configs}; inside = {k: [] for k in configs}
    for k, f in configs.items(): fit_time(dls, 1, f())  # warm up every path
    names = list(configs)
    for r in range(a.repeats):
        for k in (names if r % 2 == 0 else names[::-1]):  # alternate the order against drift
            t, c, s = fit_time(dls, a.epochs, configs[k]())
            times[k].append(t); cpu[k].append(c); inside[k].append(s)
            print(f'{k:12s} repeat {r}: {t:.3f} s/epoch wall, {c:.3f} s/epoch CPU, {s * 1e3:.2f} ms/epoch inside the callback', flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    def paired(d, k): return statistics.median(x / y for x, y in zip(d[k], d['plain']))
    ratio = {k: paired(times, k) for k in names[1:]}
    cpu_ratio = {k: paired(cpu, k) for k in names[1:]}
    share = {k: statistics.median(inside[k]) / med['plain'] for k in names[1:]}
    for k in names[1:]:
        print(f"{k}: median {med[k]:.3f} s/epoch vs plain {med['plain']:.3f} s/epoch; paired ratio wall {ratio[k]:.4f}, "
              f"CPU {cpu_ratio[k]:.4f}; callback's own time {share[k] * 100:.3f}% of an epoch (target <= 2%)")
    passed = share['rwc'] <= 0.02 and ratio['rwc'] <= 1.02
    write_result('rwc_overhead', dict(epochs=a.epochs, repeats=a.repeats, every=a.every, seconds_per_epoch=times,
                                      cpu_seconds_per_epoch=cpu, callback_seconds_per_epoch=inside, median=med, ratio=ratio,
                                      cpu_ratio=cpu_ratio, callback_share=share, target=1.02, passed=passed))

if __name__ == '__main__': main()
