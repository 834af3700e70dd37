"""Everything a training run holds in memory, and its round trip through a checkpoint.

State = student G and D, their Adam optimisers, the EMA teachers (MTT-GAN
fine-tuning only; which networks have one is the GAN's ``teachers`` in ``mttgan_min.gans``), the
random generators and the position in the schedule.

Randomness comes from explicit generators spawned from the run's seed, never from global state
(docs/design.md, "Resuming exactly"):

- ``init_g``, ``init_d``: NumPy, the Glorot initialisation of G and D (used once);
- ``data``  : NumPy, batch order and augmentation crops (``epoch_real_batches``);
- ``noise`` : on the device, latents and dropout masks (``mtt_gan_step``);
- ``fixed`` : NumPy, the fixed latent batch of the sample grids (used once);
- ``reseed``: NumPy, seeds of the device noise generator on the GPU (see below).

A NumPy generator's state (``bit_generator.state``) is saved in every
checkpoint and restored on resume, so on the CPU an interrupted and resumed run
ends with exactly the weights of an uninterrupted one. CuPy's XORWOW state
cannot be saved, so on the GPU the noise generator is reseeded from the host
``reseed`` generator at the start of every epoch and at every resume:
resumed GPU runs are statistically, not bitwise, equivalent.
"""
import copy

import numpy as np

from . import checkpoint
from .. import gans
from ..adam import PAPER_BETA1, Adam
from ..backend import make_rng
from ..ema import EMATeacher
from ..layers import REFERENCE
from ..models import build_discriminator, build_generator, generator_start, preset_of, sample_latent

N_FIXED = 36  # fixed latents for the per-epoch sample grid (6 x 6)


def seed_sequences(seed):
    """Independent child seeds for the run's generators (NumPy SeedSequence.spawn)."""
    init_g, init_d, data, noise, fixed, reseed = np.random.SeedSequence(seed).spawn(6)
    return dict(init_g=init_g, init_d=init_d, data=data, noise=noise, fixed=fixed, reseed=reseed)


