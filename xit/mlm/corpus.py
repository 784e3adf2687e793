"""The continued-MLM corpus: non-English text that no evaluation target contains.

Phang et al. (arXiv 2005.13013, Sec. 5) contrast English intermediate-task training with continued
multilingual masked-language-model training. Offline, the text comes from the Tatoeba test-set
languages that XTREME-R does NOT evaluate (LASER's 112 minus the xtremer41 set): only their
non-English files are read, sentences are whitespace-normalised, deduplicated, and every sentence
equal to a sentence of an evaluation target (Tatoeba xtremer41 both sides, BUCC, XQuAD-R/LAReQA,
XQuAD) is dropped. Online, any Hugging Face dataset with a text column (e.g. a Wikipedia or CC-100
sample) can be used instead through ``datasets.load_dataset``; the same target filter applies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from xit.config import choice, suggest
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV, data_dir as default_data_dir
from xit.retrieval.data import XTREMER41, available_tatoeba_languages, load_tatoeba, tatoeba_dir
from xit.tasks.readers import normalise_space

#: Corpus sources: the local Tatoeba files or a Hugging Face hub dataset.
SOURCES = ("tatoeba", "hub")
#: The named Tatoeba language set: every LASER language present locally that xtremer41 does not evaluate.
UNEVALUATED = "tatoeba-unevaluated"
#: Evaluation-target text files under the data root (globs), beyond the xtremer41 Tatoeba pairs.
_BUCC_GLOBS = ("bucc2018/*-en.*.*", "bucc2018/*/*-en.*.*")
_XQUAD_GLOBS = ("xtreme-r/xquad-r/*.json", "xtreme-r/xquad/*.json")


@dataclass(frozen=True)
class MLMCorpusSpec:
    """Where the MLM text comes from (a params-file section; ``validate`` names bad values and the fix)."""

    source: str = "tatoeba"
    #: ``tatoeba-unevaluated`` or a list of LASER codes outside xtremer41 (source tatoeba only).
    languages: str | tuple[str, ...] = UNEVALUATED
    #: Keep this many sentences after the seeded shuffle (null = all).
    max_sentences: int | None = None
    #: Also drop sentences whose English translation is an English sentence of an evaluated Tatoeba pair.
    drop_eval_translations: bool = True
    hub_id: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    text_column: str = "text"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "mlm_corpus") -> "MLMCorpusSpec":
        """Build from a params dict; unknown keys fail listing the known ones."""
        data = dict(data or {})
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise XitConfigError(f"{where}.{key} is not a corpus field.{suggest(key, known)} Known fields: {', '.join(known)}")
        if isinstance(data.get("languages"), list):
            data["languages"] = tuple(data["languages"])
        spec = cls(**data)
        spec.validate(where)
        return spec

    def validate(self, where: str = "mlm_corpus") -> None:
        """Fail on a bad field, naming the value and the fix, before any file is read."""
        choice(self.source, SOURCES, f"{where}.source")
        cap = self.max_sentences
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise XitConfigError(f"{where}.max_sentences={cap!r} must be a positive integer, or null for the whole corpus")
        if not isinstance(self.drop_eval_translations, bool):
            raise XitConfigError(f"{where}.drop_eval_translations={self.drop_eval_translations!r} must be true or false")
        if self.source == "hub":
            for name in ("hub_id", "hub_split", "text_column"):
                value = getattr(self, name)
                if not isinstance(value, str) or not value.strip():
                    raise XitConfigError(
                        f"{where}.{name}={value!r}: source 'hub' needs a non-empty {name} "
                        "(e.g. hub_id: wikimedia/wikipedia, hub_config: 20231101.sw, text_column: text)"
                    )
            return
        if self.hub_id is not None:
            raise XitConfigError(f"{where}.hub_id={self.hub_id!r} is set but source={self.source!r}; set source: hub to read it")
        if isinstance(self.languages, str):
            if self.languages != UNEVALUATED:
                raise XitConfigError(
                    f"{where}.languages={self.languages!r} is not a language set.{suggest(self.languages, [UNEVALUATED])} "
                    f"Use {UNEVALUATED!r} or a list of LASER codes outside xtremer41 (e.g. [nob, cat, epo])"
                )
            return
        if not self.languages:
            raise XitConfigError(f"{where}.languages=[] is empty; use {UNEVALUATED!r} or a list of LASER codes")
        evaluated = sorted({str(c) for c in self.languages} & (set(XTREMER41) | {"eng"}))
        if evaluated:
            raise XitConfigError(
                f"{where}.languages lists {', '.join(evaluated)}, which the retrieval suite evaluates (xtremer41 or English); "
                "MLM text must come from languages no evaluation target uses"
            )


@dataclass
class MLMCorpus:
    """The sentences (seeded order), the language of each, and what the filters removed."""

    sentences: list[str]
    languages: list[str]
    dropped: dict[str, int] = field(default_factory=dict)

    def split(self, dev_sentences: int) -> tuple[list[str], list[str]]:
        """Train and held-out dev sentences: the last ``dev_sentences`` of the seeded order are dev."""
        if not isinstance(dev_sentences, int) or not 0 < dev_sentences < len(self.sentences):
            raise XitConfigError(f"dev_sentences={dev_sentences!r} must be a positive integer below the corpus size {len(self.sentences)}")
        return self.sentences[:-dev_sentences], self.sentences[-dev_sentences:]


def _id_file_texts(path: Path) -> Iterator[str]:
    """Texts of a BUCC sentence file ('<id>\\t<sentence>' per line)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.rstrip("\n").split("\t", 1)[-1]


