"""One run on several processes: `accelerate launch` with 2 processes on the CPU (gloo), the way a multi-GPU
machine runs it. Both ranks must end with identical weights, rank 0 alone writes a run folder that `Run` loads,
and each rank takes a full `bs` per step (global batch = bs x processes)."""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import torch
from regx_nb.training import Run, run_id

REGS = ['none', 'l2', 'jacobian', 'label_smoothing', 'hard_svb']
SPEC = dict(epochs=2, n_train=256, bs=32)

SCRIPT = textwrap.dedent('''
    import json, sys, torch
    from fastai.callback.core import Callback
    from fastai.distributed import DistributedDL
    from fastai.torch_core import rank_distrib, num_distrib
    from regx_nb.core import unwrap
    from regx_nb.training import train_run

    # Test harness only: fastai's DistributedDL broadcasts the batch order through a CUDA tensor, because NCCL
    # needs one. This machine has no GPU, so the test runs gloo on the CPU, where the same broadcast works on a
    # CPU tensor. The kit itself is not patched: on GPUs fastai's own code runs.
    def _broadcast(self, t, rank):
        t = torch.LongTensor(t); torch.distributed.broadcast(t, rank); return t.tolist()
    DistributedDL._broadcast = _broadcast

    class Record(Callback):
        "Each rank keeps its final weights and the number of training steps it took per epoch."
        order = 99
        def __init__(self, name, out): self.name_, self.out = name, out
        def after_train(self): self.steps = self.n_iter
        def after_fit(self):
            r = rank_distrib()
            torch.save(unwrap(self.learn.model).state_dict(), f'{self.out}/{self.name_}-rank{r}.pth')
            json.dump(dict(steps=self.steps, world=num_distrib()), open(f'{self.out}/{self.name_}-rank{r}.json', 'w'))

    root, out, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    for reg in sys.argv[4:]: train_run(dict(spec, reg=reg), root, cbs=[Record(reg, out)])
''')

def test_two_processes_train_one_run_with_identical_weights_and_one_writer(tmp_path):
    (tmp_path/'ddp.py').write_text(SCRIPT); (tmp_path/'out').mkdir()
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'REGX_DEVICE': 'cpu'}; env.pop('IN_TEST', None)
    cmd = [str(Path(sys.executable).parent/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', str(tmp_path/'ddp.py'), str(tmp_path/'runs'), str(tmp_path/'out'),
           json.dumps(SPEC), *REGS]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for reg in REGS:
        w0, w1 = (torch.load(tmp_path/'out'/f'{reg}-rank{r}.pth', weights_only=True) for r in (0, 1))
        assert all(torch.equal(w0[k], w1[k]) for k in w0), f'{reg}: the ranks ended with different weights'
        info = json.loads((tmp_path/'out'/f'{reg}-rank0.json').read_text())
        # 256 training images, bs 32: 8 steps per epoch in one process, 4 per rank with 2 (each rank takes a full bs)
        assert info == dict(steps=4, world=2), info
        run = Run(tmp_path/'runs'/run_id(dict(SPEC, reg=reg)))
        assert run.status == 'ok' and run.metrics['processes'] == 2
        assert not any(k.startswith('module.') for k in torch.load(run.path/'model.pth', weights_only=True))
        assert all(torch.equal(v, w0[k]) for k, v in run.model.state_dict().items())  # the unwrapped weights, loaded by Run
        assert sorted(f.name for f in run.path.iterdir() if not f.name.startswith('.')) == ['history.csv', 'metrics.json', 'model.pth', 'model_config.json', 'spec.json']
