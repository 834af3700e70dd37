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
