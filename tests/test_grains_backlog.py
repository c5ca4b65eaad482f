"""Backlog candidates of every kind and the summary's grain sections, from real traces.

The grains target (tests/grains_target) is captured at two sizes: its set-up function
(``_orientation``) costs the same at both, its compiled physics grows with the pixels.
"""

from __future__ import annotations

import pytest
from test_grains import MODULE, _line_of, _span, capture

from analysis.evidence.candidates import (
    candidates,
    line_candidates,
    region_candidates,
    setup_candidates,
    size_exponent,
)
from analysis.evidence.grain_sections import (
    GrainEvidence,
    explained,
    grains_section,
    kernels_section,
)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    small = capture(tmp_path_factory.mktemp("small"), size=32, renders=5)
    large = capture(tmp_path_factory.mktemp("large"), size=1024, renders=5)
    ev = GrainEvidence()
    for got in (small, large):
        ev.lines += got["hot_lines"]
        ev.functions += got["hot_functions"]
        ev.ops += got["hot_ops"]
    ev.cells = {
        r["cell_id"]: {"tag": f"size={r['size']}", "warm_s": None, "profiled_s": []}
        for r in ev.lines
    }
    return ev


def test_a_setup_function_recomputed_per_render_is_found(evidence):
    found = {c.what: c for c in setup_candidates(evidence)}
    assert "_orientation" in found, sorted(found)
    c = found["_orientation"]
    assert c.where == f"{MODULE}:{_span('_orientation').start}"
    assert len(c.cells) == 2
    by_size = {x["size"]: x for x in c.cells}
    orientation = {r["size"]: r for r in evidence.functions if r["function"] == "_orientation"}
    for size, cell in by_size.items():  # computing it once saves all of it
        assert cell["gain_us"] == pytest.approx(orientation[size]["inclusive_us"])
    assert by_size[32]["gain_pct"] > 20 > by_size[1024]["gain_pct"] > 0
    # the render and the compiled physics grow with the image: not set-up
    assert "_physics" not in found and "factory.render" not in found
    rows = [r for r in evidence.functions if r["function"] == "_physics"]
    assert size_exponent(rows) > 0.3


def test_compiled_region_and_eager_line_candidates(evidence):
    regions = region_candidates(evidence)
    assert [c.where for c in regions] == [f"{MODULE}:{_line_of('img = physics(q, rot)')}"]
    lines = {c.where: c for c in line_candidates(evidence)}
    stack = f"{MODULE}:{_line_of('step = torch.stack')}"
    assert stack in lines
    for cell in lines[stack].cells:  # measured: its operators' fixed host costs
        assert cell["gain_us"] > 0
    kinds = {c.kind for c in candidates(evidence)}
    assert {"setup", "eager line", "compiled region"} <= kinds


def test_summary_sections_name_every_grain_and_the_explained_share(evidence):
    kernels = kernels_section(evidence)
    assert kernels.startswith("## Top-5 kernels by inclusive time")
    assert "compiled _physics" in kernels and kernels.count("### cpu float32") == 2
    text = grains_section(evidence)
    assert "Explained: loops 0.00%" in text  # this target has no loop data here: blind view
    cell = evidence.lines[0]["cell_id"]
    share = explained(evidence, cell)
    assert 85 <= share["all_lines"] <= 100.5 and share["lines"] <= share["all_lines"]
    assert f"`{MODULE}:{_line_of('img = physics(q, rot)')}`" in text
    assert "### Profiled renders" in text
