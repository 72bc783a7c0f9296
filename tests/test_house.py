"""The house: a run remembers the code that built its model (a changed builder retrains, an unchanged one is
reused, a model of your own works in runs); registries extend from above without private access; one policy for
damaged files, analyses included; autoencoder and segmentation runs are runs (resume after a kill, bitwise)."""
import json, os, signal, subprocess, sys, textwrap
from collections import OrderedDict
from pathlib import Path
import pytest
import torch
from torch import nn
from regx_nb.core import RegxError
from regx_nb.models import MODELS, Normalize, get_model
from regx_nb.training import Run, run_grid, run_id, train_run, normalize_spec

SPEC = dict(epochs=1, n_train=64, bs=32)

def _env():
    env = dict(os.environ); env.pop('IN_TEST', None)
    env.update(OMP_NUM_THREADS='1', REGX_DEVICE='cpu')
    return env

def _tiny(width):
    def build(n_in=1, n_out=10):
        "A two-layer model of a user's own."
        return nn.Sequential(OrderedDict(norm=Normalize(n_in=n_in), conv=nn.Conv2d(n_in, width, 3, padding=1), relu=nn.ReLU(),
                                         pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(width, n_out)))
    return build

@pytest.fixture
def user_model():
    MODELS.register('user_cnn', version=1, replace=True)(_tiny(4))
    yield 'user_cnn'
    MODELS._d.pop('user_cnn', None)  # (the test's own cleanup: a registry has no public way to forget a name)

def test_a_model_of_your_own_trains_as_a_run_and_loads_back(tmp_path, user_model):
    r = train_run(dict(SPEC, model=user_model), tmp_path)
    assert r.status == 'ok' and isinstance(r.model.conv, nn.Conv2d)
    cfg = json.loads((r.path/'model_config.json').read_text())
    assert cfg['name'] == user_model and cfg['version'] == 1 and len(cfg['fingerprint']) == 16 and cfg['kwargs']['n_in'] == 1

def test_an_unchanged_builder_is_reused_a_changed_version_or_architecture_retrains(tmp_path, user_model, capsys):
    spec = dict(SPEC, model=user_model)
    r = train_run(spec, tmp_path); first = (r.path/'model.pth').stat().st_mtime_ns
    assert run_grid([spec], tmp_path, progress=False)[0].status == 'ok'
    assert (r.path/'model.pth').stat().st_mtime_ns == first                      # the same code: found, not retrained
    MODELS.register(user_model, version=2, replace=True)(_tiny(4))              # the same layers, a new version
    assert Run(r.path).state() == 'corrupt' and 'built by other code now' in Run(r.path).problem()
    run_grid([spec], tmp_path, progress=False)
    assert (r.path/'model.pth').stat().st_mtime_ns != first and len(list(r.path.glob('corrupt-*'))) == 1
    MODELS.register(user_model, version=2, replace=True)(_tiny(6))              # other layers under the same name and version
    with pytest.raises(RegxError, match='built by other code now'): Run(r.path).model   # never loaded as if current
    run_grid([spec], tmp_path, progress=False)
    assert Run(r.path).model.conv.out_channels == 6 and len(list(r.path.glob('corrupt-*'))) == 2
    MODELS._d.pop(user_model)
    with pytest.raises(RegxError, match="not registered in this process"): Run(r.path).state()

def test_a_run_without_a_fingerprint_was_made_by_older_code(tmp_path):
    r = train_run(dict(SPEC), tmp_path)
    cfg = json.loads((r.path/'model_config.json').read_text())
    (r.path/'model_config.json').write_text(json.dumps({'name': cfg['name'], **cfg['kwargs']}))  # the older kit's layout
    assert 'no model fingerprint' in Run(r.path).problem()

