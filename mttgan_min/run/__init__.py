"""The job's machinery: the training loop, the train state, the run directory and its checkpoints.

Nothing here is part of the paper's method; a student can skip this package. It imports the engine
and the paper's modules (``mttgan_min.models``, ``gan_step``, ``ema``), never the other way round.
"""
