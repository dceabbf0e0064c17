"""A small YAML node tree with an exact line and column for every node.

Built straight from libyaml's event stream (PyYAML's C parser).  PyYAML's own ``compose``
also keeps positions, but it creates two ``Mark`` objects and a full ``Node`` per scalar; on
the 50k-line shared corpus building these light nodes from the events is about 1.5x faster
(docs/lint.md has the measurement).  Scalars keep their source text unresolved (``on`` stays
the string ``"on"``, never ``True``): GitHub reads workflows as YAML 1.2 core, and rules look
at the text, not at YAML 1.1 booleans.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

try:  # libyaml is part of every PyYAML wheel; the pure parser is the slow fallback.
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - only on source builds without libyaml
    from yaml import Loader as _Parser  # type: ignore[assignment]

SCALAR = "scalar"
MAPPING = "mapping"
SEQUENCE = "sequence"


class Node:
    """One YAML node.  ``line`` and ``col`` are 1-based, where the node starts.

    ``value`` is ``str`` for scalars, ``list[tuple[Node, Node]]`` for mappings and
    ``list[Node]`` for sequences.  ``style`` is the scalar style (``"|"``, ``">"``, ``'"'``,
    ``"'"`` or ``None`` for plain).
    """

    __slots__ = ("col", "kind", "line", "style", "value")

    def __init__(self, kind: str, value: object, line: int, col: int, style: str | None) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        self.col = col
        self.style = style

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.value!r:.40}, {self.line}:{self.col})"

    # -- typed accessors -------------------------------------------------------------------
    @property
    def is_scalar(self) -> bool:
        return self.kind == SCALAR

    @property
    def is_mapping(self) -> bool:
        return self.kind == MAPPING

    @property
    def is_sequence(self) -> bool:
        return self.kind == SEQUENCE

    @property
    def text(self) -> str:
        """The scalar's text, or ``""`` for a collection."""
        return self.value if isinstance(self.value, str) else ""

    def pairs(self) -> list[tuple[Node, Node]]:
        if self.kind == MAPPING:
            return self.value  # type: ignore[return-value]
        return []

    def items(self) -> list[Node]:
        if self.kind == SEQUENCE:
            return self.value  # type: ignore[return-value]
        return []

    def get(self, key: str) -> Node | None:
        """The value for ``key`` in a mapping (the last one wins, as in GitHub's parser)."""
        found = None
        if self.kind == MAPPING:
            for k, v in self.value:  # type: ignore[attr-defined]
                if k.value == key:
                    found = v
        return found

    def fields(self) -> dict[str, Node]:
        """A mapping's values by key text (the last one wins, as in :meth:`get`): one pass
        for callers that read many keys of the same mapping."""
        if self.kind != MAPPING:
            return {}
        return {k.value: v for k, v in self.value if k.kind == SCALAR}  # type: ignore[attr-defined]

    def key_node(self, key: str) -> Node | None:
        if self.kind == MAPPING:
            for k, _ in self.value:  # type: ignore[attr-defined]
                if k.value == key:
                    return k  # type: ignore[no-any-return]
        return None

    def get_text(self, key: str) -> str | None:
        node = self.get(key)
        return node.value if node is not None and node.kind == SCALAR else None  # type: ignore[return-value]

    def strings(self) -> list[str]:
        """A scalar as a one-item list, a sequence's scalar items, or nothing."""
        if self.kind == SCALAR:
            return [self.text]
        return [n.text for n in self.items() if n.kind == SCALAR]

    def content_line(self, offset: int) -> int:
        """Source line of character ``offset`` inside a scalar.

        Exact for block literals (``|``), which is how ``run:`` scripts are written; other
        styles fold lines, so the scalar's own line is the best answer.
        """
        if self.style == "|" and isinstance(self.value, str):
            return self.line + 1 + self.value.count("\n", 0, offset)
        return self.line

    def walk(self) -> Iterator[Node]:
        yield self
        if self.kind == MAPPING:
            for k, v in self.value:  # type: ignore[attr-defined]
                yield k
                yield from v.walk()
        elif self.kind == SEQUENCE:
            for item in self.value:  # type: ignore[attr-defined]
                yield from item.walk()

    def scalars(self) -> list[Node]:
        """Every scalar value below this node (keys excluded), without recursion."""
        found: list[Node] = []
        stack = [self]
        while stack:
            node = stack.pop()
            if node.kind == SCALAR:
                found.append(node)
            elif node.kind == MAPPING:
                stack.extend(v for _, v in node.value)  # type: ignore[attr-defined]
            else:
                stack.extend(node.value)  # type: ignore[arg-type]
        return found

    def to_python(self) -> object:
        """Plain Python data (strings stay strings; used for matrices and fromJSON tests)."""
        if self.kind == MAPPING:
            return {k.text: v.to_python() for k, v in self.pairs()}
        if self.kind == SEQUENCE:
            return [n.to_python() for n in self.items()]
        return self.value


