"""The study's answer survives review (issue 28): the family and its calibration, the location measures against
chance, the log-probability Jacobian, clipped boundary planes, the shortcut rate on a model that reads the marker,
and the comparison at matched accuracy, each on a case whose answer is known."""
import json
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from regx_nb.core import RegxError
from regx_nb.stats import compare_to_baseline, simulate_studies, bh
from regx_nb.data import get_dls, marker_class, _marker_box
from regx_nb.models import Normalize
from regx_nb.regularizers import jacobian_norm2
from regx_nb.adversarial import decision_boundary, total_variation
from regx_nb.training import normalize_spec
from regx_nb.analyses import get_analyses, MANIPULATION_CHECKS
from regx_nb.study import Study, study_config, on_plateau

SPREADS = Path(__file__).parent/'data'/'study_spreads.json'


def test_the_family_is_calibrated_on_the_study_spreads():
    "1,000 studies of the default's shape, noise from the committed study's seed spreads, nothing planted: at most 5% report anything."
    d = json.loads(SPREADS.read_text())
    sd = np.array(d['sd'], float)
    assert sd.shape == (len(d['measures']), len(d['configurations'])) and d['configurations'][0] == 'none'
    null = simulate_studies(sd, seeds=d['seeds'], n_sims=1000, pooled=d['pooled'], seed=1)  # the procedure the study chose
    assert null['any_finding'] <= 0.05 + 3 * null['any_finding_se'], null
    p1 = simulate_studies(sd, seeds=d['seeds'], n_sims=1000, effect=1., pooled=d['pooled'], seed=2)['power']
    p4 = simulate_studies(sd, seeds=d['seeds'], n_sims=1000, effect=4., pooled=d['pooled'], seed=3)['power']
    print(f"false-finding rate {null['any_finding']:.3f} ± {null['any_finding_se']:.3f}; power at 1 sd {p1:.3f}, at 4 sd {p4:.3f}")
    assert p1 < p4


def test_planted_effects_are_found_and_a_null_family_stays_quiet():
    "compare_to_baseline itself on simulated tables: a large planted difference is found, nothing else is."
    rng = np.random.default_rng(0)
    rows = []
    for r in ['none'] + [f'r{i}' for i in range(9)]:
        for s in range(3):
            rows.append(dict(model='m', reg=r, seed=s, **{f'x{j}': rng.normal(10 * (r == 'r1' and j == 0), 1) for j in range(6)}))
    c = compare_to_baseline(pd.DataFrame(rows), [f'x{j}' for j in range(6)], pooled=True).reset_index()  # equal spreads: pooling holds
    found = c[c.verdict.isin(['higher', 'lower'])]
    assert list(zip(found.reg, found.metric)) == [('r1', 'x0')] and found.verdict.item() == 'higher'
    f = c[c.reg != 'none']
    np.testing.assert_allclose(f.p_adj, bh(f.p.to_numpy()))  # one family: every comparison corrected together


def test_degenerate_comparisons_are_refused_or_flagged():
    t = pd.DataFrame(dict(model='m', reg=['none'] * 3 + ['a'] * 3, seed=[0, 1, 2] * 2, v=[1., 2., 3., 1.5, 2.5, 3.5]))
    assert compare_to_baseline(t, 'v').loc[('m', 'a', 'v'), 'verdict'] == 'no spread'   # the same difference in every seed
    with pytest.raises(RegxError, match='two rows for the same model, regularizer and seed'): compare_to_baseline(pd.concat([t, t.iloc[:1]]), 'v')
    assert compare_to_baseline(t[t.seed == 0], 'v').loc[('m', 'a', 'v'), 'verdict'] == 'one seed'


def test_the_default_scenes_leave_most_of_the_image_to_chance():
    "The object covers at most 15% of the default canvas, so a uniform map scores at most 0.15 on it."
    c = study_config()
    d = get_dls(c['data'], **c['data_kw'])
    share = d.test.dataset.masks.flatten(1).float().mean(1)
    assert share.mean() <= 0.15 and c['data_kw']['object_size'] < 28


