"""`--exclude WALLET|FILE`: evaluate a batch without some contributors, and say so.

An excluded contribution is integrated like any other (so its counts are known), then taken
out of the training table before any fit. The evidence names it with the reason; nothing is
dropped silently."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.data.contributions import ORIGIN, Contribution, Integration


@dataclass(frozen=True)
class Excluded:
    file: str
    wallet: str | None
    file_sha256: str
    rows_kept: int
    reason: str  # "excluded on request (--exclude WALLET)" or "(--exclude FILE)": no path, it goes in the evidence
    ref: str = ""  # the --exclude value that matched


def matches(contribution: Contribution, ref: str) -> bool:
    """A reference names a contribution by wallet (any case) or by its file (as given or by base name)."""
    if ref.lower().startswith("0x"):
        return contribution.wallet is not None and contribution.wallet.lower() == ref.lower()
    return contribution.file == ref or contribution.file.rsplit("/", 1)[-1] == ref.rsplit("/", 1)[-1]


def unmatched(contributions: list[Contribution], refs: list[str]) -> list[str]:
    """The references that name no contribution (a typo would otherwise exclude nothing)."""
    return [r for r in refs if not any(matches(c, r) for c in contributions)]


def check_refs(loaded: list[Any], refs: list[str]) -> None:
    """Before a run: every --exclude names a contributed file (as given or by base name) or a
    wallet credited by a FILE:WALLET tag or a wallet column; else one sentence (exit 2)."""
    from pipeline.errors import InputError

    def named(ref: str) -> bool:
        if not ref.lower().startswith("0x"):
            return any(c.name == ref or c.name.rsplit("/", 1)[-1] == ref.rsplit("/", 1)[-1] for c in loaded)
        for c in loaded:
            if c.wallet is not None and c.wallet.lower() == ref.lower():
                return True
            if c.wallet_column is not None and (c.frame[c.wallet_column].astype(str).str.lower() == ref.lower()).any():
                return True
        return False

    missing = [r for r in refs if not named(r)]
    if missing:
        raise InputError(f"--exclude {missing[0]} names no contributed file or wallet of this run; use a --contrib "
                         "FILE (as given or its name) or a WALLET that one of them credits.")


def exclude(integration: Integration, refs: list[str]) -> tuple[Integration, list[Excluded]]:
    """`integration` without the contributions `refs` name: their rows leave the training
    table, the kept contributions are renumbered in order, and each excluded one is recorded."""
    if not refs:
        return integration, []
    missing = unmatched(integration.contributions, refs)
    if missing:
        from pipeline.errors import DataError

        raise DataError(f"--exclude {missing[0]} names no contribution of this run; use a --contrib FILE (as given "
                        "or its name) or a WALLET that one of them credits.")
    kept: list[Contribution] = []
    excluded: list[Excluded] = []
    renumber: dict[int, int] = {-1: -1}
    for index, c in enumerate(integration.contributions):
        hit = next((r for r in refs if matches(c, r)), None)
        if hit is None:
            renumber[index] = len(kept)
            kept.append(c)
        else:
            by = "WALLET" if hit.lower().startswith("0x") else "FILE"
            excluded.append(Excluded(c.file, c.wallet, c.file_sha256, c.rows_kept,
                                     f"excluded on request (--exclude {by})", hit))
    table: Any = integration.training_data
    table = table[table[ORIGIN].isin(list(renumber))].copy()
    table[ORIGIN] = table[ORIGIN].map(renumber).astype(table[ORIGIN].dtype)
    return replace(integration, training_data=table.reset_index(drop=True), contributions=kept), excluded
