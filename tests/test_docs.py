"""The repository stands alone: every docs/design.md section the code cites exists, and nothing
cites notes that a reader of the repository does not have."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("mttgan_min/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("lessons/*.py"),
                  ROOT / "README.md", ROOT / "lessons" / "README.md"])
CITATION = re.compile(r'design\.md,\s*"([^"]+)"')


def flat(path):
    """The file's text with line breaks, comment marks and indentation folded into single spaces."""
    return re.sub(r"\s*\n\s*#?\s*", " ", path.read_text())


def test_every_cited_design_section_exists():
    titles = {line[3:].strip() for line in (ROOT / "docs" / "design.md").read_text().splitlines()
              if line.startswith("## ")}
    cited = {(p.relative_to(ROOT).as_posix(), t) for p in SOURCES for t in CITATION.findall(flat(p))}
    assert len(cited) > 20, "the citation pattern no longer finds the code's citations"
    missing = sorted((p, t) for p, t in cited if t not in titles)
    assert not missing, f"cited sections missing from docs/design.md: {missing}"


# Spelled in pieces so that this file does not match its own patterns.
OUTSIDE = [r"\bS" + r"PEC\b", r"\bCON" + r"TRACTS\b", r"\biss" + r"ue \d"]


@pytest.mark.parametrize("pattern", OUTSIDE)
def test_no_citation_of_notes_outside_the_repository(pattern):
    hits = [p.relative_to(ROOT).as_posix() for p in SOURCES
            if re.search(pattern, p.read_text())]
    assert not hits, f"{pattern!r} in {hits}: cite the paper or docs/design.md instead"


def test_the_package_names_no_path_outside_the_repository():
    """Only the tests may fall back to a data folder beside the repository."""
    package = [*ROOT.glob("mttgan_min/**/*.py"), *ROOT.glob("lessons/*.py")]
    hits = [p.relative_to(ROOT).as_posix() for p in package if re.search(r"\.\./sha" + r"red\b", p.read_text())]
    assert not hits, f"paths outside the repository in {hits}"


README = ROOT / "README.md"
# Machine names and dates belong to docs/benchmarks.md, next to the measurements they describe.
MACHINE_OR_DATE = re.compile(r"\b(Xeon|EPYC|Ryzen|Core i\d|H100|H200|A100|VMs?|UTC)\b"
                             r"|\b20\d\d-\d\d-\d\d\b|\b\d{1,2}:\d\d\b", re.IGNORECASE)


def test_the_readme_is_short_and_names_no_machine_or_date():
    text = README.read_text()
    assert len(text.splitlines()) < 220, "README.md has grown past 220 lines: move details to docs/"
    hits = sorted({m.group(0) for m in MACHINE_OR_DATE.finditer(text)})
    assert not hits, f"README.md names machines or dates {hits}: they belong in docs/benchmarks.md"


def test_the_readme_shows_images_that_exist():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text())
    assert images, "README.md shows no image"
    missing = [path for path in images if not (ROOT / path).is_file()]
    assert not missing, f"README.md shows missing images {missing}"


def test_the_readme_links_files_that_exist():
    links = [link for link in re.findall(r"\]\(([^)#]+)\)", README.read_text()) if "://" not in link]
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files {missing}"


