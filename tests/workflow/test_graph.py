from __future__ import annotations

from pathlib import Path

from buildonce.workflow.analysis import analyse
from buildonce.workflow.graph import to_dot, to_mermaid
from buildonce.workflow.loader import Loader
from buildonce.workflow.model import Workflow


def test_graph_shows_needs_and_cache_edges(ksail_after: Path) -> None:
    wf = Loader().load(ksail_after / "workflows" / "ci.yaml")
    assert isinstance(wf, Workflow)
    analysis = analyse(wf)
    mermaid = to_mermaid(wf, analysis)
    assert mermaid.startswith("flowchart LR\n")
    assert "j_build_artifact --> j_system_test" in mermaid
    assert 'j_system_test["system-test x11 [consumer]"]' in mermaid
    assert "j_build_artifact -. saves .-> c_0" in mermaid
    assert "c_0 -. restores .-> j_system_test" in mermaid
    dot = to_dot(wf, analysis)
    assert dot.startswith("digraph workflow {")
    assert dot.rstrip().endswith("}")
    assert "j_build_artifact -> j_system_test;" in dot
    assert 'c_0 -> j_system_test [style=dashed, label="restores"];' in dot
