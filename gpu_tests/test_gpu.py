"""The CUDA path (run by `make gpu-check` on a machine with a GPU; never by `make test`): training with mixed
precision, a checkpoint resumed on the GPU, models loaded where the GPU is, analyses on the model's device."""
import torch, pytest
from regx_nb.core import default_device, module_device
from regx_nb.training import Run, run_id, train_run
from regx_nb.attribution import attribute
from regx_nb.adversarial import fgsm, robust_accuracy

assert torch.cuda.is_available(), 'these tests need a CUDA GPU (make gpu-check)'

def test_training_on_cuda_with_mixed_precision(tmp_path):
    r = train_run(dict(reg='jacobian', epochs=2, n_train=512, bs=64), tmp_path)
    assert r.status == 'ok' and r.metrics['device'].startswith('cuda')
    m = r.model
    assert module_device(m).type == 'cuda' and default_device().type == 'cuda'
    x, y = r.dls().test.one_batch()
    with torch.no_grad(): assert m(x.to(module_device(m))).shape == (len(x), 10)
    assert Run(r.path, device='cpu').model.fc3.weight.device.type == 'cpu'

def test_analyses_take_cpu_inputs_for_a_gpu_model(tmp_path):
    r = train_run(dict(epochs=1, n_train=256), tmp_path)
    ds = r.dls().test.dataset
    x, y = ds.images(slice(0, 16)), ds.y[:16]                   # on the CPU, as datasets give them
    assert attribute(r.model, x, y, 'gradcam').device.type == 'cpu'
    assert fgsm(r.model, x, y, 0.1).device.type == 'cuda'       # attacks return images where the model is
    acc = robust_accuracy([r], (x, y), 'pgd', eps=0.05, steps=3)
    assert acc.acc.between(0, 1).all()

def test_a_checkpoint_resumes_on_the_gpu(tmp_path):
    import subprocess, sys, json, textwrap, signal
    spec = dict(reg='dropout+l2', epochs=3, n_train=512, bs=64)
    code = textwrap.dedent(f'''
        import os, signal, json
        from fastai.callback.core import Callback
        from regx_nb.training import train_run
        class K(Callback):
            order = 99
            def after_epoch(self):
                if self.learn.epoch_log.logged and self.epoch == 0: os.kill(os.getpid(), signal.SIGKILL)
        train_run({spec!r}, {str(tmp_path)!r}, cbs=[K()])''')
    p = subprocess.run([sys.executable, '-c', code])
    assert p.returncode == -signal.SIGKILL
    r = train_run(spec, tmp_path)
    assert r.status == 'ok' and r.metrics['resumed_from'] == 1
