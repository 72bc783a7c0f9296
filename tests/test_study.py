"The study end to end: `regx-study` as a command (quick mode), and its report opened in a real browser."
import os, re, shutil, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest
from regx_nb.study import Report, run_study, compare_to_baseline

def _chromium() -> str:
    for name in (os.environ.get('REGX_CHROMIUM'), 'chromium', 'chromium-browser', 'google-chrome'):
        if name and shutil.which(name): return shutil.which(name)
    pytest.fail("no Chromium on this machine: `make setup` installs Debian's chromium, or set REGX_CHROMIUM to a Chrome/Chromium binary")

def _open(page_path: Path) -> dict:
    "Load a page in headless Chromium; report each image's load state, the tables and the section headings."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=['--no-sandbox', '--disable-gpu'])
        try:
            page = b.new_page()
            page.goto(page_path.resolve().as_uri(), wait_until='load')
            return page.evaluate("""() => ({
                images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
                tables: Array.from(document.querySelectorAll('table')).map(t => t.querySelectorAll('tr').length),
                headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent)})""")
        finally: b.close()

@pytest.fixture(scope='module')
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('study')
    env = {**os.environ, 'REGX_QUICK': '1', 'REGX_HOME': str(out/'home'), 'REGX_DEVICE': 'cpu'}
    exe = Path(sys.executable).parent/'regx-study'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-c', 'from regx_nb.study import regx_study; regx_study()']
    r = subprocess.run(cmd + ['--out', str(out/'s'), '--seeds', '0', '1'], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'report:' in r.stdout
    return out/'s'

def test_study_writes_results_and_report(study_dir):
    res = pd.read_csv(study_dir/'results.csv')
    assert len(res) == 4 * 2 and set(res.reg) == {'none', 'l2', 'jacobian', 'label_smoothing'}
    for col in ('test_acc', 'gap', 'near_zero', 'gradcam_pointing_game', 'boundary_tv', 'rwc_last'):
        assert col in res and res[col].notna().all(), col
    assert any(c.startswith('fgsm_acc@') for c in res.columns) and any(c.startswith('pgd') for c in res.columns)
    # every claim in the summary is drawn from results.csv: the test accuracy sentence matches the numbers
    page = (study_dir/'report'/'index.html').read_text()
    c = compare_to_baseline(res, 'test_acc')
    row = c.loc[('simple_cnn', 'l2')]
    assert f"test accuracy {row['mean']:.3f} ± {row['std']:.3f} against {row['base_mean']:.3f}" in page

def test_report_in_a_browser(study_dir):
    got = _open(study_dir/'report'/'index.html')
    srcs = re.findall(r"<img src='([^']+)'", (study_dir/'report'/'index.html').read_text())
    assert len(got['images']) == len(srcs) >= 8
    bad = [i['src'] for i in got['images'] if not i['ok']]
    assert not bad, f'figures that did not load: {bad}'
    assert len(got['tables']) >= 6 and min(got['tables']) >= 2  # a header row and at least one data row each
    for h in ('Summary', 'Accuracy', 'Weights', 'Where the models look', 'Robustness', 'Decision boundaries', 'Which layers keep learning'):
        assert any(x.startswith(h) for x in got['headings']), (h, got['headings'])
    assert not any('failed' in x for x in got['headings'])

def test_browser_check_catches_a_broken_figure(tmp_path):
    import matplotlib.pyplot as plt
    rep = Report(tmp_path/'r'); rep.section('S')
    rep.figure(plt.figure(figsize=(1, 1)), 'ok')
    rep.figure(plt.figure(figsize=(1, 1)), 'gone')
    (tmp_path/'r'/'figures'/'gone.png').unlink()
    got = _open(rep.write())
    assert [i['ok'] for i in got['images']] == [True, False]

def test_bad_input(tmp_path):
    from regx_nb.core import RegxError
    with pytest.raises(RegxError, match='Known analysis names'): run_study(analyses=['nope'], out=tmp_path)
    with pytest.raises(RegxError, match='at least one seed'): run_study(seeds=[], out=tmp_path)
    assert not (tmp_path/'runs').exists()  # nothing trained, nothing half-written
