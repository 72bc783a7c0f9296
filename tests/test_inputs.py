"""Bad input is refused early, in one line, and leaves nothing behind.

Every option of `regx-train` and `regx-study` is given bad values here (and the spec file's keys too):
each must end with exit status 2, one `prog: error: ...` line that names what was wrong (no traceback),
and no file or folder written anywhere (neither in --out, nor in the working folder, nor in REGX_HOME).
A seeded fuzz test then perturbs a good spec and regularizer strings at random: each draw is refused with a
RegxError before anything is written, or it trains to a run whose status is 'ok' or 'diverged'.
"""
import contextlib, io, json, math, os, random
from pathlib import Path

import pytest

from regx_nb.cli import regx_train, regx_study, run_command

TINY = ['--epochs', '1', '--n-train', '32', '--bs', '16']


def _tree(*roots):
    "Every path under `roots` (the roots themselves included), to see what a command wrote."
    out = set()
    for r in roots:
        r = Path(r)
        if r.exists():
            out.add(str(r))
            out |= {str(p) for p in r.rglob('*')}
    return out


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    "A working folder and a REGX_HOME of their own, so that anything a command writes is seen."
    work, home = tmp_path / 'work', tmp_path / 'home'
    work.mkdir(); home.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv('REGX_HOME', str(home))
    monkeypatch.delenv('REGX_QUICK', raising=False)
    return tmp_path


def _run(func, prog, argv):
    "Run a command in this process: (exit status, stderr)."
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: run_command(func, prog, argv)
        except SystemExit as e: code = e.code
        else: code = 0
    return code, err.getvalue()


def _spec_file(root, content):
    p = Path(root) / 'spec.json'
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(p)


