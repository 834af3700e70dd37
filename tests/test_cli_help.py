"""Every command's --help in the one style: defaults shown as '(default: X)', never '(default: None)'."""
import importlib

import pytest

COMMANDS = ("train", "sample", "bench", "evaluate", "reproduce", "data.__main__",
            "coursework.__main__ release", "coursework.__main__ grade")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_real_defaults_only(name, capsys):
    name, *subcommand = name.split()
    module = importlib.import_module(f"mttgan_min.{name}")
    with pytest.raises(SystemExit) as stop:
        module.main(subcommand + ["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: " in text and "(default: None)" not in text and "(default: [])" not in text
