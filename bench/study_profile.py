"""Where one run of the default study spends its time, stage by stage, next to a plain PyTorch loop over the
same tensors (the floor).

One configuration of the default study (`none`, seed 0: the default scenes, simple_cnn, Adam at the study's
learning rate, patience 3) is trained with `train_run` and measured with every analysis of the study; the
kit's functions are timed where they are called (wrapped in this process, nothing in the kit changes):

- process start: `python -c "import regx_nb.study"` in a fresh process, minus `python -c pass`;
- data preparation: the first `get_dls` of the study's scenes in this process (scene generation included);
- training passes: fastai's training batches (forward, loss, penalty, backward, optimizer step, callbacks);
- validation: the per-epoch validation passes;
- checkpoint: the per-epoch `RunSaver` (history and checkpoint written atomically);
- final evaluation: the train, valid and test passes after the fit;
- hashing: sha256 of the weights (writing `metrics.json`, and verifying before the analyses);
- the rest of `train_run`; then each analysis of the study.

The floor trains the same model (same builder, same seed) with `torch.optim.Adam` on the same tensors, the same
batches per epoch and the same number of epochs, validating every epoch. Repeats alternate kit and floor.

    python bench/study_profile.py [--repeats 3]     # writes bench/results/study_profile.json
"""
import argparse, functools, json, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import torch
import torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

T = {}  # stage -> seconds, for the current repeat

def timed(owner, name, stage, flag=None):
    "Replace `owner.name` by a wrapper that adds its wall time to `T[stage]` (and sets `T[flag]` while it runs)."
    fn = getattr(owner, name)
    @functools.wraps(fn)
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        if flag: T[flag] = True
        try: return fn(*a, **k)
        finally:
            T[stage] = T.get(stage, 0.) + time.perf_counter() - t0
            if flag: T[flag] = False
    setattr(owner, name, wrapper)

def process_start(n=3) -> float:
    def once(code):
        t0 = time.perf_counter(); subprocess.run([sys.executable, '-c', code], check=True, capture_output=True); return time.perf_counter() - t0
    return statistics.median(once('import regx_nb.study') for _ in range(n)) - statistics.median(once('pass') for _ in range(n))