def test_every_family_has_two_strengths_and_the_shortcut_test_trains_them_all():
    from regx_nb.study import study_specs
    configs, main, sc = study_specs(study_config())
    fams = pd.Series([e['family'] for e in configs]).value_counts()
    assert (fams.drop(['none', 'batchnorm']) >= 2).all()
    assert len(sc) == len(main) and {s['reg'] if isinstance(s['reg'], str) else json.dumps(s['reg']) for s in sc} == \
        {s['reg'] if isinstance(s['reg'], str) else json.dumps(s['reg']) for s in main}


class _Shift(nn.Module):
    "A model whose logits are another model's plus the same input-dependent constant for every class."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x): return self.m(x) + 5 * x.flatten(1).sum(1, keepdim=True)


def test_the_log_probability_jacobian_ignores_a_shift_of_all_logits():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval(); s = _Shift(m).eval()
    x = torch.rand(4, 1, 4, 4)
    logp = lambda mm: nn.Sequential(mm, nn.LogSoftmax(1))
    a, b = jacobian_norm2(logp(m), x, n_proj=-1, create_graph=False), jacobian_norm2(logp(s), x, n_proj=-1, create_graph=False)
    torch.testing.assert_close(a, b)
    assert jacobian_norm2(s, x, n_proj=-1, create_graph=False) > 2 * jacobian_norm2(m, x, n_proj=-1, create_graph=False)
    # against the full Jacobian, by hand
    J = torch.autograd.functional.jacobian(lambda z: torch.log_softmax(m(z), 1), x)  # (4, 3, 4, 1, 4, 4)
    exact = sum(J[i, :, i].pow(2).sum() for i in range(4)) / 4
    torch.testing.assert_close(a, exact)


def test_the_boundary_analysis_measures_on_clipped_planes():
    "Every point of the study's planes is an image: the analysis's TV equals the TV of clipped class maps, and differs from unclipped ones."
    torch.manual_seed(0)
    m = nn.Sequential(Normalize(n_in=1), nn.Flatten(), nn.Linear(64, 5)).eval()
    x = torch.rand(3, 1, 8, 8)
    a = get_analyses(['boundary'], {'boundary': dict(n_images=3, resolution=9, span=8.)})[0]
    data = SimpleNamespace(test=SimpleNamespace(dataset=SimpleNamespace(images=lambda sl: x[sl])))
    got = a.measure(SimpleNamespace(model=m), data)[0]['boundary_tv']
    want = np.mean([total_variation(decision_boundary(m, x[i], 'random', 8., 9, seed=i, clip=True).classes) for i in range(3)])
    unclipped = np.mean([total_variation(decision_boundary(m, x[i], 'random', 8., 9, seed=i).classes) for i in range(3)])
    assert got == pytest.approx(want) and want != pytest.approx(unclipped)


class _MarkerReader(nn.Module):
    "Logit c = the brightness of the marker box of class c: a model that only reads the shortcut."
    def __init__(self, size=32):
        super().__init__()
        w = torch.zeros(10, size, size)
        for c in range(10):
            r, col = _marker_box(c, size); w[c, r:r + 3, col:col + 3] = 1.
        self.w = nn.Parameter(w)
    def forward(self, x): return 10 * (x[:, 0, None] * self.w).flatten(2).sum(2)


def test_the_shortcut_rate_of_a_model_that_reads_only_the_marker_is_one():
    spec = normalize_spec(dict(data='fashion_scenes', data_kw=dict(image_size=32, object_size=16, n_scenes=[64, 32, 96], spurious=0.9)))
    a = get_analyses(['shortcut'], {'shortcut': dict(methods=('saliency',), n_images=16)})[0]
    run = SimpleNamespace(spec=spec, model=_MarkerReader().eval())
    data = get_dls('fashion_scenes', **spec['data_kw'])
    out = a.measure(run, data)
    assert out['shortcut_rate'] == 1. and out['shortcut_conflict_acc'] == 0. and out['shortcut_clean_acc'] > 0.8  # (10% of the 'agree' scenes are random)
    assert out['shortcut_conflict_scenes'] == int((marker_class(data.test.dataset.markers) != data.test.dataset.y).sum())
    assert out['shortcut_saliency_marker_density'] == pytest.approx(32 * 32 / 9)  # all of the map on the 9 marker pixels


