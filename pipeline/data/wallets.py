"""Wallets: EIP-55 checks of a FILE:WALLET tag or of every cell of a wallet column. Money
follows these values, so a bad one is an error naming the rows, never guessed nor dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.data.conform import _rows
from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

ZERO_ADDRESS = "0x" + "0" * 40


def checked_wallet(wallet: str) -> str | None:
    """EIP-55 form of a wallet, or None when it is not a valid address (mixed case must
    already be a valid checksum; all-lower and all-upper are normalised)."""
    from eth_utils import is_address, is_checksum_address, to_checksum_address

    if not isinstance(wallet, str) or not wallet.startswith(("0x", "0X")):
        return None
    body = wallet[2:]
    if not is_address(wallet) or not (body.islower() or body.isupper() or is_checksum_address(wallet)):
        return None
    return to_checksum_address(wallet)


def normalise_wallet(wallet: str, where: str) -> str:
    """EIP-55 form of a wallet; mixed case must already be a valid checksum."""
    checked = checked_wallet(wallet)
    if checked is None:
        raise DataError(
            f"{where}: wallet {wallet!r} is not a valid EIP-55 address; copy it from your wallet app."
        )
    if checked.lower() == ZERO_ADDRESS:
        raise DataError(f"{where}: the zero address cannot receive credit; use your own wallet.")
    return checked


def _wallet_text(values: pd.Series) -> pd.Series:
    """A wallet column as stripped text, vectorised: a missing cell stays missing; a number,
    a list or an object becomes its text, which is never an address; a categorical column
    reads as its values."""
    import pandas as pd

    try:
        return values.astype("str").str.strip()
    except (TypeError, ValueError):  # e.g. bytes that are not UTF-8 (Parquet binary): cell by cell
        missing = values.isna().to_numpy()
        text = [None if gone else value if isinstance(value, str) else repr(value)
                for value, gone in zip(values.tolist(), missing)]
        return pd.Series(text, index=values.index, dtype="str").str.strip()


def row_wallets(frame: pd.DataFrame, column: str, name: str) -> Any:
    """The EIP-55 wallet of every row of a wallet column (an object array). Empty cells,
    invalid addresses and the zero address are DataErrors naming the rows: money follows
    these cells, so they are never guessed nor dropped."""
    import pandas as pd

    text = _wallet_text(frame[column])
    empty = text.isna() | (text == "")
    if empty.any():
        raise DataError(
            f"{name}: column {column!r} has no wallet in {_rows(empty)}; fill in the wallet to credit "
            "or remove those rows."
        )
    checked = {value: checked_wallet(value) for value in pd.unique(text)}  # each distinct cell once
    wallets = pd.Series(text.map(checked).to_numpy(dtype=object), index=text.index)
    bad = wallets.isna()
    if bad.any():
        raise DataError(
            f"{name}: column {column!r} has invalid wallet addresses in {_rows(bad)}; use EIP-55 "
            "addresses (copy them from your wallet app)."
        )
    zero = wallets == ZERO_ADDRESS  # (its EIP-55 form: digits have no case)
    if zero.any():
        raise DataError(
            f"{name}: column {column!r} holds the zero address in {_rows(zero)}; it cannot receive "
            "credit: use real wallets."
        )
    return wallets.to_numpy()
