"""Standardize: out = (x - mean) / std with fixed scalars (the first layer of the evaluation's classifiers)."""
import numpy as np

from .base import Layer


class Standardize(Layer):
    """out = (x - mean) / std, any shape -> same shape; mean and std are buffers, set from training images by ``fit``."""

    def __init__(self, dtype=np.float32):
        super().__init__()
        self.buffers = {"mean": np.zeros((), dtype), "std": np.ones((), dtype)}

    def fit(self, images):
        """Set mean and std from training images (N, S, S, 1), NumPy; a constant set keeps std 1."""
        images = np.asarray(images, dtype=np.float64)
        std = float(images.std())
        self.buffers["mean"][...] = float(images.mean())
        self.buffers["std"][...] = std if std > 0 else 1.0
        return self

    def forward(self, x):
        return (x - self.buffers["mean"]) / self.buffers["std"]

    def backward(self, dout):
        return dout / self.buffers["std"]
