"""The project's promises about itself: README generated from the index notebook and showing the two
commands, CI calling the README's test command, nbdev 3 configuration."""
import importlib.util, re, subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_is_generated_from_index():
    spec = importlib.util.spec_from_file_location('make_readme', ROOT / 'tools' / 'make_readme.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    assert (ROOT / 'README.md').read_text(encoding='utf-8') == mod.render(), 'README.md is stale: run `make readme`'

def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    block = re.search(r'```sh\n(.*?)```', readme, re.S).group(1)
    assert [l.split('#')[0].strip() for l in block.strip().splitlines()] == ['make test', 'make study']
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()
    targets = re.findall(r'^([a-z-]+):', (ROOT / 'Makefile').read_text(), re.M)
    assert {'test', 'study', 'setup', 'readme'} <= set(targets)

def test_nbdev3_config():
    cfg = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    assert cfg['tool']['nbdev']['tst_flags'] == ['notest', 'slow', 'cuda']
    assert not (ROOT / 'settings.ini').exists()
    for wf in (ROOT / '.github' / 'workflows').glob('*.y*ml'):
        assert not re.search(r'nbdev_[a-z]', wf.read_text()), f'{wf.name} uses an nbdev 2 command'
