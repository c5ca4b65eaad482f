"""Regenerate the committed trace of a target compiled by inductor (tests/grains_target).

    python tests/data/make_grain_fixture.py

``grains_cpu_inductor/`` holds what capture writes (trace.json.gz, trace.callsites.arrow,
trace.capture.json) for three profiled renders of ``tests/grains_target`` at 96², its
``_physics`` compiled by inductor (C++ kernels, which need a compiler: CI has none, so the
trace is committed). trace.capture.json records the sha1 of the traced source: edit the
target and the fixture test asks you to run this again.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from analysis.traces.capture import profile_call  # noqa: E402
from grains_target.target import factory  # noqa: E402

FOLDER = HERE / "grains_cpu_inductor"


def main() -> None:
    torch.set_num_threads(1)
    fn = factory(96, "cpu", "float32", {"backend": "inductor", "steps": 30})
    fn()
    fn()
    with tempfile.TemporaryDirectory() as tmp:
        _, cap = profile_call(
            fn,
            device="cpu",
            trace_path=Path(tmp) / "trace.json.gz",
            project_root=TESTS / "grains_target",
            renders=3,
        )
        shutil.rmtree(FOLDER, ignore_errors=True)
        shutil.copytree(cap.trace_path.parent, FOLDER)
    print(FOLDER.name, cap.method, [f"{s * 1e3:.1f} ms" for s in cap.render_s], cap.trace_bytes)


if __name__ == "__main__":
    main()
