"""Hand-written layers with explicit forward and backward passes (NHWC)."""
from .activations import LeakyReLU, ReLU, Sigmoid, softmax
from .base import Layer
from .batchnorm import BatchNorm2D
from .containers import Residual, Sequential
from .conv_layers import Conv2D, Conv2DTranspose
from .dense import Dense
from .dropout import Dropout
from .pooling import MaxPool2D
from .reshape import Flatten, Reshape

__all__ = ["Layer", "Dense", "Conv2D", "Conv2DTranspose", "BatchNorm2D", "LeakyReLU", "ReLU",
           "Sigmoid", "softmax", "Dropout", "MaxPool2D", "Flatten", "Reshape", "Residual", "Sequential"]
