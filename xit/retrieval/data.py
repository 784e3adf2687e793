"""Loaders for the retrieval targets: Tatoeba, BUCC 2018, XQuAD-R (LAReQA) and Mewsli-X.

Every loader reads the official file layout from a local folder (the offline
data under ``xit.paths.data_dir()``) and, where a hub copy exists, from the
Hugging Face hub for users online. Missing files fail with
``DataNotFoundError`` naming every expected path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from xit.config import suggest
from xit.errors import DataNotFoundError, XitConfigError
from xit.paths import DATA_ENV, data_dir, require_files
from xit.retrieval.mewslix import (  # noqa: F401  (re-exported: one import place for every target's data)
    MEWSLIX_HOWTO,
    MewslixData,
    load_mewslix,
    mewslix_files,
    preprocess_entity,
    preprocess_mention,
)
from xit.retrieval.xquad_r import (  # noqa: F401
    XQUAD_R_LANGUAGES,
    XQUAD_R_URL,
    LareqaData,
    load_xquad_r,
    resolve_lareqa_languages,
    xquad_r_dir,
)

# --------------------------------------------------------------------------- Tatoeba

#: XTREME's 36 Tatoeba languages, as LASER file codes (Hu et al. 2020, XTREME, arXiv 2003.11080).
XTREME36 = ["afr", "ara", "bul", "ben", "deu", "ell", "spa", "est", "eus", "pes", "fin", "fra", "heb", "hin", "hun", "ind", "ita", "jpn", "jav", "kat", "kaz", "kor", "mal", "mar", "nld", "por", "rus", "swh", "tam", "tel", "tha", "tgl", "tur", "urd", "vie", "cmn"]
#: XTREME-R's 41: the 36 plus az, lt, pl, uk, ro.
XTREMER41 = XTREME36 + ["aze", "lit", "pol", "ukr", "ron"]
#: XTREME's two-letter names for the 41 LASER codes (accepted in explicit lists).
ISO_TO_LASER = dict(
    zip(
        ["af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "nl", "pt", "ru", "sw", "ta", "te", "th", "tl", "tr", "ur", "vi", "zh", "az", "lt", "pl", "uk", "ro"],
        XTREMER41,
    )
)
#: The named language sets; ``laser112`` means every file pair present in the data folder.
LANGUAGE_SETS = ("xtreme36", "xtremer41", "laser112")
#: The hub copy of LASER's Tatoeba test set (one config per ``xxx-eng`` pair).
TATOEBA_HUB_ID = "mteb/tatoeba-bitext-mining"


@dataclass(frozen=True)
class TatoebaPair:
    """One Tatoeba language: line i of ``src`` translates line i of ``eng``."""

    language: str
    src: list[str]
    eng: list[str]


def tatoeba_dir(root: Path | None = None) -> Path:
    """The LASER Tatoeba folder under the data root."""
    return (root or data_dir()) / "tatoeba-v1"


def available_tatoeba_languages(root: Path | None = None) -> list[str]:
    """LASER codes with both files ``tatoeba.{xxx}-eng.{xxx}`` and ``.eng`` present."""
    folder = tatoeba_dir(root)
    if not folder.is_dir():
        raise DataNotFoundError(
            f"Tatoeba folder {str(folder)!r} not found; expected files tatoeba.{{xxx}}-eng.{{xxx}} and "
            f"tatoeba.{{xxx}}-eng.eng (LASER layout). Point {DATA_ENV} at the data root or use source='hub'."
        )
    codes = []
    for path in sorted(folder.glob("tatoeba.*-eng.eng")):
        code = path.name.split(".")[1].split("-")[0]
        if (folder / f"tatoeba.{code}-eng.{code}").is_file():
            codes.append(code)
    return codes


def resolve_tatoeba_languages(spec: str | list[str], known: list[str] | None = None) -> list[str]:
    """Expand a named set (xtreme36, xtremer41, laser112) or an explicit list into LASER codes."""
    known = list(known if known is not None else sorted(set(XTREMER41)))
    if isinstance(spec, str):
        if spec == "xtreme36":
            codes = list(XTREME36)
        elif spec == "xtremer41":
            codes = list(XTREMER41)
        elif spec == "laser112":
            codes = list(known)
        elif "," in spec or spec in known or spec in ISO_TO_LASER:
            codes = [c.strip() for c in spec.split(",") if c.strip()]
        else:
            raise XitConfigError(
                f"unknown Tatoeba language set {spec!r}.{suggest(spec, list(LANGUAGE_SETS))} "
                f"Use one of {', '.join(LANGUAGE_SETS)} or a list of LASER codes."
            )
    else:
        codes = [str(c) for c in spec]
    out = []
    for code in codes:
        code = ISO_TO_LASER.get(code, code)
        if code not in known:
            raise XitConfigError(
                f"unknown Tatoeba language code {code!r}.{suggest(code, known)} Known codes: {', '.join(known)}"
            )
        out.append(code)
    return list(dict.fromkeys(out))


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").strip() for line in f]


def load_tatoeba(
    language: str, root: Path | None = None, source: str = "local", max_sentences: int | None = None
) -> TatoebaPair:
    """One Tatoeba language from the LASER files (source='local') or the hub copy (source='hub')."""
    if source == "hub":
        from datasets import load_dataset

        ds = load_dataset(TATOEBA_HUB_ID, f"{language}-eng", split="test")
        # mteb's copy keeps LASER's order: sentence1 is the foreign side, sentence2 English.
        src, eng = list(ds["sentence1"]), list(ds["sentence2"])
    else:
        folder = tatoeba_dir(root)
        paths = [folder / f"tatoeba.{language}-eng.{language}", folder / f"tatoeba.{language}-eng.eng"]
        require_files(paths, f"Tatoeba {language}", hint=f"Point {DATA_ENV} at the data root or use source='hub'.")
        src, eng = _read_lines(paths[0]), _read_lines(paths[1])
    if len(src) != len(eng):
        raise DataNotFoundError(f"Tatoeba {language}: {len(src)} foreign vs {len(eng)} English lines; files are not parallel")
    if max_sentences is not None:
        src, eng = src[:max_sentences], eng[:max_sentences]
    return TatoebaPair(language, src, eng)


# --------------------------------------------------------------------------- BUCC

#: Official BUCC split names and XTREME's renamings (XTREME: sample -> dev, training -> test).
BUCC_SPLIT_ALIASES = {"sample": ("sample", "dev"), "dev": ("dev", "sample"), "training": ("training", "test"), "test": ("test", "training")}


@dataclass(frozen=True)
class BuccCorpus:
    """A BUCC-style mining corpus: two id-keyed sentence sides and gold (xx-id, en-id) pairs."""

    language: str
    split: str
    src_ids: list[str]
    src: list[str]
    en_ids: list[str]
    en: list[str]
    gold: set[tuple[str, str]] = field(default_factory=set)


def bucc_dir(root: Path | None = None) -> Path:
    """The BUCC 2018 folder under the data root."""
    return (root or data_dir()) / "bucc2018"


def _bucc_paths(folder: Path, language: str, name: str) -> list[Path]:
    """The three files of one split, flat or in the official ``{xx}-en/`` subfolder."""
    for base in (folder, folder / f"{language}-en"):
        paths = [base / f"{language}-en.{name}.{ext}" for ext in (language, "en", "gold")]
        if paths[0].exists() or paths[1].exists():
            return paths
    return [folder / f"{language}-en.{name}.{ext}" for ext in (language, "en", "gold")]


def bucc_files(language: str, split: str, root: Path | None = None, folder: Path | None = None) -> list[Path]:
    """The files a BUCC split needs (first name that exists among the split's aliases)."""
    names = BUCC_SPLIT_ALIASES.get(split)
    if names is None:
        raise XitConfigError(f"unknown BUCC split {split!r}; use one of {', '.join(BUCC_SPLIT_ALIASES)}")
    folder = folder or bucc_dir(root)
    candidates = [_bucc_paths(folder, language, name) for name in names]
    for paths in candidates:
        if all(p.exists() for p in paths):
            return paths
    return candidates[0]


def _read_id_file(path: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            sid, _, text = line.partition("\t")
            ids.append(sid)
            texts.append(text.strip())
    return ids, texts


def load_bucc(
    language: str, split: str = "dev", root: Path | None = None, folder: Path | None = None, max_sentences: int | None = None
) -> BuccCorpus:
    """A BUCC 2018 split in the official layout (``{xx}-en.{split}.{xx|en|gold}``, tab-separated ids)."""
    paths = bucc_files(language, split, root, folder)
    require_files(
        paths,
        f"BUCC {language}-en {split}",
        hint="Get the official files from https://comparable.limsi.fr/bucc2018/ "
        f"(bucc2018-{language}-en.{{sample,training}}-gold.tar.bz2) or point {DATA_ENV} at the data root.",
    )
    src_ids, src = _read_id_file(paths[0])
    en_ids, en = _read_id_file(paths[1])
    gold = set()
    with open(paths[2], encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                gold.add((parts[0], parts[1]))
    if max_sentences is not None:
        src_ids, src = _cap_side(src_ids, src, {g[0] for g in gold}, max_sentences)
        en_ids, en = _cap_side(en_ids, en, {g[1] for g in gold}, max_sentences)
        kept_src, kept_en = set(src_ids), set(en_ids)
        gold = {g for g in gold if g[0] in kept_src and g[1] in kept_en}
    return BuccCorpus(language, split, src_ids, src, en_ids, en, gold)


def _cap_side(ids: list[str], texts: list[str], gold_ids: set[str], cap: int) -> tuple[list[str], list[str]]:
    """Keep every gold sentence plus the first non-gold ones, up to ``cap`` lines, in file order."""
    n_free = max(cap - len(gold_ids), 0)
    keep = []
    for i, sid in enumerate(ids):
        if sid in gold_ids:
            keep.append(i)
        elif n_free > 0:
            keep.append(i)
            n_free -= 1
    return [ids[i] for i in keep], [texts[i] for i in keep]


def write_bucc(corpus: BuccCorpus, out_dir: Path) -> list[Path]:
    """Write a corpus in the BUCC file layout; returns the three paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lang, split = corpus.language, corpus.split
    paths = [out_dir / f"{lang}-en.{split}.{ext}" for ext in (lang, "en", "gold")]
    paths[0].write_text("".join(f"{i}\t{t}\n" for i, t in zip(corpus.src_ids, corpus.src)), encoding="utf-8")
    paths[1].write_text("".join(f"{i}\t{t}\n" for i, t in zip(corpus.en_ids, corpus.en)), encoding="utf-8")
    paths[2].write_text("".join(f"{a}\t{b}\n" for a, b in sorted(corpus.gold)), encoding="utf-8")
    return paths


def build_tatoeba_mining_corpus(
    language: str, n_parallel: int = 500, n_per_side: int = 2000, seed: int = 0, root: Path | None = None, split: str = "dev"
) -> BuccCorpus:
    """Hide ``n_parallel`` Tatoeba pairs among ``n_per_side`` sentences per side (BUCC-style, seeded).

    Foreign fillers are the language's own unused sentences first, then sentences from other
    Tatoeba languages' files; English fillers come from other files' English sides. No English
    filler equals the English translation of any foreign-side sentence, so the only true pairs
    are the gold ones. Every text is unique on its side (mining deduplicates by text).
    """
    if n_parallel > n_per_side:
        raise XitConfigError(f"n_parallel={n_parallel} must not exceed n_per_side={n_per_side}")
    rng = random.Random(f"{language}-{n_parallel}-{n_per_side}-{seed}")
    own = load_tatoeba(language, root)
    pairs = list(dict.fromkeys(zip(own.src, own.eng)))
    rng.shuffle(pairs)
    chosen, leftover = [], []
    seen_src, seen_en = set(), set()
    for s, e in pairs:
        if len(chosen) < n_parallel and s not in seen_src and e not in seen_en:
            chosen.append((s, e))
            seen_src.add(s)
            seen_en.add(e)
        else:
            leftover.append((s, e))
    if len(chosen) < n_parallel:
        raise XitConfigError(f"Tatoeba {language} has only {len(chosen)} distinct pairs; ask for n_parallel <= {len(chosen)}")
    others = [c for c in available_tatoeba_languages(root) if c != language]
    pool = []
    for code in others:
        other = load_tatoeba(code, root)
        pool.extend(zip(other.src, other.eng))
    rng.shuffle(pool)
    # Foreign side: own leftovers first (same language, the harder distractors), then other languages.
    src_side = [s for s, _ in chosen]
    forbidden_en = {e for _, e in chosen}
    for s, e in leftover + pool:
        if len(src_side) >= n_per_side:
            break
        if s not in seen_src and e not in seen_en:
            src_side.append(s)
            seen_src.add(s)
            forbidden_en.add(e)
    en_side = [e for _, e in chosen]
    for _, e in pool:
        if len(en_side) >= n_per_side:
            break
        if e not in forbidden_en and e not in seen_en:
            en_side.append(e)
            seen_en.add(e)
    if len(src_side) < n_per_side or len(en_side) < n_per_side:
        raise XitConfigError(f"not enough distinct Tatoeba sentences for n_per_side={n_per_side}")
    src_order = list(range(n_per_side))
    en_order = list(range(n_per_side))
    rng.shuffle(src_order)
    rng.shuffle(en_order)
    src_ids = [""] * n_per_side
    en_ids = [""] * n_per_side
    for pos, i in enumerate(src_order):
        src_ids[i] = f"{language}-{pos + 1:09d}"
    for pos, i in enumerate(en_order):
        en_ids[i] = f"en-{pos + 1:09d}"
    gold = {(src_ids[i], en_ids[i]) for i in range(n_parallel)}
    by_src = sorted(range(n_per_side), key=lambda i: src_ids[i])
    by_en = sorted(range(n_per_side), key=lambda i: en_ids[i])
    return BuccCorpus(
        language,
        split,
        [src_ids[i] for i in by_src],
        [src_side[i] for i in by_src],
        [en_ids[i] for i in by_en],
        [en_side[i] for i in by_en],
        gold,
    )


def split_mining_corpus(corpus: BuccCorpus, splits: tuple[str, ...], language: str | None = None) -> list[BuccCorpus]:
    """Cut one mining corpus into len(splits) disjoint ones of equal size (no sentence in two splits).

    Gold pairs and fillers are dealt out in id order (ids are seeded random positions), so each split
    keeps the corpus's ratio of parallel pairs to sentences. ``language`` renames the corpora (e.g. a
    Tatoeba ``deu`` corpus written as BUCC's ``de``).
    """
    parts = len(splits)
    if parts < 1 or len(set(splits)) != parts:
        raise XitConfigError(f"splits={list(splits)!r} must be distinct split names, e.g. ('dev', 'test')")
    gold = sorted(corpus.gold)
    if len(gold) % parts or len(corpus.src) % parts or len(corpus.en) % parts:
        raise XitConfigError(f"a corpus of {len(gold)} gold pairs and {len(corpus.src)}/{len(corpus.en)} sentences "
                             f"cannot be cut into {parts} equal splits; build it with multiples of {parts}")
    src_text, en_text = dict(zip(corpus.src_ids, corpus.src)), dict(zip(corpus.en_ids, corpus.en))
    src_fill = [i for i in corpus.src_ids if i not in {a for a, _ in gold}]
    en_fill = [i for i in corpus.en_ids if i not in {b for _, b in gold}]
    out = []
    for n, split in enumerate(splits):
        pairs = gold[n::parts]
        src_ids = sorted([a for a, _ in pairs] + src_fill[n::parts])
        en_ids = sorted([b for _, b in pairs] + en_fill[n::parts])
        out.append(BuccCorpus(language or corpus.language, split, src_ids, [src_text[i] for i in src_ids],
                              en_ids, [en_text[i] for i in en_ids], set(pairs)))
    return out
