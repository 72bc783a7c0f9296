"""Runs never lose work and never lie: one owner per run folder, resume after a kill, damaged files detected
and moved aside, the `.part` files of dead writers removed, cluster jobs that outlive their driver not duplicated.
Each test reproduces a failure seen on an earlier version (SIGKILL of a subprocess at a chosen epoch, truncated
and garbled files, two processes on one folder)."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pandas as pd
import pytest
import torch
from regx_nb.core import RegxError, FolderLock, clean_parts, host_name as _host
from regx_nb.training import CorruptRunError, Run, grid, load_history, load_results, run_grid, run_id, train_run

BIN = Path(sys.executable).parent
SPEC = dict(reg='dropout+l2', epochs=3, n_train=256, bs=32)

def _env(**kw):
    env = dict(os.environ); env.pop('IN_TEST', None)
    env.update(OMP_NUM_THREADS='1', REGX_DEVICE='cpu', **kw)
    return env

KILLER = textwrap.dedent('''
    import json, os, signal, sys
    from fastai.callback.core import Callback
    from regx_nb.training import train_run
    class KillAt(Callback):
        "SIGKILL this process right after epoch k has been checkpointed (RunSaver has order 70)."
        order = 99
        def __init__(self, k): self.k = k
        def after_epoch(self):
            log = self.learn.epoch_log  # (counted in rows: a fine-tuning run's second phase starts again at fastai's epoch 0)
            if log.logged and len(log.rows) == self.k + 1: os.kill(os.getpid(), signal.SIGKILL)
    spec, root, k, rwc = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1'
    if rwc: from regx_nb.rwc import RWC
    train_run(spec, root, cbs=([KillAt(k)] if k >= 0 else []) + ([RWC()] if rwc else []))
''')

def _train_in_subprocess(tmp_path, spec, root, kill_at=-1, rwc=False):
    "Train in a fresh process (killed after epoch `kill_at` if >= 0); all with one thread, so that CPU sums are bitwise repeatable."
    script = tmp_path/'killer.py'; script.write_text(KILLER)
    return subprocess.run([sys.executable, str(script), json.dumps(spec), str(root), str(kill_at), '1' if rwc else '0'], env=_env(),
                          capture_output=True, text=True, timeout=300)

def _weights(run): return torch.load(run.path/'model.pth', weights_only=True)

def test_a_run_killed_at_epoch_k_resumes_from_its_checkpoint_and_ends_with_the_same_weights(tmp_path):
    # (both in subprocesses with the same thread count, so that the CPU kernels sum in the same order)
    assert _train_in_subprocess(tmp_path, SPEC, tmp_path/'straight').returncode == 0
    ref = Run(tmp_path/'straight'/run_id(SPEC))
    p = _train_in_subprocess(tmp_path, SPEC, tmp_path/'killed', kill_at=1)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    folder = tmp_path/'killed'/run_id(SPEC)
    assert (folder/'checkpoint.pth').is_file() and not (folder/'metrics.json').exists()
    assert len(pd.read_csv(folder/'history.csv')) == 2            # epochs 0 and 1 were completed and saved
    assert FolderLock(folder).owner() is None                       # the killed owner's lock is stale: nobody owns the run
    assert _train_in_subprocess(tmp_path, SPEC, tmp_path/'killed').returncode == 0   # resumes at epoch 2: one epoch left
    r = Run(folder)
    m = r.metrics
    assert r.status == 'ok' and m['resumed_from'] == 2 and m['epochs_trained'] == 3
    assert list(r.history.epoch) == [0, 1, 2] and not (folder/'checkpoint.pth').exists()  # the checkpoint goes once model.pth is final
    a, b = _weights(ref), _weights(r)
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) <= 1e-4
    assert all(torch.equal(a[k], b[k]) for k in a)                  # on the CPU: bitwise
    assert ref.metrics['resumed_from'] == 0 and m['test_acc'] == ref.metrics['test_acc']

def test_the_rwc_recorder_and_hard_svb_resume_too(tmp_path):
    from regx_nb.rwc import RWC, load_rwc
    spec = dict(reg='hard_svb:every=3', epochs=3, n_train=256, bs=32)
    assert _train_in_subprocess(tmp_path, spec, tmp_path/'straight', rwc=True).returncode == 0
    ref = Run(tmp_path/'straight'/run_id(spec))
    p = _train_in_subprocess(tmp_path, spec, tmp_path/'killed', kill_at=0, rwc=True)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert _train_in_subprocess(tmp_path, spec, tmp_path/'killed', rwc=True).returncode == 0
    r = Run(tmp_path/'killed'/run_id(spec))
    assert r.metrics['resumed_from'] == 1
    a, b = _weights(ref), _weights(r)
    assert all(torch.equal(a[k], b[k]) for k in a)                   # hard SVB did not re-initialize the resumed weights
    pd.testing.assert_frame_equal(load_rwc(ref), load_rwc(r))       # the RWC curves span all three epochs

@pytest.mark.parametrize('freeze,kill_at', [(2, 0), (1, 0), (1, 1)])  # inside the frozen phase, at its end, inside the unfrozen one
def test_fine_tuning_resumes_in_either_phase_with_the_same_weights(tmp_path, freeze, kill_at):
    import torchvision
    w = Path(os.environ['REGX_HOME'])/'weights'; w.mkdir(parents=True)
    torch.manual_seed(0); torch.save(torchvision.models.resnet18(weights=None).state_dict(), w/'resnet18.pth')  # a stand-in weights file
    spec = dict(model='resnet18', model_kw={'pretrained': True}, freeze_epochs=freeze, epochs=3 - freeze, n_train=64, bs=32)
    assert _train_in_subprocess(tmp_path, spec, tmp_path/'straight').returncode == 0
    ref = Run(tmp_path/'straight'/run_id(spec))
    p = _train_in_subprocess(tmp_path, spec, tmp_path/'killed', kill_at=kill_at)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    assert _train_in_subprocess(tmp_path, spec, tmp_path/'killed').returncode == 0
    r = Run(tmp_path/'killed'/run_id(spec))
    assert r.metrics['resumed_from'] == kill_at + 1 and list(r.history.epoch) == [0, 1, 2] and r.metrics['epochs'] == 3
    a, b = _weights(ref), _weights(r)
    assert all(torch.equal(a[k], b[k]) for k in a)

SLOW_GRID = textwrap.dedent('''
    import sys, time
    from fastai.callback.core import Callback
    from regx_nb.training import grid, run_grid
    class Slow(Callback):
        "A second per epoch more: long enough for the second process to arrive while this one trains its first run."
        def after_epoch(self): time.sleep(1.5)
    run_grid(grid(regs=['none', 'l2'], epochs=3, n_train=256, bs=32), sys.argv[1], cbs=[Slow])
''')

def test_two_processes_on_one_folder_share_the_grid_and_never_retrain_an_owned_run(tmp_path):
    out = tmp_path/'runs'
    (tmp_path/'slow.py').write_text(SLOW_GRID)
    a = subprocess.Popen([sys.executable, str(tmp_path/'slow.py'), str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    t0 = time.time()
    while not list(out.glob('*/.lock')) and time.time() - t0 < 120: time.sleep(0.05)
    owned = [p.parent for p in out.glob('*/.lock')]
    assert len(owned) == 1, 'the first process never took a run'
    args = [str(BIN/'regx-train'), '--out', str(out), '--regs', 'none', 'l2', '--epochs', '3', '--n-train', '256', '--bs', '32']
    b = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)  # starts while the first trains
    sa, ea = a.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, ea[-2000:] + b.stderr[-2000:]
    assert '2 runs in' in b.stdout and '1 to train, 1 running elsewhere' in b.stdout, b.stdout
    for r in map(Run, sorted(out.glob('simple_cnn-*'))):                   # each run trained exactly once, start to end
        assert r.status == 'ok' and r.metrics['resumed_from'] == 0 and list(r.history.epoch) == [0, 1, 2]
    # the owned run has the weights of the same run trained alone: nobody deleted or retrained it under its owner
    spec = json.loads((owned[0]/'spec.json').read_text())
    assert _train_in_subprocess(tmp_path, spec, tmp_path/'alone').returncode == 0
    alone = _weights(Run(tmp_path/'alone'/owned[0].name))
    assert all(torch.equal(v, alone[k]) for k, v in _weights(Run(owned[0])).items())

def test_skip_instead_of_wait(tmp_path):
    spec = dict(epochs=1, n_train=64, bs=32)
    folder = tmp_path/run_id(spec); folder.mkdir(parents=True)
    other = FolderLock(folder, what='training')
    assert other.acquire()
    try:
        r = train_run(spec, tmp_path, on_busy='skip')
        assert not r.done and r.state() == 'running'
        runs = run_grid([spec], tmp_path, progress=False, on_busy='skip')
        assert runs[0].status == 'unfinished'
        with pytest.raises(RegxError, match='is not finished .*training by pid'): runs[0].model  # analyses never read it
    finally: other.release()
    assert run_grid([spec], tmp_path, progress=False)[0].status == 'ok'

def test_damaged_files_are_reported_by_run_and_file_moved_aside_and_retrained(tmp_path, capsys):
    specs = grid(regs=['none', 'l1', 'l2'], epochs=1, n_train=64, bs=32)
    runs = run_grid(specs, tmp_path, progress=False)
    good = {r.name: r.metrics['test_acc'] for r in runs}
    trunc, garbled, bad_hist = runs
    data = (trunc.path/'model.pth').read_bytes(); (trunc.path/'model.pth').write_bytes(data[:len(data) // 2])
    (garbled.path/'metrics.json').write_text('{"status": "ok", "test_acc": 0.9')   # cut mid-write by an old writer
    (bad_hist.path/'history.csv').write_bytes(b'\x00\xff' * 10 + b'\n"unterminated')
    # detected, named by run and file, nowhere an uncaught traceback
    assert [Run(r.path).status for r in runs] == ['corrupt'] * 3
    with pytest.raises(CorruptRunError, match=rf"run {trunc.name} is corrupt: model.pth"): Run(trunc.path).model
    with pytest.raises(CorruptRunError, match=rf"run {garbled.name} is corrupt: metrics.json"): Run(garbled.path).metrics
    with pytest.raises(CorruptRunError, match=rf"{bad_hist.name} is corrupt: history.csv"): Run(bad_hist.path).history
    res = load_results(tmp_path)
    assert list(res.status) == ['corrupt'] * 3 and res.problem.str.contains('model.pth|metrics.json|history.csv').all()
    capsys.readouterr(); h = load_history(tmp_path)
    assert set(h.run) == {trunc.name, garbled.name} and f'run {bad_hist.name}: left out of the history' in capsys.readouterr().err
    from regx_nb.adversarial import robust_accuracy
    with pytest.raises(CorruptRunError, match=trunc.name): robust_accuracy([Run(trunc.path)], Run(trunc.path).dls().test, eps=0.1, n_batches=1)
    # a grid moves the damaged files aside (never deletes them) and trains those runs again
    capsys.readouterr()
    again = run_grid(specs, tmp_path, progress=True)
    out = capsys.readouterr()
    assert '3 runs in' in out.out and '3 to train' in out.out and '3 corrupt' in out.out
    assert out.err.count('is corrupt') == 3
    for r in again:
        assert r.status == 'ok' and r.metrics['test_acc'] == good[r.name]  # the same spec and seed: the same run again
        aside = list(r.path.glob('corrupt-*'))
        assert len(aside) == 1 and (aside[0]/'REASON.txt').is_file() and (aside[0]/'model.pth').is_file()
    assert (next(trunc.path.glob('corrupt-*'))/'model.pth').read_bytes() == data[:len(data) // 2]

def test_the_commands_report_damaged_runs_without_a_traceback(tmp_path):
    out = tmp_path/'runs'
    args = [str(BIN/'regx-train'), '--out', str(out), '--regs', 'none', '--epochs', '1', '--n-train', '64', '--bs', '32']
    assert subprocess.run(args, env=_env(), capture_output=True, timeout=300).returncode == 0
    (next(out.glob('*/metrics.json'))).write_text('garbage')
    p = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and 'Traceback' not in p.stderr and 'metrics.json' in p.stderr, p.stderr
    (tmp_path/'bad.json').write_text('{"reg": ')
    p = subprocess.run([str(BIN/'regx-train'), '--out', str(out), '--spec', str(tmp_path/'bad.json')], env=_env(), capture_output=True, text=True)
    assert p.returncode == 2 and 'cannot read the spec file' in p.stderr and 'Traceback' not in p.stderr

def test_a_damaged_checkpoint_is_moved_aside_and_the_run_starts_over(tmp_path):
    p = _train_in_subprocess(tmp_path, SPEC, tmp_path, kill_at=0)
    folder = tmp_path/run_id(SPEC)
    (folder/'checkpoint.pth').write_bytes(b'PK\x03\x04 not a whole zip')
    r = train_run(SPEC, tmp_path)
    assert r.status == 'ok' and r.metrics['resumed_from'] == 0 and len(list(folder.glob('corrupt-*/checkpoint.pth'))) == 1

def test_part_files_of_dead_writers_are_removed_by_the_next_process(tmp_path):
    spec = dict(epochs=1, n_train=64, bs=32)
    run = train_run(spec, tmp_path)
    dead = subprocess.Popen([sys.executable, '-c', 'pass']); dead.wait()
    junk = run.path/f'.model.pth.{dead.pid}@{_host()}.abc123.part'
    junk.write_bytes(b'\0' * 1_900_000)                       # what a writer killed mid-save leaves
    live = run.path/f'.history.csv.{os.getpid()}@{_host()}.def456.part'; live.write_text('x')
    run_grid([spec], tmp_path, progress=False)
    assert not junk.exists() and live.exists()

def test_cluster_jobs_that_outlive_their_driver_are_waited_for_not_submitted_again(tmp_path):
    out = tmp_path/'runs'
    args = [str(BIN/'regx-train'), '--out', str(out), '--regs', 'none', 'l1', 'l2', '--epochs', '2', '--n-train', '128',
            '--bs', '32', '--executor', 'slurm', '--cluster', 'local', '--slurm', 'timeout_min=10']
    driver = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    t0 = time.time()
    while len(list(out.glob('*/job.json'))) < 3 and time.time() - t0 < 120: time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL); driver.wait()                    # the driver dies; its jobs go on
    submitted = lambda: len(list((out/'_submitit').glob('*_submitted.pkl')))
    assert submitted() == 3
    p = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    line = next(l for l in p.stdout.splitlines() if l.startswith('3 runs in'))
    assert '0 to train' in line and 'running elsewhere' in line, line
    assert submitted() == 3                                                 # nothing submitted twice
    for r in map(Run, sorted(out.glob('simple_cnn-*'))):
        assert r.status == 'ok' and list(r.history.epoch) == [0, 1] and r.metrics['resumed_from'] == 0
