import os, tarfile
from pathlib import Path
import pytest
from regx_nb.core import RegxError, atomic_write, load_json, regx_home, safe_extract, save_json

def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    p = tmp_path / 'metrics.json'
    save_json({'acc': 0.5}, p)
    with pytest.raises(RuntimeError):
        with atomic_write(p, 'w') as f:
            f.write('{"acc": 0.9'); raise RuntimeError('killed')
    assert load_json(p) == {'acc': 0.5} and sorted(os.listdir(tmp_path)) == ['metrics.json']

def test_safe_extract_refuses_symlinks_out(tmp_path):
    link = tarfile.TarInfo('evil'); link.type = tarfile.SYMTYPE; link.linkname = '/etc/passwd'
    with tarfile.open(tmp_path / 'a.tar', 'w') as t: t.addfile(link)
    with pytest.raises(RegxError, match='outside'): safe_extract(tmp_path / 'a.tar', tmp_path / 'out')
    assert list((tmp_path / 'out').iterdir()) == []

def test_regx_home_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv('REGX_HOME', str(tmp_path / 'h'))
    assert regx_home('runs') == tmp_path / 'h' / 'runs' and (tmp_path / 'h' / 'runs').is_dir()

def test_adversarial_regularizer_known_without_importing_its_lesson():
    "The 'adversarial' regularizer (registered by 09_adversarial) works in a spec from a fresh process."
    import subprocess, sys
    code = "from regx_nb.regularizers import reg_tag, get_regularizer; print(reg_tag('adversarial:eps=0.1,steps=3'), type(get_regularizer('adversarial')).__name__)"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ['adversarial', 'AdversarialTraining']
