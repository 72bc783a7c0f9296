"""Training runs never lose work: a grid killed midway resumes with only the missing runs; `regx-train`
works from a fresh shell; a diverging run stops with a clear message and keeps its last epoch."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from fastai.callback.core import Callback
from regx_nb.core import RegxError, TrainingDiverged
from regx_nb.data import get_dls
from regx_nb.training import Run, grid, load_results, make_learner, run_grid, run_id, train_run, topk_accuracy

CLI = str(Path(sys.executable).parent / 'regx-train')

def _env():
    env = dict(os.environ); env.pop('IN_TEST', None); env['OMP_NUM_THREADS'] = '1'
    return env

def test_regx_train_from_a_fresh_shell(tmp_path):
    out = tmp_path / 'runs'
    p = subprocess.run([CLI, '--out', str(out), '--regs', 'none', 'dropout+l2:lam=1e-3', '--epochs', '1', '--n-train', '128',
                        '--bs', '32', '--summary'], capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr
    assert '2 runs' in p.stdout and '0 finished, 2 to train' in p.stdout and 'test_acc=' in p.stdout
    df = load_results(out)
    assert sorted(df.reg) == ['dropout+l2(lam=0.001)', 'none'] and set(df.status) == {'ok'} and sorted(df.family) == ['dropout+l2', 'none']
    bad = subprocess.run([CLI, '--out', str(out), '--regs', 'l3'], capture_output=True, text=True, env=_env(), timeout=120)
    assert bad.returncode == 2 and "unknown regularizer 'l3'" in bad.stderr

def test_grid_killed_midway_resumes_only_missing_runs(tmp_path):
    out = tmp_path / 'runs'
    args = [CLI, '--out', str(out), '--regs', 'none', 'l1', 'l2', 'input_noise', '--epochs', '2', '--n-train', '512', '--bs', '32']
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    t0 = time.time()
    while not list(out.glob('*/metrics.json')) and time.time() - t0 < 240: time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob('*/metrics.json')}
    assert 1 <= len(finished) < 4, finished
    p = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr
    assert f'{len(finished)} finished, {4 - len(finished)} to train' in p.stdout
    after = {q.parent.name: q.stat().st_mtime_ns for q in out.glob('*/metrics.json')}
    assert len(after) == 4 and all(after[k] == v for k, v in finished.items())  # finished runs were not retrained
    assert all(Run(out / k).status == 'ok' for k in after)

class _NaNAt(Callback):
    order = 80
    def after_loss(self):
        if self.training and self.epoch == 1 and self.iter == 1: self.learn.loss_grad = self.learn.loss_grad * float('nan')

def test_nan_stops_the_run_and_keeps_the_last_epoch(tmp_path):
    spec = dict(reg='l2:lam=1e-3', epochs=3, n_train=128, bs=32)
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 1, step 1 .*l2\(lam=0.001\)"):
        train_run(spec, tmp_path, cbs=[_NaNAt()])
    r = Run.load(tmp_path / run_id(spec))
    assert r.status == 'diverged' and len(r.history) == 1
    assert all(torch.isfinite(p).all() for p in r.model.parameters())
    # a grid reports the diverged run and does not retry it
    runs = run_grid([spec], tmp_path, progress=False)
    assert runs[0].status == 'diverged'

def test_same_seed_same_run_other_seed_other_run(tmp_path):
    a = train_run(dict(epochs=1, n_train=128, seed=3), tmp_path / 'a')
    b = train_run(dict(epochs=1, n_train=128, seed=3), tmp_path / 'b')
    c = train_run(dict(epochs=1, n_train=128, seed=4), tmp_path / 'c')
    sa, sb, sc = (torch.load(r.path / 'model.pth', weights_only=True) for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and not all(torch.equal(sa[k], sc[k]) for k in sa)

def test_bad_specs():
    with pytest.raises(RegxError, match='unknown spec keys'): grid(models=['lenet'], lrs=[1])
    with pytest.raises(RegxError, match="Known models"): train_run(dict(model='lenet5'), '/tmp/never')
    with pytest.raises(RegxError, match='model variant'):
        from regx_nb.models import get_model
        make_learner(model=get_model('simple_cnn'), reg='batchnorm', n_train=64).fit(1)

class _Marker(Callback):
    "Writes the number of epochs it saw into the run folder (one fresh instance per run)."
    order = 80  # after EpochLog (60), which marks training epochs
    def __init__(self): self.n = 0
    def after_epoch(self):
        if self.learn.epoch_log.logged: self.n += 1
    def after_fit(self):
        if self.n: (self.learn.run_saver.folder / 'marker.txt').write_text(str(self.n))

def test_grid_callback_factories_give_each_run_its_own_callbacks(tmp_path):
    runs = run_grid(grid(regs=['none', 'l1'], epochs=2, n_train=64, bs=32), tmp_path, progress=False, cbs=[_Marker])
    assert [(r.path / 'marker.txt').read_text() for r in runs] == ['2', '2']

def test_epochlog_segmentation_ignores_255_pixels():
    "Pixels labelled 255 count neither as right nor as wrong in the logged accuracy (hand-counted case)."
    from types import SimpleNamespace
    import torch
    from regx_nb.training import EpochLog
    y = torch.tensor([[[0, 1], [255, 1]]])                       # 3 scored pixels, 1 ignored
    pred = torch.zeros(1, 2, 2, 2); pred[0, 0] = 1.              # predicts class 0 everywhere: 1 of 3 right
    cb = EpochLog()
    cb.learn = SimpleNamespace(yb=(y,), pred=pred, loss=torch.tensor(0.5), training=False, epoch=0)
    cb.acc = {}
    cb.after_batch()
    a = cb.acc['valid']
    assert a['n'] == 3 and float(a['correct']) == 1.
    y2 = torch.tensor([0, 1, 1]); p2 = torch.tensor([[1., 0], [1, 0], [0, 1]])  # classification: unchanged, 2 of 3
    cb.acc = {}; cb.learn = SimpleNamespace(yb=(y2,), pred=p2, loss=torch.tensor(0.5), training=False, epoch=0)
    cb.after_batch()
    assert cb.acc['valid']['n'] == 3 and float(cb.acc['valid']['correct']) == 2.

def test_run_model_loads_on_the_default_device_or_the_one_asked_for(tmp_path):
    "A GPU runtime loads finished runs on the GPU (the device of the data loaders); the device can be chosen."
    from regx_nb.core import default_device, module_device
    r = train_run(dict(epochs=1, n_train=64, bs=32), tmp_path)
    assert module_device(Run(r.path).model) == default_device()
    assert module_device(Run(r.path, device='meta').model).type == 'meta'  # any device: meta stands in for a GPU here
    assert module_device(Run.load(r.path, device='meta').model).type == 'meta'

def test_topk_accuracy_by_hand():
    class Fixed(torch.nn.Module):
        "Returns fixed scores, whatever the images."
        def __init__(self, out): super().__init__(); self.out, self.p = out, torch.nn.Parameter(torch.zeros(1))
        def forward(self, x): return self.out[:len(x)] + 0 * self.p
    out = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.35, 0.4, 0.25], [0.0, 0.1, 0.9]])
    dl = [(torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 0]))]
    assert topk_accuracy(Fixed(out), dl, k=1) == 0.25  # only the first image's class has the highest score
    assert topk_accuracy(Fixed(out), dl, k=2) == 0.75  # ... and the second's and third's are second
    assert topk_accuracy(Fixed(out), dl, k=5) == 1.0   # k capped at the 3 classes

def test_a_run_records_top5_accuracy_on_valid_and_test(tmp_path):
    r = train_run(dict(epochs=1, n_train=128, seed=0), tmp_path)
    dls = get_dls('fashion_mnist_sample', n_train=128, seed=0)
    assert r.metrics['test_top5'] == pytest.approx(topk_accuracy(r.model, dls.test)) and r.metrics['valid_top5'] == pytest.approx(topk_accuracy(r.model, dls.valid))
    assert r.metrics['test_top5'] >= r.metrics['test_acc'] and r.metrics['test_acc'] == pytest.approx(topk_accuracy(r.model, dls.test, k=1))

def test_toy_problem_trains_with_the_jacobian_determinant(tmp_path):
    "RegDNNs' toy problem end to end: points (N, 2), the MLP, jacobian_det; the run reloads with its hidden widths."
    from regx_nb.regularizers import jacobian_volume
    learn = make_learner('gaussian_clusters', 'mlp', reg='jacobian_det', bs=32)
    assert learn.dls.size == () and learn.model.config['hidden'] == [64, 64]
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-3)
    with learn.no_bar(): loss, acc = learn.validate(dl=learn.dls.test)
    assert acc > 0.7 and torch.isfinite(torch.tensor(loss))  # the clusters are separable to ~0.85
    spec = dict(data='gaussian_clusters', model='mlp', reg='jacobian_det:lam=1.0', epochs=3, bs=32, model_kw={'hidden': [16, 16]})
    r = train_run(spec, tmp_path / 'runs', progress=False)
    m = r.model
    assert m.fc1.out_features == 16 and r.metrics['test_acc'] > 0.5 and r.metrics['test_top5'] == 1.0  # k capped at the 4 classes
    v = jacobian_volume(m, get_dls('gaussian_clusters').test.dataset.x)
    base = train_run({**spec, 'reg': 'none'}, tmp_path / 'runs', progress=False)
    v0 = jacobian_volume(base.model, get_dls('gaussian_clusters').test.dataset.x)
    assert (v - 1).abs().median() < (v0 - 1).abs().median()  # the penalty pulls the volume factor towards 1

def test_the_study_presets_from_the_shell_on_files_the_test_writes(tmp_path, monkeypatch):
    "regx-train --preset lab2 (CIFAR-10 grid, then the best refit) and cs385 (Stanford Dogs; transfer skipped without weights) in quick mode."
    import pandas as pd
    from test_data import write_cifar10, write_dogs
    data = tmp_path/'data'; write_cifar10(data/'cifar-10-batches-py', n=20); write_dogs(data/'stanford_dogs', per_breed=8)
    env = {**_env(), 'REGX_QUICK': '1', 'REGX_DATA': str(data), 'REGX_HOME': str(tmp_path/'home'), 'REGX_DEVICE': 'cpu'}
    monkeypatch.setenv('REGX_DATA', str(data)); monkeypatch.setenv('REGX_QUICK', '1')  # (this process reads the runs' data too)
    p = subprocess.run([CLI, '--out', str(tmp_path/'lab2'), '--preset', 'lab2', '--seeds', '0'], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = pd.read_csv(tmp_path/'lab2'/'results.csv')
    assert len(res) == 13 and (res.status == 'ok').all() and res.label.iloc[-1].endswith(' (refit)')
    best = res.iloc[:12].groupby('label').valid_acc.mean().idxmax()
    assert res.label.iloc[-1] == f'{best} (refit)'
    refit = Run(tmp_path/'lab2'/'refit'/res.run.iloc[-1])
    assert refit.spec['refit'] and refit.spec['opt'] == 'sgd' and refit.spec['data'] == 'cifar10'
    assert len(refit.dls().train_ds) == len(Run(tmp_path/'lab2'/res.run.iloc[0]).dls().train_ds) + len(refit.dls().valid_ds)
    dogs = [CLI, '--out', str(tmp_path/'dogs'), '--preset', 'cs385', '--seeds', '0']
    p = subprocess.run(dogs, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'transfer (ResNet-18): skipped, no pretrained weights' in p.stderr
    res = pd.read_csv(tmp_path/'dogs'/'results.csv')
    assert list(res.label) == ['bare CNN', 'batch norm + dropout', 'augmented']
    w = tmp_path/'home'/'weights'; w.mkdir(parents=True, exist_ok=True)
    import torchvision
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), w/'resnet18.pth')  # a stand-in for the ImageNet file
    p = subprocess.run(dogs, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = pd.read_csv(tmp_path/'dogs'/'results.csv')
    assert res.label.iloc[-1] == 'transfer (ResNet-18)' and (res.status == 'ok').all()
    tr = Run(tmp_path/'dogs'/res.run.iloc[-1])
    assert tr.spec['freeze_epochs'] == 1 and len(tr.history) == 2 and tr.spec['data'] == 'stanford_dogs'

def _mark_where_measured(run):
    "An after_run hook: leaves the process id that called it in the run folder."
    (run.path/'after_run.json').write_text(json.dumps(dict(pid=os.getpid())))

def test_local_workers_train_a_grid_in_other_processes_and_call_after_run_there(tmp_path):
    specs = grid(regs=['none', 'l2', 'l1'], seeds=[0], epochs=1, n_train=64, bs=32)
    runs = run_grid(specs, tmp_path, progress=False, workers=2, after_run=_mark_where_measured)
    assert [r.name for r in runs] == [run_id(s) for s in specs] and all(r.status == 'ok' for r in runs)
    pids = {json.loads((r.path/'after_run.json').read_text())['pid'] for r in runs}
    assert os.getpid() not in pids  # trained and measured in the workers, not here
    again = run_grid(specs, tmp_path, progress=False, workers=2, after_run=_mark_where_measured)  # nothing left to do
    assert [r.metrics['weights_sha256'] for r in again] == [r.metrics['weights_sha256'] for r in runs]

def test_workers_fall_back_to_this_process_for_what_cannot_be_sent(tmp_path, capsys):
    specs = grid(regs=['none', 'l2'], seeds=[0], epochs=1, n_train=64, bs=32)
    seen = []
    runs = run_grid(specs, tmp_path, progress=False, workers=2, after_run=lambda r: seen.append(r.name))
    assert sorted(seen) == sorted(r.name for r in runs)  # the lambda ran here, one run at a time
    assert 'cannot go to worker processes' in capsys.readouterr().err
    with pytest.raises(RegxError, match="workers must be a positive int or 'auto'"): run_grid(specs, tmp_path, workers=0)
    with pytest.raises(RegxError, match='after_run must be a callable'): run_grid(specs, tmp_path, after_run='analyse')