def test_the_comparison_at_matched_accuracy_picks_the_closest_strength(tmp_path):
    rng = np.random.default_rng(0); rows = []
    acc = {'none': .70, 'l2': .71, 'l2(lam=0.01)': .60, 'dropout': .69, 'dropout(p=0.5)': .72}
    for r, a in acc.items():
        for s in range(3):
            rows.append(dict(run=f'{r}-{s}', model='m', reg=r, family=r.split('(')[0], seed=s, status='ok', valid_acc=a + rng.normal(0, .003),
                             test_acc=a + rng.normal(0, .01), gap=.1 + rng.normal(0, .01)))
    st = Study(tmp_path, [], analyses=get_analyses(['accuracy']))
    st._results = pd.DataFrame(rows)
    m = st.matched()
    assert dict(zip(m.family, m.reg)) == {'l2': 'l2', 'dropout': 'dropout'}
    assert set(m.metric) == {'test_acc', 'gap'}
    f = st.family.reset_index()
    assert m.set_index(['reg', 'metric']).verdict.to_dict() == f[f.reg.isin(['l2', 'dropout'])].set_index(['reg', 'metric']).verdict.to_dict()


def test_manipulation_checks_are_a_family_of_their_own():
    rows = [dict(model='m', reg=r, family=r.split('(')[0], seed=s, weight_l2=w * (1 + .01 * s), test_acc=.7 + .01 * s - .02 * (r != 'none') * s)
            for r, w in (('none', 10.), ('l2', 5.), ('dropout', 9.)) for s in range(3)]
    c = compare_to_baseline(pd.DataFrame(rows), ['weight_l2', 'test_acc'], log=['weight_l2'], checks=MANIPULATION_CHECKS).reset_index()
    role = c.set_index(['reg', 'metric']).role
    assert role[('l2', 'weight_l2')] == 'check' and role[('dropout', 'weight_l2')] == 'finding' and role[('l2', 'test_acc')] == 'finding'
    assert c.set_index(['reg', 'metric']).factor[('l2', 'weight_l2')] == pytest.approx(0.5)


def test_a_run_on_its_plateau():
    h = lambda l: pd.DataFrame(dict(train_loss=l))
    assert on_plateau(h([2., 1., .5, .45, .44, .44])) and not on_plateau(h([2., 1.5, 1., .5])) and not on_plateau(None)


def _table(spreads, seeds=3, seed=0):
    "A results table of one measure with the given seed spread per configuration (the first is the baseline), nothing planted."
    rng = np.random.default_rng(seed)
    return pd.DataFrame([dict(run=f'c{j}-{s}', model='m', reg='none' if j == 0 else f'c{j}', family='none' if j == 0 else f'c{j}', seed=s, status='ok',
                              test_acc=rng.normal(0.5, sd), gap=rng.normal(0.1, sd)) for j, sd in enumerate(spreads) for s in range(seeds)])


def test_pooling_is_used_only_where_the_simulation_says_it_holds(tmp_path):
    for spreads, want in (([0.01] * 10, True), ([0.01] * 5 + [0.5] * 5, False)):
        st = Study(tmp_path, [], analyses=get_analyses(['accuracy']))
        st._results = _table(spreads)
        assert st.pooling is want, (spreads, st._pool_check)
        assert set(st.family.reset_index().query('role == "finding"').interval) <= ({'pooled', 'paired (own spread larger)'} if want else {'paired'})
        assert ('so it is pooled' in st.family_text()) is want
