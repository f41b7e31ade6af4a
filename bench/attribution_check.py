"""Hokusai's Shapley attribution (pipeline/scoring/attribution.py) checked against an
independent implementation, pyDVL 0.10, fed the same coalition values.

Why: contributors are paid by these values, and the exact path (Fractions over integer
bps) and the sampling path (truncated Monte-Carlo with a per-contributor standard error,
which the harm advice reads) were only ever tested against themselves. Nothing retrains
here: every game is a table of coalition values, so both sides see identical utilities.

    python bench/attribution_check.py [--markdown] [--json FILE] [--seeds 100] [--mc-seeds 20]
                                      [--exact-players 2-10] [--sampling random-12,random-16,steps50-16]
                                      [--budget 2000] [--target-se 2] [--venv bench/.venv-pydvl]

Games (integer bps, seeded, so every run checks the same numbers): v(S) = 9000 (the
baseline's score: v(empty) is not 0) + the sum of S's additive weights (each drawn from
-40..120) + the sum of pairwise interactions within S (-15..15 per pair) + a noise term
drawn for every coalition (-10..10). "random-N" is that game for N players; "steps50-N"
is it rounded to a multiple of 50 bps, as accuracy on a 200-row benchmark is: many
coalitions tie, so truncation (a permutation stops once its prefix equals v(all)) fires
and marginals are coarse, as they are in real runs.

Checks (rows of the table):

- ours exact vs pyDVL exact, for random-2 .. random-10 and every sampling game: hokusai's
  ``attribute(method="exact_shapley")`` against pyDVL's ``combinatorial_exact_shapley``
  (``pydvl.value`` API) and against ``ShapleyValuation`` + ``DeterministicUniformSampler``
  (0.10's ``pydvl.valuation`` API). Max |ours - pyDVL| over the players; must be < 1e-9.
- ours sampling vs pyDVL exact, for the sampling games: ``attribute(method=
  "monte_carlo_shapley")`` with the product defaults (evaluation.attribution_budget and
  attribution_target_se_bps from pipeline/config.py) and with ``--budget``/``--target-se``,
  once per seed 0..``--seeds``-1. Pooled over seeds and players: max |ours - exact|, max
  |ours - exact| / our standard error, and the share of estimates within 2 and 3 standard
  errors (about 95 % and 99.7 % if the errors were right and the estimate normal; with 5
  permutations the t distribution with 4 degrees of freedom gives about 88 % and 96 %).
  The 3-SE share must be at least 90 %. An estimate whose standard error is 0 (all its
  marginals equal) counts as outside unless it is exact; the table says how many there were.
- pyDVL permutation Monte-Carlo (no truncation, as many permutations as our ``--budget``
  plan allows at most) vs pyDVL exact, ``--mc-seeds`` seeds: for reference, not checked.

pyDVL pins numpy<2 and hokusai runs on numpy 2, so pyDVL lives in its own virtualenv
(``--venv``, default bench/.venv-pydvl, ignored by git), made on first use with
``python -m venv`` and ``pip install 'pydvl==0.10.*'``. The games' tables go to a temp
JSON (each coalition as a sorted list of player indexes, with its value) read by
bench/attribution_check_pydvl.py run by the venv's Python, which writes pyDVL's values
back as JSON; it runs while this process computes ours. How the tables are plugged into
pyDVL's utility classes is explained in that file.

Exit status 1 when an exact comparison differs by 1e-9 bps or more, or a sampling row of
ours has fewer than 90 % of its estimates within 3 standard errors.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipeline.config import EvaluationSection
from pipeline.scoring.attribution import BLOCK_PERMUTATIONS, attribute, make_plan

HERE = Path(__file__).resolve().parent
HELPER = HERE / "attribution_check_pydvl.py"
PYDVL_REQUIREMENT = "pydvl==0.10.*"
GAME_SEED = 20240
BASE_BPS = 9000
EXACT_TOLERANCE = 1e-9
MIN_COVERAGE_3SE = 0.90
KINDS = {"random": 0, "steps50": 50}  # kind -> rounding step in bps (0: none)
DEFAULT_BUDGET = EvaluationSection.model_fields["attribution_budget"].default
DEFAULT_TARGET_SE = EvaluationSection.model_fields["attribution_target_se_bps"].default


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- games


def make_game(kind: str, n: int) -> np.ndarray:
    """v(S) for every coalition S of players 0..n-1, indexed by bitmask (bit i = player i)."""
    rng = np.random.default_rng([GAME_SEED, n, KINDS[kind]])
    weights = rng.integers(-40, 121, n)
    pairs = np.triu(rng.integers(-15, 16, (n, n)), 1)
    noise = rng.integers(-10, 11, 1 << n)
    bits = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(np.int64)
    values = BASE_BPS + bits @ weights + ((bits @ pairs) * bits).sum(axis=1) + noise
    step = KINDS[kind]
    if step:
        values = step * np.round(values / step).astype(np.int64)
    return values.astype(np.int64)


def lookup(values: np.ndarray):
    return lambda coalition: int(values[sum(1 << g for g in coalition)])


def table_json(values: np.ndarray, n: int) -> list:
    """[[sorted player indexes], value] for every coalition."""
    return [[[i for i in range(n) if mask >> i & 1], int(values[mask])] for mask in range(1 << n)]


def parse_game(name: str) -> tuple[str, int]:
    kind, _, n = name.rpartition("-")
    if kind not in KINDS or not n.isdigit() or not 2 <= int(n) <= 20:
        raise SystemExit(f"unknown game {name!r}: use KIND-N with KIND in {', '.join(KINDS)} and N in 2..20")
    return kind, int(n)


# --------------------------------------------------------------------------- pyDVL


def pydvl_python(venv: Path) -> Path:
    """The venv's Python with pyDVL 0.10 importable; the venv is made on first use."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import pydvl; print(pydvl.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip().startswith("0.10."):
            return python
    say(f"pyDVL: making {venv} (python -m venv; pip install '{PYDVL_REQUIREMENT}')")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          PYDVL_REQUIREMENT], capture_output=True, text=True)
    if pip.returncode != 0:
        raise SystemExit(f"pip install '{PYDVL_REQUIREMENT}' into {venv} failed (exit {pip.returncode}):\n"
                         f"{pip.stdout}{pip.stderr}")
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(f"pyDVL installed in {venv} but does not import:\n{found.stderr}")
    return python


