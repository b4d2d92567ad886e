"""Accuracy table of numexpr3's transcendental functions, in ulp against NumPy.

Measures every function of tests/test_accuracy.py on the same 10^6 points per type, once
per vector-math backend available here (each in its own process, since NUMEXPR3_SIMD is
read at import), and prints a markdown table for the README.

Usage:
    python packages/numexpr3/benchmarks/accuracy.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def measure_all() -> dict[str, float]:
    sys.path.insert(0, str(TESTS))
    import numpy as np
    import test_accuracy

    results = {}
    for function in sorted(test_accuracy.UNARY) + sorted(test_accuracy.BINARY):
        for dtype in ("f4", "f8"):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                results[f"{function} {dtype}"] = test_accuracy.measure(function, dtype)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        import numexpr3

        print(json.dumps({"backend": numexpr3._core.vector_math(), "ulp": measure_all()}))
        return
    runs = []
    for cap in ("scalar", "sse2", "avx2", ""):
        env = dict(os.environ, NUMEXPR3_SIMD=cap)
        out = subprocess.run(
            [sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True, check=True
        )
        run = json.loads(out.stdout)
        if all(run["backend"] != r["backend"] for r in runs):
            runs.append(run)
    print("Max error in ulp against NumPy, 10^6 points per function and type (edge cases included)\n")
    print("| function | type | " + " | ".join(r["backend"] for r in runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for key in runs[0]["ulp"]:
        function, dtype = key.split()
        print(f"| {function} | {dtype} | " + " | ".join(f"{r['ulp'][key]:.2f}" for r in runs) + " |")


if __name__ == "__main__":
    main()
