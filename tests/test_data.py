"""Every dataset name loads (shipped, generated, and the downloadable ones from files in their official
formats written here), and missing or bad data fails with a clear error that leaves nothing behind."""
import gzip, hashlib, os, pickle, struct, tarfile
from pathlib import Path
import numpy as np
import pytest
import torch
from regx_nb import data
from regx_nb.core import DataUnavailableError, RegxError, UnknownNameError, regx_home, short_path
from regx_nb.data import DATASETS, get_dls, make_scenes, read_idx

RNG = np.random.default_rng(0)

def write_idx(arr, path, gz=True):
    arr = np.asarray(arr, np.uint8)
    raw = bytes([0, 0, 8, arr.ndim]) + struct.pack('>' + 'I' * arr.ndim, *arr.shape) + arr.tobytes()
    path = Path(str(path) + ('.gz' if gz else ''))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)

def write_mnist_folder(folder, n_train=60, n_test=20, gz=True):
    for stem, n in [('train', n_train), ('t10k', n_test)]:
        write_idx(RNG.integers(0, 256, (n, 28, 28)), folder / f'{stem}-images-idx3-ubyte', gz)
        write_idx(np.arange(n) % 10, folder / f'{stem}-labels-idx1-ubyte', gz)

def write_cifar10(folder, n=12):
    folder.mkdir(parents=True)
    for f in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(folder / f, 'wb') as fh:
            pickle.dump({'data': RNG.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': list(np.arange(n) % 10)}, fh)
    with open(folder / 'batches.meta', 'wb') as fh: pickle.dump({'label_names': [f'class{i}' for i in range(10)]}, fh)

def write_cifar100(folder, n=40):
    folder.mkdir(parents=True)
    for f in ['train', 'test']:
        with open(folder / f, 'wb') as fh:
            pickle.dump({'data': RNG.integers(0, 256, (n, 3072), dtype=np.uint8), 'fine_labels': list(np.arange(n) % 100),
                         'coarse_labels': list(np.arange(n) % 20)}, fh)
    with open(folder / 'meta', 'wb') as fh: pickle.dump({'fine_label_names': [f'f{i}' for i in range(100)]}, fh)

def write_svhn(folder, n=30):
    from scipy.io import savemat
    folder.mkdir(parents=True)
    for s in ('train', 'test'):
        savemat(folder / f'{s}_32x32.mat', {'X': RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                           'y': (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)})

def write_dogs(folder, per_breed=3):
    from PIL import Image
    from scipy.io import savemat
    breeds = ['n02085620-Chihuahua', 'n02085782-Japanese_spaniel']
    files = {'train': [], 'test': []}
    for b, breed in enumerate(breeds):
        (folder / 'Images' / breed).mkdir(parents=True)
        for k in range(per_breed * 2):
            name = f'{breed}/{breed.split("-")[0]}_{k}.jpg'
            Image.fromarray(RNG.integers(0, 256, (50 + 7 * k, 40 + 5 * b, 3), dtype=np.uint8)).save(folder / 'Images' / name)
            files['train' if k < per_breed else 'test'].append((name, b + 1))
    (folder / 'lists').mkdir()
    for s, fl in files.items():
        cell = np.empty((len(fl), 1), dtype=object)
        for i, (f, _) in enumerate(fl): cell[i, 0] = np.array([f])
        savemat(folder / 'lists' / f'{s}_list.mat', {'file_list': cell, 'labels': np.array([[l] for _, l in fl])})

# ---- shipped and generated --------------------------------------------------------------------------

def test_sample_is_shipped_and_split_5_1_1():
    dls = get_dls('fashion_mnist_sample')
    assert [len(dl.dataset) for dl in dls.loaders] == [5000, 1000, 1000]
    x, y = dls.one_batch()
    assert x.dtype == torch.float32 and x.shape == (64, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert dls.c == 10 and dls.vocab[0] == 'T-shirt/top' and y.dtype == torch.int64
    # the sample is small enough to ship
    assert sum(f.stat().st_size for f in (data.assets_path() / 'fashion_mnist_sample').iterdir()) < 3e6
    # train and valid are disjoint (no image in both)
    tr = {bytes(t.numpy()) for t in dls.train.dataset.x}
    assert not any(bytes(t.numpy()) in tr for t in dls.valid.dataset.x)

def test_digits_and_scenes():
    d = get_dls('digits')
    assert sum(len(dl.dataset) for dl in d.loaders) == 1797 and d.size == (28, 28)
    s = get_dls('fashion_scenes', n_train=50, bs=10)
    assert [len(dl.dataset) for dl in s.loaders] == [50, 10, 10] and s.test.dataset.masks.shape == (10, 64, 64)
    g = get_dls('fashion_scenes', variant='segment', n_train=20, bs=4, image_size=48)
    x, y = g.one_batch()
    assert x.shape == (4, 1, 48, 48) and y.shape == (4, 48, 48) and g.c == 11 and int(y.max()) <= 10

def test_scenes_masks_are_where_the_object_is():
    x, y, m = make_scenes(20, seed=1)
    for i in range(20):
        rows, cols = torch.nonzero(m[i], as_tuple=True)
        assert rows.max() - rows.min() < 28 and cols.max() - cols.min() < 28  # one garment, at most 28x28
    assert x[:, 0][m].mean() > 0.4 and x[:, 0][~m].mean() < 0.25

# ---- downloadable sets from files in their formats ----------------------------------------------------

@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / 'datasets'; d.mkdir()
    monkeypatch.setenv('REGX_DATA', str(d))
    return d

def test_fashion_mnist_full_from_regx_data(data_dir):
    write_mnist_folder(data_dir / 'fashion_mnist', gz=False)
    dls = get_dls('fashion_mnist', bs=8)
    assert len(dls.train.dataset) + len(dls.valid.dataset) == 60 and len(dls.test.dataset) == 20 and dls.vocab[9] == 'Ankle boot'

def test_mnist_torchvision_layout(data_dir):
    write_mnist_folder(data_dir / 'MNIST' / 'raw')
    dls = get_dls('mnist', bs=8, size=32)
    assert dls.size == (32, 32) and dls.n_in == 1 and len(dls.test.dataset) == 20

def test_cifar10_and_cifar100(data_dir):
    write_cifar10(data_dir / 'cifar-10-batches-py')
    dls = get_dls('cifar10', bs=8)
    assert dls.n_in == 3 and dls.size == (32, 32) and dls.vocab[1] == 'class1' and len(dls.test.dataset) == 12
    write_cifar100(data_dir / 'cifar-100-python')
    d100 = get_dls('cifar100', bs=8, channels=1)
    assert d100.c == 100 and d100.n_in == 1

def test_cifar_pixels_keep_their_layout(data_dir):
    "CIFAR rows are 1024 red, 1024 green, 1024 blue values in row-major order."
    folder = data_dir / 'cifar-10-batches-py'; write_cifar10(folder)
    img = np.zeros((1, 3072), np.uint8); img[0, :1024] = 255; img[0, 1024 + 5] = 77  # red plane full; one green pixel at (0, 5)
    with open(folder / 'test_batch', 'wb') as fh: pickle.dump({'data': img, 'labels': [3]}, fh)
    x = get_dls('cifar10', bs=8).test.dataset.images()
    assert x[0, 0].min() == 1 and x[0, 1, 0, 5] == pytest.approx(77 / 255) and x[0, 2].max() == 0

def test_svhn_label_10_is_zero(data_dir):
    write_svhn(data_dir / 'svhn')
    dls = get_dls('svhn', bs=8)
    assert dls.n_in == 3 and set(dls.test.dataset.y.tolist()) == set(range(10))

def test_stanford_dogs(data_dir):
    write_dogs(data_dir / 'stanford_dogs')
    dls = get_dls('stanford_dogs', bs=2, image_size=24)
    assert dls.vocab == ['Chihuahua', 'Japanese spaniel'] and dls.size == (24, 24) and dls.n_in == 3
    assert len(dls.test.dataset) == 6 and sorted(dls.test.dataset.y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert (regx_home('cache') / 'stanford_dogs_24.npz').is_file()  # decoded once, then cached

def test_download_through_a_checked_archive(tmp_path, monkeypatch):
    "The download path: fetch (checksum), safe extraction, then the reader, as when online."
    src = tmp_path / 'src'; write_cifar10(src / 'cifar-10-batches-py')
    arch = tmp_path / 'cifar-10-python.tar.gz'
    with tarfile.open(arch, 'w:gz') as t: t.add(src / 'cifar-10-batches-py', arcname='cifar-10-batches-py')
    md5 = hashlib.md5(arch.read_bytes()).hexdigest()
    monkeypatch.setattr(data.SOURCES['cifar10'], 'urls', [(arch.as_uri(), 'cifar-10-python.tar.gz', md5, '.')])
    dls = get_dls('cifar10', bs=8)
    assert len(dls.test.dataset) == 12 and (regx_home('data') / 'cifar-10-batches-py' / 'test_batch').is_file()

# ---- missing or bad data ------------------------------------------------------------------------------

def _leftovers(root):
    return [p for p in Path(root).rglob('*') if p.is_file() and (p.name.endswith('.part') or p.name.startswith('.'))]

@pytest.mark.parametrize('name', ['mnist', 'cifar10', 'cifar100', 'svhn', 'stanford_dogs'])
def test_missing_offline_says_where_to_put_files(name, tmp_path, monkeypatch):
    monkeypatch.setenv('REGX_DATA', str(tmp_path / 'empty'))
    with pytest.raises(DataUnavailableError) as e: get_dls(name, download=False)
    msg = str(e.value)
    assert name in msg and short_path(tmp_path / 'empty') in msg and 'Put the files in' in msg  # (as a reader sees it: ~/..., <tmp>/...)
    assert _leftovers(regx_home()) == []

def test_missing_fashion_full_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(data, 'DEBIAN_FASHION', tmp_path / 'no-debian-package')
    with pytest.raises(DataUnavailableError, match='apt-get install dataset-fashion-mnist'): get_dls('fashion_mnist', download=False)

def test_unreachable_download_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(data.SOURCES['mnist'], 'urls', [((tmp_path / 'nowhere.gz').as_uri(), 'train-images-idx3-ubyte.gz', None, None)])
    with pytest.raises(DataUnavailableError, match='could not download'): get_dls('mnist')
    assert _leftovers(regx_home()) == [] and not list((regx_home('data') / 'MNIST' / 'raw').glob('*'))

def test_bad_checksum_leaves_nothing(monkeypatch, tmp_path):
    f = tmp_path / 'cifar-10-python.tar.gz'; f.write_bytes(b'x' * 1000)
    monkeypatch.setattr(data.SOURCES['cifar10'], 'urls', [(f.as_uri(), f.name, '0' * 32, '.')])
    with pytest.raises(DataUnavailableError, match='checksum mismatch'): get_dls('cifar10')
    assert list((regx_home('data') / 'downloads').iterdir()) == [] and _leftovers(regx_home()) == []

def test_corrupt_archive_is_removed(monkeypatch, tmp_path):
    f = tmp_path / 'images.tar'; f.write_bytes(b'not a tar at all' * 10)
    monkeypatch.setattr(data.SOURCES['stanford_dogs'], 'urls', [(f.as_uri(), 'images.tar', None, 'stanford_dogs')])
    with pytest.raises(DataUnavailableError, match='not a readable tar'): get_dls('stanford_dogs')
    assert list((regx_home('data') / 'downloads').iterdir()) == []
    assert not (regx_home('cache') / 'stanford_dogs_64.npz').exists()

def test_truncated_idx_file(data_dir):
    write_mnist_folder(data_dir / 'MNIST' / 'raw', gz=False)
    p = data_dir / 'MNIST' / 'raw' / 'train-images-idx3-ubyte'
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(RegxError, match='truncated'): get_dls('mnist')
    with pytest.raises(RegxError, match='not an unsigned-byte IDX'):
        (data_dir / 'bad').write_bytes(b'\x01\x02\x03\x04'); read_idx(data_dir / 'bad')

def test_bad_names_and_options():
    with pytest.raises(UnknownNameError, match='Known datasets: fashion_mnist_sample'): get_dls('imagenet')
    with pytest.raises(RegxError, match="accepts \\['variant'"): get_dls('fashion_scenes', colour=True)
    with pytest.raises(RegxError, match='n_train must be'): get_dls(n_train=0)
    with pytest.raises(RegxError, match='channels must be'): get_dls('digits', channels=4)
    assert set(DATASETS.names) == {'fashion_mnist_sample', 'fashion_mnist', 'mnist', 'cifar10', 'cifar100', 'svhn',
                                   'stanford_dogs', 'digits', 'gaussian_clusters', 'fashion_scenes', 'pascal_voc', 'camvid'}  # (the last two read by 08)

def test_gaussian_clusters_are_points_split_five_one_one():
    dls = get_dls('gaussian_clusters', n_points=700)
    assert [len(dl.dataset) for dl in dls.loaders] == [500, 100, 100] and dls.size == () and dls.n_in == 2 and dls.c == 4
    x, y = dls.one_batch()
    assert x.shape == (64, 2) and x.dtype == torch.float32
    tr = dls.train.dataset
    for k, c in enumerate(data.CLUSTER_CENTRES):  # each class is one cluster
        assert (tr.x[tr.y == k].mean(0) - torch.tensor(c)).abs().max() < 0.25
    with pytest.raises(RegxError, match='holds points'): get_dls('gaussian_clusters', channels=3)
    with pytest.raises(RegxError, match='spread must be'): get_dls('gaussian_clusters', spread=-1.)
