"""The command line's entry points: --version, --help, and commands that are not built yet."""

from click.testing import CliRunner

from drkit import __version__
from drkit.cli import main


def test_version_prints_the_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_every_contract_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("export", "list", "show", "verify", "diff", "restore", "prune"):
        assert f"  {command} " in result.output