# (arguments after --out OUT, words the message must contain); a callable builds the arguments from the sandbox
TRAIN_CASES = [
    (['--epochs', '0'], ['epochs', '1']),
    (['--epochs', '-3'], ['epochs']),
    (['--epochs', 'ten'], ['--epochs', "'ten'"]),
    (['--lr', 'nan'], ['lr', 'nan']),
    (['--lr', 'inf'], ['lr']),
    (['--lr', '1e999'], ['lr', 'inf']),
    (['--lr', '-0.1'], ['lr']),
    (['--lr', '0'], ['lr']),
    (['--lr', 'fast'], ['--lr', "'fast'"]),
    (['--bs', '0'], ['bs']),
    (['--bs', '1.5'], ['--bs']),
    (['--n-train', '0'], ['n_train']),
    (['--n-train', '-10'], ['n_train']),
    (['--opt', 'rmsprop'], ['--opt', 'rmsprop']),
    (['--data', 'imagenet'], ['imagenet', 'fashion_mnist']),
    (['--data', ''], ['data']),
    (['--models', 'vgg99'], ['vgg99', 'simple_cnn']),
    (['--models', '../../x'], ["unknown model '../../x'"]),
    (['--models', '/abs/x'], ["unknown model '/abs/x'"]),
    (['--models', 'a/b'], ["unknown model 'a/b'"]),
    (['--models', 'm' * 300], ['unknown model']),
    (['--models', 'simple_cnn', 'simple_cnn'], ['same run more than once', 'simple_cnn-none-s0']),
    (['--regs', 'l9'], ["'l9'", 'l2']),
    (['--regs', ''], ['regulariz']),
    (['--regs', 'l2:lam=-1'], ['lam', '-1']),
    (['--regs', 'l2:lam=nan'], ['lam']),
    (['--regs', 'l2:lam=inf'], ['lam']),
    (['--regs', 'l2:lam='], ['lam']),
    (['--regs', 'l2:lam=None'], ['lam']),
    (['--regs', 'l2:lam=1:2'], ['lam']),
    (['--regs', 'l2:lam=True'], ['lam', 'True']),
    (['--regs', 'l2:lam=1e999'], ['lam']),
    (['--regs', 'l2:lam=1j'], ['lam']),
    (['--regs', 'dropout:p=nan'], ['p']),
    (['--regs', 'l2:lam=big'], ['lam', 'big']),
    (['--regs', 'l2:mu=1'], ['mu', 'lam']),
    (['--regs', 'l2:lam=1e-3:lam=1e-4'], ['lam']),
    (['--regs', 'l2:lam'], ['key=value']),
    (['--regs', 'dropout:p=1.5'], ['p', '1.5']),
    (['--regs', 'dropout:p=1'], ['p']),
    (['--regs', 'label_smoothing:eps=2'], ['eps']),
    (['--regs', 'l2+'], ["empty part around '+'"]),
    (['--regs', 'l2:lam=1e-3,'], ['empty parameter']),
    (['--regs', 'none', 'none'], ['same run more than once']),
    (['--seeds', '-1'], ['seed', '-1']),
    (['--seeds', '1.5'], ['--seeds', "'1.5'"]),
    (['--seeds', '0', '0'], ['same run more than once', 'repeated seeds']),
    (['--seeds', 'x'], ['--seeds']),
    (['--data-kw', 'image_size'], ['--data-kw', 'key=value']),
    (['--data-kw', 'colour=red'], ['colour']),
    (['--data-kw', 'n_train=-4'], ['n_train']),
    (['--data', 'fashion_scenes', '--data-kw', 'image_size=0'], ['image_size']),
    (['--data', 'fashion_scenes', '--data-kw', 'spurious=1.5'], ['spurious']),
    (['--data', 'fashion_scenes', '--data-kw', 'n_scenes=[10,10]'], ['n_scenes']),
    (['--workers', '0'], ['--workers', "'0'"]),
    (['--workers', 'many'], ['--workers', "'many'"]),
    (['--executor', 'pbs'], ['--executor', 'pbs']),
    (['--executor', 'slurm'], ['slurm', 'sbatch']),
    (['--executor', 'slurm', '--cluster', 'moon'], ['cluster', 'moon']),
    (['--cluster', 'local'], ['cluster', 'slurm']),
    (['--slurm', 'partition'], ['--slurm', 'key=value']),
    (['--slurm', 'partition=gpu'], ['slurm options', "executor='slurm'"]),
    (['--executor', 'slurm', '--cluster', 'local', '--slurm', 'mem=[1]'], ['slurm options', "[1]"]),
    (['--on-busy', 'panic'], ['--on-busy', 'panic']),
    (['--preset', 'lab9'], ['--preset', 'lab9']),
    (['--preset', 'lab2', '--epochs', '3'], ['--preset', '--epochs']),
    (['--preset', 'lab2', '--regs', 'l2'], ['--preset', '--regs']),
    (lambda r: ['--preset', 'lab2', '--spec', _spec_file(r, {})], ['--preset', '--spec']),
    (['--spec', 'no-such-file.json'], ['spec', 'no-such-file.json']),
    (lambda r: ['--spec', _spec_file(r, '{"model": ')], ['spec']),
    (lambda r: ['--spec', _spec_file(r, '[1, 2]')], ['spec', 'dict']),
    (lambda r: ['--spec', _spec_file(r, '42')], ['spec', '42']),
    (lambda r: ['--spec', _spec_file(r, '{"lr": NaN}')], ['lr', 'nan']),
    (lambda r: ['--spec', _spec_file(r, {'lr': 'fast'})], ['lr', "'fast'"]),
    (lambda r: ['--spec', _spec_file(r, {'model': '../../x'})], ["unknown model '../../x'"]),
    (lambda r: ['--spec', _spec_file(r, {'colour': 'red'})], ['colour']),
    (lambda r: ['--spec', _spec_file(r, {'lr': -1})], ['lr']),
    (lambda r: ['--spec', _spec_file(r, {'epochs': 2.5})], ['epochs']),
    (lambda r: ['--spec', _spec_file(r, {'epochs': True})], ['epochs']),
    (lambda r: ['--spec', _spec_file(r, {'seed': 'one'})], ['seed']),
    (lambda r: ['--spec', _spec_file(r, {'opt': 'lbfgs'})], ['opt', 'lbfgs']),
    (lambda r: ['--spec', _spec_file(r, {'reg': [{'name': 'l2', 'lam': 'x'}]})], ['lam']),
    (lambda r: ['--spec', _spec_file(r, {'reg': 42})], ['reg']),
    (lambda r: ['--spec', _spec_file(r, {'model_kw': {'wings': 2}})], ['wings']),
    (lambda r: ['--spec', _spec_file(r, {'model_kw': [1]})], ['model_kw']),
    (lambda r: ['--spec', _spec_file(r, {'data_kw': 'x'})], ['data_kw']),
    (lambda r: ['--spec', _spec_file(r, {'task': 'dance'})], ['dance']),
    (lambda r: ['--spec', _spec_file(r, {'patience': 0})], ['patience']),
    (lambda r: ['--spec', _spec_file(r, {'schedule': 'cosine'})], ['schedule', 'cosine']),
    (lambda r: ['--spec', _spec_file(r, {'refit': 'yes'})], ['refit']),
    (lambda r: ['--spec', _spec_file(r, {'freeze_epochs': 2})], ['freeze_epochs', 'pretrained']),
    (lambda r: ['--spec', _spec_file(r, [{}, {}])], ['same run more than once']),
    (lambda r: ['--spec', _spec_file(r, {}), '--epochs', '2'], ['--spec', '--epochs']),
]

