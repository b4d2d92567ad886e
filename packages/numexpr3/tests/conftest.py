from __future__ import annotations

import os
import sys

import hypothesis

hypothesis.settings.register_profile("ci", deadline=None, derandomize=True, max_examples=40, print_blob=True)
hypothesis.settings.register_profile("dev", deadline=None, max_examples=100)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

if os.environ.get("NUMEXPR3_REFERENCE_VM") == "1":
    # Run the suite on the NumPy reference interpreter instead of the C++ VM: this tests
    # the compiler alone, e.g. before the VM builds. Never the default.
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("numexpr3._core", Path(__file__).with_name("_reference_vm.py"))
    sys.modules["numexpr3._core"] = reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    # These test the C++ VM itself (its kernels, call path and output memory), which the reference replaces.
    collect_ignore = ["test_dispatch.py", "test_vm_kernels.py", "test_outputs.py"]
