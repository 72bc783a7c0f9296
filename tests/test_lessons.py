"""Every lab is a lesson: lessons 03-11 state their objectives and question, end with what we found, at least
four exercises (at least one with a check), a questionnaire and references; the toolbox notebooks 00-02 say
what they are and point to the student path; no wording that only makes sense inside this repository; tests
hidden by one convention."""
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
LESSONS = sorted(p for p in NBS.glob('[0-9][0-9]_*.ipynb') if 3 <= int(p.name[:2]) <= 11)
TOOLBOX = sorted(p for p in NBS.glob('0[0-2]_*.ipynb'))
BANNED = ['the regularization lab', "the lab's tables", 'the reg-explain study', 'RegDNNs', 'variants of the issue', 'we aimed for', 'bench/',
          'PROSE TO WRITE', '_PROSE', 'TODO', 'TBD', 'XXX']  # (and no unfinished prose)
TESTS = re.compile(r'\btest_(eq|fail|close|is|ne)\(|^\s*assert\b', re.M)

def _cells(p): return json.loads(p.read_text())['cells']
def _src(c): return ''.join(c['source'])
def _md(p): return '\n'.join(_src(c) for c in _cells(p) if c['cell_type'] == 'markdown')
def _hidden(c): return _src(c).lstrip().startswith(('#| hide', '#| export', '#| exporti'))

def test_there_are_nine_lessons_and_three_toolbox_notebooks():
    assert [p.name[:2] for p in LESSONS] == [f'{i:02d}' for i in range(3, 12)] and len(TOOLBOX) == 3

@pytest.mark.parametrize('nb', LESSONS, ids=lambda p: p.stem)
def test_a_lesson_has_its_parts(nb):
    md = _md(nb)
    heads = re.findall(r'^#{2,3} (.+)$', md, re.M)
    assert 'What you will learn' in heads and '**The question.**' in md, 'objectives and the question'
    for h in ('What we found', 'Exercises', 'Questionnaire', 'References'): assert h in heads, h
    assert heads.index('What we found') < heads.index('Exercises') < heads.index('Questionnaire') < heads.index('References')
    assert len(re.findall(r'^### Exercise \d+', md, re.M)) >= 4, 'at least four exercises'
    q = md.split('## Questionnaire', 1)[1].split('## References', 1)[0]
    assert len(re.findall(r'^\s*\d+\.\s', q, re.M)) >= 6, 'at least six questions'
    src = [_src(c) for c in _cells(nb) if c['cell_type'] == 'code']
    assert any('check_exercise(' in s and not s.lstrip().startswith('#| hide') for s in src), 'an exercise with a check cell'
    assert any(s.lstrip().startswith('#| hide') and 'if quick():' in s for s in src), 'a hidden reference solution'

@pytest.mark.parametrize('nb', LESSONS + TOOLBOX, ids=lambda p: p.stem)
def test_no_repository_internal_wording_and_tests_hidden(nb):
    for c in _cells(nb):
        s = _src(c)
        visible = c['cell_type'] == 'markdown' or not _hidden(c)
        if visible:
            for b in BANNED: assert b not in s, f'{nb.name}: "{b}" in\n{s[:300]}'
        if c['cell_type'] == 'code' and not _hidden(c) and 'check_exercise(' not in s:  # (an exercise's check cell is meant to be seen)
            assert not TESTS.search(s), f'{nb.name}: a visible test cell:\n{s[:300]}'

@pytest.mark.parametrize('nb', TOOLBOX, ids=lambda p: p.stem)
def test_the_toolbox_says_what_it_is_and_where_the_course_goes(nb):
    md = _md(nb)
    assert 'toolbox' in md.lower()
    assert '03 → 04 → 05 → 06 → 09 → 11' in md

def test_a_glossary_page():
    g = _md(NBS / 'glossary.ipynb')
    for term in ('Grad-CAM', 'Holm correction', 'Benjamini–Hochberg', 'Manipulation check', 'Chance level', 'Relative weight change', 'Total variation', 'Strength path'): assert term in g, term
    assert 'glossary.ipynb' in (NBS / 'sidebar.yml').read_text()