STUDY_CASES = [
    (['--epochs', '0'], ['epochs']),
    (['--patience', '0'], ['patience']),
    (['--patience', 'soon'], ['--patience']),
    (['--lr', 'nan'], ['lr']),
    (['--lr', '-1'], ['lr']),
    (['--bs', '0'], ['bs']),
    (['--n-train', '0'], ['n_train']),
    (['--data', 'imagenet'], ['imagenet']),
    (['--models', 'vgg99'], ['vgg99']),
    (['--models', 'simple_cnn', 'simple_cnn'], ['models must be distinct']),
    (['--regs', 'l9'], ["'l9'"]),
    (['--regs', 'l2:lam=1e-4,abc'], ['lam', 'abc']),
    (['--regs', 'l2:lam=1e-4,-1'], ['lam']),
    (['--regs', ''], ['regs']),
    (['--models', '../../../X'], ["unknown model '../../../X'"]),
    (['--preset', 'full', '--regs', 'l2:lam=abc'], ['lam', "'abc'"]),
    (['--data-kw', 'n_scenes=[0,0,0]'], ['n_scenes']),
    (['--regs', 'none', 'none'], ['same runs', "'none', 'none'"]),
    (['--seeds', '0', '0'], ['seeds must be distinct']),
    (['--seeds', '-2'], ['seed']),
    (['--shortcut', '1.5'], ['shortcut']),
    (['--shortcut', 'nan'], ['shortcut']),
    (['--shortcut', '0.9', '--no-shortcut'], ['shortcut=0.9', 'no_shortcut', 'contradict']),
    (['--analyses', 'astrology'], ['astrology']),
    (['--analyses', 'shortcut', '--no-shortcut'], ['shortcut']),
    (['--analyses', 'accuracy', 'accuracy'], ['accuracy', 'twice']),
    (['--cluster', 'local'], ['cluster', 'slurm']),
    (['--executor', 'slurm', '--cluster', 'moon'], ['moon']),
    (['--data-kw', 'image_size=-4'], ['image_size']),
    (['--data-kw', 'x'], ['--data-kw']),
    (['--workers', '-1'], ['--workers']),
    (['--executor', 'slurm'], ['sbatch']),
    (['--slurm', 'x'], ['--slurm']),
    (['--on-busy', 'x'], ['--on-busy']),
    (['--preset', 'huge'], ['--preset', 'huge']),
]

