"""The paper's evaluation (Secs. V-VI, Tables I and II) and measures of the GANs themselves.

Classifiers trained on generated images and tested on held-out real ones, exact statistics with
SciPy, controls, and measures of a generator's samples that need no downloaded weights.
"""
