"""Pictures of a lineage walk: a terminal tree, Graphviz DOT, SVG and a self-contained HTML page.

SVG comes from Graphviz ``dot`` when it is installed and ``engine`` allows it, else from
a built-in layered layout (longest-path layers, barycentre ordering), so pictures work
on machines without Graphviz. Both SVG and HTML are single files with no external
resources: they open offline in any browser.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from mlplatform.errors import LineageError
from mlplatform.lineage.edges import GraphEdge
from mlplatform.lineage.graph import KINDS, Walk

__all__ = ["FORMATS", "ENGINES", "Layout", "render", "tree", "dot", "svg", "html_page", "layout"]

log = logging.getLogger(__name__)

FORMATS = ("tree", "dot", "svg", "html", "json")
ENGINES = ("auto", "dot", "builtin")

# fill colour per kind of id (same palette in DOT and the built-in SVG)
COLOURS: dict[str, str] = {
    "code": "#e8e8e8",
    "env": "#d9ead3",
    "fs": "#cfe2f3",
    "table": "#d0e0e3",
    "ts": "#fff2cc",
    "model": "#f4cccc",
    "scores": "#ead1dc",
    "benchmark": "#fce5cd",
}


def _kind(artifact_id: str) -> str:
    return artifact_id.partition(":")[0]


def _when(at: Any) -> str:
    if at is None or at != at:  # NaT/NaN compare unequal to themselves
        return ""
    text = at.isoformat() if hasattr(at, "isoformat") else str(at)
    return text.replace("T", " ")[:16]


def _provenance(edge: GraphEdge) -> str:
    parts = [p for p in (edge.action, _when(edge.at), f"by {edge.actor}" if edge.actor else "") if p]
    return " ".join(parts)


# ---------------------------------------------------------------- terminal tree


def tree(walk: Walk) -> str:
    """Indented upstream and downstream trees; a node reached twice is shown once."""
    lines = [f"{walk.root}  ({KINDS.get(_kind(walk.root), _kind(walk.root))})"]
    sections: list[tuple[str, tuple[GraphEdge, ...], Callable[[GraphEdge], str], Callable[[GraphEdge], str]]] = [
        ("upstream: what it was made from", walk.upstream, lambda e: e.to_id, lambda e: e.from_id),
        ("downstream: what was made from it", walk.downstream, lambda e: e.from_id, lambda e: e.to_id),
    ]
    for title, edges, key, other in sections:
        lines.append("")
        lines.append(title)
        index: dict[str, list[GraphEdge]] = {}
        for edge in edges:
            index.setdefault(key(edge), []).append(edge)
        if not index.get(walk.root):
            lines.append("  (nothing recorded)")
            continue
        shown: set[str] = {walk.root}
        _branch(walk.root, index, other, "", shown, lines)
    return "\n".join(lines)


def _branch(
    node: str,
    index: dict[str, list[GraphEdge]],
    other: Callable[[GraphEdge], str],
    prefix: str,
    shown: set[str],
    lines: list[str],
) -> None:
    edges = sorted(
        index.get(node, []),
        key=lambda e: (list(KINDS).index(_kind(other(e))) if _kind(other(e)) in KINDS else 99, other(e)),
    )
    for i, edge in enumerate(edges):
        last = i == len(edges) - 1
        target = other(edge)
        repeat = target in shown
        suffix = "  (see above)" if repeat and index.get(target) else ""
        meta = _provenance(edge)
        lines.append(
            f"{prefix}{'└── ' if last else '├── '}{edge.relation}: {target}{suffix}{f'   [{meta}]' if meta else ''}"
        )
        if not repeat:
            shown.add(target)
            _branch(target, index, other, prefix + ("    " if last else "│   "), shown, lines)


# ---------------------------------------------------------------- DOT


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(walk: Walk) -> str:
    """Graphviz DOT source, left (upstream) to right (downstream), root outlined."""
    out = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=11];',
        '  edge [fontname="monospace", fontsize=9, color="#555555"];',
    ]
    for node in walk.nodes:
        kind = _kind(node)
        extra = ", penwidth=2.5" if node == walk.root else ""
        label = _dot_quote(node)[:-1] + "\\n" + _dot_quote(KINDS.get(kind, kind))[1:]  # two lines
        out.append(
            f"  {_dot_quote(node)} [label={label}, fillcolor={_dot_quote(COLOURS.get(kind, '#ffffff'))}{extra}];"
        )
    for edge in walk.edges:
        out.append(
            f"  {_dot_quote(edge.from_id)} -> {_dot_quote(edge.to_id)} "
            f"[label={_dot_quote(edge.relation)}, tooltip={_dot_quote(_provenance(edge))}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- built-in layout

CHAR_W = 7.3  # monospace 12px
NODE_H = 42
H_GAP = 90
V_GAP = 22
MARGIN = 20


@dataclass(frozen=True)
class Box:
    """A laid-out node: top-left corner, size and layer (column)."""

    id: str
    x: float
    y: float
    w: float
    h: float
    layer: int


@dataclass(frozen=True)
class Layout:
    """Node boxes, and for edges that skip columns the points where they cross them."""

    boxes: dict[str, Box]
    # (from, to) -> [(x entering a column, x leaving it, y)] for every column the edge crosses
    routes: dict[tuple[str, str], list[tuple[float, float, float]]]


DUMMY_H = 14  # the slot an edge takes when it crosses a column


def layout(nodes: list[str], edges: Iterable[tuple[str, str]]) -> Layout:
    """Layered left-to-right layout (Sugiyama style).

    Longest-path layers with every node pulled next to its first consumer; edges that
    skip columns get a slot in each column they cross, so they run between boxes, not
    through them; barycentre sweeps order each column.
    """
    nodes = list(dict.fromkeys(nodes))
    pairs = [(a, b) for a, b in dict.fromkeys(edges) if a != b]
    kept = _acyclic(nodes, pairs)
    layer = _layers(nodes, kept)
    up, down, chains = _crossings(nodes, kept, layer)
    boxes, slots = _place(_ordered_columns(layer, up, down), set(nodes))
    return Layout(boxes, {edge: [slots[d] for d in chain] for edge, chain in chains.items()})


def _layers(nodes: list[str], kept: list[tuple[str, str]]) -> dict[str, int]:
    """Node -> column: longest path from the sources, then each node pulled right next to its first consumer."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in kept:
        parents[b].append(a)
        children[a].append(b)
    layer: dict[str, int] = {}

    def depth(n: str) -> int:
        if n not in layer:
            layer[n] = 0  # provisional: guards against any remaining cycle
            layer[n] = 1 + max((depth(p) for p in parents[n]), default=-1)
        return layer[n]

    for n in nodes:
        depth(n)
    for n in sorted(nodes, key=lambda m: -layer[m]):  # pull each node right, next to its first consumer
        if children[n]:
            layer[n] = min(layer[c] for c in children[n]) - 1
    return layer


