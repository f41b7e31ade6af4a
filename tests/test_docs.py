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


#: Constant parts of error sentences the CLI prints for bad input or faults (a sample of
#: 42). Each must be in the code (so the sample is real) and in docs/troubleshooting.md
#: or docs/cli.md (so a user who sees it finds its cause and fix).
ERROR_SENTENCES = [
    "the run's process is gone without recording an end",
    'its task process died without an error',
    'is full (No space left on device); free space there, then resume with',
    'is damaged (',
    'move it aside (mv',
    'stayed locked for',
    'the evaluation is complete. Log it to MLflow later with: hokusai track',
    'check that the tracking server is up, then run `hokusai track',
    'file not found in the current folder (',
    'is a folder; give a file.',
    'does not suit',
    'fix the [model] params in hokusai.toml.',
    'missing column(s)',
    'values instead of numbers',
    'is not a valid tree (',
    'is not a readable skops model file (',
    'fit the baseline again and save it with skops.io.dump',
    'hex digits, not 64',
    'not zero and below the secp256k1 curve order',
    'the file is not UTF-8 text; put only the hex private key in it.',
    'use the file exactly as `hokusai attest` wrote it',
    'is not an address (0x followed by 40 hex digits)',
    'duplicated column ',
    'so each name appears once.',
    'has rows with more fields than its header has column names',
    'has lists or objects instead of labels in ',
    'which would accept it with reward 0 and burn its idempotency key',
    'so the contract would pay nothing and burn the idempotency key',
    'is not in the future, so DeltaVerifier would revert SignatureExpired',
    "because no cost is configured, and a zero cost turns the contract's budget check off",
    'is not a known network; use ',
    'and the relayer needs a positive decimal string',
    'and the relayer needs at least one in attester_signatures',
    'and the contract mints a key once; pass --force to publish it again.',
    'cannot reach Redis (',
    'so it is not published; attest the run again.',
    'so there is nothing to pay and the run cannot be attested, even with --force',
    'It is an input of run ',
    'a quantity rather than classes, but [model] task = ',
    '(or a custom metric).',
    '(a different text in every row: an ID or free text)',
    'The baseline model file cannot take empty feature values',
]


def _joined_source() -> str:
    """The package's source with implicitly concatenated string literals joined."""
    text = "\n".join(p.read_text() for d in ("pipeline", "hokusai_cli") for p in (ROOT / d).rglob("*.py"))
    return re.sub(r"""["']\s*\n\s*(?:\+\s*)?[rfb]*["']""", "", text)


def test_error_sentences_are_real_and_documented():
    assert len(ERROR_SENTENCES) >= 30
    source = _joined_source()
    docs = " ".join(((ROOT / "docs" / "troubleshooting.md").read_text() + CLI_DOC.read_text()).split())
    not_in_code = [s for s in ERROR_SENTENCES if s not in source]
    undocumented = [s for s in ERROR_SENTENCES if " ".join(s.split()) not in docs]
    assert not_in_code == [] and undocumented == []
