"""Relative weight change: the paper's formula against hand computations (zero weights included), the callback on a
toy parameter trajectory, rwc.npz saved with the run and loaded back, the clipping rule, clustering of planted
groups, and bad input."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader as FDL
from fastai.learner import Learner
from fastai.optimizer import SGD
from functools import partial
from regx_nb.core import RegxError
from regx_nb.rwc import (RWC, clip_outliers, cluster_layers, group_by_primitive, layer_primitives, load_rwc,
                         plot_rwc_curves, plot_rwc_heatmap, relative_weight_change, rwc_elementwise)
from regx_nb.training import Run, train_run


def test_paper_formula_by_hand():
    w0, w1 = torch.tensor([1., -2., 0.5, 0.]), torch.tensor([1.5, -2., 0., 0.25])
    assert relative_weight_change(w0, w1) == pytest.approx(1.25 / 3.5, rel=1e-12)
    assert relative_weight_change(np.array([[2., 0.], [0., -2.]]), np.array([[1., 0.], [0., -2.]])) == pytest.approx(0.25)
    assert rwc_elementwise(w1[:2], w0[:2]) == pytest.approx((0.5 / 1.5 + 0) / 2, rel=1e-6)


def test_zero_weights_rule():
    assert relative_weight_change(torch.zeros(4), torch.zeros(4)) == 0.0
    assert relative_weight_change(torch.zeros(4), torch.tensor([0., 0., 1e-3, 0.])) == float('inf')
    assert np.isnan(rwc_elementwise(torch.zeros(2), torch.zeros(2), eps=0.))        # the authors' code: 0/0
    assert rwc_elementwise(torch.zeros(2), torch.zeros(2)) == 0.0                    # with eps: 0


class _Toy(nn.Module):
    def __init__(self):
        super().__init__(); self.fc = nn.Linear(2, 1, bias=False)
        with torch.no_grad(): self.fc.weight.copy_(torch.tensor([[1., -2.]]))
    def forward(self, x): return (self.fc.weight * torch.tensor([[0.5, 0.25]])).sum().expand(len(x), 1)


def _toy_learner(**kw):
    ds = torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.zeros(4, 1))
    dls = DataLoaders(FDL(ds, bs=1), FDL(ds, bs=1))
    return Learner(dls, _Toy(), loss_func=lambda out, y: out.mean(), opt_func=partial(SGD, mom=0.), lr=1., cbs=[RWC(**kw)])


def test_callback_on_a_toy_trajectory():
    # each step subtracts g = (0.5, 0.25): w = (1,-2) -> (-1,-3) -> (-3,-4) -> (-5,-5), |dw|_1 = 3 per epoch
    learn = _toy_learner(every=2)
    with learn.no_bar(), learn.no_logging(): learn.fit(3)
    np.testing.assert_allclose(learn.rwc.table.loc['fc'].to_numpy(), [1, 3 / 4, 3 / 7], rtol=1e-6)
    np.testing.assert_allclose(learn.rwc.steps_table.loc['fc'].to_numpy(), 1.5 / np.array([3, 2.5, 4, 5.5, 7, 8.5]), rtol=1e-6)
    learn.validate()  # fit/epoch events of a validation must not add a column
    assert learn.rwc.table.shape == (1, 3)


def test_callback_zero_weights():
    learn = _toy_learner()
    with torch.no_grad(): learn.model.fc.weight.zero_()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, lr=0.)
    assert learn.rwc.table.iloc[0, 0] == 0.0
    with learn.no_bar(), learn.no_logging(): learn.fit(1, lr=1.)
    assert learn.rwc.table.iloc[0, 0] == float('inf')


def test_rwc_npz_saved_with_the_run_and_loadable(tmp_path):
    run = train_run(dict(model='simple_cnn', epochs=2, n_train=64, bs=32), tmp_path, cbs=[RWC(every=1)])
    assert (run.path / 'rwc.npz').is_file()
    t = load_rwc(Run.load(run.path))
    assert list(t.columns) == [1, 2] and list(t.index) == ['conv1', 'conv2', 'conv3', 'fc1', 'fc2', 'fc3']
    assert np.isfinite(t.to_numpy()).all() and (t.to_numpy() > 0).all() and t.attrs['variant'] == 'paper'
    assert load_rwc(run.path / 'rwc.npz').equals(t)
    assert load_rwc(run, steps=True).shape == (6, 4)  # 2 steps per epoch, every step
    assert not list(run.path.glob('.rwc.npz.*'))
    with pytest.raises(RegxError, match='without the RWC callback'): load_rwc(tmp_path)


def test_clipping_rule():
    x = np.array([1., 1.2, 0.9, 1.1, 1.0, 1.05, 0.95, 6.0])
    np.testing.assert_allclose(clip_outliers(x), np.r_[x[:-1], x.mean()])                  # mean including the spike
    np.testing.assert_allclose(clip_outliers(x, k=3), x)                                   # 2.63 sigma
    np.testing.assert_allclose(clip_outliers([1., 2., 3., 4., 50.]), [1., 2., 3., 4., 50.])  # n=5: never beyond 1.79 sigma
    df = pd.DataFrame([[1.] * 7 + [2.], [0.5, np.inf, 0.5, 0.5, 1.5, np.nan, 0.5, 0.5]], index=['a', 'b'])
    c = clip_outliers(df)
    np.testing.assert_allclose(c.loc['a'], [1.] * 7 + [9 / 8])
    np.testing.assert_allclose(c.loc['b'], [0.5, 2 / 3, 0.5, 0.5, 2 / 3, 2 / 3, 0.5, 0.5])
    assert list(c.index) == ['a', 'b']


def _planted(seed=0):
    rng = np.random.default_rng(seed); t = np.arange(1, 11)
    shapes = [0.02 + 0.3 * np.exp(-t), 0.05 + 0.2 * np.exp(-t / 4), 0.15 + 0 * t]
    x = np.concatenate([s + 0.01 * rng.standard_normal((8, 10)) for s in shapes])
    truth = np.repeat([0, 1, 2], 8); p = rng.permutation(24)
    return pd.DataFrame(x[p], columns=t), truth[p]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_clustering_recovers_planted_groups(seed):
    from sklearn.metrics import adjusted_rand_score
    x, truth = _planted(seed)
    res = cluster_layers(x, seed=seed)
    assert res.k == 3 and adjusted_rand_score(truth, res.labels) == 1.0
    assert list(res.scores.index) == list(range(2, 9)) and res.scores.silhouette.idxmax() == 3
    assert res.explained.sum() == pytest.approx(1.0)


def test_primitives_and_grouping():
    from torchvision.ops import SqueezeExcitation
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 16, 1), SqueezeExcitation(16, 4), nn.Flatten(), nn.Linear(16, 2))
    p = layer_primitives(m)
    assert list(p) == ['conv', 'depthwise', 'pointwise', 'squeeze_excite', 'squeeze_excite', 'linear']
    t = pd.DataFrame(np.arange(12.).reshape(6, 2), index=p.index, columns=[1, 2])
    g = group_by_primitive(t, m)
    assert g.loc['squeeze_excite', 1] == pytest.approx((6 + 8) / 2) and g.loc['squeeze_excite', 'n_layers'] == 2


def test_heatmap_shares_one_colour_scale():
    a = pd.DataFrame([[0.1, 0.2], [0.3, 0.4]], columns=[1, 2]); b = a * 10
    fig = plot_rwc_heatmap({'a': a, 'b': b})
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert ims[0].norm.vmin == ims[1].norm.vmin == pytest.approx(0.1) and ims[0].norm.vmax == ims[1].norm.vmax == pytest.approx(4.)


def test_bad_input():
    with pytest.raises(RegxError, match='same shape'): relative_weight_change(torch.ones(2), torch.ones(3))
    with pytest.raises(RegxError, match='NaN or inf'): relative_weight_change(torch.tensor([np.nan]), torch.ones(1))
    with pytest.raises(RegxError, match='eps'): rwc_elementwise(torch.ones(2), torch.ones(2), eps=-1.)
    with pytest.raises(RegxError, match='every'): RWC(every=0)
    with pytest.raises(RegxError, match='variant'): RWC(variant='l1')
    learn = _toy_learner(layers=['conv1'])
    with pytest.raises(RegxError, match=r"no conv/linear layer named \['conv1'\]; the model's are \['fc'\]"):
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
    with pytest.raises(RegxError, match='k must be'): clip_outliers([1., 2.], k=-1)
    with pytest.raises(RegxError, match='no finite value'): clip_outliers([np.nan, np.inf])
    with pytest.raises(RegxError, match='clip_outliers'): cluster_layers(np.array([[1., np.inf]] * 4))
    with pytest.raises(RegxError, match='at least 3 layers'): cluster_layers(np.ones((2, 3)))
    with pytest.raises(RegxError, match='expected a Run'): load_rwc(1.5)
    with pytest.raises(RegxError, match='other layers'):
        x, _ = _planted(); plot_rwc_curves(x.iloc[:5], cluster_layers(x.iloc[5:]))

def test_linear_expansion_primitive():
    "A 1x1 conv that feeds a depthwise conv over its outputs is a linear expansion; the projection after it is pointwise."
    from regx_nb.models import get_model
    ir = nn.Sequential(nn.Conv2d(8, 48, 1), nn.Conv2d(48, 48, 3, groups=48), nn.Conv2d(48, 8, 1), nn.Conv2d(8, 16, 1))
    assert list(layer_primitives(ir)) == ['linear_expansion', 'depthwise', 'pointwise', 'pointwise']
    counts = layer_primitives(get_model('efficientnet_b0', n_in=3)).value_counts().to_dict()
    assert counts == {'squeeze_excite': 32, 'pointwise': 17, 'depthwise': 16, 'linear_expansion': 15, 'conv': 1, 'linear': 1}
    assert set(layer_primitives(get_model('resnet18'))) == {'conv', 'pointwise', 'linear'}
