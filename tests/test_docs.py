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
