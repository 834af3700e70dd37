"""The script that regenerates docs/benchmarks.md, run on fake commands (no PyTorch, no real timing)."""
import re
import stat
import sys

import pytest

from mttgan_min import benchmarks


def fake_runner(ours_ms, torch_ms):
    """A stand-in for run_json: ours_ms is a list of per-round times; torch_ms maps OMP_NUM_THREADS to a list."""
    calls = {"ours": 0, "torch": {}}

    def run(command, env):
        if "mttgan_min.bench" in command:
            ms = ours_ms[calls["ours"]]
            calls["ours"] += 1
            return {"ms_per_iter": ms}
        threads = env.get("OMP_NUM_THREADS") if env else None
        i = calls["torch"].get(threads, 0)
        calls["torch"][threads] = i + 1
        return {"ms_per_iter_median": torch_ms[threads][i], "torch": "9.9"}
    return run, calls


def test_measure_alternates_and_takes_medians():
    run, calls = fake_runner([300, 100, 310], {"2": [200, 210, 900], "1": [330, 300, 310]})
    ours = benchmarks.ours_command("python", "tiny", 5, "cpu")
    torch = {t: benchmarks.torch_command("tp", "script.py", "tiny", 5, "cpu") for t in (2, 1)}
    ours_ms, torch_ms, _, torch_json = benchmarks.measure(ours, torch, 3, run)
    assert calls["ours"] == 3 and calls["torch"] == {"2": 3, "1": 3}
    assert ours_ms == 300 and torch_ms == {2: 210, 1: 310}
    assert torch_json["torch"] == "9.9"


def test_torch_command_matches_the_preset():
    command = benchmarks.torch_command("tp", "t.py", "small", 7, "gpu")
    assert command[command.index("--size") + 1] == "64" and command[command.index("--width") + 1] == "64"
    assert command[command.index("--device") + 1] == "cuda" and command[command.index("--iters") + 1] == "7"


def test_row_has_the_table_columns_and_ratio():
    row = benchmarks.format_row("2000-01-02", "Some CPU, 2 cores", "abc1234", "tiny", 10, 8, 300.0,
                                {2: 200.0, 1: 400.0}, "note")
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = [c.strip() for c in benchmarks.HEADER.splitlines()[0].strip("|").split("|")]
    assert len(cells) == len(header)
    assert cells[5] == "300" and cells[6] == "200 (2), 400 (1)" and cells[7] == "1.50 (2), 0.75 (1)"


def test_append_inserts_after_the_last_row_of_the_table(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Speed\n\n" + benchmarks.HEADER + "\n| old | row |\n\nNotes below.\n")
    benchmarks.append_row(doc, "| new | row |")
    lines = doc.read_text().splitlines()
    assert lines[lines.index("| old | row |") + 1] == "| new | row |"
    assert lines[-1] == "Notes below."


def test_the_command_end_to_end_with_a_fake_interpreter(tmp_path, capsys):
    """The whole command, with an 'interpreter' that prints the JSON line each real program prints."""
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\n"
                    "case \"$*\" in *mttgan_min.bench*) echo '{\"ms_per_iter\": 250.0}';;\n"
                    "*) echo '{\"ms_per_iter_median\": 125.0, \"torch\": \"0.0\"}';; esac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    script = tmp_path / "torch_iteration.py"
    script.write_text("")
    doc = tmp_path / "benchmarks.md"
    doc.write_text(benchmarks.HEADER + "\n")
    code = benchmarks.main(["--python", str(fake), "--torch-python", str(fake), "--torch-script", str(script),
                            "--rounds", "2", "--iters", "1", "--append", str(doc)])
    assert code == 0
    row = doc.read_text().splitlines()[-1]
    assert re.match(r"\| \d{4}-\d\d-\d\d \| .+ \| .+ \| `python -m mttgan_min.bench --preset tiny --iters 1` "
                    r"\| 2 \| 250 \| 125 \(default\) \| 2.00 \(default\) \| PyTorch 0.0 \|$", row), row
    assert row in capsys.readouterr().out


def test_dry_run_prints_commands_and_runs_nothing(capsys):
    def run(command, env):
        raise AssertionError("a dry run must not run anything")
    assert benchmarks.main(["--torch-python", "tp", "--torch-script", "nowhere.py", "--torch-threads", "2,1",
                            "--dry-run"], run=run) == 0
    out = capsys.readouterr().out
    assert "mttgan_min.bench --preset tiny" in out and "OMP_NUM_THREADS=1 tp nowhere.py --size 32" in out


def test_a_failing_command_is_one_sentence(tmp_path, capsys):
    script = tmp_path / "t.py"
    script.write_text("raise SystemExit(3)\n")
    code = benchmarks.main(["--python", sys.executable, "--torch-python", sys.executable,
                            "--torch-script", str(script), "--rounds", "1"],
                           run=lambda c, e: benchmarks.run_json([sys.executable, str(script)], e))
    assert code == 1
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("bad", ["0", "two"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(SystemExit):
        benchmarks.main(["--torch-python", "tp", "--torch-script", "x", "--torch-threads", bad, "--dry-run"])
