"""The kit's Learner and callbacks against a plain PyTorch loop: same model, data, epochs and seed, side by
side in one process. Target: wall-time ratio (kit / plain) <= 1.10.

    python bench/learner_overhead.py [--epochs 5] [--repeats 3]
"""
import argparse, math, statistics, sys, tempfile, time
from pathlib import Path
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.core import seed_everything
from regx_nb.data import get_dls
from regx_nb.models import get_model
from regx_nb.training import RunSaver, Run, make_learner

def plain_loop(dls, epochs, lr, seed):
    "A hand-written loop: Adam with a one-cycle schedule, per-epoch validation, weights saved per epoch."
    seed_everything(seed)
    model = get_model('simple_cnn', n_in=dls.n_in, n_out=dls.c, size=dls.size[0], stats=dls.stats)
    tr, va = dls.train.dataset, dls.valid.dataset
    bs, n = dls.train.bs, len(tr)
    steps = n // bs
    opt = torch.optim.Adam(model.parameters(), lr=lr / 25, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.25,
                                                div_factor=25, final_div_factor=1e5, base_momentum=0.85, max_momentum=0.95)
    g = torch.Generator().manual_seed(seed)
    out = Path(tempfile.mkdtemp())
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            x, y = tr.batch(idx)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        model.eval(); correct = 0; vloss = 0.
        with torch.no_grad():
            for i in range(0, len(va), 2 * bs):
                x, y = va.batch(torch.arange(i, min(i + 2 * bs, len(va))))
                out_ = model(x); vloss += F.cross_entropy(out_, y, reduction='sum').item(); correct += (out_.argmax(1) == y).sum().item()
        torch.save(model.state_dict(), out / 'model.pth')
    return correct / len(va)

def kit(dls, epochs, lr, seed):
    "make_learner + fit_one_cycle with the kit's callbacks (epoch log, NaN guard, run saver writing each epoch)."
    run = Run(Path(tempfile.mkdtemp()))
    learn = make_learner(dls, 'simple_cnn', lr=lr, seed=seed, cbs=[RunSaver(run)])
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn.epoch_log.rows[-1]['valid_acc']

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--lr', type=float, default=3e-3)
    a = ap.parse_args()
    dls = get_dls('fashion_mnist_sample', bs=64, seed=0)
    times = {'plain': [], 'kit': []}; accs = {'plain': [], 'kit': []}
    kit(dls, 1, a.lr, 0); plain_loop(dls, 1, a.lr, 0)  # warm up both paths
    for r in range(a.repeats):
        for name, fn in (('plain', plain_loop), ('kit', kit)) if r % 2 == 0 else (('kit', kit), ('plain', plain_loop)):
            t0 = time.perf_counter(); acc = fn(dls, a.epochs, a.lr, 0); times[name].append(time.perf_counter() - t0); accs[name].append(acc)
            print(f'{name:5s} run {r}: {times[name][-1]:.2f} s, valid acc {acc:.4f}', flush=True)
    ratio = statistics.median(times['kit']) / statistics.median(times['plain'])
    print(f"median wall time: kit {statistics.median(times['kit']):.2f} s, plain {statistics.median(times['plain']):.2f} s, ratio {ratio:.3f} (target <= 1.10)")
    write_result('learner_overhead', dict(epochs=a.epochs, repeats=a.repeats, times=times, valid_acc=accs, ratio=ratio,
                                          target=1.10, passed=ratio <= 1.10))

if __name__ == '__main__': main()
