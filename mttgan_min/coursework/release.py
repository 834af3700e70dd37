"""The student release: every lesson with its solutions cut out, as ``.py`` and ``.ipynb``.

A lesson marks each solution with nbgrader's markers, two comment lines of their own inside the
exercise function::

    def my_dense_backward(dout, cache):
        \"\"\"dout (N, M), cache (x (N, D), w (D, M)) -> dx (N, D), dw (D, M), db (M,).\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

``release`` replaces each block, markers included, by one line at the BEGIN marker's indentation,
``raise NotImplementedError("exercise NAME: write your solution here")``, NAME being the exercise
that ``check("NAME", my_function)`` names (or the function's own name when no check names it).
It refuses a lesson whose markers are unbalanced, nested or outside a function, and a lesson whose
released text still holds a solution line elsewhere (in code, a comment or a markdown cell: the
answer printed outside its block).
"""
import ast
import io
import re
import shutil
import tokenize
from dataclasses import dataclass
from pathlib import Path

from mttgan_min.cli import UsageError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
LESSON_GLOB = "[0-9][0-9]_*.py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
MAX_IMAGE_BYTES = 2_000_000
_MARKER_LIKE = re.compile(r"#+\s*(BEGIN|END)\s+SOLUTION\b", re.IGNORECASE)


def default_lessons_dir():
    """``lessons/`` of the checkout this package was imported from."""
    return Path(__file__).resolve().parents[2] / "lessons"


def find_lessons(folder):
    """The lessons ``NN_topic.py`` in ``folder``, in order."""
    return sorted(Path(folder).glob(LESSON_GLOB))


@dataclass
class Solution:
    """One marked block: its lines (1-based, markers included), indentation and exercise name."""
    begin: int
    end: int
    indent: str
    name: str


def _marker_comments(text, where):
    """(line, kind) of every marker comment, in order; kind is BEGIN or END."""
    found = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as err:
        raise UsageError(f"{where} is not valid Python ({err}).") from None
    lines = text.splitlines()
    for tok in tokens:
        if tok.type != tokenize.COMMENT or not _MARKER_LIKE.match(tok.string.strip()):
            continue
        line = tok.start[0]
        if tok.string.strip() not in (BEGIN, END) or lines[line - 1].strip() != tok.string.strip():
            raise UsageError(f"{where}, line {line}: a solution marker must be a line of its own, exactly "
                             f"'{BEGIN}' or '{END}'.")
        found.append((line, BEGIN if tok.string.strip() == BEGIN else END))
    return found


def _checked_names(tree):
    """{function name: exercise name} from every ``check("NAME", function)`` call."""
    names = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        first, second = node.args[0], node.args[1]
        if (called == "check" and isinstance(first, ast.Constant) and isinstance(first.value, str)
                and isinstance(second, ast.Name)):
            names.setdefault(second.id, first.value)
    return names


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _extent(node, lines):
    """The last line of a function, counting the comment and blank lines indented inside it after its code."""
    last = node.end_lineno
    for number in range(node.end_lineno + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if line.lstrip().startswith("#") and indent > node.col_offset:
            last = number
        else:
            break
    return last


def _enclosing(functions, line, lines):
    """The functions whose body holds ``line``, innermost first."""
    inside = [f for f in functions if f.lineno < line <= _extent(f, lines)]
    return sorted(inside, key=lambda f: f.lineno, reverse=True)


def solutions(text, where="the lesson"):
    """Every marked solution block of a lesson's source, in order (``Solution`` each)."""
    markers = _marker_comments(text, where)
    if not markers:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise UsageError(f"{where}, line {err.lineno}: not valid Python ({err.msg}).") from None
    lines = text.splitlines()
    functions, checked = _functions(tree), _checked_names(tree)
    blocks, open_at = [], None
    for line, kind in markers:
        if kind == BEGIN and open_at is not None:
            raise UsageError(f"{where}, line {line}: '{BEGIN}' inside the block opened on line {open_at} "
                             f"(markers cannot nest).")
        if kind == END and open_at is None:
            raise UsageError(f"{where}, line {line}: '{END}' without a '{BEGIN}' before it.")
        if kind == BEGIN:
            open_at = line
            continue
        outer = _enclosing(functions, open_at, lines)
        if not outer or outer[0] not in _enclosing(functions, line, lines):
            raise UsageError(f"{where}, line {open_at}: a solution block must sit inside one function's body "
                             f"(markers outside a function cannot be released).")
        name = next((checked[f.name] for f in outer if f.name in checked), outer[0].name)
        begin_line = lines[open_at - 1]
        indent = begin_line[:len(begin_line) - len(begin_line.lstrip())]
        if len(indent) <= outer[0].col_offset:
            raise UsageError(f"{where}, line {open_at}: '{BEGIN}' must be indented like the body of "
                             f"{outer[0].name}().")
        blocks.append(Solution(open_at, line, indent, name))
        open_at = None
    if open_at is not None:
        raise UsageError(f"{where}, line {open_at}: '{BEGIN}' is never closed by '{END}'.")
    return blocks


def stub(name):
    """The line that stands for a solution in the student's copy (without indentation)."""
    return f'raise NotImplementedError("exercise {name}: write your solution here")'


def _bare(line):
    """A line without indentation and comment signs: how it reads in code, in a comment or in markdown."""
    return line.strip().lstrip("#").strip()


def solution_lines(text, blocks):
    """The solution lines a released lesson must not show (``_bare``, those with a letter or digit)."""
    lines = text.splitlines()
    found = set()
    for block in blocks:
        for line in lines[block.begin:block.end - 1]:
            if any(c.isalnum() for c in line):
                found.add(_bare(line))
    return found


def hints_of_answers(released, answers, min_chars=8):
    """(line number, solution line) where a released line holds a solution line inside other text."""
    found = []
    for number, line in enumerate(released.splitlines(), 1):
        for answer in answers:
            if len(answer) >= min_chars and answer != _bare(line) and re.search(
                    rf"(?<![\w.]){re.escape(answer)}(?![\w(\[.])", line):
                found.append((number, answer))
    return found


def student_version(text, where="the lesson", warn=None):
    """The student's text of a lesson: every solution block replaced by its stub.

    ``warn(message)``, when given, hears of each released line that holds a solution line inside
    other text (a formula in backticks in a markdown cell, say): worth a look, not refused.
    """
    blocks = solutions(text, where)
    lines = text.splitlines(keepends=True)
    for block in reversed(blocks):
        lines[block.begin - 1:block.end] = [block.indent + stub(block.name) + "\n"]
    released = "".join(lines)
    try:
        compile(released, where, "exec")
    except SyntaxError as err:
        raise UsageError(f"{where}: the released lesson would not be valid Python (line {err.lineno}: "
                         f"{err.msg}); check the markers' places.") from None
    answers = solution_lines(text, blocks)
    leaked = [line for line in released.splitlines() if _bare(line) in answers]
    if leaked:
        raise UsageError(f"{where}: the solution line {leaked[0].strip()!r} also appears outside its "
                         f"solution block, so the release would show the answer.")
    if warn is not None:
        for number, answer in hints_of_answers(released, answers):
            warn(f"{where}, line {number} of the release: shows the solution line {answer!r} inside other text")
    return released


def _notebook(text):
    import jupytext
    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)    # a standalone notebook, not paired with a .py
    return notebook