# --------------------------------------------------------------------------- our side


def ours_exact(values: np.ndarray, n: int) -> tuple[list[Fraction], int]:
    att = attribute(list(range(n)), lookup(values), method="exact_shapley", budget=0, seed=0)
    return [att.values[g] for g in range(n)], att.retrainings


def ours_sampling(values: np.ndarray, n: int, budget: int, target: float, seeds: int) -> list[dict]:
    out = []
    for seed in range(seeds):
        att = attribute(list(range(n)), lookup(values), method="monte_carlo_shapley", budget=budget, seed=seed,
                        target_se_bps=target)
        out.append({"values": [att.values[g] for g in range(n)], "stderr": [att.standard_errors[g] for g in range(n)],
                    "retrainings": att.retrainings, "permutations": att.permutations, "stopped_by": att.stopped_by})
    return out


# --------------------------------------------------------------------------- comparison


def exact_gap(ours: list[Fraction], theirs: list[float]) -> float:
    """Max |ours - theirs|, the difference taken exactly (Fraction(float) is exact)."""
    return max(abs(float(o - Fraction(t))) for o, t in zip(ours, theirs))


def coverage(runs: list[dict], exact: list[float]) -> dict:
    """Pooled over runs and players: how far the estimates are from the exact values, in
    bps and in their own standard errors."""
    gaps, ratios = [], []
    for run in runs:
        for est, se, ref in zip(run["values"], run["stderr"], exact):
            gap = abs(float(Fraction(est) - Fraction(ref)))
            gaps.append(gap)
            ratios.append(gap / se if se > 0 else (0.0 if gap == 0 else math.inf))
    return {"max_abs": max(gaps), "max_se_ratio": max(ratios), "estimates": len(ratios),
            "within_2se": sum(r <= 2 for r in ratios) / len(ratios),
            "within_3se": sum(r <= 3 for r in ratios) / len(ratios),
            "zero_se": sum(1 for run in runs for se in run["stderr"] if se == 0)}


