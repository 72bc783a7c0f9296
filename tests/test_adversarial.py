"""The attacks' contract: budgets, pixel range, eps = 0, agreement with captum.robust, PGD >= FGSM on a trained model,
total variation on hand-built maps, the model's mode restored, and clear errors for bad input."""
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from regx_nb.core import RegxError
from regx_nb.models import get_model
from regx_nb.adversarial import (fgsm, pgd, robust_accuracy, total_variation, decision_boundary, boundary_tv,
                                 gradcam_stability, map_similarity, AdversarialTraining)

@pytest.fixture(scope='module')
def rand_model():
    torch.manual_seed(0)
    return get_model('simple_cnn').eval()

@pytest.fixture(scope='module')
def trained():
    "simple_cnn after one epoch on 1024 Fashion-MNIST images, and a test batch."
    from regx_nb.training import make_learner
    from regx_nb.data import get_dls
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dls = get_dls('fashion_mnist_sample', n_train=1024, bs=64, device='cpu')
    learn = make_learner(dls, 'simple_cnn', seed=0, device='cpu')
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 3e-3)
    x, y = dls.test.one_batch()
    return learn.model.eval(), x[:64], y[:64]

def _acc(m, x, y):
    with torch.no_grad(): return (m(x).argmax(1) == y).float().mean().item()

@pytest.mark.parametrize('norm,eps', [('linf', 0.03), ('linf', 0.5), ('l2', 0.5), ('l2', 4.)])
def test_budget_and_pixel_range(rand_model, norm, eps):
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for rs in (True, False):
        a = pgd(rand_model, x, y, eps, steps=4, norm=norm, random_start=rs, seed=0)
        d = (a - x).flatten(1)
        n = d.abs().amax(1) if norm == 'linf' else d.norm(dim=1)
        assert (n <= eps * (1 + 1e-5)).all() and a.min() >= 0 and a.max() <= 1
    if norm == 'linf':
        a = fgsm(rand_model, x, y, eps)
        assert (a - x).abs().max() <= eps + 1e-6 and a.min() >= 0 and a.max() <= 1

def test_eps_zero_is_clean(rand_model, trained):
    m, x, y = trained
    assert torch.equal(fgsm(m, x, y, 0.), x) and torch.equal(pgd(m, x, y, 0., norm='l2'), x)
    df = robust_accuracy({'m': m}, (x, y), 'pgd', eps=[0., 0.05], steps=[1, 5])
    assert df[df.eps == 0].acc.tolist() == [_acc(m, x, y)] * 2

def test_agrees_with_captum(trained):
    from captum.robust import FGSM, PGD
    m, x, y = trained
    ce = nn.CrossEntropyLoss(reduction='none')
    cf = FGSM(m, ce, lower_bound=0., upper_bound=1.); cf.zero_thresh = 0.
    cp = PGD(m, ce, lower_bound=0., upper_bound=1.); cp.fgsm.zero_thresh = 0.
    assert torch.allclose(fgsm(m, x, y, 0.05), cf.perturb(x, 0.05, y), atol=1e-6)
    t = (y + 3) % 10
    assert torch.allclose(fgsm(m, x, t, 0.05, targeted=True), cf.perturb(x, 0.05, t, targeted=True), atol=1e-6)
    ours = pgd(m, x, y, 0.05, alpha=0.01, steps=8, random_start=False)
    theirs = cp.perturb(x, 0.05, 0.01, 8, y, random_start=False)
    assert ((ours - theirs).abs() > 1e-5).float().mean() < 1e-3
    assert _acc(m, ours, y) == _acc(m, theirs, y)

def test_pgd_at_least_as_strong_as_fgsm(trained):
    m, x, y = trained
    for eps in (0.03, 0.1):
        assert _acc(m, pgd(m, x, y, eps, steps=10, seed=0), y) <= _acc(m, fgsm(m, x, y, eps), y) <= _acc(m, x, y)
    assert _acc(m, pgd(m, x, y, 0.1, steps=10, seed=0), y) <= 0.75 * _acc(m, x, y)

