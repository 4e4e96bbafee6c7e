"""The network diagrams as SVG: GB/T 28749 stages left to right, GB/T 33656 metering marks.

A node is a box in its stage's column (rows by ``sort_order`` then code); a flow
is a line from the right edge of its source to the left edge of its target (a
flow back to an earlier column, such as recovery, is drawn as a curve below).
The metering point sits on the middle of its line: a filled circle for an
equipped meter, a hollow dashed red one for a missing meter, with the flow's
label and level, and, on the live diagram, the point's latest value. Text is
Chinese first; the font list names fonts that have CJK glyphs on the systems
that will open the file (Noto/Source Han on Linux, YaHei on Windows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from ems.networks.models import NetworkFlow, NetworkNode, Stage

FONT = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif"
)
BOX_W, BOX_H = 150, 44
COL_GAP, ROW_GAP = 110, 36
MARGIN = 40
STAGE_TITLES = {
    0: "购入贮存 Purchase & storage",
    1: "加工转换 Conversion",
    2: "输送分配 Distribution",
    3: "最终使用 Final use",
    4: "外供 Export",
}


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value):,.1f}"


def render(
    nodes: Sequence[NetworkNode],
    flows: Sequence[NetworkFlow],
    *,
    title: str,
    live: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """The diagram of ``flows`` between ``nodes``; ``live`` maps point id -> latest value."""
    columns: dict[int, list[NetworkNode]] = defaultdict(list)
    for node in sorted(nodes, key=lambda n: (n.sort_order, n.code)):
        columns[Stage(node.stage).column].append(node)
    place: dict[int, tuple[float, float]] = {}
    for column, members in columns.items():
        for row, node in enumerate(members):
            place[node.id] = (
                MARGIN + column * (BOX_W + COL_GAP),
                MARGIN + 40 + row * (BOX_H + ROW_GAP),
            )
    rows = max((len(m) for m in columns.values()), default=1)
    width = MARGIN * 2 + 5 * BOX_W + 4 * COL_GAP
    height = MARGIN * 2 + 40 + rows * (BOX_H + ROW_GAP) + 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{_attr(FONT)}" font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
        f'<text x="{MARGIN}" y="{MARGIN - 14}" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for column, label in STAGE_TITLES.items():
        centre = MARGIN + column * (BOX_W + COL_GAP) + BOX_W / 2
        out.append(
            f'<text x="{centre}" y="{MARGIN + 16}" text-anchor="middle" fill="#666">'
            f"{escape(label)}</text>"
        )
    for flow in flows:
        if flow.from_node_id not in place or flow.to_node_id not in place:
            continue
        out.extend(_flow(flow, place, live))
    for node in nodes:
        x, y = place[node.id]
        out.append(
            f'<g class="node" data-node-id="{node.id}"><rect x="{x}" y="{y}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="4" fill="#f4f7fb" stroke="#335"/>'
            f'<text x="{x + BOX_W / 2}" y="{y + 18}" text-anchor="middle">{escape(node.name)}'
            f'</text><text x="{x + BOX_W / 2}" y="{y + 34}" text-anchor="middle" '
            f'fill="#777" font-size="10">{escape(node.code)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _flow(
    flow: NetworkFlow,
    place: Mapping[int, tuple[float, float]],
    live: Mapping[int, Mapping[str, Any]] | None,
) -> list[str]:
    (x1, y1), (x2, y2) = place[flow.from_node_id], place[flow.to_node_id]
    if x2 > x1:
        start = (x1 + BOX_W, y1 + BOX_H / 2)
        end = (x2, y2 + BOX_H / 2)
        path = f"M{start[0]},{start[1]} L{end[0]},{end[1]}"
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    else:
        # Backwards or within one column (recovery, a bus feeding a neighbour): a curve below.
        start = (x1 + BOX_W / 2, y1 + BOX_H)
        end = (x2 + BOX_W / 2, y2 + BOX_H)
        low = max(start[1], end[1]) + 30
        path = f"M{start[0]},{start[1]} C{start[0]},{low} {end[0]},{low} {end[0]},{end[1]}"
        mid = ((start[0] + end[0]) / 2, low - 7)
    equipped = flow.point_id is not None
    required = flow.metering_required and flow.level is not None
    parts = [
        f'<g class="flow" data-flow-id="{flow.id}" data-energy-type="{_attr(flow.energy_type)}">',
        f'<path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>',
    ]
    label = flow.label or f"#{flow.id}"
    if flow.level is not None:
        label += f" L{flow.level}"
    if equipped:
        parts.append(
            f'<circle class="meter equipped" cx="{mid[0]}" cy="{mid[1]}" r="6" fill="#1a7f37"/>'
        )
    elif required:
        parts.append(
            f'<circle class="meter missing" cx="{mid[0]}" cy="{mid[1]}" r="6" fill="white" '
            'stroke="#c62828" stroke-dasharray="2,2" stroke-width="2"/>'
        )
        label += " 缺配 missing"
    parts.append(
        f'<text x="{mid[0]}" y="{mid[1] - 10}" text-anchor="middle" font-size="10">'
        f"{escape(label)}</text>"
    )
    if live is not None and flow.point_id is not None and flow.point_id in live:
        value = live[flow.point_id]
        colour = "#c62828" if value.get("alarm") else "#0b5394"
        parts.append(
            f'<text class="live" x="{mid[0]}" y="{mid[1] + 18}" text-anchor="middle" '
            f'font-size="10" fill="{colour}">{_fmt(value.get("value"))} '
            f"{escape(str(value.get('unit', '')))}</text>"
        )
    parts.append("</g>")
    return parts
