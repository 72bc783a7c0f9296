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

def _outputs():
    import json
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(p.read_text())['cells']):
            for o in c.get('outputs', []):
                yield p.name, i, c, o

def _text(o) -> str:
    d = o.get('data', {})
    return ''.join(o.get('text', '')) + ''.join(d.get('text/plain', '')) + ''.join(d.get('text/html', '')) + ''.join(d.get('text/markdown', ''))

def test_committed_outputs_are_clean():
    "What the docs site shows: no warnings, no machine paths, no empty outputs, no unfinished progress bars, no truncated tables, no errors."
    bad = []
    for nb, i, c, o in _outputs():
        t = _text(o)
        if o.get('output_type') == 'error': bad.append((nb, i, 'an error'))
        # (a message of the kit on stderr, e.g. a damaged run moved aside, is shown on purpose; a Python warning is not)
        if re.search(r'\w*Warning:|warnings\.warn|Traceback', t): bad.append((nb, i, 'a warning'))
        if re.search(r'/root/|/work/|/home/\w|/tmp/|site-packages|/Users/', t): bad.append((nb, i, 'a machine path'))
        if o.get('output_type') in ('stream', 'display_data', 'execute_result') and not t.strip() and not any(k.startswith('image/') for k in o.get('data', {})):
            bad.append((nb, i, 'an empty output'))
        h = ''.join(o.get('data', {}).get('text/html', []))
        if '<progress' in h and '100.00%' not in h: bad.append((nb, i, 'an unfinished progress bar'))
        if re.search(r'<td>\.\.\.</td>|<th>\.\.\.</th>|\n\.\.\.\s|\[\d+ rows x \d+ columns\]', t): bad.append((nb, i, 'a truncated table'))
    assert not bad, bad

def test_every_lab_pins_the_package_version():
    spec = importlib.util.spec_from_file_location('bump_version', ROOT / 'tools' / 'bump_version.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    pins = mod.pins()
    assert len(pins) >= 12 and set(pins.values()) == {mod.version()}, pins
    assert 'git+https://github.com/regx-nb/regx_nb@v' in (ROOT / 'nbs' / '00_core.ipynb').read_text()  # a tag, never main

def test_every_lesson_says_how_to_run_it():
    "The first visible cell of lessons 03-11 (the one with the Colab badge) asks for a GPU runtime and says how long the lesson took."
    import json
    for nb in sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')):
        if not 3 <= int(nb.name[:2]) <= 11: continue
        badge = next(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if 'colab-badge' in ''.join(c['source']))
        assert 'Runtime → Change runtime type → GPU' in badge, nb.name
        assert re.search(r'\d+ (minutes?|seconds)', badge), f'{nb.name}: how long the lesson takes'

def test_notebook_figures_fit_the_column():
    "Figures sized for the docs' ~850 px column: none wider than 900 px as stored."
    import base64, struct
    wide = []
    for nb, i, c, o in _outputs():
        png = o.get('data', {}).get('image/png')
        if png:
            w = struct.unpack('>I', base64.b64decode(png[:64])[16:20])[0]
            if w > 900: wide.append((nb, i, w))
    assert not wide, wide

def test_every_number_the_readme_gives_about_the_study_is_in_its_report():
    "The README's findings are generated from the default study's report, and say nothing the report does not."
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    found = readme.split('### What the default study found', 1)[1].split('\n## ', 1)[0]
    rows = '\n'.join(l for l in found.splitlines() if l.startswith('| ') and not l.startswith('| regularizer'))  # the generated table
    numbers = re.findall(r'[+-]?\d+\.\d+', rows)
    assert len(numbers) >= 3, 'the README should give the findings with their numbers'
    page = (ROOT / 'nbs' / 'images' / 'report' / 'index.html').read_text(encoding='utf-8')
    missing = [n for n in numbers if n not in page]
    assert not missing, f'numbers in the README that the report does not give: {missing}'

CLOCK_CALL = re.compile(r'\btime\.(perf_counter|time|monotonic|process_time)\(|\btimings\b|\bwall_time\b')
DURATION_TEXT = re.compile(r"""['"][^'"]*(\d+\.\d+\s?m?s\b|\b\d+\s?(ms|secs?|seconds?)\b)[^'"]*['"]""")
ASSERTING = ('test_eq', 'test_ne', 'test_close', 'test', 'assertLess', 'assertLessEqual')

def _clock_asserts(src: str) -> list:
    "Assertions in `src` that read the clock: a printed duration, a clock reading, or a name bound to one."
    import ast
    try: tree = ast.parse(src)
    except SyntaxError: return []
    timed = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and CLOCK_CALL.search(ast.unparse(n.value))
             for tg in n.targets for t in ([tg] if isinstance(tg, ast.Name) else tg.elts if isinstance(tg, ast.Tuple) else [])
             if isinstance(t, ast.Name)}  # names bound to a clock reading
    bad = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Assert): s = ast.unparse(n.test)
        elif isinstance(n, ast.Call) and getattr(n.func, 'id', getattr(n.func, 'attr', '')) in ASSERTING: s = ast.unparse(n)
        else: continue
        if DURATION_TEXT.search(s) or CLOCK_CALL.search(s) or any(re.search(rf'\b{t}\b', s) for t in timed): bad.append(s)
    return bad