def _crossings(
    nodes: list[str], kept: list[tuple[str, str]], layer: dict[str, int]
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """A dummy node (added to ``layer``) in every column an edge skips.

    Returns the links up and down between neighbouring columns, and the dummies of each skipping edge.
    """
    up: dict[str, list[str]] = {n: [] for n in nodes}
    down: dict[str, list[str]] = {n: [] for n in nodes}
    chains: dict[tuple[str, str], list[str]] = {}
    for a, b in kept:
        chain = [f"\0{a}\0{b}\0{k}" for k in range(layer[a] + 1, layer[b])]
        for k, dummy in zip(range(layer[a] + 1, layer[b]), chain):
            layer[dummy] = k
        path = [a, *chain, b]
        for u, v in zip(path, path[1:]):
            down.setdefault(u, []).append(v)
            up.setdefault(v, []).append(u)
        if chain:
            chains[(a, b)] = chain
    return up, down, chains


def _ordered_columns(layer: dict[str, int], up: dict[str, list[str]], down: dict[str, list[str]]) -> list[list[str]]:
    """The nodes of each column, ordered by barycentre sweeps (down, then up) to cut crossings."""
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in layer:
        layers[layer[n]].append(n)
    for _ in range(4):  # barycentre sweeps: down then up
        for i in range(1, len(layers)):
            _order(layers[i], layers[i - 1], up)
        for i in range(len(layers) - 2, -1, -1):
            _order(layers[i], layers[i + 1], down)
    return layers


def _place(layers: list[list[str]], real: set[str]) -> tuple[dict[str, Box], dict[str, tuple[float, float, float]]]:
    """Boxes of the ``real`` nodes and the slots (x in, x out, y) of the dummies, each column centred."""

    def height(n: str) -> float:
        return NODE_H if n in real else DUMMY_H

    widths = [max((_node_w(n) for n in col if n in real), default=0) for col in layers]
    columns = [sum(height(n) for n in col) + V_GAP * (len(col) - 1) for col in layers]
    tallest = max(columns, default=0)
    boxes: dict[str, Box] = {}
    slots: dict[str, tuple[float, float, float]] = {}
    x = MARGIN
    for i, col in enumerate(layers):
        y = MARGIN + (tallest - columns[i]) / 2
        for n in col:
            if n in real:
                w = _node_w(n)
                boxes[n] = Box(n, x + (widths[i] - w) / 2, y, w, NODE_H, i)
            else:
                slots[n] = (x, x + widths[i], y + DUMMY_H / 2)
            y += height(n) + V_GAP
        x += widths[i] + H_GAP
    return boxes, slots


def _acyclic(nodes: list[str], pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop back edges found by a depth-first search so layering terminates."""
    out_of: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in pairs:
        out_of.setdefault(a, []).append(b)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for start in nodes:
        if start in state:
            continue
        stack = [(start, iter(out_of.get(start, [])))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out_of.get(nxt, []))))
    if back:
        log.warning("lineage contains a cycle through %s; drawing it without those edges' ranks", sorted(back))
    return [p for p in pairs if p not in back and p[0] in out_of and p[1] in out_of]


def _order(col: list[str], fixed: list[str], links: dict[str, list[str]]) -> None:
    pos = {n: i for i, n in enumerate(fixed)}
    keys = {}
    for i, n in enumerate(col):
        near = [pos[m] for m in links.get(n, []) if m in pos]
        keys[n] = sum(near) / len(near) if near else float(i)
    col.sort(key=keys.__getitem__)


def _node_w(node: str) -> float:
    kind = _kind(node)
    return max(len(node), len(KINDS.get(kind, kind))) * CHAR_W + 24


# ---------------------------------------------------------------- SVG


def svg(walk: Walk, engine: str = "auto") -> str:
    """An SVG picture of the walk: Graphviz ``dot`` when available (``engine`` auto|dot), else built in."""
    if engine not in ENGINES:
        raise LineageError(f"unknown picture engine '{engine}'", f"use one of {', '.join(ENGINES)}")
    exe = shutil.which("dot") if engine in ("auto", "dot") else None
    if engine == "dot" and not exe:
        raise LineageError(
            "Graphviz 'dot' is not installed",
            "install graphviz, or use --engine builtin (the default falls back by itself)",
        )
    if exe:
        done = subprocess.run([exe, "-Tsvg"], input=dot(walk), capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout
        log.warning("graphviz dot failed (%s); using the built-in layout", done.stderr.strip()[:200])
    return _builtin_svg(walk)


def _ports(edges: tuple[GraphEdge, ...], laid: Layout) -> dict[tuple[GraphEdge, str], float]:
    """Spread the ends of the edges along each box's side, ordered by where the edge goes next."""
    boxes = laid.boxes
    ends: dict[tuple[str, str], list[tuple[float, GraphEdge]]] = {}
    for e in edges:
        route = laid.routes.get((e.from_id, e.to_id))
        toward = route[0][2] if route else boxes[e.to_id].y
        back = route[-1][2] if route else boxes[e.from_id].y
        ends.setdefault((e.from_id, "out"), []).append((toward, e))
        ends.setdefault((e.to_id, "in"), []).append((back, e))
    ports = {}
    for (node, side), group in ends.items():
        box = boxes[node]
        group.sort(key=lambda pair: pair[0])
        for i, (_, e) in enumerate(group):
            ports[(e, side)] = box.y + box.h * (i + 1) / (len(group) + 1)
    return ports


def _curve(x1: float, y1: float, x2: float, y2: float, t: float) -> tuple[str, tuple[float, float]]:
    """An S-shaped cubic from (x1, y1) to (x2, y2), and the point at ``t`` along it (for the label)."""
    dx = max(30.0, (x2 - x1) / 2)
    c1, c2 = (x1 + dx, y1), (x2 - dx, y2)
    px = (1 - t) ** 3 * x1 + 3 * (1 - t) ** 2 * t * c1[0] + 3 * (1 - t) * t**2 * c2[0] + t**3 * x2
    py = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * c1[1] + 3 * (1 - t) * t**2 * c2[1] + t**3 * y2
    return f"C {c1[0]:.1f} {c1[1]:.1f}, {c2[0]:.1f} {c2[1]:.1f}, {x2:.1f} {y2:.1f}", (px, py)


def _builtin_svg(walk: Walk) -> str:
    laid = layout(walk.nodes, [(e.from_id, e.to_id) for e in walk.edges])
    boxes = laid.boxes
    width = max((b.x + b.w for b in boxes.values()), default=0) + MARGIN
    height = max((b.y + b.h for b in boxes.values()), default=0) + MARGIN
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace">',
        f"<title>lineage of {esc(walk.root)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    ports = _ports(walk.edges, laid)
    fan_out = {n: sum(e.from_id == n for e in walk.edges) for n in boxes}
    fan_in = {n: sum(e.to_id == n for e in walk.edges) for n in boxes}
    for edge in walk.edges:
        a, b = boxes[edge.from_id], boxes[edge.to_id]
        x, y = a.x + a.w, ports[(edge, "out")]
        end = (b.x, ports[(edge, "in")]) if b.x > x else (b.x + b.w / 2, b.y)  # backwards (cycle): into the top
        near_target = fan_out[edge.from_id] > fan_in[edge.to_id]  # label where the edges are spread out
        t = 0.7 if near_target else 0.3
        path, points = [f"M {x:.1f} {y:.1f}"], []
        for left, right, mid in laid.routes.get((edge.from_id, edge.to_id), []):
            segment, point = _curve(x, y, left, mid, t)
            path += [segment, f"L {right:.1f} {mid:.1f}"]
            points.append(point)
            x, y = right, mid
        segment, point = _curve(x, y, *end, t)
        path.append(segment)
        points.append(point)
        lx, ly = points[-1] if near_target else points[0]
        out.append(
            f'<g class="edge"><title>{esc(edge.from_id)} → {esc(edge.to_id)}: '
            f"{esc(edge.relation)} {esc(_provenance(edge))}</title>"
            f'<path d="{" ".join(path)}" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>'
            f'<text x="{lx:.1f}" y="{ly - 3:.1f}" font-size="10" text-anchor="middle" fill="#333" '
            f'stroke="white" stroke-width="3" paint-order="stroke">{esc(edge.relation)}</text></g>'
        )
    for node, box in boxes.items():
        kind = _kind(node)
        stroke = 'stroke="#000" stroke-width="2.5"' if node == walk.root else 'stroke="#666" stroke-width="1"'
        out.append(
            f'<g class="node" data-id="{esc(node)}"><title>{esc(node)} ({esc(KINDS.get(kind, kind))})</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="8" '
            f'fill="{COLOURS.get(kind, "#ffffff")}" {stroke}/>'
            f'<text x="{box.x + box.w / 2:.1f}" y="{box.y + 17:.1f}" font-size="12" '
            f'text-anchor="middle">{esc(node)}</text>'
            f'<text x="{box.x + box.w / 2:.1f}" y="{box.y + 32:.1f}" font-size="10" '
            f'text-anchor="middle" fill="#555">{esc(KINDS.get(kind, kind))}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML


def html_page(walk: Walk, engine: str = "auto") -> str:
    """One self-contained page: the picture and the edges with who recorded them and when."""
    esc = html.escape
    rows = []
    for side, edges in (("upstream", walk.upstream), ("downstream", walk.downstream)):
        for e in edges:
            details = json.dumps(e.details, sort_keys=True) if e.details else ""
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{esc(str(v))}</td>"
                    for v in (side, e.from_id, e.relation, e.to_id, e.action, _when(e.at), e.actor, e.job_run, details)
                )
                + "</tr>"
            )
    header = "".join(
        f"<th>{h}</th>" for h in ("side", "from", "relation", "to", "action", "at (UTC)", "actor", "job run", "details")
    )
    legend = " ".join(
        f'<span class="kind" style="background:{COLOURS[k]}">{esc(k)}: {esc(v)}</span>' for k, v in KINDS.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lineage of {esc(walk.root)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
code, td {{ font-family: monospace; font-size: 12px; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
.kind {{ display: inline-block; padding: 1px 6px; margin: 2px; border-radius: 6px; font-size: 12px; }}
.picture {{ overflow: auto; border: 1px solid #ddd; padding: 4px; }}
</style></head>
<body>
<h1>Lineage of <code>{esc(walk.root)}</code></h1>
<p>{len(walk.upstream)} upstream and {len(walk.downstream)} downstream edge(s). \
Upstream is on the left, what was made from it on the right.</p>
<p>{legend}</p>
<div class="picture">
{svg(walk, engine)}
</div>
<table><thead><tr>{header}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def _json(walk: Walk) -> str:
    def edge(e: GraphEdge) -> dict[str, Any]:
        return {
            "from": e.from_id,
            "relation": e.relation,
            "to": e.to_id,
            "action": e.action,
            "job_run": e.job_run,
            "actor": e.actor,
            "at": _when(e.at),
            "details": e.details,
        }

    return json.dumps(
        {
            "root": walk.root,
            "upstream": [edge(e) for e in walk.upstream],
            "downstream": [edge(e) for e in walk.downstream],
        },
        indent=2,
    )


def render(walk: Walk, fmt: str = "tree", engine: str = "auto") -> str:
    """Render ``walk`` as one of :data:`FORMATS`."""
    if fmt == "tree":
        return tree(walk)
    if fmt == "dot":
        return dot(walk)
    if fmt == "svg":
        return svg(walk, engine)
    if fmt == "html":
        return html_page(walk, engine)
    if fmt == "json":
        return _json(walk)
    raise LineageError(f"unknown lineage format '{fmt}'", f"use one of {', '.join(FORMATS)}")