BAD_OUTS = [  # (--out, words): a file, a folder inside a file, a folder that cannot be written, no name
    ('', ['must be a folder name']),
    (lambda r: str(_file(r)), ['is a file']),
    (lambda r: str(_file(r) / 'runs'), ['file']),
    ('/proc/regx-runs', ['/proc']),
    ('/dev/null', ['/dev/null']),
]


def _file(root):
    p = Path(root) / 'a-file.txt'
    p.write_text('not a folder')
    return p


def _check(func, prog, args, words, sandbox, out=None):
    out = str(sandbox / 'deep' / 'er' / 'out') if out is None else out  # (deep: a name such as ../../x would land inside the sandbox)
    args = args(sandbox) if callable(args) else args
    before = _tree(sandbox)
    code, err = _run(func, prog, ['--out', out, *args])
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, f"{prog} {args}: exit {code}, stderr {err!r}"
    assert 'Traceback' not in err, err
    last = lines[-1]
    assert last.startswith(f'{prog}: error:'), err
    # before the error line, only argparse's usage (a first line 'usage: ...' and its indented continuation lines)
    assert all(l.startswith('usage:') if i == 0 else l.startswith(' ') for i, l in enumerate(lines[:-1])), err
    for w in words: assert w in last, f"{prog} {args}: {w!r} not in {last!r}"
    assert _tree(sandbox) == before, f"{prog} {args} left {sorted(_tree(sandbox) - before)}"


@pytest.mark.parametrize('args,words', TRAIN_CASES, ids=lambda v: ' '.join(v) if isinstance(v, list) and not callable(v) else None)
def test_train_refuses(args, words, sandbox):
    _check(regx_train, 'regx-train', args, words, sandbox)


@pytest.mark.parametrize('args,words', STUDY_CASES, ids=lambda v: ' '.join(v) if isinstance(v, list) else None)
def test_study_refuses(args, words, sandbox):
    _check(regx_study, 'regx-study', args, words, sandbox)


@pytest.mark.parametrize('func,prog', [(regx_train, 'regx-train'), (regx_study, 'regx-study')])
@pytest.mark.parametrize('out,words', BAD_OUTS)
def test_bad_out(func, prog, out, words, sandbox):
    out = out(sandbox) if callable(out) else out
    _check(func, prog, TINY, words, sandbox, out=out)


def test_train_needs_out(sandbox):
    code, err = _run(regx_train, 'regx-train', TINY)
    assert code == 2 and '--out' in err and 'Traceback' not in err


def test_every_option_is_tried():
    "Each option of both commands appears in a case above (a new option needs its bad values here)."
    from fastcore.script import anno_parser
    for func, cases in ((regx_train, TRAIN_CASES), (regx_study, STUDY_CASES)):
        opts = {a.option_strings[0] for a in anno_parser(func)._actions if a.option_strings and a.dest not in ('help', 'pdb', 'xtra', 'out')}
        opts -= {'--summary', '--no-shortcut'} if func is regx_train else {'--no-shortcut'}
        tried = {w for a, _ in cases for w in (a if isinstance(a, list) else a('/tmp')) if w.startswith('--')}
        assert opts <= tried, f"{func.__name__}: no bad value tried for {sorted(opts - tried)}"


# ---- fuzz: seeded random perturbations of a good spec and of regularizer strings -------------------------------

GOOD = dict(model='simple_cnn', epochs=1, n_train=32, bs=16, seed=0)
VALUES = [None, 0, 1, -1, 2, 0.5, -0.5, 1e9, float('nan'), float('inf'), True, '', 'x', 'l2', [], [1], {}, {'a': 1}, 'adam', 'fashion_mnist']
KEYS = ['data', 'model', 'seed', 'epochs', 'lr', 'bs', 'n_train', 'opt', 'schedule', 'patience', 'refit', 'freeze_epochs',
        'reg', 'data_kw', 'model_kw', 'task', 'task_kw', 'colour']
