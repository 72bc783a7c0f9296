"""Every attribution method of `METHODS` against an exact or hand-computed answer on a small case, and the figure
functions of 05/06 against the panels they must draw (the notebooks test saliency, integrated gradients and Grad-CAM
the same way)."""
import itertools
import pytest
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from captum.attr import DeepLift, GuidedBackprop
from regx_nb.attribution import METHODS, attribute, compare, gradcam_layers
from regx_nb.features import plot_feature_maps, plot_thumbnails, Embedding
from regx_nb.models import get_model

EXACT = {'saliency', 'gradcam', 'integrated_gradients', 'guided_backprop', 'guided_gradcam', 'deeplift', 'occlusion', 'smoothgrad'}

def test_every_method_has_an_exact_test_here_or_in_06():
    assert set(METHODS.names) <= EXACT, set(METHODS.names) - EXACT

def _relu_net(seed=0):
    "Conv, ReLU, average pooling and linear layers only: DeepLIFT's rescale rule is exact on such a net."
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()

def test_deeplift_sums_to_the_logit_difference_where_its_rule_is_exact():
    m, x = _relu_net(), torch.rand(5, 1, 16, 16)
    t = m(x).argmax(1)
    a = attribute(m, x, t, 'deeplift')  # baseline: a black image
    with torch.no_grad(): want = m(x).gather(1, t[:, None])[:, 0] - m(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(a.sum((1, 2, 3)), want, rtol=1e-4, atol=1e-5)

def test_deeplift_with_max_pooling_is_not_exact_and_captum_reports_the_gap():
    "simple_cnn max-pools: the rescale rule is then an approximation, and the sum misses f(x) - f(0) by captum's delta."
    torch.manual_seed(0)
    m, x = get_model('simple_cnn').eval(), torch.rand(6, 1, 28, 28)
    t = m(x).argmax(1)
    a, delta = DeepLift(m).attribute(x, baselines=torch.zeros_like(x), target=t, return_convergence_delta=True)
    with torch.no_grad(): diff = m(x).gather(1, t[:, None])[:, 0] - m(torch.zeros_like(x)).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(attribute(m, x, t, 'deeplift')[:, 0], a.sum(1), rtol=1e-5, atol=1e-6)  # the kit's map is captum's, summed over channels
    torch.testing.assert_close(diff - a.sum((1, 2, 3)), -delta.detach(), rtol=1e-4, atol=1e-5)  # captum's delta is the gap
    assert delta.abs().max() > 1e-4  # and here it is not zero

def _guided_grad(m, x, t):
    "Guided backprop by hand: at every ReLU only positive gradients pass, and only where the input was positive."
    hooks = [mod.register_full_backward_hook(lambda mod, gin, gout: (gin[0].clamp(min=0),)) for mod in m.modules() if isinstance(mod, nn.ReLU)]
    try:
        x = x.clone().requires_grad_(True)
        m(x).gather(1, t[:, None]).sum().backward()
        return x.grad.detach()
    finally:
        for h in hooks: h.remove()

def _gradcam(m, x, t, layer):
    "Grad-CAM by hand: the layer's maps weighted by their mean gradient, summed, ReLU, upsampled bilinearly."
    acts = {}
    h = dict(m.named_modules())[layer].register_forward_hook(lambda mod, i, o: acts.__setitem__('a', o))
    try: out = m(x)
    finally: h.remove()
    A = acts['a']; g, = torch.autograd.grad(out.gather(1, t[:, None]).sum(), A)
    cam = F.relu((g.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode='bilinear', align_corners=False).detach()

def test_guided_backprop_and_guided_gradcam_by_hand():
    torch.manual_seed(0)
    m, x = get_model('simple_cnn').eval(), torch.rand(4, 1, 28, 28)
    t = m(x).argmax(1)
    gbp = _guided_grad(m, x, t)
    torch.testing.assert_close(attribute(m, x, t, 'guided_backprop'), gbp.sum(1, keepdim=True), rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(gbp, GuidedBackprop(m).attribute(x, target=t).detach(), rtol=1e-4, atol=1e-7)
    # guided Grad-CAM = guided backprop x the upsampled Grad-CAM of the same layer
    cam = _gradcam(m, x, t, 'relu3')
    torch.testing.assert_close(attribute(m, x, t, 'gradcam', layer='relu3'), cam, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(attribute(m, x, t, 'guided_gradcam', layer='relu3'), (gbp * cam).sum(1, keepdim=True), rtol=1e-4, atol=1e-8)

def test_occlusion_equals_a_sliding_window_by_hand():
    "On a linear model the drop of the logit when a window is zeroed is the window's sum of w * x; each pixel gets the mean over its windows."
    torch.manual_seed(0)
    H, win, s = 7, 3, 2
    m = nn.Sequential(nn.Flatten(), nn.Linear(H * H, 2)).eval()
    x = torch.rand(2, 1, H, H)
    a = attribute(m, x, 1, 'occlusion', same_target=True, window=win, stride=s)
    w = m[1].weight[1].detach().reshape(H, H)
    for n in range(len(x)):
        total, count = torch.zeros(H, H), torch.zeros(H, H)
        for i, j in itertools.product(range(0, H - win + 1, s), repeat=2):
            total[i:i + win, j:j + win] += (w * x[n, 0])[i:i + win, j:j + win].sum()
            count[i:i + win, j:j + win] += 1
        torch.testing.assert_close(a[n, 0], total / count, rtol=1e-5, atol=1e-6)

def test_smoothgrad_is_the_mean_saliency_over_the_same_noise():
    torch.manual_seed(0)
    m, x = get_model('simple_cnn').eval(), torch.rand(3, 1, 28, 28)
    t = m(x).argmax(1); n, sd = 5, 0.1
    got = attribute(m, x, t, 'smoothgrad', seed=7, n_samples=n, stdev=sd)
    torch.manual_seed(7)  # the noise captum's NoiseTunnel draws, in its order: n copies of each image in turn
    xn = x.repeat_interleave(n, 0) + torch.normal(0, torch.tensor(sd).repeat((len(x) * n,) + x.shape[1:]))
    xn.requires_grad_(True)
    g, = torch.autograd.grad(m(xn).gather(1, t.repeat_interleave(n)[:, None]).sum(), xn)
    want = g.abs().reshape(len(x), n, *x.shape[1:]).mean(1).amax(1, keepdim=True)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(got, attribute(m, x, t, 'saliency'))  # the noise matters

def test_gradcam_layers_draws_the_maps_of_attribute_at_each_layer():
    torch.manual_seed(0)
    m, x = get_model('simple_cnn').eval(), torch.rand(2, 1, 28, 28)
    fig = gradcam_layers(m, x, layers=['relu1', 'relu2', 'relu3'])
    axs = np.array(fig.axes).reshape(2, 4)
    for j, l in enumerate(['relu1', 'relu2', 'relu3'], 1):
        want = attribute(m, x, None, 'gradcam', l)
        for i in range(2): np.testing.assert_allclose(axs[i, j].images[0].get_array(), want[i, 0].numpy(), rtol=1e-5, atol=1e-8)
        assert axs[0, j].get_title().startswith(l)
    plt.close(fig)

@pytest.mark.parametrize('name,stages', [('vgg16', ['features.3', 'features.8', 'features.15', 'features.22']),
                                         ('resnet18', ['layer1.1.relu2', 'layer2.1.relu2', 'layer3.1.relu2', 'layer4.1.relu2'])])
def test_gradcam_layers_on_deep_nets_maps_the_end_of_each_stage_exactly(name, stages):
    "On VGG-16 and ResNet-18 at 32x32: 'stages' picks the last rectified map at 32, 16, 8 and 4 pixels, and each map is Grad-CAM by hand."
    torch.manual_seed(0)
    m, x = get_model(name, n_in=3, size=32).eval(), torch.rand(2, 3, 32, 32)
    t = m(x).argmax(1)
    fig = gradcam_layers(m, x, layers='stages')
    assert list(fig.maps) == stages
    for l in stages: torch.testing.assert_close(fig.maps[l], _gradcam(m, x, t, l), rtol=1e-4, atol=1e-7)
    assert len(fig.axes) == 2 * (len(stages) + 1)
    plt.close(fig)
    fig = gradcam_layers(m, x)  # every convolution with maps larger than 2x2
    assert set(stages) <= set(fig.maps) and len(fig.maps) > len(stages)
    plt.close(fig)

def test_the_figure_functions_draw_the_expected_panels():
    torch.manual_seed(0)
    m, x = get_model('simple_cnn').eval(), torch.rand(3, 1, 28, 28)
    fig = compare({'a': m, 'b': m}, x, methods=('gradcam', 'saliency'))
    assert len(fig.axes) == 3 * (2 * 2 + 1)  # rows: images; columns: the image, then models x methods
    # one colour scale per method, shared by the models: the same model twice gives the same limits
    axs = np.array(fig.axes).reshape(3, 5)
    assert axs[0, 1].images[-1].get_clim() == axs[0, 3].images[-1].get_clim()
    plt.close(fig)
    fig = plot_feature_maps(m, x[0], layers=['conv1', 'relu2'], max_channels=8, ncols=4)
    shown = [a for a in fig.axes if a.images]
    assert len(shown) == 8 + 8 and len(fig.subfigs) == 2
    plt.close(fig)
    e = Embedding(coords=np.random.rand(30, 2), labels=np.arange(30) % 3, features=np.random.rand(30, 5),
                  images=torch.rand(30, 1, 8, 8), vocab=['a', 'b', 'c'], method='pca', layer='fc1')
    fig = plot_thumbnails(e, n=12)
    assert len(fig.axes) == 1 and sum(type(a).__name__ == 'AnnotationBbox' for a in fig.axes[0].artists) == 12
    plt.close(fig)