def floor(dls, epochs, lr, seed) -> dict:
    "The same training as a plain PyTorch loop: Adam, shuffled batches (drop_last as the kit's loader), a valid pass per epoch."
    from regx_nb.core import seed_everything
    from regx_nb.models import get_model
    seed_everything(seed)
    m = get_model('simple_cnn', n_in=dls.n_in, n_out=dls.c, size=dls.size[0], stats=dls.stats)
    opt = torch.optim.Adam(m.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5)
    tr, va = dls.train.dataset, dls.valid.dataset
    bs, n = dls.train.bs, len(tr)
    g = torch.Generator().manual_seed(seed)
    t_train = t_valid = 0.
    for _ in range(epochs):
        t0 = time.perf_counter(); m.train()
        perm = torch.randperm(n, generator=g)
        for i in range(n // bs):
            x, y = tr.batch(perm[i * bs:(i + 1) * bs])
            loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
        t1 = time.perf_counter(); m.eval()
        with torch.no_grad():
            for i in range(0, len(va), 2 * bs):
                x, y = va.batch(slice(i, i + 2 * bs)); F.cross_entropy(m(x), y)
        t_train += t1 - t0; t_valid += time.perf_counter() - t1
    return dict(train=t_train, valid=t_valid)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    start = process_start()
    import regx_nb.data as data, regx_nb.training as training, regx_nb.study as study, regx_nb.analyses as analyses
    from fastai.callback.core import Callback
    from regx_nb.rwc import RWC

    class Stages(Callback):
        order = 200
        def before_train(self): self.t0 = time.perf_counter()
        def after_train(self): T['training passes'] = T.get('training passes', 0.) + time.perf_counter() - self.t0
        def before_validate(self): self.t1 = time.perf_counter()
        def after_validate(self):  # (the final evaluation's passes are counted as such, not here)
            if not T.get('_evaluating'): T['validation'] = T.get('validation', 0.) + time.perf_counter() - self.t1

    timed(training.RunSaver, 'after_epoch', 'checkpoint')
    timed(training, '_evaluate', 'final evaluation', flag='_evaluating')
    timed(training, 'sha256_file', 'hashing')
    for cls in {type(x) for x in analyses.get_analyses()}: timed(cls, 'measure', f'analysis: {cls.name}')

    c = study.study_config()
    configs, main_specs, sc_specs = study.study_specs(c)
    spec, sc_spec = main_specs[0], sc_specs[0]
    T.clear(); t0 = time.perf_counter()
    dls = data.get_dls(spec['data'], bs=spec['bs'], seed=spec['seed'], **spec['data_kw'])
    data.get_dls(sc_spec['data'], bs=sc_spec['bs'], seed=sc_spec['seed'], **sc_spec['data_kw'])
    prep = time.perf_counter() - t0
    todo = analyses.get_analyses()
    rows, floors = [], []
    for rep in range(a.repeats):
        for what in (('kit', 'floor') if rep % 2 == 0 else ('floor', 'kit')):  # (the floor needs the kit's epoch count: kit first)
            if what == 'floor':
                floors.append(floor(dls, epochs, spec['lr'], spec['seed'])); continue
            T.clear()
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                run = training.train_run(spec, d, cbs=[RWC(), Stages()])
                T['train_run (total)'] = time.perf_counter() - t0
                t0 = time.perf_counter()
                analyses.analyse_run(run, todo)
                T['analyses (total)'] = time.perf_counter() - t0
                epochs = run.metrics['epochs_trained']
            rows.append({k: v for k, v in T.items() if not k.startswith('_')})
    med = {k: statistics.median(r.get(k, 0.) for r in rows) for k in rows[0]}
    fl = {k: statistics.median(f[k] for f in floors) for k in ('train', 'valid')}
    inside = sum(med.get(k, 0.) for k in ('training passes', 'validation', 'checkpoint', 'final evaluation', 'hashing'))
    table = [('process start (import regx_nb.study)', start), ('data preparation (first get_dls of the main and shortcut scenes)', prep),
             ('training passes', med['training passes']), ('validation (per epoch)', med['validation']),
             ('checkpoint (per epoch)', med.get('checkpoint', 0.)), ('final evaluation (train, valid, test)', med.get('final evaluation', 0.)),
             ('hashing (sha256 of the weights)', med.get('hashing', 0.)), ('rest of train_run', med['train_run (total)'] - inside)]
    table += [(k, v) for k, v in sorted(med.items()) if k.startswith('analysis: ')]
    table += [('rest of the analyses (loading, keeping)', med['analyses (total)'] - sum(v for k, v in med.items() if k.startswith('analysis: ')))]
    total = sum(v for _, v in table)
    print(f"one default study run ({epochs} epochs), median of {a.repeats}: stage, seconds, share")
    for k, v in table: print(f"  {k:62s} {v:7.2f} s  {v / total:6.1%}")
    print(f"  {'total':62s} {total:7.2f} s")
    ratio_train = med['training passes'] / fl['train']
    ratio_fit = (med['training passes'] + med['validation']) / (fl['train'] + fl['valid'])
    print(f"plain PyTorch loop over the same tensors: training {fl['train']:.2f} s, validation {fl['valid']:.2f} s")
    print(f"ratio kit / plain: training passes {ratio_train:.2f}x, training + validation {ratio_fit:.2f}x (goal <= 1.3x for training)")
    write_result('study_profile', dict(epochs=epochs, repeats=a.repeats, stages=dict(table), total=total, floor=fl,
                                       ratio_training=ratio_train, ratio_training_validation=ratio_fit, runs=rows, floors=floors))

if __name__ == '__main__': main()