REG_WORDS = ['l1', 'l2', 'none', 'dropout', 'jacobian', 'soft_svb', 'label_smoothing', 'lam', 'p', 'eps', '=', ':', '+', ',', '1e-3', '-1', 'nan', '0.5', '2', 'x']


def _draws(n, seed=2026):
    rng = random.Random(seed)
    for _ in range(n):
        spec = dict(GOOD)
        for _ in range(rng.choice((1, 1, 2))):
            k = rng.choice(KEYS)
            spec[k] = rng.choice(VALUES) if k != 'reg' else ''.join(rng.choice(REG_WORDS) for _ in range(rng.randint(1, 5)))
        yield spec


def test_fuzz_specs(tmp_path, monkeypatch):
    "300 perturbed specs: each is a RegxError before anything is written, or a run that ends ok or diverged."
    from regx_nb.core import RegxError
    from regx_nb.training import normalize_spec, run_grid
    monkeypatch.setenv('REGX_HOME', str(tmp_path / 'home'))
    monkeypatch.chdir(tmp_path)
    refused = trained = 0
    for i, spec in enumerate(_draws(300)):
        out = tmp_path / f'out{i}'
        try: normalize_spec(spec)
        except RegxError: ok = False
        else: ok = True
        if not ok:
            with pytest.raises(RegxError): run_grid([spec], out)
            assert not out.exists(), f"{spec} was refused but left {out}"
            refused += 1
        elif trained < 4:  # a few accepted draws are trained for real (each ~1 s)
            runs = run_grid([spec], out)
            assert runs[0].status in ('ok', 'diverged'), (spec, runs[0].status)
            trained += 1
    assert set(os.listdir(tmp_path)) <= {f'out{i}' for i in range(300)} | {'home'}, os.listdir(tmp_path)
    assert refused > 100 and trained >= 1, (refused, trained)


def test_fuzz_reg_strings():
    "Random regularizer strings: parse_reg returns regularizers or raises RegxError, never another exception."
    from regx_nb.core import RegxError
    from regx_nb.regularizers import as_regularizers
    rng = random.Random(7)
    kinds = {'ok': 0, 'refused': 0}
    for _ in range(2000):
        s = ''.join(rng.choice(REG_WORDS) for _ in range(rng.randint(1, 7)))
        try: regs = as_regularizers(s)
        except RegxError: kinds['refused'] += 1
        else:
            kinds['ok'] += 1
            for r in regs:  # an accepted regularizer has finite, checked parameters
                for v in r.spec().values():
                    if isinstance(v, float): assert math.isfinite(v), (s, r.spec())
    assert kinds['ok'] > 20 and kinds['refused'] > 500, kinds


# ---- the same mistakes through the Python API ----------------------------------------------------------------