def test_the_clock_checker_finds_what_it_should():
    shown = 'measuring ' + '0' + '.0s'; assert _clock_asserts(f"assert '{shown}' in out")
    assert _clock_asserts("t0 = time.perf_counter()\nrun()\ndt = time.perf_counter() - t0\nassert dt < 1")
    assert _clock_asserts("test_eq(again.timings['measuring'] < 1, True)")
    assert not _clock_asserts("t0 = time.time()\nwhile not done() and time.time() - t0 < 120: time.sleep(0.1)\nassert done()")
    assert not _clock_asserts("assert r.status == 'ok' and m['epochs_trained'] == 3")

def test_no_test_reads_the_clock():
    "A test that asserts a duration fails by chance on a busy machine: timing belongs in bench/ (tests and notebook cells)."
    import json
    bad = [(p.name, s) for p in sorted((ROOT / 'tests').glob('*.py')) if p.name != 'test_project.py'  # (its own examples of what to catch)
           for s in _clock_asserts(p.read_text())]
    for p in sorted((ROOT / 'nbs').glob('*.ipynb')):  # a notebook's test cells read as one program (names cross cells)
        cells = [''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'code']
        src = '\n'.join(l for c in cells if not c.lstrip().startswith('#| export') for l in c.splitlines() if not l.lstrip().startswith(('%', '!')))
        bad += [(p.name, s) for s in _clock_asserts(src)]
    assert not bad, bad

# the house: each module's floor (DESIGN.md); a module imports only modules on lower floors
FLOORS = {'core': 0, 'defaults': 0, 'data': 1, 'models': 1, 'stats': 1, 'regularizers': 2, 'features': 2, 'attribution': 2, 'rwc': 2,
          'training': 3, 'adversarial': 3, 'vae': 4, 'segmentation': 4, 'analyses': 4, 'study': 5, 'cli': 6}
# packages that may be imported inside a function: optional, or heavy and used by a few functions only
LOADED_WHERE_USED = {'scipy', 'sklearn', 'captum', 'submitit', 'accelerate', 'playwright', 'torchvision', 'ipywidgets', 'IPython'}

def _imports(path: Path) -> list:
    "(target, kit module?, inside a function?, line) for every import in a module, `importlib.import_module('regx_nb.x')` included."
    import ast
    tree = ast.parse(path.read_text())
    inside = set()
    for f in ast.walk(tree):
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)): inside |= {id(n) for n in ast.walk(f) if n is not f}
    out = []
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.Import): names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level: names = [f"regx_nb.{n.module}"] if n.module else [f"regx_nb.{a.name}" for a in n.names]
            else: names = [n.module]
        elif isinstance(n, ast.Call) and getattr(n.func, 'attr', getattr(n.func, 'id', '')) in ('import_module', '__import__'):
            names = [a.value for a in n.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        for t in names:
            kit = t.startswith('regx_nb.')
            out.append((t.split('.')[1] if kit else t.split('.')[0], kit, id(n) in inside, n.lineno))
    return out

def test_every_module_imports_only_modules_below_it():
    mods = {p.stem: p for p in (ROOT / 'regx_nb').glob('*.py') if p.stem not in ('__init__', '_modidx')}
    assert set(mods) == set(FLOORS), f'modules without a floor (or floors without a module): {set(mods) ^ set(FLOORS)}'
    up, inner = [], []
    for m, p in mods.items():
        for t, kit, inside, line in _imports(p):
            if kit and t != m and FLOORS[t] >= FLOORS[m]: up.append(f'{m} (floor {FLOORS[m]}) imports {t} (floor {FLOORS[t]}), line {line}')
            if inside and not (kit and m == 'cli') and t not in LOADED_WHERE_USED and not (kit and t == m):
                inner.append(f'{m}: imports {t} inside a function, line {line}')
    assert not up, up
    assert not inner, inner
    # the command lines load nothing of the kit but its plain settings before their arguments parse
    assert {t for t, kit, inside, _ in _imports(mods['cli']) if kit and not inside} == {'defaults'}

def test_the_checker_sees_imports_inside_functions_and_through_importlib(tmp_path):
    p = tmp_path / 'm.py'
    p.write_text("import os\nfrom .core import x\ndef f():\n    from regx_nb.study import y\n    import importlib; importlib.import_module('regx_nb.cli')\n")
    got = {(t, kit, inside) for t, kit, inside, _ in _imports(p)}
    assert {('os', False, False), ('core', True, False), ('study', True, True), ('cli', True, True), ('importlib', False, True)} <= got
