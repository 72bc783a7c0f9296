"""Every model: forward shapes for n_in/n_out, Normalize first, activations as single-use non-inplace modules,
and clear errors for bad input."""
import pytest
import torch
from torch import nn
from regx_nb.core import RegxError, UnknownNameError
from regx_nb.models import MODELS, POINT_MODELS, Normalize, get_layer, get_model, model_table

IMAGE_MODELS = [n for n in MODELS.names if n not in POINT_MODELS and getattr(MODELS[n], '__regx_task__', 'classify') == 'classify']  # (the classifiers)

@pytest.mark.parametrize('name', IMAGE_MODELS)
@pytest.mark.parametrize('n_in,n_out,size', [(1, 10, 28), (3, 100, 32)])
def test_forward_shapes(name, n_in, n_out, size):
    m = get_model(name, n_in=n_in, n_out=n_out, size=size).eval()
    assert isinstance(next(iter(m.children())), Normalize) and m.norm.n_in == n_in
    with torch.no_grad(): assert m(torch.rand(3, n_in, size, size)).shape == (3, n_out)
    assert not any(getattr(x, 'inplace', False) for x in m.modules())

@pytest.mark.parametrize('name', IMAGE_MODELS)
def test_wrong_channels_is_a_clear_error(name):
    m = get_model(name, n_in=1, size=28)
    with pytest.raises(RegxError, match=r'expects images \(N, 1, H, W\)'): m(torch.rand(1, 3, 28, 28))

def test_normalize_uses_the_data_stats():
    m = get_model('simple_cnn', stats=([0.2], [0.5]))
    x = torch.full((1, 1, 28, 28), 0.7)
    assert torch.allclose(m.norm(x), torch.ones_like(x))

def test_model_table_and_layers():
    t = model_table(get_model('simple_cnn', n_in=1, size=28)).set_index('layer')
    assert t.loc['conv1', 'output_shape'] == (32, 28, 28) and t.loc['fc3', 'output_shape'] == (10,)
    assert t.params.sum() == sum(p.numel() for p in get_model('simple_cnn').parameters())
    with pytest.raises(RegxError, match='its layers are'): get_layer(get_model('lenet'), 'conv3')

def test_bad_names_and_arguments():
    with pytest.raises(UnknownNameError, match='Known models: simple_cnn'): get_model('alexnet9')
    with pytest.raises(RegxError, match='n_out must be'): get_model('lenet', n_out=0)
    with pytest.raises(RegxError, match='pass a larger size'): get_model('ddnet', size=8)

@pytest.mark.parametrize('name', POINT_MODELS)
def test_point_models(name):
    m = get_model(name, n_in=2, n_out=4).eval()
    assert isinstance(next(iter(m.children())), Normalize) and m.norm.points
    with torch.no_grad(): assert m(torch.rand(3, 2)).shape == (3, 4)
    with pytest.raises(RegxError, match=r'expects points \(N, 2\)'): m(torch.rand(1, 2, 28, 28))

def test_lab_cnns_match_the_labs_parameter_tables():
    "CSCI 5922 Lab 2's tables: trainable parameters at 3x32x32 with 10 classes, plain and with batch norm where the lab put it."
    from regx_nb.models import n_params
    assert [n_params(get_model(n, n_in=3, size=32)) for n in ('lab1', 'lab2', 'lab3')] == [48970, 1442902, 1121430]
    assert [n_params(get_model(n, n_in=3, size=32, bn=True)) for n in ('lab1', 'lab2', 'lab3')] == [51146, 1443230, 1121758]
    m = get_model('lab1', n_in=3, size=32, dropout=0.3)
    assert [n for n, x in m.named_children() if isinstance(x, nn.Dropout)] == ['drop0', 'drop1']  # after pool1 and after flatten
