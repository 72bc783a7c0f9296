"""VAE family (regx_nb.vae): each loss term against a hand computation, shapes, seeded sampling, the fastai
callbacks (KL added to the loss, the discriminator's own optimizer, weights cached), area attribution on an
identity model, and clear errors for bad input."""
import numpy as np
import pytest
import torch
from torch import nn
from regx_nb.core import RegxError
from regx_nb.data import get_dls
from regx_nb.vae import (CVAE, VAE, VAEGAN, IdentityAE, area_attribution, box_mask, corrupt, disc_loss, draw_classes,
                         feature_matching_loss, gen_loss, impute, inside_share, interpolate, kl_divergence, recon_loss,
                         reconstruct, sharpness, train_vae, vae_loss, vae_metrics, half_mask)

def test_kl_by_hand_and_against_torch_distributions():
    # dims: (1 + 1 - 1 - 0)/2 = 0.5 and (0 + 2 - 1 - ln 2)/2; batch of two: mean with a zero-KL row
    mu, lv = torch.tensor([[1., 0.], [0., 0.]]), torch.tensor([[0., np.log(2.)], [0., 0.]])
    assert kl_divergence(mu, lv).item() == pytest.approx((0.5 + (1 - np.log(2)) / 2) / 2, abs=1e-6)
    mu, lv = torch.randn(7, 4), torch.randn(7, 4)
    q, p = torch.distributions.Normal(mu, (0.5 * lv).exp()), torch.distributions.Normal(0., 1.)
    assert kl_divergence(mu, lv).item() == pytest.approx(torch.distributions.kl_divergence(q, p).sum(1).mean().item(), rel=1e-5)

def test_recon_losses_by_hand():
    x = torch.tensor([[[[0., 1.], [1., 0.5]]]]); xh = torch.tensor([[[[0.5, 0.5], [1., 0.25]]]])
    assert recon_loss(xh, x, 'mse').item() == pytest.approx(0.5625, abs=1e-6)
    bce = -(2 * np.log(0.5) + np.log(1 - 1e-6) + 0.5 * np.log(0.25) + 0.5 * np.log(0.75))
    assert recon_loss(xh, x, 'bce').item() == pytest.approx(bce, abs=1e-5)
    assert vae_loss(xh, x, torch.tensor([[1., 0.]]), torch.zeros(1, 2), 'mse', beta=3.).item() == pytest.approx(0.5625 + 1.5, abs=1e-6)

def test_gan_terms_by_hand():
    assert feature_matching_loss(torch.tensor([[1., 2.], [0., 0.]]), torch.tensor([[0., 0.], [0., 3.]])).item() == pytest.approx(7.)
    p = 1 / (1 + np.exp(-1.))
    assert disc_loss(torch.tensor([1.]), torch.tensor([-1.]), 0.9).item() == pytest.approx(
        -(0.9 * np.log(p) + 0.1 * np.log(1 - p)) - np.log(p), abs=1e-6)
    assert gen_loss(torch.tensor([-1.])).item() == pytest.approx(-np.log(1 - p), abs=1e-6)

@pytest.mark.parametrize('kind', ['linear', 'conv'])
def test_shapes_and_seeded_sampling(kind):
    m = VAE(kind, z=3, width=8)
    x = torch.rand(4, 1, 28, 28)
    xh, mu, lv = m(x)
    assert xh.shape == x.shape and mu.shape == lv.shape == (4, 3) and 0 <= xh.min() and xh.max() <= 1
    assert torch.equal(m.sample(5, seed=3), m.sample(5, seed=3)) and not torch.equal(m.sample(5, seed=3), m.sample(5, seed=4))
    c = CVAE(10, kind=kind, z=3, width=8)
    assert c(x, torch.tensor([0, 1, 2, 9]))[0].shape == x.shape
    assert torch.equal(draw_classes(c, 2, seed=1), draw_classes(c, 2, seed=1)) and draw_classes(c, 2).shape == (20, 1, 28, 28)
    assert interpolate(m, x[0], x[1], 4).shape == (4, 1, 28, 28)

def test_impute_keeps_known_pixels_and_sharpness_by_hand():
    m = VAE('linear', z=2, width=4)
    x, miss = torch.rand(3, 1, 28, 28), half_mask(28, 'right')
    out = impute(m, x, miss, iters=2)
    assert torch.equal(out[..., :14], x[..., :14]) and torch.allclose(out[..., 14:], reconstruct(m, out)[..., 14:], atol=0.2)
    assert sharpness(torch.tensor([[[[0., 1.], [0., 1.]]]])).item() == pytest.approx(0.5)

