"""Copy what a results page needs from a finished ``python -m mttgan_min.reproduce`` into a folder here.

    python docs/results/collect.py runs/real-tiny docs/results/real-tiny-s0

From OUT/evaluation: table1.md, table2.md, controls.md, tests.csv, results.csv, training_sets.json and,
from its quality/ folder, quality.json, samples_beside_real.png and spectrum.png. From OUT:
reproduce_log.txt (the plan of every start and how long it took), as plan.txt. From each GAN run in OUT/gans:
its per-epoch realism and diversity, gathered into gan_measures.md (the final generators, student
and teacher, first). Only tables, small pictures, JSON and CSV are copied: no image of the data.
"""
import argparse
import shutil
import sys
from pathlib import Path

from mttgan_min import gans as registry
from mttgan_min.run import diversity_log

EVALUATION = ("table1.md", "table2.md", "controls.md", "tests.csv", "results.csv", "training_sets.json")
QUALITY = ("quality.json", "samples_beside_real.png", "spectrum.png")
MEASURES = (("two_sample_accuracy", "two-sample acc.", "{:.2f}"), ("high_frequency_ratio", "high-freq. ratio",
                                                                     "{:.1f}"),
            ("nn_distance_ratio", "nn ratio", "{:.2f}"), ("spread_ratio", "spread", "{:.2f}"),
            ("near_duplicate_rate", "near-dup", "{:.1%}"), ("layout_spread_ratio", "layout spread", "{:.2f}"),
            ("layout_near_duplicate_rate", "layout near-dup", "{:.1%}"))


def epoch_rows(run):
    """{(stage, epoch, generator): {measure: value}} from RUN/realism.csv and RUN/diversity.csv
    (read by ``run.diversity_log.read_rows``), realism's rows first."""
    rows = {}
    for stem in ("realism", "diversity"):
        for r in diversity_log.read_rows(run / f"{stem}.csv", diversity_log.LOGS[stem][0]):
            rows.setdefault((r["stage"], r["epoch"], r["generator"]), {}).update(r)
    return rows


def measure_line(name, key, values):
    stage, epoch, generator = key
    cells = [fmt.format(float(values[m])) if values.get(m, "") != "" else "" for m, _, fmt in MEASURES]
    return f"| {name} | {stage} {epoch} | {generator} | " + " | ".join(cells) + " |"


def gan_measures(gans):
    """gan_measures.md: the final epoch of every GAN, then every epoch, as the runs measured them."""
    head = "| GAN | epoch | generator | " + " | ".join(label for _, label, _ in MEASURES) + " |"
    rule = "|" + "---|" * (3 + len(MEASURES))
    order = [g.name for g in registry.training_order()]
    found = sorted((run for run in gans.iterdir() if (run / "realism.csv").is_file()),
                   key=lambda run: (order.index(run.name) if run.name in order else len(order), run.name))
    runs = {run.name: epoch_rows(run) for run in found}
    final, every = [head, rule], [head, rule]
    for name, rows in runs.items():
        last = max((k for k in rows if k[0] != "pretrain"), key=lambda k: k[1], default=None)
        final += [measure_line(name, k, rows[k]) for k in rows if last and k[:2] == last[:2]]
        every += [measure_line(name, k, rows[k]) for k in rows]
    return "\n".join(["# The GANs' samples measured after every epoch", "",
                      "Each generator's samples against the real COVID-19 films of its pool (realism: against the "
                      "held-out films, grouped by patient; diversity: against the training films), as "
                      "RUN/realism.csv and RUN/diversity.csv record them (docs/design.md, \"Realism after every "
                      "epoch\", \"Diversity after every epoch\"). The data's own values: two-sample accuracy 0.5, "
                      "ratios 1, near-duplicates about 1%.", "", "## Final epoch", ""] + final
                     + ["", "## Every epoch", ""] + every) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="the --out folder of a finished reproduce")
    p.add_argument("dest", type=Path, help="the folder to fill (created)")
    args = p.parse_args(argv)
    ev = args.run / "evaluation"
    wanted = [ev / n for n in EVALUATION] + [ev / "quality" / n for n in QUALITY]
    missing = [str(f) for f in wanted if not f.is_file()]
    if missing or not (args.run / "gans").is_dir():
        print(f"error: {args.run} is not a finished reproduce run (missing: {', '.join(missing) or 'gans/'}).",
              file=sys.stderr)
        return 2
    args.dest.mkdir(parents=True, exist_ok=True)
    for f in wanted:
        shutil.copyfile(f, args.dest / f.name)
    if (args.run / "reproduce_log.txt").is_file():
        shutil.copyfile(args.run / "reproduce_log.txt", args.dest / "plan.txt")
    (args.dest / "gan_measures.md").write_text(gan_measures(args.run / "gans"))
    print(f"copied {len(list(args.dest.iterdir()))} files into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