def _api_cases():
    import torch
    from regx_nb.data import get_dls
    from regx_nb.models import get_model
    from regx_nb.attribution import attribute, deletion_auc, pointing_game, relevance_mass, gini
    from regx_nb.adversarial import fgsm, pgd
    from regx_nb.training import Run
    m = get_model('simple_cnn').eval(); x = torch.rand(2, 1, 28, 28); y = torch.tensor([0, 1])
    maps, masks = torch.rand(2, 28, 28), (torch.rand(2, 28, 28) > 0.5).float()
    nan = float('nan')
    return [
        (lambda: get_dls(size=-5), ['size', '-5']), (lambda: get_dls(size=nan), ['size', 'nan']),
        (lambda: get_dls(size='32'), ['size', "'32'"]), (lambda: get_dls(size=5000), ['size', '1024', '5000']),
        (lambda: get_dls(bs=0), ['bs']), (lambda: get_dls(seed=-1), ['seed']), (lambda: get_dls(n_train=0), ['n_train']),
        (lambda: get_dls('fashion_scenes', n_scenes=[0, 0, 0]), ['n_scenes']),
        (lambda: get_model('simple_cnn', n_in=True), ['n_in', 'True']), (lambda: get_model('simple_cnn', size=1.5), ['size', '1.5']),
        (lambda: get_model('simple_cnn', dropout='0.5'), ['dropout', "'0.5'"]), (lambda: get_model('../../x'), ['unknown model']),
        (lambda: get_model('a/b'), ['unknown model']), (lambda: get_model('x' * 300), ['unknown model']),
        (lambda: attribute(m, x, target=torch.tensor([99, 0]), method='saliency'), ['target', '0..9', '99']),
        (lambda: attribute(m, x, target=torch.tensor([-1, 0]), method='saliency'), ['target', '0..9']),
        (lambda: attribute(m, x, target='cat', method='saliency'), ['target', "'cat'"]),
        (lambda: attribute(m, x[:0], target=y[:0], method='saliency'), ['empty']),
        (lambda: attribute(m, x * nan, target=y, method='gradcam'), ['NaN']),
        (lambda: attribute(m, x, target=y, method='integrated_gradients', n_steps=0), ['n_steps', '0']),
        (lambda: attribute(m, x, target=y, method='occlusion', window=100), ['window', '100']),
        (lambda: attribute(m, x, target=y, method='smoothgrad', n_samples=0), ['n_samples', '0']),
        (lambda: fgsm(m, x, torch.tensor([99, 0]), 0.1), ['y', '0..9']), (lambda: pgd(m, x, torch.tensor([99, 0]), 0.1), ['y', '0..9']),
        (lambda: fgsm(m, x * nan, y, 0.1), ['NaN']),
        (lambda: deletion_auc(m, x, maps, y, steps=0), ['steps', '0']),
        (lambda: pointing_game(maps[:0], masks[:0]), ['empty']), (lambda: pointing_game(maps * nan, masks), ['NaN']),
        (lambda: relevance_mass(maps * nan, masks), ['NaN']), (lambda: gini(maps * nan), ['NaN']),
        (lambda: pointing_game(maps, masks * 7), ['0 and 1', '7']), (lambda: relevance_mass(maps, masks * 255), ['0 and 1', '255']),
        (lambda: relevance_mass(torch.rand(2, 3, 28, 28), masks), ['one channel', '3']),
        (lambda: Run('/nonexistent-run').spec, ['/nonexistent-run', 'no such folder']),
    ]


def test_api_refuses(sandbox):
    from regx_nb.core import RegxError
    cases = _api_cases()
    assert len(cases) >= 30
    for i, (f, words) in enumerate(cases):
        with pytest.raises(RegxError) as e: f()
        for w in words: assert w in str(e.value), f"case {i}: {w!r} not in {str(e.value)!r}"


def test_regx_home_a_file(tmp_path, monkeypatch):
    from regx_nb.core import RegxError, regx_home
    (tmp_path / 'f').write_text('x'); monkeypatch.setenv('REGX_HOME', str(tmp_path / 'f'))
    with pytest.raises(RegxError, match='REGX_HOME is .* which is a file'): regx_home()