def test_l2_step_is_normalized_gradient(rand_model):
    x = 0.25 + 0.5 * torch.rand(4, 1, 28, 28); y = torch.arange(4)
    xg = x.clone().requires_grad_(); F.cross_entropy(rand_model(xg), y).backward(); rand_model.zero_grad(set_to_none=True)
    g = xg.grad / xg.grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(pgd(rand_model, x, y, 1., alpha=0.1, steps=1, random_start=False, norm='l2'), x + 0.1 * g, atol=1e-5)

def test_mode_restored_and_no_weight_grads():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    m.train()
    a = pgd(m, x, y, 0.1, steps=3, seed=0); b = pgd(m, x, y, 0.1, steps=3, seed=0)
    assert m.training and torch.equal(a, b)   # dropout off during the attack: deterministic
    assert all(p.requires_grad and p.grad is None for p in m.parameters())
    m[3].weight.requires_grad_(False); fgsm(m, x, y, 0.1)
    assert not m[3].weight.requires_grad and m[1].weight.requires_grad
    robust_accuracy({'m': m}, (x, y), 'fgsm', eps=0.1); assert m.training

def test_total_variation_hand_built():
    half = torch.tensor([[0, 0, 1, 1]] * 4)
    assert total_variation(half) == pytest.approx(1.) and total_variation(half, 'anisotropic') == pytest.approx(1.)
    assert total_variation(half * 7) == pytest.approx(1.)
    dot = torch.zeros(3, 3, dtype=torch.long); dot[1, 1] = 1
    assert total_variation(dot, 'anisotropic') == pytest.approx(8 / 6)
    assert total_variation(dot, 'isotropic') == pytest.approx((4 + 2 * math.sqrt(2)) / 6)
    assert total_variation(torch.zeros(6, 6, dtype=torch.long)) == 0.
    assert torch.allclose(total_variation(torch.stack([half, 0 * half])), torch.tensor([1., 0.]))

def test_boundary_and_tv_table(rand_model):
    x = torch.rand(2, 1, 28, 28)
    b = decision_boundary(rand_model, x[0], resolution=9, span=50.)
    assert b.classes.shape == (9, 9) and b.classes[4, 4].item() == b.label
    df = boundary_tv({'a': rand_model}, x, resolution=9, span=50.)
    assert df.tv.item() == pytest.approx(np.mean([total_variation(decision_boundary(rand_model, x[i], resolution=9, span=50., seed=i)) for i in range(2)]))

def test_similarity_and_stability(rand_model):
    p = torch.rand(2, 1, 6, 6)
    assert np.allclose(map_similarity(p, 3 * p).values, 1.)
    df = gradcam_stability({'a': rand_model}, torch.rand(4, 1, 28, 28), eps=[0., 0.1])
    assert list(df.eps) == [0., 0.1] and df.flipped.iloc[0] == 0.

def test_bad_input(rand_model):
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    with pytest.raises(RegxError, match='eps must be a finite number >= 0'): fgsm(rand_model, x, y, -1.)
    with pytest.raises(RegxError, match=r'pixels in \[0, 1\]'): pgd(rand_model, x * 255, y, 0.1)
    with pytest.raises(RegxError, match=r"norm must be one of \['linf', 'l2'\]"): pgd(rand_model, x, y, 0.1, norm='linf2')
    with pytest.raises(RegxError, match='one class id per image'): pgd(rand_model, x, y[:2], 0.1)
    with pytest.raises(RegxError, match='targeted attack needs y'): fgsm(rand_model, x, None, 0.1, targeted=True)
    with pytest.raises(RegxError, match="attack must be 'fgsm' or 'pgd'"): robust_accuracy({'m': rand_model}, (x, y), 'deepfool')
    with pytest.raises(RegxError, match='integer class ids'): total_variation(torch.rand(5, 5))
    with pytest.raises(RegxError, match='square'): total_variation(torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(RegxError, match='takes one image'): decision_boundary(rand_model, x)
    with pytest.raises(RegxError, match=r"ratio must be a number in \(0, 1\], got 0"): AdversarialTraining(ratio=0)
