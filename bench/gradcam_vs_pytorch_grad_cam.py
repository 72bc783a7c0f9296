"""Grad-CAM of 256 images: the kit's `attribute(..., method='gradcam')` (captum's LayerGradCam) against
pytorch-grad-cam (PyPI `grad-cam`), on simple_cnn (28x28) and resnet18 (32x32), side by side in one process.
Targets: our time <= 0.6 of theirs, and the maps equal after per-image min-max scaling (correlation >= 0.999).

    pip install grad-cam
    python bench/gradcam_vs_pytorch_grad_cam.py [--repeats 5]
"""
import argparse, statistics, sys, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from regx_nb.attribution import attribute
from regx_nb.models import get_model, get_layer

def theirs(model, x, t, layer):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    with GradCAM(model=model, target_layers=[get_layer(model, layer)]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in t])

def ours(model, x, t, layer):
    return attribute(model, x, t, 'gradcam', layer)[:, 0].numpy()

def minmax(a):
    a = a.reshape(len(a), -1); lo, hi = a.min(1, keepdims=True), a.max(1, keepdims=True)
    return (a - lo) / np.maximum(hi - lo, 1e-12)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--n', type=int, default=256)
    a = ap.parse_args()
    out = {}
    for name, n_in, size, layer in [('simple_cnn', 1, 28, 'conv3'), ('resnet18', 3, 32, 'layer4.1.conv2')]:
        torch.manual_seed(0)
        model = get_model(name, n_in=n_in, size=size).eval()
        x = torch.rand(a.n, n_in, size, size)
        with torch.no_grad(): t = model(x).argmax(1)
        ours(model, x, t, layer); theirs(model, x, t, layer)  # warm up
        times = {'ours': [], 'theirs': []}
        for r in range(a.repeats):
            for who, fn in ((('ours', ours), ('theirs', theirs)) if r % 2 == 0 else (('theirs', theirs), ('ours', ours))):
                t0 = time.perf_counter(); fn(model, x, t, layer); times[who].append(time.perf_counter() - t0)
        m1, m2 = minmax(ours(model, x, t, layer)), minmax(theirs(model, x, t, layer))
        valid = (m1.std(1) > 0) & (m2.std(1) > 0)  # an all-zero map has no correlation to compute
        corr = np.array([np.corrcoef(u, v)[0, 1] for u, v in zip(m1[valid], m2[valid])])
        ratio = statistics.median(times['ours']) / statistics.median(times['theirs'])
        out[name] = dict(layer=layer, n=a.n, ours_s=statistics.median(times['ours']), theirs_s=statistics.median(times['theirs']),
                         ratio=ratio, corr_min=float(corr.min()), corr_mean=float(corr.mean()), n_compared=int(valid.sum()),
                         max_abs_diff_scaled=float(np.abs(m1 - m2).max()))
        print(f"{name:10s} ours {out[name]['ours_s']*1e3:7.1f} ms  theirs {out[name]['theirs_s']*1e3:7.1f} ms  ratio {ratio:.3f} (target <= 0.6)  "
              f"corr min {corr.min():.5f} mean {corr.mean():.5f} over {valid.sum()} maps (target >= 0.999)")
    passed = all(v['ratio'] <= 0.6 and v['corr_min'] >= 0.999 for v in out.values())
    write_result('gradcam', dict(results=out, passed=passed))

if __name__ == '__main__': main()
