"""The figures bench/run.py measures, one module each: adding a figure is adding a module here.

A figure module (any ``*.py`` here whose name does not start with ``_``; those are helpers)
has a docstring saying what is measured and why (``bench/run.py --help`` prints it) and
declares:

- ``NAME``: the ``--only`` name, e.g. ``"dry-run"``;
- ``REFERENCE``: what it is compared with, measured in the same run;
- ``ORDER``: where it runs in the plan (cheap first);
- ``measure(bench, rows)``: runs the samples through ``harness.Bench`` (``pair``, ``record``)
  and adds its table rows (``figure``, ``wall_figure``);

and optionally:

- ``DEFAULT = False``: left out of the plan unless named in ``--only`` (long figures);
- ``sizes(args)``: the row counts it runs at (default ``[None]``: no row count);
- ``parse(word)``: the row count for another ``--only`` word (``run-50k`` -> 50000), or None;
- ``entry(rows)``: its name in progress lines and the JSON's ``load_average``;
- ``options(parser)``: adds its own options to bench/run.py's argparse parser.

Modules are imported when discovered; keep heavy imports (pandas, scikit-learn) inside the
functions, so ``--help`` and the child processes stay quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Figure:
    """A figure module, with the defaults of what it may leave out."""

    module: ModuleType

    @property
    def name(self) -> str:
        return self.module.NAME

    @property
    def reference(self) -> str:
        return self.module.REFERENCE

    @property
    def order(self) -> int:
        return self.module.ORDER

    @property
    def default(self) -> bool:
        return getattr(self.module, "DEFAULT", True)

    @property
    def doc(self) -> str:
        return (self.module.__doc__ or "").strip()

    def sizes(self, args: Any) -> list[int | None]:
        sizes = getattr(self.module, "sizes", None)
        return sizes(args) if sizes else [None]

    def parse(self, word: str) -> int | None:
        parse = getattr(self.module, "parse", None)
        return parse(word) if parse else None

    def entry(self, rows: int | None) -> str:
        entry = getattr(self.module, "entry", None)
        if entry:
            return entry(rows)
        from harness import label

        return self.name if rows is None else f"{self.name}-{label(rows)}"

    def options(self, parser: Any) -> None:
        options = getattr(self.module, "options", None)
        if options:
            options(parser)

    def measure(self, bench: Any, rows: int | None) -> None:
        self.module.measure(bench, rows)


def discover() -> list[Figure]:
    """Every figure module of this package, in ORDER; a module missing a part fails loudly."""
    import importlib
    import pkgutil

    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [a for a in ("NAME", "REFERENCE", "ORDER", "measure") if not hasattr(module, a)]
        if missing or not (module.__doc__ or "").strip():
            raise SystemExit(f"bench/figures/{info.name}.py lacks {', '.join(missing) or 'a docstring'}")
        found.append(Figure(module))
    names = [f.name for f in found]
    if len(set(names)) != len(names):
        raise SystemExit(f"bench/figures: two modules declare the same NAME: {sorted(names)}")
    return sorted(found, key=lambda f: (f.order, f.name))
