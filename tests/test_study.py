"""The study end to end: `regx-study` as a command (quick mode), its report opened in a real browser, a rerun
that measures nothing, damaged runs, analyses measured inside cluster jobs, and the reg-explain preset on
CIFAR files the test writes."""
import json, os, pickle, re, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from regx_nb.study import Report, run_study

EXE = Path(sys.executable).parent/'regx-study'

def _chromium() -> str:
    for name in (os.environ.get('REGX_CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome'):
        if name and shutil.which(name): return shutil.which(name)
    pytest.fail("no Chromium on this machine: `make setup` installs Debian's chromium, or set REGX_CHROMIUM to a Chrome/Chromium binary")

def _open(page_path: Path, click_header: int | None = None) -> dict:
    "Load a page in headless Chromium; report each image's load state, the tables, the headings, and the first table's first column after a click."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=['--no-sandbox', '--disable-gpu'])
        try:
            page = b.new_page()
            page.goto(page_path.resolve().as_uri(), wait_until='load')
            col = "t => Array.from(t.tBodies[0].rows).map(r => r.cells[__i__] ? r.cells[__i__].textContent : '')"
            out = page.evaluate("""() => ({
                images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
                tables: Array.from(document.querySelectorAll('table')).map(t => t.querySelectorAll('tr').length),
                headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent)})""")
            if click_header is not None:
                t = page.locator('table.sortable').first
                t.locator('thead tr:last-child th').nth(click_header).click()
                out['sorted'] = t.evaluate(col.replace('__i__', str(click_header)))
            return out
        finally: b.close()

def _env(home):
    env = {**os.environ, 'REGX_QUICK': '1', 'REGX_HOME': str(home), 'REGX_DEVICE': 'cpu', 'OMP_NUM_THREADS': '1'}
    env.pop('IN_TEST', None)
    return env

