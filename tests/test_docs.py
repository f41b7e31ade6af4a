"""The docs cannot drift from the code: every command and option is in docs/cli.md with an
example, and docs/configuration.md is the reference generated from the config model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"


def commands() -> dict[str, list[str]]:
    """Each command of the Typer app and its long options."""
    import typer.main

    from hokusai_cli.app import app

    group = typer.main.get_command(app)
    return {name: sorted(o for p in cmd.params for o in getattr(p, "opts", []) if o.startswith("--"))
            for name, cmd in group.commands.items()}


def sections(text: str) -> dict[str, str]:
    """`## \\`hokusai NAME …\\`` sections of docs/cli.md by command name (up to the next `## `)."""
    found = {}
    for match in re.finditer(r"^## `hokusai ([a-z-]+)[^\n]*\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        found[match.group(1)] = match.group(0)
    return found


def test_every_command_has_a_section_with_an_example():
    docs = sections(CLI_DOC.read_text())
    missing = [name for name in commands() if name not in docs]
    assert missing == [], f"docs/cli.md has no `## \\`hokusai NAME` section for: {missing}"
    no_example = [name for name, body in docs.items() if not re.search(rf"^\s*hokusai {re.escape(name)}\b", body, re.M)]
    assert no_example == [], f"sections without an example command line: {no_example}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_option_is_documented_in_its_command_section(name):
    section = sections(CLI_DOC.read_text()).get(name, "")
    body = section.partition("\n")[2]  # the heading's synopsis alone does not document an option
    undocumented = [option for option in commands()[name]
                    if option != "--help" and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", body)]
    assert undocumented == [], f"docs/cli.md, section `hokusai {name}`: options not documented: {undocumented}"


def test_the_section_finder_sees_a_section():
    text = "## `hokusai runs [--json]`\nList runs.\n\n    hokusai runs --json\n\n## `hokusai other`\n"
    assert sections(text)["runs"].startswith("## `hokusai runs [--json]`")
    assert "hokusai other" not in sections(text)["runs"]


def test_configuration_reference_is_generated_and_current():
    from pipeline.config_reference import DOCS, render, undocumented

    assert undocumented() == [], "give these keys a Field(description=...) in pipeline/config.py"
    current = DOCS.read_text()
    assert current == render(current), "docs/configuration.md is stale: run python -m pipeline.config_reference"
