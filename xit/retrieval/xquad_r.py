"""XQuAD-R, the data of LAReQA (Roy et al. 2020, arXiv 2004.05484): questions and answer sentences in 11 languages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from xit.config import suggest
from xit.errors import XitConfigError
from xit.paths import DATA_ENV, data_dir, require_files

XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
#: Where online users get XQuAD-R (XTREME-R's download script reads the same files).
XQUAD_R_URL = "https://github.com/google-research-datasets/lareqa (xquad-r/{lang}.json)"


@dataclass(frozen=True)
class LareqaData:
    """LAReQA on XQuAD-R: questions, candidate sentences of all languages, and relevance.

    ``relevant[i]`` lists the candidate indices relevant to question i (its answer sentence in
    every loaded language).
    """

    question_ids: list[str]
    question_languages: list[str]
    questions: list[str]
    candidate_languages: list[str]
    candidate_sentences: list[str]
    candidate_contexts: list[str]
    relevant: list[list[int]]

    def candidate_texts(self, with_paragraph: bool = True) -> list[str]:
        """Candidate strings to encode: the sentence, optionally followed by its paragraph (XTREME-R)."""
        if not with_paragraph:
            return list(self.candidate_sentences)
        return [f"{s} {c}" for s, c in zip(self.candidate_sentences, self.candidate_contexts)]


def xquad_r_dir(root: Path | None = None) -> Path:
    """The XQuAD-R folder under the data root."""
    return (root or data_dir()) / "xtreme-r" / "xquad-r"


def resolve_lareqa_languages(spec: str | list[str]) -> list[str]:
    """'all' or a list of XQuAD-R language codes."""
    codes = list(XQUAD_R_LANGUAGES) if spec == "all" else ([spec] if isinstance(spec, str) else list(spec))
    for code in codes:
        if code not in XQUAD_R_LANGUAGES:
            raise XitConfigError(
                f"unknown LAReQA language {code!r}.{suggest(code, list(XQUAD_R_LANGUAGES))} "
                f"XQuAD-R has: {', '.join(XQUAD_R_LANGUAGES)} (or 'all')"
            )
    return list(dict.fromkeys(codes))


def load_xquad_r(
    languages: str | list[str] = "all",
    root: Path | None = None,
    folder: Path | None = None,
    max_paragraphs: int | None = None,
    max_questions: int | None = None,
) -> LareqaData:
    """XQuAD-R as a LAReQA retrieval problem over all candidates of the chosen languages.

    ``max_paragraphs`` keeps the first paragraphs (a smaller candidate pool: for smoke runs);
    ``max_questions`` keeps the first question ids (the same ids in every language).
    """
    langs = resolve_lareqa_languages(languages)
    folder = folder or xquad_r_dir(root)
    paths = [folder / f"{lang}.json" for lang in langs]
    require_files(paths, "XQuAD-R (LAReQA)", hint=f"Get them from {XQUAD_R_URL} or point {DATA_ENV} at the data root.")
    cand_lang, cand_sent, cand_ctx = [], [], []
    answer_cand: dict[tuple[str, str], int] = {}  # (question id, language) -> candidate index
    q_by_lang: dict[str, list[tuple[str, str]]] = {}
    for lang, path in zip(langs, paths):
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        paragraphs = [p for article in data for p in article["paragraphs"]]
        if max_paragraphs is not None:
            paragraphs = paragraphs[:max_paragraphs]
        q_by_lang[lang] = []
        for para in paragraphs:
            first = len(cand_sent)
            for start, end in para["sentence_breaks"]:
                cand_lang.append(lang)
                cand_sent.append(para["context"][start:end].strip())
                cand_ctx.append(para["context"])
            for qa in para["qas"]:
                q_by_lang[lang].append((qa["id"], qa["question"]))
                start = qa["answers"][0]["answer_start"]
                for j, (b, e) in enumerate(para["sentence_breaks"]):
                    if b <= start < e:
                        answer_cand[(qa["id"], lang)] = first + j
                        break
    qids_order = list(dict.fromkeys(qid for lang in langs for qid, _ in q_by_lang[lang]))
    if max_questions is not None:
        qids_order = qids_order[:max_questions]
    keep = set(qids_order)
    q_ids, q_langs, q_texts, relevant = [], [], [], []
    for lang in langs:
        for qid, text in q_by_lang[lang]:
            # A question whose answer start lies in no sentence of its own language is skipped.
            if qid not in keep or (qid, lang) not in answer_cand:
                continue
            rel = [answer_cand[(qid, other)] for other in langs if (qid, other) in answer_cand]
            q_ids.append(qid)
            q_langs.append(lang)
            q_texts.append(text)
            relevant.append(rel)
    return LareqaData(q_ids, q_langs, q_texts, cand_lang, cand_sent, cand_ctx, relevant)
