"""Load Rasa 3.1 training-data YAML (intents with inline entity annotations)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlu.shapes import Annotation

# A file or directory of training data, as a string or a path.
StrPath = str | os.PathLike[str]

# The same alternatives Rasa's own reader accepts: [text](entity), [text](entity:value),
# [text]{"entity": ..., "value": ...}.
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<json>[^}]+?)\})"
)


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[Annotation, ...] = ()


def parse_annotated(line: str) -> tuple[str, tuple[Annotation, ...]]:
    """Plain text and entity dicts (start/end into the plain text) of one annotated line."""
    parts: list[str] = []
    entities: list[Annotation] = []
    pos = length = 0
    for match in _ANNOTATION.finditer(line):
        before = line[pos : match.start()]
        parts.append(before)
        length += len(before)
        span = match.group("text")
        entity, value = _entity_and_value(match, span)
        entities.append(
            {"entity": entity, "value": value, "start": length, "end": length + len(span)}
        )
        parts.append(span)
        length += len(span)
        pos = match.end()
    parts.append(line[pos:])
    return "".join(parts), tuple(entities)


def _entity_and_value(match: re.Match[str], span: str) -> tuple[str, str]:
    """Entity name and value of one annotation; the value defaults to the span text."""
    if match.group("json"):
        spec = json.loads("{" + match.group("json") + "}")
        return str(spec["entity"]).strip(), str(spec.get("value", span))
    value = match.group("value")
    return match.group("entity").strip(), value.strip() if value else span


def _example_lines(block: object) -> list[str]:
    """Example texts of one `examples:` block (literal string or list of dicts)."""
    if isinstance(block, str):
        lines = [ln.strip() for ln in block.splitlines()]
        return [ln[1:].strip() for ln in lines if ln.startswith("-") and ln[1:].strip()]
    if isinstance(block, list):  # Rasa also allows [{"text": ..., "metadata": ...}]
        return [
            str(item["text"]).strip()
            for item in block
            if isinstance(item, dict) and "text" in item
        ]
    return []


def load_file(path: Path) -> list[Example]:
    """Examples of the intent sections of one YAML file (synonym/regex/lookup skipped)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for section in doc.get("nlu") or []:
        if not isinstance(section, dict) or "intent" not in section:
            continue
        intent = str(section["intent"]).strip()
        for line in _example_lines(section.get("examples")):
            text, entities = parse_annotated(line)
            examples.append(Example(text, intent, entities))
    return examples


def yaml_files(*paths: StrPath) -> list[Path]:
    """The YAML files named, with directories expanded to their sorted *.yml/*.yaml files."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
            )
        else:
            files.append(path)
    return files


def load_examples(*paths: StrPath) -> list[Example]:
    """All examples of the given files or directories, in file order."""
    return [ex for path in yaml_files(*paths) for ex in load_file(path)]