class TrainState:
    """The in-memory run. ``stage``, ``epoch``, ``iteration`` count completed work:
    ``epoch`` epochs of stage ``stage`` are done, plus ``iteration`` iterations of the next one.
    ``tier``: the primitives the networks compute with (``layers/reference.py``; train passes the fast tier).
    """

    def __init__(self, cfg, xp, tier=REFERENCE):
        self.cfg, self.xp = cfg, xp
        self.gan = gans.of_mode(cfg["mode"])
        preset = self.preset = preset_of(cfg)
        seeds = seed_sequences(cfg["seed"])
        # weights are drawn on the host, so the same seed gives the same network on every device
        start = generator_start(cfg)
        self.G = build_generator(preset, np.random.default_rng(seeds["init_g"]), tier=tier,
                                 residual_init=start["residual_init"], upsample_init=start["upsample_init"]).to(xp)
        self.D = build_discriminator(preset, np.random.default_rng(seeds["init_d"]), tier=tier).to(xp)
        self.data_rng = np.random.default_rng(seeds["data"])
        self.reseed_rng = np.random.default_rng(seeds["reseed"])
        self.noise_rng = make_rng(xp, seeds["noise"].generate_state(1)[0]) if xp is not np \
            else np.random.default_rng(seeds["noise"])
        self.fixed_z = sample_latent(np.random.default_rng(seeds["fixed"]), N_FIXED,
                                     preset.latent_dim, cfg["latent"], np.float32)
        self.opt_G = self.opt_D = None
        self.ema = {}                 # "G", "D" -> EMATeacher: the stage's teachers (MTT-GAN fine-tuning)
        self.stage = self.epoch = self.iteration = 0
        self.epoch_data_state = None  # data_rng state at the start of the current epoch
        self.metrics_rows = 0

    # --- schedule ---------------------------------------------------------
    def begin_stage(self, with_teachers):
        """Fresh Adam moments; the GAN's teachers (if ``with_teachers``) start as copies of the students."""
        self.opt_G = Adam(self.G, lr=float(self.cfg["lr"]))
        # a run recorded before --d-beta1 existed used the paper's
        self.opt_D = Adam(self.D, lr=float(self.cfg["d_lr"]), beta1=float(self.cfg.get("d_beta1", PAPER_BETA1)))
        students = {"G": self.G, "D": self.D}
        self.ema = {name: EMATeacher(students[name], self.cfg["ema_buffers"])
                    for name in (self.gan.teachers if with_teachers else ())}
        self.epoch = self.iteration = 0

    def reseed_device_noise(self):
        """GPU only: a new device generator seeded from the (saved) host generator."""
        if self.xp is not np:
            self.noise_rng = make_rng(self.xp, int(self.reseed_rng.integers(2**63)))

    def start_epoch_data(self):
        """Remember the data generator's state at an epoch start (resume replays the epoch from it)."""
        self.epoch_data_state = copy.deepcopy(self.data_rng.bit_generator.state)

    @property
    def teachers(self):
        """The stage's EMATeachers as a tuple (G's first), as ``gan_step.mtt_gan_step`` takes them; None
        when the stage has none."""
        return tuple(self.ema.values()) or None

    def teacher(self, name):
        """The EMA teacher network of "G" or "D", or None when this stage has none."""
        return self.ema[name].network if name in self.ema else None

    def final_generator_name(self):
        """"teacher" when the GAN's samples come from a teacher G this stage has (MTT-GAN), else "student"."""
        return "teacher" if self.gan.samples_from == "teacher" and self.teacher("G") is not None else "student"

    def final_generator(self):
        """The generator used for samples and exports: the teacher G for MTT-GAN, else the student."""
        return self.teacher("G") if self.final_generator_name() == "teacher" else self.G

    # --- checkpoint round trip ----------------------------------------------
    def groups(self):
        """{group: {name: array}} of every array in the checkpoint."""
        g = {"G": self.G.state_dict(), "D": self.D.state_dict(),
             "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
             "fixed": {"z": self.fixed_z}}
        for name, teacher in self.ema.items():
            g[f"{name}_teacher"] = teacher.network.state_dict()
        return g

    def meta(self):
        return {"preset": self.cfg["preset"], "latent_dim": self.preset.latent_dim, "mode": self.cfg["mode"],
                "stage": self.stage, "epoch": self.epoch, "iteration": self.iteration,
                "metrics_rows": self.metrics_rows,
                "rng": {"data": self.data_rng.bit_generator.state,
                        "data_epoch_start": self.epoch_data_state,
                        "reseed": self.reseed_rng.bit_generator.state,
                        "noise": self.noise_rng.bit_generator.state if self.xp is np else None}}

    def save(self, path):
        """Write the checkpoint, keeping the one it replaces as ``checkpoint.prev.npz``."""
        checkpoint.save_checkpoint(path, self.groups(), self.meta(), keep_previous=True)

    def load(self, path, groups, meta):
        """Restore from a loaded checkpoint, after ``begin_stage`` built the objects it must match
        (the checks name the preset, or every missing array and shape that differs)."""
        checkpoint.check_preset(path, meta, self.preset)
        checkpoint.check_groups(path, groups, self.groups())
        try:
            self.G.load_state_dict(groups["G"])
            self.D.load_state_dict(groups["D"])
            self.opt_G.load_state_dict(groups["opt_G"])
            self.opt_D.load_state_dict(groups["opt_D"])
            for name, teacher in self.ema.items():
                teacher.network.load_state_dict(groups[f"{name}_teacher"])
        except ValueError as err:
            raise checkpoint.CheckpointError(f"{path} does not match: {err}.")
        self.fixed_z = np.asarray(groups["fixed"]["z"], dtype=np.float32)
        self.stage, self.epoch, self.iteration = meta["stage"], meta["epoch"], meta["iteration"]
        self.metrics_rows = meta["metrics_rows"]
        rng = meta["rng"]
        self.data_rng.bit_generator.state = rng["data"]
        self.epoch_data_state = rng["data_epoch_start"]
        self.reseed_rng.bit_generator.state = rng["reseed"]
        if self.xp is np and rng["noise"] is not None:
            self.noise_rng.bit_generator.state = rng["noise"]
        else:
            self.reseed_device_noise()

    def load_pretrained(self, path):
        """Take G and D from a finished pretraining stage (``RUN/pretrained.npz``)."""
        groups, meta = checkpoint.load_checkpoint(path)
        checkpoint.check_preset(path, meta, self.preset)
        checkpoint.check_groups(path, groups, {"G": self.G.state_dict(), "D": self.D.state_dict()})
        self.G.load_state_dict(groups["G"])
        self.D.load_state_dict(groups["D"])
        return meta


def save_networks(path, nets, meta):
    """Save {group: network} (e.g. pretrained G and D, or the final generator) atomically."""
    checkpoint.save_checkpoint(path, {k: net.state_dict() for k, net in nets.items()}, meta)