def test_area_attribution_concentrated_for_identity_model():
    x, box = torch.rand(3, 1, 28, 28) * 0.9 + 0.1, box_mask(28, 4, 6, 10)
    for meth in ('guided_backprop', 'hirescam', 'saliency'):
        assert torch.allclose(inside_share(area_attribution(IdentityAE(), x, box, meth), box), torch.ones(3), atol=1e-5), meth
    ink = (x[:, 0] * box).flatten(1).sum(1) / x.flatten(1).sum(1)  # Grad-CAM's map is the activation: the ink share
    assert torch.allclose(inside_share(area_attribution(IdentityAE(), x, box, 'gradcam'), box), ink, atol=1e-3)
    assert inside_share(torch.tensor([[[2., -2.], [0., 0.]]]), torch.tensor([[1., 0.], [0., 0.]])).item() == pytest.approx(0.5)
    a = area_attribution(VAEGAN(z=2, width=8), x, box, 'gradcam')
    assert a.shape == (3, 1, 28, 28) and torch.isfinite(a).all()

def test_training_callbacks_and_cache(tmp_path):
    dls = get_dls('fashion_mnist_sample', bs=32, n_train=64, seed=0, device='cpu')
    l = train_vae('vae', 'linear', 'bce', z=2, beta=2., epochs=1, dls=dls, root=tmp_path, width=4)
    h = l.history.iloc[0]
    assert h.train_loss == pytest.approx(h.train_recon + 2 * h.train_kl, rel=1e-4)  # the loss is recon + beta * KL
    assert l.status == 'ok' and l.spec['task'] == 'vae'
    at = (l.path/'model.pth').stat().st_mtime_ns
    again = train_vae('vae', 'linear', 'bce', z=2, beta=2., epochs=1, dls=dls, root=tmp_path, width=4)
    assert again.path == l.path and (l.path/'model.pth').stat().st_mtime_ns == at  # found, not trained again
    assert all(torch.equal(a, b) for a, b in zip(l.model.state_dict().values(), again.model.state_dict().values()))
    dn = train_vae('vae', 'linear', 'bce', z=2, denoise=0.3, epochs=1, dls=dls, root=tmp_path, width=4)
    assert dn.path != l.path and dn.spec['task_kw'] == {'denoise': 0.3}
    g = train_vae('vaegan', 'conv', z=2, epochs=1, dls=dls, root=tmp_path, width=4)
    assert g.metrics['d_steps'] == 2
    gl = g.learner(); gl.create_opt()
    in_opt = {id(p) for pl in gl.opt.param_lists for p in pl}  # the Learner's optimizer holds the VAE only
    assert in_opt == {id(p) for p in gl.model.vae.parameters()} and not in_opt & {id(p) for p in gl.model.disc.parameters()}
    assert {'train_fm', 'train_adv', 'train_d_loss'} <= set(g.history.columns)
    met = vae_metrics(g, dls.test)
    assert set(met) == {'mse', 'bce', 'kl', 'sharpness', 'active_dims'} and met['kl'] > 0
    c = train_vae('cvae', 'linear', z=2, epochs=1, dls=dls, root=tmp_path, width=4)
    assert c.model.n_classes == 10 and c.model(torch.rand(2, 1, 28, 28), torch.tensor([1, 2]))[0].shape == (2, 1, 28, 28)

def test_bad_input():
    with pytest.raises(RegxError, match="kind must be one of"): VAE('mlp')
    with pytest.raises(RegxError, match="recon must be one of"): VAE(recon='l2')
    with pytest.raises(RegxError, match='multiple of 4'): VAE('conv', size=30)
    with pytest.raises(RegxError, match=r'expects images \(N, 1, 28, 28\)'): VAE()(torch.rand(1, 3, 28, 28))
    with pytest.raises(RegxError, match='pass the classes y'): CVAE(10)(torch.rand(1, 1, 28, 28))
    with pytest.raises(RegxError, match='same shape'): kl_divergence(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(RegxError, match='BCE needs targets in'): recon_loss(torch.rand(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.), 'bce')
    with pytest.raises(RegxError, match="kind must be 'gaussian' or 'erase'"): corrupt(torch.rand(2), 0.1, 'salt')
    with pytest.raises(RegxError, match='smooth must be in'): disc_loss(torch.zeros(1), torch.zeros(1), 0.2)
    with pytest.raises(RegxError, match='must lie inside'): box_mask(28, 0, 25, 5)
    with pytest.raises(RegxError, match='does not fit the maps'): inside_share(torch.zeros(1, 1, 5, 5), torch.ones(4, 4))
    with pytest.raises(RegxError, match='method must be one of'): area_attribution(IdentityAE(), torch.rand(1, 1, 8, 8), torch.ones(8, 8), 'lime')
    with pytest.raises(RegxError, match="use 'guided_backprop'"): area_attribution(VAE('linear'), torch.rand(1, 1, 28, 28), torch.ones(28, 28))
    with pytest.raises(RegxError, match='expected a VAE'): reconstruct(nn.Identity(), torch.rand(1, 1, 28, 28))
    with pytest.raises(RegxError, match="model must be one of"): train_vae('ae')