def spread(xs: list[int]) -> str:
    lo, mid, hi = min(xs), statistics.median_low(xs), max(xs)
    return f"{mid}" if lo == hi else f"{mid} ({lo}-{hi})"


# --------------------------------------------------------------------------- output


HEADERS = ("game", "players", "check", "max abs diff (bps)", "max diff / SE", "within 2 SE", "within 3 SE",
           "retrainings / permutations", "pyDVL", "pass")


def cells(row: dict, version: str) -> list[str]:
    def num(x: float | None, spec: str) -> str:
        return "-" if x is None else ("inf" if math.isinf(x) else ("0" if x == 0 else format(x, spec)))

    def share(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f} %"

    exact = row["kind"] == "exact"
    ratio = num(row.get("max_se_ratio"), ".2f")
    if row.get("zero_se"):
        ratio += f" ({row['zero_se']} of {row['estimates']} SEs are 0)"
    return [row["game"], str(row["players"]), row["check"], num(row["max_abs"], ".1e" if exact else ".2f"),
            ratio, share(row.get("within_2se")), share(row.get("within_3se")),
            row["cost"], version, {True: "yes", False: "NO", None: "-"}[row["ok"]]]


def render(rows: list[dict], version: str, markdown: bool) -> str:
    body = [cells(r, version) for r in rows]
    if markdown:
        return "\n".join(["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
                         + ["| " + " | ".join(c) + " |" for c in body])
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(HEADERS)]

    def line(cs: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cs, widths)))

    return "\n".join([line(HEADERS), line(["-" * w for w in widths])] + [line(c) for c in body])


