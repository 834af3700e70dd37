"""mttgan-min: a minimal, readable NumPy/CuPy implementation of MTT-GAN.

Menon et al., "Generating Realistic COVID19 X-rays with a Mean Teacher +
Transfer Learning GAN", arXiv:2009.12478 (2020).
"""
__version__ = "0.1.0"