def _squad_json_texts(path: Path) -> Iterator[str]:
    """Contexts, candidate sentences and questions of an XQuAD / XQuAD-R file."""
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            yield para["context"]
            for start, end in para.get("sentence_breaks", []):
                yield para["context"][start:end]
            yield from para.get("sentences", [])
            for qa in para["qas"]:
                yield qa["question"]


def evaluation_sentences(root: Path) -> set[str]:
    """Every (normalised) text of every offline evaluation target, in all languages, English included."""
    texts: set[str] = set()
    for code in XTREMER41:
        pair = load_tatoeba(code, root)
        texts.update(map(normalise_space, pair.src))
        texts.update(map(normalise_space, pair.eng))
    for pattern in _BUCC_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.suffix != ".gold":
                texts.update(map(normalise_space, _id_file_texts(path)))
    for pattern in _XQUAD_GLOBS:
        for path in sorted(root.glob(pattern)):
            texts.update(map(normalise_space, _squad_json_texts(path)))
    texts.discard("")
    return texts


def _tatoeba_languages(spec: MLMCorpusSpec, root: Path) -> list[str]:
    """The LASER codes the corpus reads: every local unevaluated language, or the listed ones (checked present)."""
    present = available_tatoeba_languages(root)
    if spec.languages == UNEVALUATED:
        codes = [c for c in present if c not in XTREMER41 and c != "eng"]
        if not codes:
            raise DataNotFoundError(f"no Tatoeba language outside xtremer41 under {tatoeba_dir(root)}; the full LASER set (112 pairs) is needed")
        return codes
    missing = [c for c in spec.languages if c not in present]
    if missing:
        raise DataNotFoundError(
            f"Tatoeba files for {', '.join(missing)} not found under {tatoeba_dir(root)}.{suggest(missing[0], present)} "
            f"Point {DATA_ENV} at the data root or pick languages that are present"
        )
    return sorted(dict.fromkeys(spec.languages))


def _tatoeba_rows(spec: MLMCorpusSpec, root: Path) -> tuple[list[tuple[str, str]], int]:
    """(language, sentence) rows of the non-English sides, and how many were translations of evaluated English."""
    evaluated_english = set()
    if spec.drop_eval_translations:
        for code in XTREMER41:
            evaluated_english.update(map(normalise_space, load_tatoeba(code, root).eng))
    rows, translations = [], 0
    for code in _tatoeba_languages(spec, root):
        pair = load_tatoeba(code, root)
        for text, english in zip(pair.src, pair.eng):
            if normalise_space(english) in evaluated_english:
                translations += 1
                continue
            rows.append((code, text))
    return rows, translations


def _hub_rows(spec: MLMCorpusSpec) -> list[tuple[str, str]]:
    """(config, text) rows of a hub dataset; streamed and cut at max_sentences when that is set."""
    import datasets

    label = f"{spec.hub_id}" + (f" ({spec.hub_config})" if spec.hub_config else "")
    try:
        ds = datasets.load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split, streaming=spec.max_sentences is not None)
        if ds.column_names is not None and spec.text_column not in ds.column_names:
            raise XitConfigError(f"mlm_corpus.text_column={spec.text_column!r} is not a column of {label}; columns: {ds.column_names}")
        texts = (ex[spec.text_column] for ex in ds)
        rows = []
        for text in texts:
            if spec.max_sentences is not None and len(rows) >= spec.max_sentences:
                break
            rows.append((spec.hub_config or spec.hub_id, text))
    except XitConfigError:
        raise
    except Exception as err:  # datasets raises ConnectionError, OSError, DatasetNotFoundError ... offline
        raise DataNotFoundError(
            f"MLM corpus {label} split {spec.hub_split!r} could not be loaded from the Hugging Face hub "
            f"({err.__class__.__name__}: {str(err)[:200]}). Go online (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) "
            "to download it once, or use source: tatoeba (offline)"
        ) from err
    return rows


def load_mlm_corpus(
    data_dir: str | Path | None = None,
    languages: str | list[str] | tuple[str, ...] = UNEVALUATED,
    max_sentences: int | None = None,
    seed: int = 0,
    spec: MLMCorpusSpec | dict[str, Any] | None = None,
) -> MLMCorpus:
    """The MLM sentences: normalised, deduplicated, free of evaluation-target texts, seeded order, capped.

    ``spec`` (an ``MLMCorpusSpec`` or its dict) wins over ``languages`` / ``max_sentences`` when given.
    """
    if spec is None:
        spec = MLMCorpusSpec(languages=languages if isinstance(languages, str) else tuple(languages), max_sentences=max_sentences)
    elif isinstance(spec, dict):
        spec = MLMCorpusSpec.from_dict(spec)
    spec.validate()
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise XitConfigError(f"seed={seed!r} must be an integer")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    dropped = {"eval_translation": 0}
    if spec.source == "hub":
        rows = _hub_rows(spec)
    else:
        rows, dropped["eval_translation"] = _tatoeba_rows(spec, root)
    targets = evaluation_sentences(root)
    seen: set[str] = set()
    kept: list[tuple[str, str]] = []
    dropped.update(empty=0, duplicate=0, eval_overlap=0)
    for language, text in rows:
        text = normalise_space(text)
        reason = "empty" if not text else "eval_overlap" if text in targets else "duplicate" if text in seen else None
        if reason:
            dropped[reason] += 1
            continue
        seen.add(text)
        kept.append((language, text))
    # Rows arrive in file order (languages sorted); the shuffle makes any prefix a language mix.
    random.Random(seed).shuffle(kept)
    if spec.max_sentences is not None:
        kept = kept[: spec.max_sentences]
    if not kept:
        raise DataNotFoundError(f"the MLM corpus is empty after filtering ({dropped}); use more languages or another source")
    return MLMCorpus([t for _, t in kept], [lang for lang, _ in kept], dropped)