# --------------------------------------------------------------------------- main


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE (JSON)")
    p.add_argument("--exact-players", default="2-10", metavar="A-B",
                   help="random games checked exact-only, players A..B (default 2-10)")
    p.add_argument("--sampling", default="random-12,random-16,steps50-16", metavar="GAME[,GAME]",
                   help="games checked exact and sampling, KIND-N, KIND in: " + ", ".join(KINDS)
                        + " (default random-12,random-16,steps50-16; N up to 20, pyDVL's second exact "
                        "path is skipped above 16 players)")
    p.add_argument("--seeds", type=int, default=100, help="sampling runs of ours per game and setting (seeds 0..N-1)")
    p.add_argument("--mc-seeds", type=int, default=20, help="pyDVL permutation Monte-Carlo runs per game (0: none)")
    p.add_argument("--budget", type=int, default=2000, help="our second sampling setting's budget (retrainings)")
    p.add_argument("--target-se", type=float, default=2.0, help="our second sampling setting's target SE (bps)")
    p.add_argument("--venv", type=Path, default=HERE / ".venv-pydvl", help="pyDVL's virtualenv (made if missing)")
    args = p.parse_args(argv)
    lo, _, hi = args.exact_players.partition("-")
    args.exact_range = range(int(lo), int(hi or lo) + 1)
    if args.exact_range.start < 2:
        p.error("--exact-players: at least 2")
    args.sampling_games = [parse_game(g.strip()) for g in args.sampling.split(",") if g.strip()]
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    python = pydvl_python(args.venv)

    games = [("random", n, False) for n in args.exact_range] + [(k, n, True) for k, n in args.sampling_games]
    tables = {f"{k}-{n}": make_game(k, n) for k, n, _ in games}
    settings = [("defaults", DEFAULT_BUDGET, DEFAULT_TARGET_SE), ("budget", args.budget, args.target_se)]
    mc_permutations = {f"{k}-{n}": make_plan(n, "monte_carlo_shapley", exact_max=0, budget=args.budget,
                                             target_se_bps=args.target_se, seed=0).blocks * BLOCK_PERMUTATIONS
                       for k, n, sampled in games if sampled}

    with tempfile.TemporaryDirectory(prefix="hokusai-attribution-") as tmp:
        request, answer = Path(tmp) / "games.json", Path(tmp) / "pydvl.json"
        request.write_text(json.dumps({"games": [
            {"name": f"{k}-{n}", "players": n, "table": table_json(tables[f"{k}-{n}"], n), "valuation_api": n <= 16,
             "mc_permutations": mc_permutations.get(f"{k}-{n}", 0),
             "mc_seeds": list(range(args.mc_seeds)) if sampled else []} for k, n, sampled in games]}))
        say(f"pyDVL helper: {python} {HELPER.name} ({len(games)} games)")
        t0 = time.perf_counter()
        helper = subprocess.Popen([str(python), str(HELPER), str(request), str(answer)])  # runs beside ours

        ours: dict[str, dict] = {}
        t1 = time.perf_counter()
        for kind, n, sampled in games:
            name, t = f"{kind}-{n}", time.perf_counter()
            exact, retrainings = ours_exact(tables[name], n)
            ours[name] = {"exact": exact, "retrainings": retrainings, "sampling": {}}
            if sampled:
                for label, budget, target in settings:
                    ours[name]["sampling"][label] = ours_sampling(tables[name], n, budget, target, args.seeds)
            say(f"ours: {name} {time.perf_counter() - t:.1f} s")
        ours_seconds = time.perf_counter() - t1

        if helper.wait() != 0:
            raise SystemExit(f"pyDVL helper failed (exit {helper.returncode}); its stderr is above")
        helper_seconds = time.perf_counter() - t0
        theirs = json.loads(answer.read_text())
    version = theirs["pydvl"]

    rows: list[dict] = []
    for kind, n, sampled in games:
        name, mine, dvl = f"{kind}-{n}", ours[f"{kind}-{n}"], theirs["games"][f"{kind}-{n}"]
        common = {"game": name, "players": n}
        cost = f"{mine['retrainings']} / -"
        for check, key in (("ours exact vs pyDVL combinatorial_exact_shapley", "exact"),
                           ("ours exact vs pyDVL ShapleyValuation + DeterministicUniformSampler", "exact_valuation")):
            if dvl[key] is not None:
                gap = exact_gap(mine["exact"], dvl[key])
                rows.append({**common, "kind": "exact", "check": check, "max_abs": gap, "cost": cost,
                             "ok": gap < EXACT_TOLERANCE, "seconds_pydvl": dvl["seconds"][key]})
        if not sampled:
            continue
        for label, budget, target in settings:
            runs = mine["sampling"][label]
            cov = coverage(runs, dvl["exact"])
            stops = sorted({r["stopped_by"] for r in runs})
            what = "defaults: " if label == "defaults" else ""
            rows.append({**common, "kind": "sampling", **cov, "ok": cov["within_3se"] >= MIN_COVERAGE_3SE,
                         "check": f"ours monte_carlo_shapley ({what}budget {budget}, target SE {target:g} bps; "
                                  f"{len(runs)} seeds; stopped by {'/'.join(stops)}) vs pyDVL exact",
                         "cost": f"{spread([r['retrainings'] for r in runs])} / "
                                 f"{spread([r['permutations'] for r in runs])}",
                         "setting": {"budget": budget, "target_se_bps": target, "seeds": len(runs)}})
        if dvl["mc"]:
            cov = coverage(dvl["mc"], dvl["exact"])
            rows.append({**common, "kind": "reference", **cov, "ok": None,
                         "check": f"reference: pyDVL permutation Monte-Carlo (no truncation; "
                                  f"{len(dvl['mc'])} seeds) vs pyDVL exact",
                         "cost": f"- / {spread([r['permutations'] for r in dvl['mc']])}"})

    print(render(rows, version, args.markdown))
    failed = [r for r in rows if r["ok"] is False]
    wall = time.perf_counter() - started
    print(f"\npyDVL {version} (numpy {theirs['numpy']}) in {args.venv}; hokusai on numpy {np.__version__}. "
          f"Wall {wall:.0f} s (ours {ours_seconds:.0f} s and the pyDVL helper {helper_seconds:.0f} s, side by side).")
    for r in failed:
        print(f"FAILED: {r['game']}: {r['check']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pydvl": version, "wall_s": round(wall, 1), "rows": rows,
                                         "args": sys.argv[1:]}, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
