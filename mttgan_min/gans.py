"""The GANs of the paper, in one registry (Secs. IV-V; docs/design.md, "The three GANs and their stages").

    name          train --mode   stages                      teachers  samples from  COVID factor
    baseline      baseline       train on COVID              -         student       1
    baseline_aug  baseline       train on COVID              -         student       50
    transfer      transfer       pretrain Kaggle, fine-tune  -         student       50
    mtt           mtt            pretrain Kaggle, fine-tune  G and D   teacher G     50

A ``GAN`` says everything the commands need about one of them: ``train`` (its --mode choices and
defaults, the stages, the step of every iteration, the EMA teachers, which G is exported),
``reproduce`` (the order and options of the runs) and ``evaluate`` (the rows of Tables I and II each
GAN's images fill). A variant is one more entry plus its step function: ``register(GAN(...))``.
"""
from dataclasses import dataclass

from . import gan_step


def paper_step(state, real):
    """One iteration of every GAN of the paper (``gan_step.mtt_gan_step``): D step, G step, and the
    EMA step of the teachers the stage has (none outside MTT-GAN fine-tuning).

    state: a ``run.state.TrainState``; real: (16, S, S, 1) on its device. Returns {d_loss, g_loss,
    d_real, d_fake} as Python floats.
    """
    cfg = state.cfg
    return gan_step.mtt_gan_step(state.G, state.D, state.opt_G, state.opt_D, real, state.noise_rng,
                                 latent=cfg["latent"], teachers=state.teachers,
                                 ema_decay=cfg["ema_decay"] or 0.0)


@dataclass(frozen=True)
class Row:
    """One row of Tables I and II: its name, where its COVID images come from ("gen": generated only,
    "real+gen": the real ones plus generated), and its label in the tables."""
    name: str
    source: str
    label: str


@dataclass(frozen=True)
class GAN:
    """One GAN of the paper (or a variant).

    name: its name in reproduce and evaluate (--gan NAME=RUN); mode: the ``train --mode`` that trains it
    (a GAN named like its mode gives that mode's defaults); pretrain: pretrain on the Kaggle pool, then
    fine-tune on the COVID pool (else one stage "train" on the COVID pool); step(state, real) -> metrics:
    one iteration; teachers: the networks ("G", "D") with EMA teachers during fine-tuning; samples_from:
    "teacher" (the teacher G draws the samples and is exported) or "student"; augment_factor: the COVID
    pool's soft-augmentation factor; shares_pretraining_of: reproduce fine-tunes it from that GAN's
    pretraining (``train --pretrained``); rows: the table rows its images fill.
    """
    name: str
    mode: str
    pretrain: bool
    step: object = paper_step
    teachers: tuple = ()
    samples_from: str = "student"
    augment_factor: int = 50
    shares_pretraining_of: str = None
    rows: tuple = ()


GANS = {}  # name -> GAN, in the order of the paper's tables


def register(gan):
    """Add ``gan`` to the registry (its name must be new); returns it."""
    if gan.name in GANS:
        raise ValueError(f"a GAN named {gan.name!r} is already registered")
    if gan.samples_from == "teacher" and "G" not in gan.teachers:
        raise ValueError(f"GAN {gan.name!r} draws its samples from a teacher G but has none")
    GANS[gan.name] = gan
    return gan


register(GAN("baseline", "baseline", pretrain=False, augment_factor=1,
             rows=(Row("baseline", "gen", "Baseline GAN, no augmentation (generated)"),)))
register(GAN("baseline_aug", "baseline", pretrain=False, augment_factor=50,
             rows=(Row("baseline_aug", "gen", "Baseline GAN, augmentation x50 (generated)"),)))
register(GAN("transfer", "transfer", pretrain=True,
             rows=(Row("transfer_gen", "gen", "Transfer GAN (generated)"),
                   Row("transfer_real_gen", "real+gen", "Transfer GAN (real + generated)"))))
register(GAN("mtt", "mtt", pretrain=True, teachers=("G", "D"), samples_from="teacher",
             shares_pretraining_of="transfer",
             rows=(Row("mtt_gen", "gen", "MTT-GAN (generated)"),
                   Row("mtt_real_gen", "real+gen", "MTT-GAN (real + generated)"))))


def modes():
    """The ``train --mode`` choices: ("baseline", "transfer", "mtt") and any registered variant's."""
    return tuple(dict.fromkeys(g.mode for g in GANS.values()))


def of_mode(mode):
    """The GAN whose defaults ``train --mode mode`` takes: the one named like the mode, else its first."""
    return GANS.get(mode) or next(g for g in GANS.values() if g.mode == mode)


def training_order():
    """The GANs in the order reproduce trains them: those with a pretraining stage first (a GAN that
    shares another's pretraining after that one), then those trained on the COVID pool only."""
    return sorted(GANS.values(), key=lambda g: not g.pretrain)


def rows():
    """{row name: (GAN name, COVID source)} of every registered GAN, in table order."""
    return {r.name: (g.name, r.source) for g in GANS.values() for r in g.rows}
