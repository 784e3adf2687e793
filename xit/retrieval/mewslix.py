"""Mewsli-X (Botha et al. 2020; XTREME-R, arXiv 2104.07412): mentions and candidate entities, marked as XTREME-R marks them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from xit.errors import DataNotFoundError
from xit.paths import require_files

MEWSLIX_HOWTO = (
    "Mewsli-X is not available offline. Get it with google-research's "
    "dense_representations_for_entity_retrieval/mel/get-mewsli-x.sh (or XTREME-R's download_data.sh), "
    "then set eval.mewslix_dir to the folder holding candidate_set_entities.jsonl and wikinews_mentions-{split}.jsonl."
)


@dataclass(frozen=True)
class MewslixData:
    """Mewsli-X: mentions in context, the candidate entity descriptions, and each mention's gold entity."""

    mention_ids: list[str]
    mention_languages: list[str]
    mentions: list[str]
    entity_ids: list[str]
    entities: list[str]
    relevant: list[list[int]]


def mewslix_files(folder: Path, split: str = "dev") -> list[Path]:
    """The two files XTREME-R's Mewsli-X layout needs."""
    return [Path(folder) / "candidate_set_entities.jsonl", Path(folder) / f"wikinews_mentions-{split}.jsonl"]


#: XTREME-R's mention markers, and the pattern that escapes pre-existing "{...}" in the context to "(...)".
_MARKER_L, _MARKER_R = "{", "}"
_MARKED = re.compile(rf"{re.escape(_MARKER_L)}(.*?){re.escape(_MARKER_R)}")


def _normalise_lines(text: str) -> str:
    """Newlines to spaces and double spaces to single ones, as XTREME-R's preprocessing does."""
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def preprocess_mention(context: dict, span: dict, example_id: str = "") -> str:
    """A mention as XTREME-R encodes it (google-research/xtreme third_party/utils_mewslix.py, preprocess_mention).

    The sentence holding the mention, with the mention wrapped in "{ ... }" and prepended once more
    (so truncation cannot cut it): ``"Smith: The verdict came back for { Smith }, who ..."``. Braces
    already in the sentence become parentheses.
    """
    text, start, end = context["text"], span["start"], span["end"]
    for s in context.get("sentence_spans", []):
        # XTREME-R's Span.locate_in: the first sentence that fully contains the mention.
        if s["start"] <= start < s["end"] and s["start"] < end <= s["end"]:
            left, right = text[s["start"] : start], text[end : s["end"]]
            break
    else:
        raise DataNotFoundError(
            f"Mewsli-X mention {example_id or span!r} lies in no single sentence of its context "
            "(XTREME-R's preprocess_mention needs one); the file is not the released Mewsli-X data"
        )
    left, right = _MARKED.sub(r"(\1)", left), _MARKED.sub(r"(\1)", right)
    markup = f"{left} {_MARKER_L} {span['text']} {_MARKER_R} {right}"
    return _normalise_lines(f"{span['text']}: {markup}")


def preprocess_entity(entity: dict) -> str:
    """An entity's description sentences joined (XTREME-R's preprocess_entity_description)."""
    description = entity["description"]
    spans = entity.get("sentence_spans") or [{"start": 0, "end": len(description)}]
    return _normalise_lines(" ".join(description[s["start"] : s["end"]] for s in spans))


def load_mewslix(folder: str | Path | None, split: str = "dev", max_mentions: int | None = None) -> MewslixData:
    """Mewsli-X in XTREME-R's JSON-lines layout (entities + contextual mentions)."""
    if folder is None:
        raise DataNotFoundError(MEWSLIX_HOWTO)
    paths = mewslix_files(Path(folder), split)
    require_files(paths, f"Mewsli-X {split}", hint=MEWSLIX_HOWTO)
    entity_ids, entities = [], []
    with open(paths[0], encoding="utf-8") as f:
        for line in f:
            if line.strip():
                e = json.loads(line)
                entity_ids.append(e["entity_id"])
                entities.append(preprocess_entity(e))
    index = {eid: i for i, eid in enumerate(entity_ids)}
    m_ids, m_langs, m_texts, relevant = [], [], [], []
    with open(paths[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            # One mention per line (ContextualMention) or several sharing a context (ContextualMentions).
            mentions = record["mentions"] if "mentions" in record else [record["mention"]]
            for m in mentions:
                if m["entity_id"] not in index:
                    continue
                m_ids.append(m["example_id"])
                m_langs.append(record["context"]["language"])
                m_texts.append(preprocess_mention(record["context"], m["mention_span"], m["example_id"]))
                relevant.append([index[m["entity_id"]]])
                if max_mentions is not None and len(m_ids) >= max_mentions:
                    return MewslixData(m_ids, m_langs, m_texts, entity_ids, entities, relevant)
    return MewslixData(m_ids, m_langs, m_texts, entity_ids, entities, relevant)