@dataclass(frozen=True, slots=True)
class YamlSyntaxError(Exception):
    """Where and why libyaml rejected the text (1-based line and column)."""

    message: str
    line: int
    col: int


def parse_yaml(text: str, expressions: list[Node] | None = None) -> Node | None:
    """Parse the first document of ``text`` into :class:`Node` objects.

    Returns ``None`` for an empty document; raises :class:`YamlSyntaxError` on bad YAML.
    With ``expressions``, every scalar *value* (not key) that contains ``${{`` is appended
    to it, once, in document order: the expression check then needs no second walk.
    """
    parser = _Parser(text)
    # The tree is acyclic and short-lived; the cyclic collector only costs time while
    # thousands of small nodes are allocated (about 25% of parse time on the corpus).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compose(parser, expressions)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        col = mark.column + 1 if mark is not None else 1
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlSyntaxError(problem, line, col) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(
            str(exc).splitlines()[0] if str(exc) else "invalid YAML", 1, 1
        ) from None
    finally:
        if was_enabled:
            gc.enable()
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


def _compose(parser: object, expressions: list[Node] | None) -> Node | None:
    get = parser.get_event  # type: ignore[attr-defined]
    stack: list[Node] = []
    # The open collection's item list (flat key, value, key, … for a mapping) and whether
    # it is a mapping: kept in locals, this loop runs once per YAML event.
    top: list[Node] | None = None
    in_mapping = False
    anchors: dict[str, Node] = {}
    root: Node | None = None
    documents = 0
    event = get()
    while event is not None:
        cls = type(event)
        if cls is ScalarEvent:
            mark = event.start_mark
            value = event.value
            node = Node(SCALAR, value, mark.line + 1, mark.column + 1, event.style)
            if event.anchor:
                anchors[event.anchor] = node
            if top is None:
                root = node
            else:
                # a value (not a key): odd position in a mapping, any in a sequence
                if (
                    expressions is not None
                    and "${{" in value
                    and not (in_mapping and not len(top) % 2)
                ):
                    expressions.append(node)
                top.append(node)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            mark = event.start_mark
            in_mapping = cls is MappingStartEvent
            items: list[Node] = []
            node = Node(
                MAPPING if in_mapping else SEQUENCE, items, mark.line + 1, mark.column + 1, None
            )
            if event.anchor:
                anchors[event.anchor] = node
            if top is None:
                root = node
            else:
                top.append(node)
            stack.append(node)
            top = items
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            node = stack.pop()
            if in_mapping:
                flat: list[Node] = node.value  # type: ignore[assignment]
                node.value = list(zip(flat[0::2], flat[1::2], strict=True))
            if stack:
                parent = stack[-1]
                top = parent.value  # type: ignore[assignment]
                in_mapping = parent.kind == MAPPING
            else:
                top = None
        elif cls is AliasEvent:
            found = anchors.get(event.anchor)
            if found is None:
                mark = event.start_mark
                raise YamlSyntaxError(
                    f"found undefined alias {event.anchor!r}", mark.line + 1, mark.column + 1
                )
            if top is None:
                root = found
            else:
                top.append(found)
        elif cls is DocumentStartEvent:
            documents += 1
            if documents > 1:
                mark = event.start_mark
                raise YamlSyntaxError(
                    "a workflow file holds one YAML document; found a second '---'",
                    mark.line + 1,
                    mark.column + 1,
                )
        event = get()
    return root