def test_the_regularizer_table_is_the_same_whatever_was_imported():
    code = "import sys, regx_nb.regularizers as R; print(sorted(R.REGULARIZERS.names)); print('regx_nb.adversarial' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env(), check=True).stdout.split('\n')
    assert "'adversarial'" in out[0] and out[1] == 'False'  # known before its module is imported
    code2 = "import regx_nb.adversarial, regx_nb.regularizers as R; print(sorted(R.REGULARIZERS.names))"
    assert subprocess.run([sys.executable, '-c', code2], capture_output=True, text=True, env=_env(), check=True).stdout.split('\n')[0] == out[0]

def test_a_damaged_kept_measurement_is_set_aside_and_measured_again(tmp_path, capsys):
    from regx_nb.analyses import get_analyses, analyse_run, kept_result
    r = train_run(dict(SPEC), tmp_path)
    a = get_analyses(['boundary'], {'boundary': dict(n_images=1, resolution=5)})
    analyse_run(r, a)
    (r.path/'analyses'/'boundary.json').write_text('{"key": "tr')                  # truncated
    nums = analyse_run(r, a)['boundary']
    assert 'boundary.json is not valid JSON' in capsys.readouterr().err and nums['boundary_tv'] >= 0
    assert len(list((r.path/'analyses').glob('corrupt-*'))) == 1 and kept_result(r, 'boundary')['numbers'] == nums
    (r.path/'analyses'/'boundary.npz').write_bytes(b'PK\x03\x04 not a zip')      # damaged arrays
    analyse_run(r, a)
    assert 'boundary.npz cannot be read' in capsys.readouterr().err and len(list((r.path/'analyses').glob('corrupt-*'))) == 2

KILLER = textwrap.dedent('''
    import json, os, signal, sys
    from fastai.callback.core import Callback
    from regx_nb.training import train_run
    class KillAt(Callback):
        order = 99
        def __init__(self, k): self.k = k
        def after_epoch(self):
            log = self.learn.epoch_log
            if log.logged and len(log.rows) == self.k + 1: os.kill(os.getpid(), signal.SIGKILL)
    spec, root, k = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    train_run(spec, root, cbs=[KillAt(k)] if k >= 0 else [])
''')

def _train(tmp_path, spec, root, kill_at=-1):
    script = tmp_path/'killer.py'; script.write_text(KILLER)
    return subprocess.run([sys.executable, str(script), json.dumps(spec), str(root), str(kill_at)], env=_env(), capture_output=True, text=True, timeout=300)

@pytest.mark.parametrize('spec', [
    dict(model='vaegan', model_kw=dict(kind='conv', z=2, width=8), task='vae', task_kw=dict(denoise=0.2), epochs=3, n_train=128, bs=32, lr=2e-3),
    dict(model='fcn', model_kw=dict(encoder='small', variant='8s', widths=[8, 8, 16, 16, 16], fc_dim=16, dropout=0.5), data='fashion_scenes',
         data_kw=dict(variant='segment', image_size=32), task='segment', epochs=3, n_train=64, bs=16),
], ids=['vaegan', 'fcn'])
def test_autoencoder_and_segmentation_runs_resume_after_a_kill_with_the_same_weights(tmp_path, spec):
    assert _train(tmp_path, spec, tmp_path/'straight').returncode == 0
    p = _train(tmp_path, spec, tmp_path/'killed', kill_at=1)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    folder = tmp_path/'killed'/run_id(spec)
    assert (folder/'checkpoint.pth').is_file() and not (folder/'metrics.json').exists()
    assert _train(tmp_path, spec, tmp_path/'killed').returncode == 0
    a, b = Run(tmp_path/'straight'/run_id(spec)), Run(folder)
    assert b.status == 'ok' and b.metrics['resumed_from'] == 2 and list(b.history.epoch) == [0, 1, 2]
    wa, wb = torch.load(a.path/'model.pth', weights_only=True), torch.load(b.path/'model.pth', weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bitwise the run that was never interrupted
    assert a.metrics['weights_sha256'] == b.metrics['weights_sha256']
    if spec['task'] == 'segment': assert (b.path/'confusion.pt').is_file() and 'mean_iou' in b.metrics
    else: assert a.metrics['d_steps'] == b.metrics['d_steps'] and 'test_mse' in b.metrics
