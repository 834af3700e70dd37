"""Many teachers in one run: an MTT-GAN train run with extra EMA teachers of G, each with its own decay for
the weights and for the batch-norm statistics (docs/default_run_experiments.md, "Twelfth round").

    python docs/experiments/many_teachers.py --weights 0.985,0.99 --statistics 0,0.5,0.99 \\
        [--split-seed K] -- --seed S --out RUN [more train options]

The teacher never feeds back into the student (mttgan_min/ema.py), so the extra teachers leave the run
as it would be without them: its student, its own teacher and every file the train command writes.
Every (weights, statistics) pair gets a teacher, made from the run's own teacher at the first step of
MTT-GAN fine-tuning (when it equals the student) and updated after every step as

    theta = w * theta + (1 - w) * theta_student        (weights and biases)
    stat  = s * stat  + (1 - s) * stat_student         (batch-norm running mean and variance)

(s = 0 copies the student's statistics, as --ema-buffers copy does). At the end RUN/teachers.csv holds
each teacher's final realism and diversity, measured as RUN/realism.csv and RUN/diversity.csv measure
the run's own teacher (same latents, same films; docs/design.md, "Realism after every epoch"), so the
pair (w, w) with the run's --ema-decay w reproduces the run's last teacher row. --split-seed K splits
the data as seed K does while the training's randomness stays that of --seed. Not for --resume: the
extra teachers live in memory only.
"""
import argparse
import csv
import dataclasses
import sys
from pathlib import Path

from mttgan_min import gans, train
from mttgan_min.cli import non_negative_int
from mttgan_min.layers.base import infer
from mttgan_min.run import diversity_log, rundir, session

COLUMNS = ("weights_decay", "statistics_decay") + diversity_log.REALISM + diversity_log.MEASURES


def decays(text):
    """'0.99,0.5' -> [0.99, 0.5], each in [0, 1)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None
    if not all(0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"every decay must be in [0, 1), not {text!r}")
    return values


class ManyTeachers:
    """Extra teachers of G that follow the student of an MTT-GAN fine-tuning; ``step`` is a GAN step."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.nets = []   # (weights decay, statistics decay, network), made at the first step with teachers
        self.xp = None

    def step(self, state, real):
        """The paper's step (``gans.paper_step``), then one EMA step of every extra teacher."""
        if state.teachers and not self.nets:
            self.nets = [(w, s, state.teacher("G").clone()) for w, s in self.pairs]
            self.xp = state.xp
        metrics = gans.paper_step(state, real)
        if state.teachers:
            params, buffers = state.G.named_params(), state.G.named_buffers()
            for w, s, net in self.nets:
                for mine, student, decay in ((net.named_params(), params, w), (net.named_buffers(), buffers, s)):
                    for k, t in mine.items():
                        t *= decay
                        t += (1.0 - decay) * student[k]
        return metrics

    def measure(self, cfg, pool, held_out):
        """One dict per teacher: its decays and final measures against ``pool`` and ``held_out``."""
        nets = [(f"{w}/{s}", net) for w, s, net in self.nets]
        out = diversity_log.measure(nets, pool.images, lambda G, z: infer(G, z, self.xp), cfg["latent"],
                                    unseen=held_out.images, unseen_groups=held_out.patients)
        return [dict(out[f"{w}/{s}"], **out[f"{w}/{s}"]["realism"], weights_decay=w, statistics_decay=s)
                for w, s, _ in self.nets]


def build_parser():
    p = argparse.ArgumentParser(prog="many_teachers.py", description=__doc__.split("\n\n")[0],
                                epilog="Everything after -- goes to python -m mttgan_min.train (mode mtt; "
                                       "--out is required).")
    p.add_argument("--weights", type=decays, required=True, help="the teachers' decays for the weights")
    p.add_argument("--statistics", type=decays, required=True,
                   help="the teachers' decays for the batch-norm statistics (0: copied from the student)")
    p.add_argument("--split-seed", type=non_negative_int,
                   help="split the data as this seed does (default: the run's --seed)")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, train_argv = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(ours)
    options = vars(train.build_parser().parse_args(train_argv))   # only the options given
    if "out" not in options or "resume" in options or options.get("mode", "mtt") != "mtt":
        print("error: give the train options after --, with --out RUN, and no --resume or other --mode.",
              file=sys.stderr)
        return 2
    teachers = ManyTeachers([(w, s) for w in args.weights for s in args.statistics])
    seen = {}
    load_pools = session.load_pools

    def load_and_keep_pools(cfg, *rest):   # the data the run trains on, kept for the measures
        if args.split_seed is not None:
            cfg = dict(cfg, seed=args.split_seed)
        seen["prepared"], seen["pools"] = load_pools(cfg, *rest)
        return seen["prepared"], seen["pools"]

    mtt = gans.GANS["mtt"]
    gans.GANS["mtt"], session.load_pools = dataclasses.replace(mtt, step=teachers.step), load_and_keep_pools
    try:
        code = train.main(train_argv)
    finally:
        gans.GANS["mtt"], session.load_pools = mtt, load_pools
    if code != 0 or not teachers.nets:
        return code or 1
    held_out = session.held_out_films(seen["prepared"], seen["pools"])["covid"]
    run = Path(options["out"])
    rows = teachers.measure(rundir.read_options(run / "config.json"), seen["pools"]["covid"], held_out)
    with open(run / "teachers.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        print(f"weights {r['weights_decay']:g}, statistics {r['statistics_decay']:g}: "
              + ", ".join(f"{k} {r[k]:.4f}" for k in COLUMNS[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
