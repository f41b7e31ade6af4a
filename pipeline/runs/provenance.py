"""What an evaluation's numbers may depend on besides its inputs: the Python and library
versions, the CPU and the BLAS library, kernel and threads in use. Recorded beside the
evidence (never in it: the evidence hash must be the same on every machine), so a
reproduction that differs can be explained rather than guessed."""

from __future__ import annotations

from typing import Any

#: Distributions whose versions can change a fitted model, a prediction or a hash.
LIBRARIES = ("hokusai-pipeline", "numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "skops", "metaflow")


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """This process's numerics environment (call it where the models are fitted, after
    numpy and scikit-learn are loaded, so their BLAS and OpenMP pools are seen)."""
    import platform

    from threadpoolctl import threadpool_info

    from pipeline.modelling.numerics import SIGNIFICANT_BITS

    pools = [
        {"api": pool.get("internal_api"), "library": pool.get("prefix"), "version": pool.get("version"),
         "kernel": pool.get("architecture"), "threads": pool.get("num_threads"),
         "threading_layer": pool.get("threading_layer")}
        for pool in threadpool_info()
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        # one order whatever order the libraries were loaded in (numpy's and scipy's OpenBLAS may both be there)
        "threadpools": sorted(pools, key=lambda p: tuple(str(p[k]) for k in ("api", "library", "version",
                                                                              "threading_layer", "kernel", "threads"))),
        "numerics": {"significant_bits": SIGNIFICANT_BITS},
    }


def describe(env: dict[str, Any] | None) -> str:
    """One line for humans: 'numpy 2.4.6, scikit-learn 1.9.1; openblas 0.3.31 SkylakeX x2 on AMD EPYC'."""
    if not env:
        return "not recorded (a run made by an older hokusai)"
    libs = env.get("libraries", {})
    parts = [f"{name} {libs[name]}" for name in ("numpy", "scikit-learn") if libs.get(name)]
    blas = [f"{p['api']} {p['version']} {p['kernel']} x{p['threads']}" for p in env.get("threadpools", [])
            if p.get("api") in ("openblas", "mkl", "blis")]
    return f"{', '.join(parts)}; {', '.join(blas) or 'no BLAS seen'} on {env.get('cpu', '?')}"


def differences(recorded: dict[str, Any] | None, current: dict[str, Any] | None) -> list[str]:
    """Each difference between two environments as 'where: recorded -> current'."""
    if not recorded or not current:
        return []  # an older run recorded none: `describe` says so
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif a != b:
            out.append(f"{where}: {a} -> {b}")

    walk(recorded, current, "")
    return out