def test_the_benchmark_table_has_its_columns_in_every_row():
    from mttgan_min.benchmarks import HEADER
    lines = (ROOT / "docs" / "benchmarks.md").read_text().splitlines()
    head = HEADER.splitlines()[0]
    assert head in lines, "docs/benchmarks.md lost the table that `python -m mttgan_min.benchmarks --append` extends"
    rows = []
    for line in lines[lines.index(head) + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    columns = head.count("|")
    assert rows and all(row.count("|") == columns for row in rows), "a row of the speed table has the wrong columns"


RESULTS = ROOT / "docs" / "results"
RUN_FILES = ("plan.txt", "table1.md", "table2.md", "controls.md", "tests.csv", "results.csv", "quality.json",
             "samples_beside_real.png", "gan_measures.md")


def test_the_results_page_links_runs_that_hold_their_tables_and_small_files_only():
    page = (RESULTS / "README.md").read_text()
    links = [link for link in re.findall(r"\]\(([^)#]+)\)", page) if "://" not in link]
    missing = [link for link in links if not (RESULTS / link).exists()]
    assert not missing, f"docs/results/README.md links to missing files {missing}"
    runs = [d for d in RESULTS.iterdir() if d.is_dir() and d.name != "__pycache__"]
    assert runs, "docs/results holds no run"
    for run in runs:
        absent = [n for n in RUN_FILES if not (run / n).is_file()]
        assert not absent, f"{run.name} lacks {absent}"
        assert run.name in page, f"the results page does not mention {run.name}"
    big = [p.relative_to(ROOT).as_posix() for p in RESULTS.rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
    assert not big, f"files over 1 MB in docs/results: {big}"


def load_script(path):
    """A script of docs/ (not a package module) loaded as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_collect_copies_a_finished_run_and_gathers_the_gan_measures(tmp_path, capsys):
    collect = load_script(RESULTS / "collect.py")
    run = tmp_path / "run"
    assert collect.main([str(run), str(tmp_path / "dest")]) == 2
    assert "is not a finished reproduce run" in capsys.readouterr().err and not (tmp_path / "dest").exists()
    for name in collect.EVALUATION:
        (run / "evaluation" / "quality").mkdir(parents=True, exist_ok=True)
        (run / "evaluation" / name).write_text(name)
    for name in collect.QUALITY:
        (run / "evaluation" / "quality" / name).write_text(name)
    gan = run / "gans" / "mtt"
    gan.mkdir(parents=True)
    (gan / "realism.csv").write_text(
        "stage,epoch,generator,two_sample_accuracy,high_frequency_ratio,nn_distance_ratio,seconds\n"
        "finetune,1,student,0.9000,50.0,1.5,0.1\nfinetune,2,student,0.8000,40.0,1.25,0.1\n"
        "finetune,2,teacher,0.7000,30.0,1.0,0.1\n")
    (gan / "diversity.csv").write_text(
        "stage,epoch,generator,spread_ratio,near_duplicate_rate,layout_spread_ratio,layout_near_duplicate_rate,"
        "seconds\nfinetune,1,student,0.9,0.0,0.8,0.01,0.1\nfinetune,2,student,0.85,0.0,0.7,0.02,0.1\n"
        "finetune,2,teacher,0.95,0.0,0.75,0.005,0.1\n")
    (run / "reproduce_log.txt").write_text("== started ...\nplan: ...\n")
    assert collect.main([str(run), str(tmp_path / "dest")]) == 0
    dest = tmp_path / "dest"
    assert all((dest / n).read_text() == n for n in collect.EVALUATION + collect.QUALITY)
    assert (dest / "plan.txt").read_text() == "== started ...\nplan: ...\n"   # the plan of every start
    final = (dest / "gan_measures.md").read_text().split("## Every epoch")[0]
    assert "| mtt | finetune 2 | teacher | 0.70 | 30.0 | 1.00 | 0.95 | 0.0% | 0.75 | 0.5% |" in final
    assert "finetune 1" not in final                         # only the last epoch in the first table


def test_many_teachers_leave_the_run_unchanged_and_one_reproduces_its_teacher(tmp_path, capsys):
    import csv
    import json

    import numpy as np

    from mttgan_min import gans, train
    from mttgan_min.run import session
    from mttgan_min.run.checkpoint import load_checkpoint
    many = load_script(ROOT / "docs" / "experiments" / "many_teachers.py")
    quick = ["--preset", "tiny", "--seed", "3", "--pretrain-epochs", "1", "--finetune-epochs", "1",
             "--max-iters-per-epoch", "2", "--checkpoint-minutes", "0", "--ema-decay", "0.9"]
    assert many.main(["--weights", "0.9", "--statistics", "0", "--"] + quick) == 2   # no --out
    assert "--out RUN" in capsys.readouterr().err
    assert train.main(quick + ["--out", str(tmp_path / "plain")]) == 0
    assert many.main(["--weights", "0.9,0.5", "--statistics", "0.9,0", "--"] + quick
                     + ["--out", str(tmp_path / "many")]) == 0
    assert gans.GANS["mtt"].step is gans.paper_step and session.load_pools.__module__ == session.__name__
    plain, _ = load_checkpoint(tmp_path / "plain" / "checkpoint.npz")
    with_many, _ = load_checkpoint(tmp_path / "many" / "checkpoint.npz")
    for group in ("G", "G_teacher", "D", "D_teacher"):   # the extra teachers change nothing of the run
        for k, v in plain[group].items():
            np.testing.assert_array_equal(with_many[group][k], v, err_msg=f"{group} {k}")
    rows = list(csv.DictReader((tmp_path / "many" / "teachers.csv").read_text().splitlines()))
    assert [(float(r["weights_decay"]), float(r["statistics_decay"])) for r in rows] == [
        (0.9, 0.9), (0.9, 0.0), (0.5, 0.9), (0.5, 0.0)]
    own = {}
    for name in ("realism", "diversity"):
        lines = (tmp_path / "many" / f"{name}.csv").read_text().splitlines()
        own |= [r for r in csv.DictReader(lines) if r["generator"] == "teacher"][-1]
    for k in many.COLUMNS[2:]:   # the pair of the run's own decay is the run's teacher, to the CSV's digits
        assert f"{float(rows[0][k]):.4f}" == own[k], k
    assert len({r["spread_ratio"] for r in rows}) == 4   # and the others are other teachers
    # --split-seed: the data of seed 4, the training's randomness of seed 3
    assert many.main(["--weights", "0.9", "--statistics", "0.9", "--split-seed", "4", "--"] + quick
                     + ["--max-iters-per-epoch", "1", "--out", str(tmp_path / "split")]) == 0
    assert json.loads((tmp_path / "split" / "split.json").read_text())["seed"] == 4
    assert json.loads((tmp_path / "split" / "config.json").read_text())["options"]["seed"] == 3