def _images(lessons_dir, texts):
    """Images under the lessons folder that a lesson or the README names, small enough to copy."""
    wanted = []
    for path in sorted(Path(lessons_dir).rglob("*")):
        if (path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and path.stat().st_size <= MAX_IMAGE_BYTES
                and any(path.name in t for t in texts)):
            wanted.append(path)
    return wanted


def check_out_dir(out_dir, lessons_dir, force):
    """Refuse an output folder inside the lessons (or holding them), or one not empty without ``force``."""
    out, lessons = Path(out_dir).resolve(), Path(lessons_dir).resolve()
    if out == lessons or lessons in out.parents:
        raise UsageError(f"{out_dir} is inside the lessons folder {lessons_dir}: choose a folder outside it.")
    if out in lessons.parents:
        raise UsageError(f"{out_dir} holds the lessons folder {lessons_dir}: choose a folder outside it.")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out_dir} is not empty: give --force to write the release into it anyway.")


def release(out_dir, lessons_dir=None, force=False, notebooks=True, warn=None):
    """Write the student version of every lesson into ``out_dir``; return the paths written.

    Each ``NN_topic.py`` becomes ``out_dir/NN_topic.py`` and ``out_dir/NN_topic.ipynb`` (jupytext),
    next to a copy of the lessons' README.md and the images the lessons name. Every lesson is
    checked before anything is written, so a refused release writes nothing; ``warn`` is passed
    to ``student_version``.
    """
    lessons_dir = Path(lessons_dir) if lessons_dir is not None else default_lessons_dir()
    if not lessons_dir.is_dir():
        raise UsageError(f"{lessons_dir} is not a folder of lessons.")
    sources = find_lessons(lessons_dir)
    if not sources:
        raise UsageError(f"{lessons_dir} holds no lessons (files named NN_topic.py).")
    check_out_dir(out_dir, lessons_dir, force)
    texts = {p: p.read_text(encoding="utf-8") for p in sources}
    released = {p: student_version(t, p.name, warn) for p, t in texts.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in released.items():
        target = out / path.name
        target.write_text(text, encoding="utf-8")
        written.append(target)
        if notebooks:
            import jupytext
            target = target.with_suffix(".ipynb")
            jupytext.write(_notebook(text), target, fmt="ipynb")
            written.append(target)
    readme = lessons_dir / "README.md"
    extra = [readme] if readme.is_file() else []
    extra += _images(lessons_dir, list(texts.values()) + [readme.read_text(encoding="utf-8") if extra else ""])
    for path in extra:
        target = out / path.relative_to(lessons_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written