@pytest.fixture(scope='module')
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('study')
    r = subprocess.run([str(EXE), '--out', str(out/'s')], env=_env(out/'home'), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'report:' in r.stdout and 'Traceback' not in r.stderr
    return out/'s'

def test_study_writes_results_and_report(study_dir):
    res = pd.read_csv(study_dir/'results.csv')
    regs = {'none', 'l1', 'l1(lam=3e-05)', 'l2', 'l2(lam=0.001)', 'jacobian', 'jacobian(lam=0.05)',
            'label_smoothing', 'label_smoothing(eps=0.3)', 'dropout', 'dropout(p=0.3)', 'batchnorm'}
    assert set(res.reg) == regs  # every family at two strengths
    assert len(res) == len(regs) * 2 and (res.status == 'ok').all()
    for col in ('test_acc', 'gap', 'train_acc', 'best_epoch', 'plateau', 'near_zero', 'gradcam_pointing_game', 'gradcam_mass_lift', 'chance_level',
                'gradcam_deletion_vs_random', 'jacobian_logp_norm2', 'boundary_tv', 'rwc_last',
                'shortcut_clean_acc', 'shortcut_conflict_acc', 'shortcut_rate', 'shortcut_gradcam_marker_density', 'shortcut_saliency_marker_density'):
        assert col in res, col
    assert res.dropna(subset=['shortcut_rate']).reg.nunique() == len(regs)  # every configuration on the shortcut scenes, each strength too
    # every claim in the summary is drawn from results.csv: the number behind a sentence is the paired difference of the results
    page = (study_dir/'report'/'index.html').read_text()
    summ = json.loads((study_dir/'report'/'summary.json').read_text())
    n = next(n for n in summ['numbers'] if n['reg'] == 'dropout' and n['metric'] == 'test_acc')
    w = res.pivot(index='seed', columns='reg', values='test_acc')
    assert abs(n['diff'] - (w['dropout'] - w['none']).mean()) < 1e-9 and n['text'] in page
    assert 'One family' in page and 'Benjamini' in page and 'manipulation check' in page
    assert 'gap = train accuracy − validation accuracy' in page and 'train - test' not in page

def test_report_in_a_browser(study_dir):
    got = _open(study_dir/'report'/'index.html', click_header=2)  # (columns: model, reg, test_acc, ...)
    srcs = re.findall(r"<img src='([^']+)'", (study_dir/'report'/'index.html').read_text())
    assert len(got['images']) == len(srcs) >= 12
    bad = [i['src'] for i in got['images'] if not i['ok']]
    assert not bad, f'figures that did not load: {bad}'
    assert len(got['tables']) >= 8 and min(got['tables']) >= 2  # a header row and at least one data row each
    for h in ('Summary', 'How well each model is fitted', 'Weights', 'Where the models look', 'Robustness', 'Decision boundaries',
              'Which layers keep learning', 'The shortcut test', 'Strength paths', 'At matched accuracy', 'Does the correction keep its promise'):
        assert any(x.startswith(h) for x in got['headings']), (h, got['headings'])
    assert not any('failed' in x for x in got['headings'])
    first = [float(v.split()[0]) for v in got['sorted'] if v.strip() not in ('', '–')]
    assert first == sorted(first), 'clicking a column header sorts the table by it'

def test_browser_check_catches_a_broken_figure(tmp_path):
    import matplotlib.pyplot as plt
    rep = Report(tmp_path/'r'); rep.section('S')
    rep.figure(plt.figure(figsize=(1, 1)), 'ok')
    rep.figure(plt.figure(figsize=(1, 1)), 'gone')
    (tmp_path/'r'/'figures'/'gone.png').unlink()
    got = _open(rep.write())
    assert [i['ok'] for i in got['images']] == [True, False]

def test_a_rerun_trains_measures_and_draws_nothing(study_dir):
    "Counted in files, not in seconds: no analysis result and no figure is written again, and the report is the same."
    before = (study_dir/'results.csv').read_text()
    kept = {p: p.stat().st_mtime_ns for p in [*study_dir.glob('runs/*/analyses/*.json'), *study_dir.glob('report/**/*.*')]}
    r = subprocess.run([str(EXE), '--out', str(study_dir)], env=_env(study_dir.parent/'home'), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '0 to train' in r.stdout and '(unchanged;' in r.stdout
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # nothing measured or drawn again
    assert (study_dir/'results.csv').read_text() == before

def test_a_damaged_run_is_retrained_and_the_report_still_written(study_dir, tmp_path):
    copy = tmp_path/'s'; shutil.copytree(study_dir, copy)
    victim = sorted(copy.glob('runs/simple_cnn-dropout-s0-*'))[0]
    (victim/'metrics.json').write_text('{"status": "ok", "test_')           # garbled
    r = subprocess.run([str(EXE), '--out', str(copy)], env=_env(tmp_path/'home'), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert 'is corrupt' in r.stderr and '1 to train' in r.stdout
    res = pd.read_csv(copy/'results.csv')
    assert (res.status == 'ok').all() and len(list(victim.glob('corrupt-*'))) == 1

def test_bad_input(tmp_path):
    from regx_nb.core import RegxError
    with pytest.raises(RegxError, match='Known analyses'): run_study(tmp_path, analyses=['nope'])
    with pytest.raises(RegxError, match='at least one seed'): run_study(tmp_path, seeds=[])
    with pytest.raises(RegxError, match='strength path|a path varies one parameter'): run_study(tmp_path, regs=['l2:lam=1e-4,1e-3+dropout:p=0.1,0.2'])
    assert not (tmp_path/'runs').exists()  # nothing trained, nothing half-written

def test_analyses_run_inside_the_cluster_jobs(tmp_path, monkeypatch):
    "With submitit's local executor each job trains its run and measures it; the driver only gathers."
    monkeypatch.setenv('REGX_QUICK', '1')
    st = run_study(tmp_path/'s', regs=['none', 'l2'], seeds=[0], no_shortcut=True, analyses=['accuracy', 'weights', 'boundary'],
                   executor='slurm', cluster='local', slurm=dict(timeout_min=10), progress=False)
    assert st.measured == 0  # the driver measured nothing itself
    for r in st.runs:
        kept = json.loads((r.path/'analyses'/'boundary.json').read_text())
        assert kept['pid'] != os.getpid() and kept['job_id'], kept       # measured in the job, not here
    assert pd.read_csv(tmp_path/'s'/'results.csv').boundary_tv.notna().all()

def _write_cifar(folder: Path, n_train=60, n_test=30):
    "A tiny CIFAR-10 in its python-pickle format (the files the reg-explain preset reads)."
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        pickle.dump({'data': rng.integers(0, 256, (n_train // 5, 3072), dtype=np.uint8), 'labels': list(rng.integers(0, 10, n_train // 5))},
                    open(folder/f'data_batch_{i}', 'wb'))
    pickle.dump({'data': rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), 'labels': list(rng.integers(0, 10, n_test))}, open(folder/'test_batch', 'wb'))
    pickle.dump({'label_names': ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']}, open(folder/'batches.meta', 'wb'))

def _reg_explain(tmp_path, *extra):
    _write_cifar(tmp_path/'data'/'cifar-10-batches-py')
    env = {**_env(tmp_path/'home'), 'REGX_DATA': str(tmp_path/'data')}
    r = subprocess.run([str(EXE), '--out', str(tmp_path/'s'), '--preset', 'reg-explain', '--seeds', '0', *extra], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = pd.read_csv(tmp_path/'s'/'results.csv')
    assert set(res.reg) == {'none', 'l1', 'l2', 'dropout'}
    for me in ('gradcam', 'integrated_gradients', 'deeplift'): assert res[f'{me}_deletion_auc'].notna().all(), me
    assert 'shortcut_drop' not in res and 'pointing_game' not in ' '.join(res.columns)  # no masks, no shortcut on CIFAR
    return res

def test_the_reg_explain_preset_on_cifar_files_at_quick_size(tmp_path):
    "The preset's path (CIFAR-10 files, its regularizers, IG, DeepLIFT and Grad-CAM with maps kept per class) with its small CNN only."
    res = _reg_explain(tmp_path, '--models', 'simple_cnn')
    assert set(res.model) == {'simple_cnn'}

@pytest.mark.slow
def test_the_reg_explain_preset_on_cifar_files(tmp_path):
    "The whole preset, VGG-19 and ResNet-50 included (about four minutes on two cores)."
    res = _reg_explain(tmp_path)
    assert set(res.model) == {'simple_cnn', 'resnet50', 'vgg19'}
