"""Tree, DOT, SVG and HTML pictures of a walk."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from mlplatform.lineage import render
from mlplatform.lineage.graph import LineageGraph

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def walk(history_rows):
    return LineageGraph.from_rows(history_rows).walk("model:churn@2")


def test_tree_shows_both_directions_with_relations(walk):
    text = render.tree(walk)
    up, down = text.split("downstream: what was made from it")
    assert (
        "training_set: ts:churn@v2" in up
        and "feature_set: fs:activity@v5" in up
        and "code: code:git:abcdef123456" in up
    )
    # nested: the feature set hangs under the training set
    assert re.search(r"training_set: ts:churn@v2\n.*feature_set: fs:activity@v5", up)
    assert "model: scores:churn@v3" in down


def test_tree_shows_a_shared_ancestor_once(history_rows):
    text = render.tree(LineageGraph.from_rows(history_rows).walk("scores:churn@v3"))
    # the env feeds both the model and the scores: listed twice, expanded at most once
    assert text.count("env:churn@0123456789ab") == 2


def test_builtin_svg_is_well_formed_and_places_every_node_without_overlap(walk):
    root = ET.fromstring(render.svg(walk, engine="builtin"))
    nodes = root.findall(f".//{SVG}g[@class='node']")
    assert {g.get("data-id") for g in nodes} == set(walk.nodes)
    rects = [
        (float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height")))
        for g in nodes
        for r in g.findall(f"{SVG}rect")
    ]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            apart = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
            assert apart, f"boxes overlap: {a} {b}"
    assert len(root.findall(f".//{SVG}g[@class='edge']")) == len(walk.edges)


def test_builtin_layout_puts_producers_left_of_products(walk):
    laid = render.layout(walk.nodes, [(e.from_id, e.to_id) for e in walk.edges])
    for edge in walk.edges:
        a, b = laid.boxes[edge.from_id], laid.boxes[edge.to_id]
        assert a.layer < b.layer
        # an edge that skips columns crosses each of them in a free slot, between the boxes
        crossings = laid.routes.get((edge.from_id, edge.to_id), [])
        assert len(crossings) == b.layer - a.layer - 1
        for left, right, y in crossings:
            column = [box for box in laid.boxes.values() if left <= box.x and box.x + box.w <= right]
            assert column and all(not (box.y <= y <= box.y + box.h) for box in column)


def test_layout_survives_a_cycle():
    laid = render.layout(["a:x@1", "a:y@1"], [("a:x@1", "a:y@1"), ("a:y@1", "a:x@1")])
    assert set(laid.boxes) == {"a:x@1", "a:y@1"}


def test_html_is_self_contained(walk):
    page = render.html_page(walk, engine="builtin")
    assert "<svg" in page and "model:churn@2" in page
    # nothing fetched from elsewhere: no scripts, stylesheets or images by URL
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page


def test_dot_source_is_accepted_by_graphviz_when_installed(walk):
    source = render.dot(walk)
    assert source.startswith("digraph lineage {") and '"ts:churn@v2" -> "model:churn@2" [label="training_set"' in source
    if not shutil.which("dot"):
        pytest.skip("graphviz is not installed here; the DOT text is checked above")
    done = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_engine_dot_without_graphviz_is_a_clear_error(walk):
    if shutil.which("dot"):
        pytest.skip("graphviz is installed")
    with pytest.raises(Exception, match="Graphviz 'dot' is not installed"):
        render.svg(walk, engine="dot")
