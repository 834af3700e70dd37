"""Classifier training: the stratified validation split, learning on an easy task, Ctrl-C and resume
(the same weights as an uninterrupted run), best-epoch selection; the training sets of the rows."""
import numpy as np
import pytest

from mttgan_min.data import Dataset
from mttgan_min.evaluation.classifiers import build_classifier
from mttgan_min.evaluation.train_classifier import predict_proba, stratified_split, train_classifier
from mttgan_min.evaluation.trainsets import (TrainSetError, build_training_set, real_share, sample_class,
                                             soft_augment_to)
from mttgan_min.run.loop import Stopped


def easy_task(rng, n=48, size=32):
    """Two classes told apart by brightness of the lower half: (images, labels)."""
    x = rng.uniform(0.0, 0.5, (n, size, size, 1)).astype(np.float32)
    y = np.arange(n) % 2
    x[y == 1, size // 2:] += 0.4
    return x, y


def test_stratified_split_is_stratified_shuffled_and_seeded():
    labels = np.repeat([0, 1, 2], [40, 20, 10])            # class-sorted, as the training sets are
    tr, va = stratified_split(labels, 0.3, seed=5)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(70))
    assert np.bincount(labels[va]).tolist() == [12, 6, 3]   # 30% of each class, not the last 30%
    assert not np.all(np.diff(va) > 0)                      # shuffled
    tr2, va2 = stratified_split(labels, 0.3, seed=5)
    np.testing.assert_array_equal(va, va2)
    assert not np.array_equal(np.sort(va), np.sort(stratified_split(labels, 0.3, seed=6)[1]))


def test_alexnet_learns_an_easy_task(rng):
    x, y = easy_task(rng, 64)
    net = build_classifier("alexnet", "tiny", 2, rng=rng)
    fit = train_classifier(net, x, y, epochs=6, lr=1e-3, seed=0, progress=False)
    assert len(fit["history"]) == 6 and fit["split"] == {"train": 44, "val": 20}
    p = predict_proba(net, x, np)
    assert p.shape == (64, 2) and np.allclose(p.sum(1), 1.0)
    assert fit["history"][-1]["train_loss"] < fit["history"][0]["train_loss"]
    assert np.mean(p.argmax(1) == y) > 0.8


class StopAfter:
    """A stand-in for run.loop.StopFlag that 'receives' SIGINT once `calls` batches have run."""

    def __init__(self, calls):
        self.calls = calls

    @property
    def signum(self):
        self.calls -= 1
        return 2 if self.calls < 0 else None


def test_stop_and_resume_give_the_uninterrupted_weights(rng, tmp_path):
    x, y = easy_task(rng, 48)
    nets = [build_classifier("alexnet", "tiny", 2, rng=np.random.default_rng(3)) for _ in range(2)]
    ref = train_classifier(nets[0], x, y, epochs=3, lr=1e-3, seed=1, progress=False)
    ckpt = tmp_path / "c.npz"
    with pytest.raises(Stopped) as stopped:                 # stops in epoch 2 (2 batches per epoch)
        train_classifier(nets[1], x, y, epochs=3, lr=1e-3, seed=1, checkpoint=ckpt, stop=StopAfter(3),
                         progress=False)
    assert stopped.value.code == 130 and ckpt.is_file()
    fresh = build_classifier("alexnet", "tiny", 2, rng=np.random.default_rng(99))   # weights come from ckpt
    out = train_classifier(fresh, x, y, epochs=3, lr=1e-3, seed=1, checkpoint=ckpt, progress=False)
    assert [h["epoch"] for h in out["history"]] == [1, 2, 3]
    for k, v in nets[0].state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v, err_msg=k)
    assert out["val_accuracy"] == ref["val_accuracy"]


def test_best_selection_returns_the_best_epoch(rng):
    x, y = easy_task(rng, 48)
    net = build_classifier("vgg19", "tiny", 2, rng=rng)
    fit = train_classifier(net, x, y, epochs=3, lr=1e-3, seed=0, select="best", progress=False)
    best = max(h["val_accuracy"] for h in fit["history"])
    assert fit["val_accuracy"] == best
    assert fit["history"][fit["epoch"] - 1]["val_accuracy"] == best


def pools(rng, n_kaggle=30, n_covid=12, size=8):
    labels = np.repeat(["normal", "bacterial", "viral"], n_kaggle)
    k = Dataset(rng.random((len(labels), size, size, 1), dtype=np.float32), labels, labels, labels)
    c = Dataset(rng.random((n_covid, size, size, 1), dtype=np.float32), np.full(n_covid, "covid"),
                np.arange(n_covid).astype(str), np.arange(n_covid).astype(str))
    return k, c


def test_training_sets_of_the_rows(rng):
    k, c = pools(rng)
    gen = np.full((20, 8, 8, 1), 0.5, np.float32)
    x, y, comp = build_training_set("multiclass", "mtt_gen", k, c, gen, 20)
    assert x.shape == (80, 8, 8, 1) and np.bincount(y).tolist() == [20, 20, 20, 20]
    np.testing.assert_array_equal(x[y == 3], gen)          # COVID = generated only
    assert comp["covid"] == {"real": 0, "generated": 20} and comp["normal"] == {"real": 20}
    x, y, comp = build_training_set("binary", "mtt_real_gen", k, c, gen, 20)
    assert comp["covid"] == {"real": 2, "generated": 18}   # round(20 * 159 / 1400) real
    assert np.sum(np.all(x[y == 1] == 0.5, axis=(1, 2, 3))) == 18
    x, y, comp = build_training_set("binary", "real_only", k, c, None, 20)
    assert comp["covid"] == {"real": 12, "real_crops": 8}
    np.testing.assert_array_equal(x[y == 1][:12], c.images)
    assert real_share(1400, 159) == 159 and real_share(1400, 100) == 100 and real_share(700, 159) == 80
    with pytest.raises(TrainSetError, match="fewer than"):
        sample_class(k, "normal", 31, 0)
    with pytest.raises(TrainSetError, match="generated"):
        build_training_set("binary", "mtt_gen", k, c, gen[:5], 20)


def test_soft_augment_crops_are_new_images(rng):
    images = rng.random((5, 16, 16, 1), dtype=np.float32)
    out = soft_augment_to(images, 12, seed=0)
    assert out.shape == (12, 16, 16, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:5], images)
    assert all(not np.any(np.all(out[i] == images, axis=(1, 2, 3))) for i in range(5, 12))
    np.testing.assert_array_equal(out, soft_augment_to(images, 12, seed=0))


def test_real_only_crops_come_from_the_larger_copy_like_the_gans():
    """The real-only control's crops are cut from the data layer's larger copy and scaled down, as the
    GANs' soft augmentation does, not cut from the training-size images and scaled up."""
    from mttgan_min.data import make_synthetic
    from mttgan_min.data.augment import crop_and_resize, random_crop_boxes
    from mttgan_min.data.split import class_rng

    ds = make_synthetic("covid", size=16, seed=0)
    images, hires = ds.images[:6], ds.hires[:6]
    assert hires.shape[1] > images.shape[1]
    out = soft_augment_to(images, 10, seed=3, hires=hires)
    rng = class_rng(3, "real-only")
    src = rng.integers(0, 6, size=4)
    boxes = random_crop_boxes(4, rng)
    np.testing.assert_array_equal(out[6:], crop_and_resize(hires[src], boxes, size=16))
    assert not np.array_equal(out[6:], crop_and_resize(images[src], boxes))
