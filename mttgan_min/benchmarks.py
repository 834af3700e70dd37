"""One row of docs/benchmarks.md: this code's training iteration against PyTorch's, side by side.

    python -m mttgan_min.benchmarks --preset tiny --rounds 8 \\
        --torch-python ~/torchvenv/bin/python --torch-script PATH/torch_iteration.py \\
        --torch-threads 2,1 --append docs/benchmarks.md

Each round runs ``python -m mttgan_min.bench --preset P --iters I`` once and then the PyTorch
reference script once per thread count (``--size S --width W --iters I``, printing one JSON line with
``ms_per_iter_median``), one after the other on the same machine, so that a change in the machine's
load reaches both alike. The row holds the medians over the rounds and their ratio. PyTorch is never
imported here: its script runs in the interpreter you name (torch is no dependency of this project).
``--dry-run`` prints the commands and touches nothing.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

from .cli import HelpFormatter, positive_int
from .run.rundir import git_commit

SIZES = {"tiny": (32, 32), "small": (64, 64), "paper": (128, 128)}  # preset -> (image size, G width)
HEADER = ("| date | machine | code | command | rounds | ours ms/iter | PyTorch ms/iter (threads) "
          "| ours / PyTorch (threads) | notes |\n|---|---|---|---|---|---|---|---|---|")


def ours_command(python, preset, iters, device):
    return [python, "-m", "mttgan_min.bench", "--preset", preset, "--iters", str(iters), "--device", device]


def torch_command(python, script, preset, iters, device):
    size, width = SIZES[preset]
    return [python, str(script), "--size", str(size), "--width", str(width), "--iters", str(iters),
            "--device", "cuda" if device == "gpu" else "cpu"]


def run_json(command, env=None):
    """Run one command and return the last JSON line it printed (a dict)."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{shlex.join(command)} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-300:]}")
    return json.loads(lines[-1])


def torch_env(threads):
    """The environment of the PyTorch run: its thread count set through OMP_NUM_THREADS, or left alone."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def measure(ours, torch_runs, rounds, run=run_json):
    """Alternate ``ours`` and each PyTorch command for ``rounds`` rounds.

    ours: a command; torch_runs: {threads: command}; run(command, env) -> dict. Returns (median ms of
    ours, {threads: median ms of PyTorch}, the last JSON of ours, the last JSON of PyTorch).
    """
    ours_ms, torch_ms, ours_json, torch_json = [], {t: [] for t in torch_runs}, {}, {}
    for _ in range(rounds):
        ours_json = run(ours, None)
        ours_ms.append(float(ours_json["ms_per_iter"]))
        for threads, command in torch_runs.items():
            torch_json = run(command, torch_env(threads))
            torch_ms[threads].append(float(torch_json["ms_per_iter_median"]))
    return (statistics.median(ours_ms), {t: statistics.median(v) for t, v in torch_ms.items()},
            ours_json, torch_json)


def machine_name(ours_json=None):
    """The GPU's name on the GPU, else the CPU's model name (lscpu's "Model name") and its core count."""
    if ours_json and ours_json.get("gpu"):
        return ours_json["gpu"]
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores"


def code_version():
    """The checkout's short commit hash (with "+" when it has local changes, ``rundir.git_commit``), or "-"
    outside git."""
    commit = git_commit()
    if commit is None:
        return "-"
    return commit[:7] + ("+" if commit.endswith("-dirty") else "")


def threads_label(threads):
    return "default" if threads is None else str(threads)


def format_row(date, machine, code, preset, iters, rounds, ours, torch, notes=""):
    """One markdown row of the table; torch: {threads: median ms}."""
    pytorch = ", ".join(f"{ms:,.0f} ({threads_label(t)})" for t, ms in torch.items())
    ratio = ", ".join(f"{ours / ms:.2f} ({threads_label(t)})" for t, ms in torch.items())
    command = f"`python -m mttgan_min.bench --preset {preset} --iters {iters}`"
    return f"| {date} | {machine} | {code} | {command} | {rounds} | {ours:,.0f} | {pytorch} | {ratio} | {notes} |"


def append_row(path, row):
    """Put ``row`` after the last row of the file's table of measurements (the table that starts with
    HEADER's first line), or start that table at the end of the file."""
    lines = path.read_text().splitlines() if path.exists() else []
    head = HEADER.splitlines()[0]
    if head in lines:
        end = lines.index(head) + 1
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines.insert(end, row)
    else:
        lines += ["", *HEADER.splitlines(), row] if lines else [*HEADER.splitlines(), row]
    path.write_text("\n".join(lines) + "\n")


def parse_threads(text):
    """'2,1' -> [2, 1]; '' -> [None] (PyTorch's own default)."""
    if not text:
        return [None]
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts such as 2,1, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"thread counts must be at least 1, got {text!r}")
    return values


def main(argv=None, run=run_json):
    parser = argparse.ArgumentParser(
        prog="python -m mttgan_min.benchmarks", formatter_class=HelpFormatter,
        description="Time this code's training iteration against a PyTorch reference, alternating, "
                    "and print (or append) one row of docs/benchmarks.md.")
    parser.add_argument("--preset", choices=sorted(SIZES), default="tiny", help="network and image size")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where both run")
    parser.add_argument("--iters", type=positive_int, default=10, help="timed iterations per run")
    parser.add_argument("--rounds", type=positive_int, default=8, help="alternating rounds; medians are taken")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs this code's bench")
    parser.add_argument("--torch-python", required=True, help="an interpreter that has torch installed")
    parser.add_argument("--torch-script", required=True, type=Path,
                        help="the PyTorch iteration script (not part of this repository)")
    parser.add_argument("--torch-threads", type=parse_threads,
                        help="PyTorch thread counts to measure, e.g. 2,1 (default: PyTorch's own)")
    parser.add_argument("--notes", help="text for the row's notes column")
    parser.add_argument("--append", type=Path, metavar="FILE", help="also append the row to FILE")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    args = parser.parse_args(argv)
    args.torch_threads = args.torch_threads or [None]
    if not args.dry_run and not args.torch_script.is_file():
        parser.error(f"--torch-script {args.torch_script} is not a file")
    if args.append is not None and not args.append.parent.is_dir():
        parser.error(f"--append {args.append}: folder {args.append.parent} does not exist")

    ours = ours_command(args.python, args.preset, args.iters, args.device)
    torch_runs = {t: torch_command(args.torch_python, args.torch_script, args.preset, args.iters, args.device)
                  for t in args.torch_threads}
    if args.dry_run:
        print(f"{args.rounds} rounds of:")
        print("  " + shlex.join(ours))
        for t, command in torch_runs.items():
            print("  " + ("" if t is None else f"OMP_NUM_THREADS={t} ") + shlex.join(command))
        return 0
    try:
        ours_ms, torch_ms, ours_json, torch_json = measure(ours, torch_runs, args.rounds, run)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    notes = ", ".join(x for x in (f"PyTorch {torch_json['torch']}" if "torch" in torch_json else "", args.notes or "") if x)
    row = format_row(datetime.date.today().isoformat(), machine_name(ours_json), code_version(), args.preset,
                     args.iters, args.rounds, ours_ms, torch_ms, notes)
    print(HEADER)
    print(row)
    if args.append is not None:
        append_row(args.append, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
