"""The paper's two classifiers (Sec. V), trained from scratch: VGG-19 and AlexNet, NHWC, 1 input channel.

VGG-19 as Keras builds it (``keras.applications.VGG19(weights=None, classes=K)``): sixteen 3x3 'same'
convolutions with ReLU in five blocks of 2, 2, 4, 4, 4, each block ending in a 2x2/2 max-pool, then
Flatten, Dense 4096 + ReLU twice and Dense K (logits; the softmax is fused into the loss).

AlexNet in the common single-tower form without local response normalisation: conv 96 11x11/4 'valid',
pool 3/2, conv 256 5x5 'same', pool 3/2, conv 384, 384, 256 3x3 'same', pool 3/2, Flatten, Dense 4096 +
ReLU + Dropout 0.5 twice, Dense K. Every convolution is followed by ReLU.

Presets keep the structure and scale the widths (docs/design.md, "Classifiers and their presets"):

    preset  image  VGG widths            VGG FC  AlexNet widths        AlexNet FC  AlexNet conv 1
    paper   128    64,128,256,512,512    4096    96,256,384,384,256    4096        11x11 / 4
    small   64     16,32,64,128,128      512     24,64,96,96,64        512         5x5 / 2
    tiny    32     8,16,32,64,64         128     12,32,48,48,32        128         3x3 / 1

AlexNet's first convolution is adapted so that it gives the same 30x30 map at every size (then 14, 6,
2 after the three pools); 11x11/4 on 32 px would leave nothing for the third pool. At 128 px with K = 4:
VGG-19 has 70,379,460 parameters and AlexNet 24,720,068 (the tests recompute both).

Two departures from Keras' defaults, because without them a plain 19-layer ReLU network does not
train (docs/design.md, "Classifier initialisation and input scaling"): kernels are He-uniform,
U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)), not Glorot-uniform (``init="glorot"`` restores Keras'; with it
the signal shrinks about 2x per layer and VGG-19's logits barely depend on the image at the start), and
the first layer ``Standardize`` (``layers/standardize.py``) subtracts the training set's pixel mean and
divides by its standard deviation (like Keras' ``preprocess_input`` for VGG, which subtracts a mean);
the two numbers are buffers, saved with the weights. Neither changes a parameter count.

``python -m mttgan_min.evaluation.classifiers --preset paper`` prints Keras-style summaries.
"""
import argparse
from dataclasses import dataclass

import numpy as np

from ..initializers import he_uniform
from ..layers import REFERENCE, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential, Standardize

NAMES = ("vgg19", "alexnet")
INITS = ("he", "glorot")
VGG_BLOCKS = (2, 2, 4, 4, 4)


@dataclass(frozen=True)
class ClassifierPreset:
    name: str
    image_size: int
    vgg_widths: tuple
    vgg_fc: int
    alex_widths: tuple
    alex_fc: int
    alex_conv1: tuple      # (kernel, stride) of AlexNet's first, 'valid' convolution


CLASSIFIER_PRESETS = {
    "paper": ClassifierPreset("paper", 128, (64, 128, 256, 512, 512), 4096, (96, 256, 384, 384, 256), 4096, (11, 4)),
    "small": ClassifierPreset("small", 64, (16, 32, 64, 128, 128), 512, (24, 64, 96, 96, 64), 512, (5, 2)),
    "tiny": ClassifierPreset("tiny", 32, (8, 16, 32, 64, 64), 128, (12, 32, 48, 48, 32), 128, (3, 1)),
}


def get_classifier_preset(preset):
    if isinstance(preset, ClassifierPreset):
        return preset
    if preset not in CLASSIFIER_PRESETS:
        raise ValueError(f"unknown classifier preset {preset!r}: choose one of {', '.join(CLASSIFIER_PRESETS)}")
    return CLASSIFIER_PRESETS[preset]


def redraw_he_uniform(net, rng):
    """Redraw every Conv2D/Dense kernel of ``net`` with ``initializers.he_uniform``, fan_in = all but its last axis."""
    for layer in net.walk():
        if layer.kind in ("conv2d", "dense"):
            w = layer.params["w"]
            w[...] = he_uniform(rng, w.shape, int(np.prod(w.shape[:-1])), w.dtype)
    return net


def _finish(net, init, rng):
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    return redraw_he_uniform(net, rng) if init == "he" else net


