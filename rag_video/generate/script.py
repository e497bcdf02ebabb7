"""Reading scripts: plain text, YAML/JSON storyboards and SRT files turned into one raw storyboard
(a mapping with a `shots:` list) for `plan` to validate, within the size and expansion bounds
below, and the one error type a bad script raises.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from rag_video.errors import UsageError
from rag_video.media.subtitles import SubtitleError, parse_srt

log = logging.getLogger(__name__)

MAX_SCRIPT_BYTES = 8 * 2**20
# YAML anchors and aliases are fine for reuse, but the document they expand to is bounded: a
# 500-byte "billion laughs" file expands to 10^9 nodes. A 2 000-shot storyboard is ~30 000 nodes.
MAX_YAML_NODES = 200_000
TEXT_EXTENSIONS = (".txt", ".md")
STORYBOARD_EXTENSIONS = (".yaml", ".yml", ".json")
SRT_EXTENSIONS = (".srt",)
SUPPORTED = TEXT_EXTENSIONS + STORYBOARD_EXTENSIONS + SRT_EXTENSIONS


class ScriptError(UsageError, ValueError):
    """A script that cannot become a plan. Its str is one line:
    ``script.yaml: shot 3: duration: must be greater than 0 (got -1)``.

    `shot` is 1-based (None for top-level problems), `field` the offending field (or None),
    `line` the line in the file when known. Exit code 2 (a `UsageError`).
    """

    def __init__(
        self,
        source: str,
        detail: str,
        *,
        shot: int | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source, self.detail, self.shot, self.field, self.line = (
            source,
            detail,
            shot,
            field,
            line,
        )
        parts = [source]
        if line is not None:
            parts.append(f"line {line}")
        if shot is not None:
            parts.append(f"shot {shot}")
        if field is not None:
            parts.append(field)
        parts.append(detail)
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", ": ".join(parts)))


# Words that end with a period without ending a sentence (compared lower-case, without the dot).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "sr",
        "jr",
        "mt",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "cf",
        "fig",
        "no",
        "approx",
        "ca",
        "dept",
        "est",
        "inc",
        "ltd",
        "co",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")


def _ends_with_abbreviation(chunk: str) -> bool:
    """True when the period closing `chunk` belongs to an abbreviation or an initial ("J.")."""
    if not chunk.endswith("."):
        return False
    word = chunk.split()[-1].rstrip(".").lstrip("\"'“‘([").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, for ``--by-sentence``.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` (repeats allowed, closing quotes/brackets kept
    with it) followed by whitespace. A period after a known abbreviation ("Dr.", "e.g.", "etc.")
    or a single-letter initial ("J. R. R.") does not end a sentence. Limits: a sentence that
    really ends with an abbreviation ("… and so on, etc. Next") is merged with the next one;
    abbreviations not in the list ("Gen.") split; decimals ("3.5") and URLs are safe because no
    whitespace follows their periods. Whitespace inside a sentence is collapsed to single spaces.
    """
    flat = " ".join(text.split())
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(flat + " "):
        chunk = flat[start : match.end()].strip()
        if chunk and not _ends_with_abbreviation(chunk):
            sentences.append(chunk)
            start = match.end()
    tail = flat[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


# ----------------------------------------------------------------------------- readers


class _ScriptLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's sexagesimal numbers (``16:9`` stays the string "16:9")."""


_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_ScriptLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _NUMBER_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScriptLoader.add_implicit_resolver(_NUMBER_TAGS[0], _INT, list("-+0123456789"))
_ScriptLoader.add_implicit_resolver(_NUMBER_TAGS[1], _FLOAT, list("-+0123456789."))


def read_script(path: Path, source: str) -> str:
    if not path.exists():
        raise ScriptError(source, "script not found")
    if not path.is_file():
        raise ScriptError(source, "not a file")
    size = path.stat().st_size
    if size > MAX_SCRIPT_BYTES:
        raise ScriptError(
            source, f"script is {size / 2**20:.0f} MB: at most {MAX_SCRIPT_BYTES // 2**20} MB"
        )
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScriptError(source, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ScriptError(source, f"cannot read: {exc.strerror or exc}") from exc


def parse_structured(content: str, suffix: str, source: str) -> Any:
    """YAML or JSON document → Python data; a syntax error becomes one line with its line."""
    if suffix == ".json":
        try:
            return json.loads(content)
        except json.JSONDecodeError as exc:
            raise ScriptError(source, f"invalid JSON: {exc.msg}", line=exc.lineno) from exc
        except RecursionError:
            raise ScriptError(source, "invalid JSON: nested too deeply") from None
    loader = _ScriptLoader(content)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source)
        return loader.construct_document(node)
    except RecursionError:
        raise ScriptError(source, "invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise ScriptError(source, f"invalid YAML: {problem}", line=line) from exc
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a YAML document whose aliases expand past MAX_YAML_NODES nodes, or refer to
    themselves. Sizes are counted per node once (memoised), so the check itself is linear."""
    sizes: dict[int, int] = {}
    path: set[int] = set()  # nodes entered and not finished: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = _children(node)
        if finished:
            path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                mark = node.start_mark
                raise ScriptError(
                    source,
                    f"invalid YAML: its aliases expand to more than {MAX_YAML_NODES} values",
                    line=mark.line + 1 if mark else None,
                )
            continue
        if id(node) in sizes:
            continue
        path.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in path:
                mark = child.start_mark
                raise ScriptError(
                    source,
                    "invalid YAML: an alias refers to itself",
                    line=mark.line + 1 if mark else None,
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def storyboard_raw(data: Any, source: str) -> dict[str, Any]:
    """The raw storyboard mapping of a parsed YAML/JSON document (a bare list = the shots)."""
    if data is None:
        raise ScriptError(source, "script has no shots")
    if isinstance(data, list):
        data = {"shots": data}
    if not isinstance(data, dict):
        raise ScriptError(
            source, f"must be a mapping with a 'shots:' list (got {type(data).__name__})"
        )
    if "shots" not in data:
        raise ScriptError(source, "script has no shots (expected a 'shots:' list)")
    if data["shots"] is None or data["shots"] == []:
        raise ScriptError(source, "script has no shots")
    return data


def _paragraphs(content: str) -> list[str]:
    """Blank-line-separated paragraphs, each on one line."""
    blocks = re.split(r"\n[ \t]*\n", content.replace("\r\n", "\n").replace("\r", "\n"))
    return [" ".join(b.split()) for b in blocks if b.strip()]


def _markdown_title(content: str) -> tuple[str | None, str]:
    """Drop heading lines of a Markdown script; the first, if it precedes any text, is the title."""
    title, kept, seen_text = None, [], False
    for line in content.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith("#"):
            if title is None and not seen_text:
                title = line.strip().lstrip("#").strip() or None
            kept.append("")  # a heading also separates paragraphs
            continue
        seen_text = seen_text or bool(line.strip())
        kept.append(line)
    return title, "\n".join(kept)


def text_raw(content: str, suffix: str, by_sentence: bool) -> dict[str, Any]:
    title = None
    if suffix == ".md":
        title, content = _markdown_title(content)
    texts = _paragraphs(content)
    if by_sentence:
        texts = [s for paragraph in texts for s in split_sentences(paragraph)]
    return {"title": title, "shots": [{"text": t} for t in texts]}


_CUE_PREFIX = re.compile(r"^cue (\d+): (.*)$")


def srt_raw(content: str, source: str) -> dict[str, Any]:
    try:
        cues = parse_srt(content)
    except SubtitleError as exc:
        match = _CUE_PREFIX.match(str(exc))
        shot, detail = (int(match[1]), match[2]) if match else (None, str(exc))
        raise ScriptError(source, detail, shot=shot, field="timing") from exc
    for previous, cue in zip(cues, cues[1:], strict=False):
        if abs(cue.start_s - previous.end_s) > 1e-3:
            log.debug(
                "%s: cue %d starts %.3fs after cue %d ends; shots are laid back to back",
                source,
                cue.index,
                cue.start_s - previous.end_s,
                previous.index,
            )
    return {
        "shots": [
            {
                "text": cue.plain,
                "caption": cue.text or None,
                "duration": round(cue.end_s - cue.start_s, 3),
            }
            for cue in cues
        ]
    }
