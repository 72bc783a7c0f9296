"""FGSM and PGD-10 (L∞) of `regx_nb.adversarial` against torchattacks, side by side in one process, on the same
trained simple_cnn (the lesson's run: Fashion-MNIST sample, 3000 images, 5 epochs) and the same test batch.
Targets: the same robust accuracy within 0.5 points, and our time <= theirs (ratio ours/theirs <= 1).
PGD starts from the same random point in both (PyTorch's global generator, seeded before each call).

    pip install --no-deps torchattacks   # a benchmark-only tool, not a dependency of the kit
    python bench/attacks_vs_torchattacks.py [--repeats 5] [--n 512]   # FGSM is timed 3 x repeats times
"""
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.core import regx_home
from regx_nb.training import train_run
from regx_nb.adversarial import fgsm, pgd

def accuracy(model, x, y):
    with torch.no_grad(): return (model(x).argmax(1) == y).float().mean().item()

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--n', type=int, default=512)
    ap.add_argument('--eps', type=float, default=0.05); ap.add_argument('--steps', type=int, default=10)
    a = ap.parse_args()
    import torchattacks
    run = train_run(dict(reg='none', n_train=3000, epochs=5), regx_home('runs', '09_adversarial'))  # the lesson's run (trained if missing)
    model = run.model.eval()
    dl = run.dls(device='cpu').test
    xs, ys = zip(*[(x, y) for x, y in dl])
    x, y = torch.cat(xs)[:a.n], torch.cat(ys)[:a.n]
    alpha = a.eps / 4
    attacks = {
        'fgsm': (lambda: fgsm(model, x, y, a.eps), lambda: torchattacks.FGSM(model, eps=a.eps)(x, y)),
        f'pgd{a.steps}': (lambda: pgd(model, x, y, a.eps, alpha=alpha, steps=a.steps),
                          lambda: torchattacks.PGD(model, eps=a.eps, alpha=alpha, steps=a.steps, random_start=True)(x, y)),
    }
    out = {}
    for name, (ours, theirs) in attacks.items():
        torch.manual_seed(0); xo = ours(); torch.manual_seed(0); xt = theirs()   # warm-up, and the adversarial images compared
        times = {'ours': [], 'theirs': []}
        for r in range(a.repeats * (3 if name == 'fgsm' else 1)):   # FGSM is one step: more repeats for a stable median
            for who, fn in ((('ours', ours), ('theirs', theirs)) if r % 2 == 0 else (('theirs', theirs), ('ours', ours))):
                torch.manual_seed(r); t0 = time.perf_counter(); fn(); times[who].append(time.perf_counter() - t0)
        acc_o, acc_t = accuracy(model, xo, y), accuracy(model, xt, y)
        ratio = statistics.median(times['ours']) / statistics.median(times['theirs'])
        out[name] = dict(eps=a.eps, alpha=alpha if name != 'fgsm' else a.eps, steps=a.steps if name != 'fgsm' else 1, n=len(x),
                         clean_acc=accuracy(model, x, y), robust_acc_ours=acc_o, robust_acc_theirs=acc_t, acc_diff_points=100 * abs(acc_o - acc_t),
                         max_abs_diff_images=float((xo - xt).abs().max()), frac_pixels_differ=float(((xo - xt).abs() > 1e-5).float().mean()),
                         ours_s=statistics.median(times['ours']), theirs_s=statistics.median(times['theirs']), ratio=ratio,
                         times=times)
        print(f"{name:6s} robust acc ours {acc_o:.4f} theirs {acc_t:.4f} (diff {100 * abs(acc_o - acc_t):.2f} points, target <= 0.5)  "
              f"ours {out[name]['ours_s'] * 1e3:7.1f} ms  theirs {out[name]['theirs_s'] * 1e3:7.1f} ms  ratio {ratio:.3f} (target <= 1)")
    passed = all(v['acc_diff_points'] <= 0.5 and v['ratio'] <= 1 for v in out.values())
    write_result('attacks', dict(run=run.name, results=out, passed=passed))

if __name__ == '__main__': main()
