"""python -m mttgan_min.coursework: release the student lessons, grade what students hand in."""
import argparse
import json
import sys

from mttgan_min.cli import HelpFormatter, UsageError, positive_seconds
from mttgan_min.coursework import grade as grading
from mttgan_min.coursework import release as releasing


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m mttgan_min.coursework", formatter_class=HelpFormatter,
        description="The coursework tools: write the student version of the lessons (solutions cut out)\n"
                    "and grade the lessons that students hand in.",
        epilog="examples:\n"
               "  python -m mttgan_min.coursework release student/          # student/NN_topic.py and .ipynb\n"
               "  python -m mttgan_min.coursework grade handed_in/alice/    # one row per exercise\n"
               "  python -m mttgan_min.coursework grade --json handed_in/alice/ > alice.json\n"
               "Each command's own --help lists its options.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser(
        "release", formatter_class=HelpFormatter, help="write the student version of every lesson",
        description="Write the student version of every lesson (lessons/NN_topic.py) into OUT_DIR, as\n"
                    "NN_topic.py and NN_topic.ipynb: each block from '### BEGIN SOLUTION' to '### END SOLUTION'\n"
                    "becomes raise NotImplementedError(\"exercise NAME: write your solution here\"). The lessons'\n"
                    "README.md and the images they name are copied too. A lesson whose markers are unbalanced,\n"
                    "nested or outside a function, or that shows a solution line outside its block, is refused\n"
                    "and nothing is written.")
    r.add_argument("out_dir", metavar="OUT_DIR", help="the folder to write into (outside the lessons folder)")
    r.add_argument("--lessons", metavar="DIR", default=None,
                   help="the folder of reference lessons (default: lessons/ of the checkout this package "
                        "was imported from)")
    r.add_argument("--force", action="store_true", default=False,
                   help="write into OUT_DIR even if it is not empty (files of the same names are overwritten)")

    g = sub.add_parser(
        "grade", formatter_class=HelpFormatter, help="run lessons and report every exercise",
        description="Run each lesson (a .py, an .ipynb, or a folder of them) in a subprocess of its own, in an\n"
                    "empty temporary working directory, with MPLBACKEND=Agg and the exercises' hidden cases on,\n"
                    "and print one row per exercise of the lesson: passed, failed (with the check's message),\n"
                    "not attempted, not reached (the lesson stopped before its check; the end of its stderr\n"
                    "is shown) or timed out. The exercises a lesson should check are found from the NN of\n"
                    "its file name. A progress line per lesson goes to stderr. Exit status 0 when every\n"
                    "exercise passed, 1 otherwise, 2 for a usage error. The lessons run as the student wrote\n"
                    "them: grade untrusted work inside a sandbox or container.")
    g.add_argument("paths", nargs="+", metavar="PATH",
                   help="a lesson NN_topic.py or NN_topic.ipynb, or a folder of them (where both exist the newer "
                        "one is graded)")
    g.add_argument("--timeout", type=positive_seconds, default=300.0, metavar="SECONDS",
                   help="time limit per lesson; past it the lesson's processes are killed")
    g.add_argument("--json", action="store_true", default=False,
                   help="print a JSON document (lessons, one row per exercise, a summary) instead of the table")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "release":
            written = releasing.release(args.out_dir, args.lessons, force=args.force,
                                       warn=lambda m: print(f"warning: {m}", file=sys.stderr))
            lessons = sum(p.suffix == ".py" for p in written)
            print(f"released {lessons} lessons into {args.out_dir} ({len(written)} files)")
            return 0
        result = grading.grade(args.paths, timeout=args.timeout, progress=sys.stderr)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else grading.format_table(result))
    return 0 if result["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
