"""Segmentation: metrics against a hand-computed confusion matrix, bilinear upsampling, FCN output sizes for odd inputs,
the 8s/32s paths, pretrained weights from disk, the VOC/CamVid loaders on trees and archives written here, and bad input."""
import tarfile, warnings
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from regx_nb.core import RegxError, UnknownNameError, DataUnavailableError
from regx_nb import segmentation as seg
from regx_nb.segmentation import (FCN, ENCODERS, VARIANTS, SEG_KEYS, bilinear_kernel, bilinear_upsampler, boundary_band, class_table,
                                  confusion_matrix, metrics_from_confusion, seg_metrics, SegMetric, linear_to_conv, voc_palette,
                                  read_voc_folder, read_camvid_folder, read_mask, seg_dls, train_fcn, results_table, seg_learner, area_cam)

PRED = torch.tensor([[[0, 1, 1], [1, 1, 2]]])
TARGET = torch.tensor([[[0, 0, 1], [1, 2, 255]]])

def test_metrics_match_a_hand_computed_confusion_matrix():
    cm = confusion_matrix(PRED, TARGET, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    m = seg_metrics(PRED, TARGET, 3)
    assert m == pytest.approx(dict(pixel_acc=3 / 5, mean_acc=(1 / 2 + 1 + 0) / 3, mean_iou=(1 / 2 + 2 / 4 + 0) / 3, fw_iou=0.4))
    logits = F.one_hot(PRED, 3).permute(0, 3, 1, 2).float() * 5  # logits give the same as ids
    assert seg_metrics(logits, TARGET, 3) == m
    # absent classes: declared but never true nor predicted -> left out; predicted but never true -> IoU 0, counted
    assert seg_metrics(PRED, TARGET, 6) == m
    fa = seg_metrics(torch.tensor([[[0, 1, 1], [1, 3, 2]]]), TARGET, 4)  # a class-2 pixel predicted as 3 (absent from the target)
    assert fa['mean_iou'] == pytest.approx((1 / 2 + 2 / 3 + 0 + 0) / 4) and fa['mean_acc'] == pytest.approx((1 / 2 + 1 + 0) / 3)
    t = class_table(cm, ['a', 'b', 'c'])
    assert t.iou.tolist() == [0.5, 0.5, 0.0] and t.acc.tolist() == [0.5, 1.0, 0.0]

def test_metric_callback_accumulates_one_matrix():
    from types import SimpleNamespace
    g = torch.Generator().manual_seed(0)
    p, t = torch.randint(0, 4, (6, 5, 7), generator=g), torch.randint(0, 4, (6, 5, 7), generator=g)
    t[0, 0, :3] = 255
    ms = [SegMetric(k, 4) for k in SEG_KEYS]
    for m in ms:
        m.reset()
        for sl in (slice(0, 1), slice(1, 6)): m.accumulate(SimpleNamespace(pred=F.one_hot(p[sl], 4).permute(0, 3, 1, 2).float(), yb=(t[sl],)))
    assert {m.name: m.value for m in ms} == seg_metrics(p, t, 4)

def test_metric_bad_input():
    with pytest.raises(RegxError, match='differ in shape'): seg_metrics(PRED[:, :1], TARGET, 3)
    with pytest.raises(RegxError, match='outside 0..2'): seg_metrics(PRED, TARGET, 3, ignore_index=None)
    with pytest.raises(RegxError, match='integer class ids'): seg_metrics(PRED, TARGET.float(), 3)
    with pytest.raises(RegxError, match='4 channels but n_classes=3'): seg_metrics(torch.rand(1, 4, 2, 3), TARGET, 3)
    with pytest.raises(RegxError, match='predictions hold ids outside'): seg_metrics(PRED + 5, TARGET, 3)
    with pytest.raises(RegxError, match='n_classes must be'): seg_metrics(PRED, TARGET, 0)
    with pytest.raises(RegxError, match='empty'): metrics_from_confusion(torch.zeros(2, 2))
    with pytest.raises(RegxError, match='square'): metrics_from_confusion(torch.ones(2, 3))
    with pytest.raises(RegxError, match='negative'): metrics_from_confusion(-torch.ones(2, 2))
    with pytest.raises(RegxError, match='key must be one of'): SegMetric('iou')

def test_boundary_band():
    assert boundary_band(torch.tensor([[[0, 0, 1, 1, 1]]]), 1).tolist() == [[[False, True, True, False, False]]]
    b = boundary_band(torch.tensor([[[0, 0, 0, 0, 0, 0]] * 3 + [[0, 0, 0, 2, 0, 0]] + [[0] * 6] * 2]), 1)
    assert b.sum() == 9 and b[0, 2:5, 2:5].all()
    with pytest.raises(RegxError, match='width must be'): boundary_band(torch.zeros(1, 3, 3, dtype=torch.long), 0)

def test_bilinear_kernel_is_exact():
    t = torch.tensor([1., 3., 3., 1.]) / 4
    assert torch.equal(bilinear_kernel(4), t[:, None] * t[None])
    assert torch.equal(bilinear_kernel(3), torch.tensor([[.25, .5, .25], [.5, 1., .5], [.25, .5, .25]]))
    t8 = 1 - (torch.arange(8.) - 3.5).abs() / 4
    assert torch.allclose(bilinear_kernel(8), t8[:, None] * t8[None], atol=0, rtol=0)
    x = torch.rand(2, 3, 5, 7)
    for f in (2, 4, 8, 16, 32):
        up = bilinear_upsampler(3, f)
        y, ref = up(x), F.interpolate(x, scale_factor=f, mode='bilinear', align_corners=False)
        assert y.shape == (2, 3, 5 * f, 7 * f)
        h = f // 2
        assert torch.allclose(y[..., h:-h, h:-h], ref[..., h:-h, h:-h], atol=1e-6)
    assert not bilinear_upsampler(3, 8, learnable=False).weight.requires_grad
    with pytest.raises(RegxError, match='even int'): bilinear_upsampler(3, 5)
    with pytest.raises(RegxError, match='positive int'): bilinear_kernel(0)

@pytest.mark.parametrize('encoder', ENCODERS)
@pytest.mark.parametrize('variant', VARIANTS)
def test_output_size_equals_input_size_for_odd_sizes(encoder, variant):
    m = FCN(encoder, variant, n_classes=4, n_in=3, fc_dim=8).eval()
    for hw in ((37, 53), (31, 33), (1, 65)):
        with torch.no_grad(): assert m(torch.rand(1, 3, *hw)).shape == (1, 4, *hw)
    assert not any(getattr(x, 'inplace', False) for x in m.modules())

def test_8s_and_32s_paths_differ():
    torch.manual_seed(0)
    m32, m8 = FCN('small', '32s', 5, 1).eval(), FCN('small', '8s', 5, 1).eval()
    missing, unexpected = m8.load_state_dict({k: v for k, v in m32.state_dict().items() if not k.startswith('upscore')}, strict=False)
    assert not unexpected and {k.split('.')[0] for k in missing} == {'upscore', 'upscore2', 'score_pool4', 'upscore_pool4', 'score_pool3'}
    x = torch.rand(2, 1, 45, 61)
    with torch.no_grad():
        assert m8.score_pool3.weight.abs().sum() == 0  # zero-initialised skips (Long et al.)
        d0 = (m8(x) - m32(x)).abs().max()
        torch.nn.init.normal_(m8.score_pool3.weight, std=.1); torch.nn.init.normal_(m8.score_pool4.weight, std=.1)
        d1 = (m8(x) - m32(x)).abs().max()
    assert d1 > 10 * max(d0, 1e-4)
    m8(x).sum().backward()
    assert m8.score_pool3.weight.grad.abs().sum() > 0 and m8.score_pool4.weight.grad.abs().sum() > 0
    assert m8.layer_name('pool3') == 'features.20' and m32.layer_name('pool5') == 'features.34'

def test_layouts_match_torchvision():
    tv = pytest.importorskip('torchvision')
    with torch.device('meta'):
        ref = {'alexnet': tv.models.alexnet().features.state_dict(), 'vgg16': tv.models.vgg16().features.state_dict()}
    for e, sd in ref.items():
        own = FCN(e, '32s', 3, 3, fc_dim=8).features.state_dict()
        assert {k: tuple(v.shape) for k, v in own.items()} == {k: tuple(v.shape) for k, v in sd.items()}

def test_linear_to_conv_is_the_same_map():
    lin = torch.nn.Linear(2 * 3 * 3, 4)
    x = torch.rand(5, 2, 3, 3)
    y = F.conv2d(x, linear_to_conv(lin.weight, 2, 3), lin.bias)
    assert torch.allclose(y[..., 0, 0], lin(x.flatten(1)), atol=1e-6)
    with pytest.raises(RegxError, match=r'\(out, 2\*3\*3=18\)'): linear_to_conv(torch.rand(4, 10), 2, 3)

def _fake_alexnet(path, fc_dim):
    m = FCN('alexnet', '32s', 3, 3, fc_dim=fc_dim)
    sd = {k: torch.randn_like(v) for k, v in m.features.state_dict().items()}
    sd = {f'features.{k}': v for k, v in sd.items()}
    sd.update({'classifier.1.weight': torch.randn(fc_dim, 256 * 36), 'classifier.1.bias': torch.randn(fc_dim),
               'classifier.4.weight': torch.randn(fc_dim, fc_dim), 'classifier.4.bias': torch.randn(fc_dim),
               'classifier.6.weight': torch.randn(1000, fc_dim), 'classifier.6.bias': torch.randn(1000)})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd

def test_pretrained_weights_load_from_disk(tmp_path, monkeypatch):
    from regx_nb.core import regx_home
    with pytest.raises(DataUnavailableError, match='no pretrained weights'): FCN('alexnet', '8s', 3, 3, fc_dim=8, pretrained=True)
    sd = _fake_alexnet(regx_home('weights')/'alexnet.pth', fc_dim=8)
    m = FCN('alexnet', '8s', 3, 3, fc_dim=8, pretrained=True)
    assert torch.equal(m.features[0].weight, sd['features.0.weight']) and torch.equal(m.features[10].bias, sd['features.10.bias'])
    assert torch.equal(m.fc6.weight, sd['classifier.1.weight'].reshape(8, 256, 6, 6)) and torch.equal(m.fc7.weight[..., 0, 0], sd['classifier.4.weight'])
    assert m.norm.fixed and torch.allclose(m.norm.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    g = FCN('alexnet', '32s', 3, 1, fc_dim=8, pretrained=True)  # grey input: the first conv averages the RGB filters
    assert torch.allclose(g.features[0].weight[:, 0], sd['features.0.weight'].sum(1) / 1)
    with pytest.warns(UserWarning, match='fc6/fc7 keep random weights'): FCN('alexnet', '32s', 3, 3, fc_dim=16, pretrained=True)

def test_fcn_bad_input():
    with pytest.raises(RegxError, match='encoder must be one of'): FCN('resnet')
    with pytest.raises(RegxError, match='variant must be one of'): FCN(variant='4s')
    with pytest.raises(RegxError, match='no pretrained weights'): FCN('small', pretrained=True)
    with pytest.raises(RegxError, match='n_classes must be'): FCN(n_classes=1)
    with pytest.raises(RegxError, match='5 blocks'): FCN(widths=(8, 8))
    with pytest.raises(RegxError, match=r'expects images \(N, 1, H, W\)'): FCN(n_in=1)(torch.rand(1, 3, 32, 32))
    with pytest.raises(RegxError, match='tap must be one of'): FCN().layer_name('pool2')

# --- loaders on trees and archives written here

def _palette_png(m, path):
    p = Image.fromarray(m.astype(np.uint8), 'P'); p.putpalette(voc_palette().flatten().tolist()); p.save(path)

def _write_voc(root, sizes=((40, 30), (31, 45), (50, 50), (36, 28), (44, 33))):
    voc = root/'VOCdevkit'/'VOC2012'
    for d in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (voc/d).mkdir(parents=True, exist_ok=True)
    rng, ids = np.random.default_rng(0), []
    for k, (w, h) in enumerate(sizes):
        i = f'2008_{k:06d}'; ids.append(i)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(voc/'JPEGImages'/f'{i}.jpg')
        m = np.zeros((h, w), np.uint8); m[4:h - 4, 4:w - 4] = 255; m[6:h - 6, 6:w - 6] = k + 1
        _palette_png(m, voc/'SegmentationClass'/f'{i}.png')
    (voc/'ImageSets/Segmentation/train.txt').write_text('\n'.join(ids[:3]) + '\n')
    (voc/'ImageSets/Segmentation/val.txt').write_text('\n'.join(ids[3:]) + '\n')
    return voc

def test_voc_folder(tmp_path):
    voc = _write_voc(tmp_path)
    d = read_voc_folder(voc, image_size=20)
    assert d['train'][0].shape == (3, 3, 20, 20) and d['train'][0].dtype == np.uint8 and d['test'][1].shape == (2, 20, 20)
    assert set(np.unique(d['train'][1]).tolist()) == {0, 1, 2, 3, 255} and d['vocab'][0] == 'background' and len(d['vocab']) == 21
    # a 40x30 image, shorter side 30 -> 20: the box [6:24, 6:34] of class 1 lands at rows 4..16 after scaling
    assert d['train'][1][0, 10, 10] == 1 and d['train'][1][0, 0, 0] == 0
    assert read_voc_folder(tmp_path/'nothing') is None
    # RGB masks in the VOC colours read back to ids; other colours are an error
    rgb = voc_palette()[np.array([[0, 15], [255, 1]])]
    Image.fromarray(rgb).save(tmp_path/'rgb.png')
    assert read_mask(tmp_path/'rgb.png').tolist() == [[0, 15], [255, 1]]
    Image.fromarray(np.full((2, 2, 3), 7, np.uint8)).save(tmp_path/'bad.png')
    with pytest.raises(RegxError, match='not VOC class colours'): read_mask(tmp_path/'bad.png')

def test_voc_bad_trees(tmp_path):
    voc = _write_voc(tmp_path)
    (voc/'ImageSets/Segmentation/train.txt').write_text('2008_000000\nmissing_id\n')
    with pytest.raises(RegxError, match="without JPEGImages/<id>.jpg.*'missing_id'"): read_voc_folder(voc)
    (voc/'ImageSets/Segmentation/train.txt').write_text('2008_000000\n')
    _palette_png(np.zeros((5, 5)), voc/'SegmentationClass'/'2008_000000.png')
    with pytest.raises(RegxError, match='is 40x30 but its mask is 5x5'): read_voc_folder(voc)
    m = np.zeros((30, 40)); m[0, 0] = 30
    _palette_png(m, voc/'SegmentationClass'/'2008_000000.png')
    with pytest.raises(RegxError, match=r'holds ids \[30\]'): read_voc_folder(voc)
    with pytest.raises(RegxError, match='image_size must be'): read_voc_folder(voc, image_size=(10,))
    (voc/'ImageSets/Segmentation/val.txt').unlink()
    with pytest.raises(RegxError, match='no val.txt'): read_voc_folder(voc)

def test_voc_archive_through_seg_dls(tmp_path, monkeypatch):
    _write_voc(tmp_path/'src')
    arch = tmp_path/'VOCtrainval.tar'
    with tarfile.open(arch, 'w') as t: t.add(tmp_path/'src'/'VOCdevkit', arcname='VOCdevkit')
    with pytest.raises(DataUnavailableError, match='ImageSets/Segmentation/train.txt'): seg_dls('pascal_voc', download=False)
    monkeypatch.setattr(seg.SEG_SOURCES['pascal_voc'], 'urls', [(arch.as_uri(), 'VOCtrainval.tar', None, '.')])
    dls = seg_dls('pascal_voc', bs=2, image_size=(24, 32), device='cpu')
    x, y = dls.train.one_batch()
    assert x.shape == (2, 3, 24, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (2, 24, 32) and y.dtype == torch.long and dls.c == 21 and dls.segmentation
    assert len(dls.test.dataset) == 2 and len(dls.train.dataset) + len(dls.valid.dataset) == 3

def _write_camvid(root, n=6, valid=True):
    (root/'images').mkdir(parents=True); (root/'labels').mkdir()
    (root/'codes.txt').write_text('Sky\nRoad\nCar\nVoid\n')
    rng = np.random.default_rng(1)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(root/'images'/f'seq_{k:03d}.png')
        Image.fromarray(rng.integers(0, 4, (24, 32), dtype=np.uint8), 'L').save(root/'labels'/f'seq_{k:03d}_P.png')
    if valid: (root/'valid.txt').write_text('seq_001.png\nseq_004.png\n')

def test_camvid_folder(tmp_path):
    _write_camvid(tmp_path/'camvid')
    d = read_camvid_folder(tmp_path/'camvid', image_size=(12, 16))
    assert d['vocab'] == ['Sky', 'Road', 'Car', 'Void'] and d['train'][0].shape == (4, 3, 12, 16) and d['test'][1].shape == (2, 12, 16)
    lab = np.asarray(Image.open(tmp_path/'camvid'/'labels'/'seq_001_P.png'))
    assert np.array_equal(d["test"][1][0], lab[1::2, 1::2])  # nearest-neighbour halving (PIL samples pixel centres) keeps ids exactly
    _write_camvid(tmp_path/'nv', valid=False)
    assert len(read_camvid_folder(tmp_path/'nv', image_size=12)['test'][0]) == 2  # every 5th of 6 images
    assert read_camvid_folder(tmp_path/'nothing') is None

def test_camvid_bad_trees(tmp_path):
    root = tmp_path/'camvid'; _write_camvid(root)
    (root/'labels'/'seq_002_P.png').unlink()
    with pytest.raises(RegxError, match='no label for seq_002.png'): read_camvid_folder(root)
    Image.fromarray(np.full((24, 32), 9, np.uint8), 'L').save(root/'labels'/'seq_002_P.png')
    with pytest.raises(RegxError, match=r'holds ids \[9\] but codes.txt lists only 4'): read_camvid_folder(root)
    (root/'valid.txt').write_text('other.png\n')
    with pytest.raises(RegxError, match='not in images/'): read_camvid_folder(root)

def test_seg_dls_names():
    with pytest.raises(UnknownNameError, match='known: fashion_scenes, pascal_voc, camvid'): seg_dls('voc')
    with pytest.raises(DataUnavailableError, match='codes.txt'): seg_dls('camvid', download=False)

# --- training, caching, the learner's checks, area Grad-CAM

def test_train_cache_and_area_cam(tmp_path):
    dls = seg_dls('fashion_scenes', bs=16, n_train=32, device='cpu')
    kw = dict(epochs=1, root=tmp_path, widths=(4, 4, 8, 8, 8), fc_dim=8)
    r = train_fcn(dls, 'small', '8s', **kw)
    assert set(SEG_KEYS) <= set(r.metrics) and len(r.history) == 1 and seg.confusion(r).sum() == len(dls.test.dataset) * 64 * 64
    assert metrics_from_confusion(seg.confusion(r))['mean_iou'] == pytest.approx(r.metrics['mean_iou'])
    mtime = (r.path/'model.pth').stat().st_mtime_ns
    r2 = train_fcn(dls, 'small', '8s', **kw)
    assert r2.path == r.path and (r.path/'model.pth').stat().st_mtime_ns == mtime
    t = results_table([r])
    assert list(t.columns[:4]) == ['encoder', 'decoder', 'pixel acc', 'mean acc'] and t.loc[0, 'decoder'] == 'FCN-8s' and t.loc[0, 'epochs'] == 1
    x = dls.test.dataset.images(slice(0, 1))
    a, reg = area_cam(r, x, 2, region=torch.ones(64, 64))
    assert a.shape == (1, 1, 64, 64) and torch.isfinite(a).all()
    with pytest.raises(RegxError, match='region must be'): area_cam(r, x, 2, region=torch.ones(8, 8))
    with pytest.raises(RegxError, match='class id in 0..10'): area_cam(r, x, 11)
    with pytest.raises(RegxError, match='scores 5 classes but the data has 11'): seg_learner(dls, FCN('small', '8s', 5, 1))
