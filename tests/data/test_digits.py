"""scikit-learn digits: the fixed split, and the digits CNN training to > 95% in seconds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from approxhil.data import Batches, load_digits
from approxhil.models import build_model, model_info


def test_fixed_stratified_split() -> None:
    a, b = load_digits(), load_digits()
    assert (len(a.train), len(a.test)) == (1347, 450)
    assert a.train.x.shape == (1347, 1, 8, 8) and a.train.x.dtype == torch.uint8
    assert int(a.train.x.max()) == 16
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.train.y, b.train.y)
    counts = torch.bincount(a.test.y, minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 47  # stratified: about 45 per digit
    train_images = {bytes(img.numpy()) for img in a.train.x}
    assert not any(bytes(img.numpy()) in train_images for img in a.test.x)  # disjoint splits
    assert a.classes == tuple("0123456789") and bool(a.test.exact.all())


def test_digits_cnn_trains() -> None:
    """Ten epochs of plain SGD (about half a second on an idle 2-core CPU) reach > 95% test accuracy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # layers this small gain nothing from a second thread
    try:
        accuracy = train_digits_cnn()
    finally:
        torch.set_num_threads(threads)
    assert accuracy > 0.95, accuracy


def train_digits_cnn() -> float:
    torch.manual_seed(0)
    splits = load_digits()
    info = model_info("digits_cnn")
    model = build_model("digits_cnn")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = Batches(splits.train, 32, info.normalization, shuffle=True, seed=0)
    for _ in range(10):
        model.train()
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        x, y = next(iter(Batches(splits.test, len(splits.test), info.normalization)))
        return (model(x).argmax(1) == y).float().mean().item()
