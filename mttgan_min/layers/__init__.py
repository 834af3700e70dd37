"""Hand-written layers with explicit forward and backward passes (NHWC).

The layers that convolve, pool or sum per channel take ``tier=``, the primitives they compute with:
the reference tier ``REFERENCE`` (``reference.py``) unless given another.
"""
from .activations import LeakyReLU, ReLU, Sigmoid, softmax
from .base import Layer
from .batchnorm import BatchNorm2D
from .containers import Residual, Sequential
from .conv_layers import Conv2D, Conv2DTranspose
from .dense import Dense
from .dropout import Dropout
from .pooling import MaxPool2D
from .reference import REFERENCE
from .reshape import Flatten, Reshape
from .standardize import Standardize

__all__ = ["Layer", "Dense", "Conv2D", "Conv2DTranspose", "BatchNorm2D", "LeakyReLU", "ReLU", "Sigmoid",
           "softmax", "Dropout", "MaxPool2D", "Flatten", "Reshape", "Residual", "Sequential", "Standardize",
           "REFERENCE"]