SPEC_CASES = [  # a spec key's bad values: train_run and run_grid refuse each before a folder is made
    dict(lr=float('nan')), dict(lr=float('inf')), dict(lr=1e999), dict(lr=-1), dict(lr=0), dict(lr='fast'),
    dict(epochs=0), dict(epochs=2.5), dict(epochs=True), dict(bs=0), dict(n_train=0), dict(seed=-1), dict(seed='a'), dict(seed=1.5), dict(seed=True),
    dict(model='../../x'), dict(model='/abs/x'), dict(model='a/b'), dict(model='m' * 300), dict(data='imagenet'), dict(opt='lbfgs'),
    dict(reg='l2:lam=abc'), dict(reg='l2:lam=nan'), dict(reg='l2:lam=inf'), dict(reg='l2:lam='), dict(reg='l2:lam=None'), dict(reg='l2:lam=1:2'),
    dict(reg='l2:lam=True'), dict(reg='l2:lam=1e999'), dict(reg='l2:lam=1j'), dict(reg='l2:lam=1,lam=2'), dict(reg=''), dict(reg='dropout:p=nan'),
    dict(reg='label_smoothing:eps=1.5'), dict(reg=[{'name': 'l2', 'lam': 'abc'}]), dict(data_kw={'size': 5000}), dict(data_kw=[1]),
    dict(model_kw={'n_in': True}), dict(model_kw={'dropout': '0.5'}), dict(task='dance'), dict(colour='red'),
]


@pytest.mark.parametrize('bad', SPEC_CASES, ids=repr)
def test_api_spec_refused(bad, sandbox):
    from regx_nb.core import RegxError
    from regx_nb.training import train_run, run_grid
    spec = dict(GOOD, **bad)
    for f in (lambda o: train_run(spec, o), lambda o: run_grid([spec], o)):
        before = _tree(sandbox)
        with pytest.raises(RegxError): f(sandbox / 'deep' / 'out')
        assert _tree(sandbox) == before, sorted(_tree(sandbox) - before)


STUDY_API_CASES = [
    dict(regs=['']), dict(regs=['l2:lam=abc']), dict(models=['../../../X']), dict(seeds=[0, 0]), dict(seeds=['a']), dict(epochs=0),
    dict(lr=float('nan')), dict(bs=0), dict(data_kw={'n_scenes': [0, 0, 0]}), dict(shortcut=0.5, no_shortcut=True),
    dict(analyses=['shortcut'], no_shortcut=True), dict(analyses=['nope']), dict(analyses=[]), dict(executor='slurm'),
    dict(slurm={'partition': 'gpu'}), dict(workers=0), dict(preset='huge'),
]


@pytest.mark.parametrize('bad', STUDY_API_CASES, ids=repr)
def test_api_study_refused(bad, sandbox):
    from regx_nb.core import RegxError
    from regx_nb.study import run_study
    before = _tree(sandbox)
    with pytest.raises(RegxError): run_study(sandbox / 'deep' / 'out', **bad)
    assert _tree(sandbox) == before, sorted(_tree(sandbox) - before)


def test_a_run_is_ok_only_when_its_numbers_are(sandbox):
    "Weights that end non-finite, or a valid loss of NaN, make a 'diverged' run; its JSON files hold standard JSON only."
    import torch
    from fastai.callback.core import Callback
    from regx_nb.training import train_run, Run, run_id
    class NaNWeights(Callback):
        order = 99
        def after_fit(self): next(self.learn.model.parameters()).data.fill_(float('nan'))
    class NaNValid(Callback):
        def after_loss(self):
            if not self.training: self.learn.loss = self.learn.loss * float('nan')
    for i, cb in enumerate((NaNWeights(), NaNValid())):
        spec = dict(GOOD, seed=i)
        try: train_run(spec, sandbox / 'o', cbs=[cb])
        except Exception: pass
        r = Run(sandbox / 'o' / run_id(spec))
        assert r.status == 'diverged', (type(cb).__name__, r.status, r.metrics)
        for name in ('metrics.json', 'spec.json'):
            txt = (r.path / name).read_text()
            assert 'NaN' not in txt and 'Infinity' not in txt, txt
            json.loads(txt, parse_constant=lambda c: pytest.fail(f'{name} holds {c}'))


def test_a_damaged_spec_is_not_ok(sandbox):
    from regx_nb.training import train_run, Run
    r = train_run(dict(GOOD), sandbox / 'o')
    (r.path / 'spec.json').write_text('{}')
    assert Run(r.path).status == 'corrupt' and 'spec.json' in Run(r.path).problem()