def build_vgg19(preset="paper", num_classes=4, rng=None, dtype=np.float32, init="he", tier=REFERENCE):
    """VGG-19: images (N, S, S, 1) -> logits (N, num_classes). ``rng``: NumPy Generator (initialisation).

    ``tier``: the primitives of the convolutions and pools (``layers/reference.py``).
    """
    p = get_classifier_preset(preset)
    rng = np.random.default_rng(0) if rng is None else rng
    layers, c_in, size = [Standardize(dtype)], 1, p.image_size
    for width, convs in zip(p.vgg_widths, VGG_BLOCKS):
        for _ in range(convs):
            layers += [Conv2D(c_in, width, 3, padding="same", rng=rng, dtype=dtype, tier=tier), ReLU()]
            c_in = width
        layers.append(MaxPool2D(2, 2, tier=tier))
        size //= 2
    layers += [Flatten(),
               Dense(size * size * c_in, p.vgg_fc, rng=rng, dtype=dtype), ReLU(),
               Dense(p.vgg_fc, p.vgg_fc, rng=rng, dtype=dtype), ReLU(),
               Dense(p.vgg_fc, num_classes, rng=rng, dtype=dtype)]
    return _finish(Sequential(layers, name="vgg19", input_shape=(p.image_size, p.image_size, 1)), init, rng)


def build_alexnet(preset="paper", num_classes=4, rng=None, dtype=np.float32, dropout_rng=None, init="he",
                  tier=REFERENCE):
    """AlexNet (single tower, no LRN): images (N, S, S, 1) -> logits (N, num_classes).

    ``dropout_rng``: the generator of the two Dropout(0.5) layers (or set later with ``net.set_rng``);
    ``tier``: the primitives of the convolutions and pools (``layers/reference.py``).
    """
    p = get_classifier_preset(preset)
    rng = np.random.default_rng(0) if rng is None else rng
    w1, w2, w3, w4, w5 = p.alex_widths
    k1, s1 = p.alex_conv1
    layers = [Standardize(dtype),
              Conv2D(1, w1, k1, stride=s1, padding="valid", rng=rng, dtype=dtype, tier=tier), ReLU(),
              MaxPool2D(3, 2, tier=tier),
              Conv2D(w1, w2, 5, padding="same", rng=rng, dtype=dtype, tier=tier), ReLU(), MaxPool2D(3, 2, tier=tier),
              Conv2D(w2, w3, 3, padding="same", rng=rng, dtype=dtype, tier=tier), ReLU(),
              Conv2D(w3, w4, 3, padding="same", rng=rng, dtype=dtype, tier=tier), ReLU(),
              Conv2D(w4, w5, 3, padding="same", rng=rng, dtype=dtype, tier=tier), ReLU(), MaxPool2D(3, 2, tier=tier),
              Flatten()]
    net = Sequential(layers, name="alexnet", input_shape=(p.image_size, p.image_size, 1))
    flat = net.output_shape(net.input_shape)[0]
    net.layers += [Dense(flat, p.alex_fc, rng=rng, dtype=dtype), ReLU(), Dropout(0.5, rng=dropout_rng),
                   Dense(p.alex_fc, p.alex_fc, rng=rng, dtype=dtype), ReLU(), Dropout(0.5, rng=dropout_rng),
                   Dense(p.alex_fc, num_classes, rng=rng, dtype=dtype)]
    return _finish(net, init, rng)


def build_classifier(name, preset="paper", num_classes=4, rng=None, dtype=np.float32, dropout_rng=None,
                     init="he", tier=REFERENCE):
    """``build_vgg19`` or ``build_alexnet`` by name ("vgg19" or "alexnet")."""
    if name == "vgg19":
        return build_vgg19(preset, num_classes, rng, dtype, init, tier)
    if name == "alexnet":
        return build_alexnet(preset, num_classes, rng, dtype, dropout_rng, init, tier)
    raise ValueError(f"unknown classifier {name!r}: choose one of {', '.join(NAMES)}")


def main(argv=None):
    from ..models import summary

    parser = argparse.ArgumentParser(prog="python -m mttgan_min.evaluation.classifiers",
                                     description="Print Keras-style summaries of the evaluation's classifiers.")
    parser.add_argument("--preset", choices=sorted(CLASSIFIER_PRESETS), default="paper",
                        help="network size (default: paper, 128x128 images)")
    parser.add_argument("--classes", type=int, default=4, help="outputs K (default: 4)")
    args = parser.parse_args(argv)
    for name in NAMES:
        print(summary(build_classifier(name, args.preset, args.classes)))
        print()


if __name__ == "__main__":
    main()
