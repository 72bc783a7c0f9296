"""Build the Fashion-MNIST sample that ships in `regx_nb/assets/`.

A class-stratified, seeded sample of the official Fashion-MNIST (600 train and 100 test images per
class), written in the official IDX format and compressed with xz so that the kit reads it with the
same reader as the full set. Source: the Debian package `dataset-fashion-mnist`
(`apt-get install dataset-fashion-mnist`) or any folder holding the four official files.

    python tools/make_fashion_sample.py [--src /usr/share/datasets/fashion-mnist]
"""
import argparse, gzip, lzma, os, struct
from pathlib import Path
import numpy as np

FILES = dict(train=('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
             test=('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'))

def read_idx(path):
    "Read an IDX file (raw or .gz) into a numpy array."
    path = Path(path)
    if not path.exists() and path.with_name(path.name + '.gz').exists(): path = path.with_name(path.name + '.gz')
    data = gzip.open(path).read() if path.suffix == '.gz' else path.read_bytes()
    zero, dtype, ndim = data[0:2], data[2], data[3]
    assert zero == b'\x00\x00' and dtype == 0x08, f'{path} is not an unsigned-byte IDX file'
    shape = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)

def write_idx_xz(arr, path):
    "Write `arr` (uint8) as an xz-compressed IDX file, atomically."
    hdr = bytes([0, 0, 0x08, arr.ndim]) + struct.pack('>' + 'I' * arr.ndim, *arr.shape)
    tmp = path.with_name(path.name + '.part')
    tmp.write_bytes(lzma.compress(hdr + np.ascontiguousarray(arr, np.uint8).tobytes(), preset=9 | lzma.PRESET_EXTREME))
    os.replace(tmp, path)

def stratified(y, per_class, rng):
    "Indices of `per_class` items of each class, in a shuffled order."
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    return rng.permutation(idx)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--src', default='/usr/share/datasets/fashion-mnist', help='folder with the four official files')
    p.add_argument('--dest', default=str(Path(__file__).resolve().parents[1] / 'regx_nb/assets/fashion_mnist_sample'))
    p.add_argument('--train-per-class', type=int, default=600)
    p.add_argument('--test-per-class', type=int, default=100)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    rng, src, dest = np.random.default_rng(a.seed), Path(a.src), Path(a.dest)
    dest.mkdir(parents=True, exist_ok=True)
    for split, per_class in (('train', a.train_per_class), ('test', a.test_per_class)):
        ximg, ylab = (read_idx(src / f) for f in FILES[split])
        idx = stratified(ylab, per_class, rng)
        write_idx_xz(ximg[idx], dest / (FILES[split][0] + '.xz'))
        write_idx_xz(ylab[idx], dest / (FILES[split][1] + '.xz'))
        print(f'{split}: {len(idx)} images, classes {np.bincount(ylab[idx]).tolist()}')
    total = sum(f.stat().st_size for f in dest.glob('*.xz'))
    print(f'wrote {dest} ({total / 1e6:.2f} MB)')

if __name__ == '__main__': main()
