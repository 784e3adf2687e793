"""The task registry: one `TaskSpec` entry per English intermediate task, and the named pools.

Adding a task = adding one entry to `TASKS` (plus a reader in `readers.py` if its format is new).
"""

from __future__ import annotations

from xit.config import suggest
from xit.errors import XitConfigError
from xit.tasks.ccg_tags import CCG_TAGS
from xit.tasks.spec import Carve, HubSource, TaskSpec

NLI_LABELS = ("entailment", "neutral", "contradiction")
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")
#: leondz/wnut_17's ClassLabel order, so hub ids and local ids agree.
WNUT_TAGS = ("O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
             "B-location", "I-location", "B-person", "I-person", "B-product", "I-product")

#: The 16 articles of the offline SQuAD v2.0 dev (CS224n half of the official dev); also squad_v1's held-out dev.
SQUAD_V2_DEV_ARTICLES = ("Normans", "Computational_complexity_theory", "Huguenot", "Steam_engine", "1973_oil_crisis",
                         "European_Union_law", "Packet_switching", "Harvard_University", "Yuan_dynasty", "Immune_system",
                         "Scottish_Parliament", "Islamism", "Imperialism", "Warsaw", "French_and_Indian_War", "Force")
_GLUE_LICENSE = "no explicit license in the GLUE files (research use)"
_SQUAD_RULE = ("every paragraph of English XQuAD (matched by question id and by context text, "
               "xtreme-r/xquad/xquad.en.json) is removed from all splits, always, to keep LAReQA clean")


def _hub(hub_id: str, config: str | None, **splits: str | tuple[str, ...]) -> dict[str, tuple[HubSource, ...]]:
    """Canonical split -> hub splits of one hub dataset."""
    return {k: tuple(HubSource(hub_id, config, s) for s in ((v,) if isinstance(v, str) else v)) for k, v in splits.items()}


def _glue(config: str, dev: str = "validation") -> dict[str, tuple[HubSource, ...]]:
    return _hub("nyu-mll/glue", config, train="train", dev=dev)


_ENTRIES: tuple[TaskSpec, ...] = (
    # ---------------------------------------------------------------- the paper's nine
    TaskSpec(
        name="anli", head="classification", reader="nli_jsonl",
        description="ANLI+: adversarial NLI R1-R3 with SNLI (and MNLI online), 3-way",
        labels=NLI_LABELS, metrics=("accuracy",), main_metric="accuracy",
        license="ANLI: CC BY-NC 4.0; SNLI: CC BY-SA 4.0; MNLI: OANC / CC BY-SA 3.0", non_commercial=True,
        hub_id="facebook/anli", hub_config=None,
        hub_splits={
            "train": (HubSource("facebook/anli", None, "train_r1"), HubSource("facebook/anli", None, "train_r2"),
                      HubSource("facebook/anli", None, "train_r3"), HubSource("stanfordnlp/snli", None, "train"),
                      HubSource("nyu-mll/glue", "mnli", "train")),
            "dev": (HubSource("facebook/anli", None, "dev_r1"), HubSource("facebook/anli", None, "dev_r2"),
                    HubSource("facebook/anli", None, "dev_r3")),
        },
        local_files={
            "train": ("tasks/anli/R1/test.jsonl", "tasks/anli/R2/test.jsonl", "tasks/anli/R3/test.jsonl",
                      "tasks/snli/snli_1.0_dev.jsonl", "tasks/snli/snli_1.0_train.first128.jsonl"),
            "dev": ("tasks/anli/R1/dev.jsonl", "tasks/anli/R2/dev.jsonl", "tasks/anli/R3/dev.jsonl"),
        },
        offline_rule=("ANLI+ offline = ANLI R1-R3 + SNLI, no MNLI (ANLI train is not available): train = ANLI R1-R3 "
                      "test files + SNLI dev (gold label '-' dropped) + the 128-line SNLI train head; held-out dev = "
                      "ANLI R1-R3 dev files"),
        offline_name="ANLI+ (ANLI R1-R3 + SNLI, no MNLI)",
    ),
    TaskSpec(
        name="mnli", head="classification", reader="nli_jsonl",
        description="MultiNLI (GLUE), 3-way NLI; hub only",
        labels=NLI_LABELS, metrics=("accuracy",), main_metric="accuracy",
        license="OANC (parts CC BY-SA 3.0)", hub_id="nyu-mll/glue", hub_config="mnli",
        hub_splits=_glue("mnli", dev="validation_matched"),
        offline_rule="no offline data: load from the hub (nyu-mll/glue, mnli) on a machine with internet",
    ),
    TaskSpec(
        name="qqp", head="classification", reader="glue_pair_tsv",
        description="Quora Question Pairs (GLUE), duplicate or not; hub only",
        labels=("not_duplicate", "duplicate"), metrics=("accuracy", "f1"), main_metric="accuracy",
        license="Quora data terms (non-commercial)", non_commercial=True, hub_id="nyu-mll/glue", hub_config="qqp",
        hub_splits=_glue("qqp"),
        offline_rule="no offline data: load from the hub (nyu-mll/glue, qqp) on a machine with internet",
    ),
    TaskSpec(
        name="squad_v1", head="span", reader="squad_json",
        description="SQuAD v1.1 extractive QA",
        metrics=("exact_match", "f1"), main_metric="f1", license="CC BY-SA 4.0",
        hub_id="rajpurkar/squad", hub_splits=_hub("rajpurkar/squad", None, train="train", dev="validation"),
        local_files={"pool": ("tasks/squad_v1/dev-v1.1.json",)},
        carve=Carve(group="article title", heldout_groups=SQUAD_V2_DEV_ARTICLES),
        offline_rule=("only dev-v1.1.json offline: " + _SQUAD_RULE + "; the rest is carved by article: the 16 "
                      "articles of the offline SQuAD v2.0 dev are held out as dev (2,623 questions), the other 32 "
                      "train (6,757), so neither SQuAD task trains on the other's dev paragraphs"),
    ),
    TaskSpec(
        name="squad_v2", head="span", reader="squad_json",
        description="SQuAD v2.0 extractive QA with unanswerable questions",
        metrics=("exact_match", "f1", "has_ans_f1", "no_ans_f1"), main_metric="f1", license="CC BY-SA 4.0",
        hub_id="rajpurkar/squad_v2", hub_splits=_hub("rajpurkar/squad_v2", None, train="train", dev="validation"),
        local_files={"train": ("tasks/squad_v2/train-v2.0.first10articles.json",),
                     "dev": ("tasks/squad_v2/dev-v2.0.16articles.official-ids.json",)},
        offline_rule=("train = the first 10 official train articles; dev = 16 of the 35 official dev articles; "
                      + _SQUAD_RULE),
    ),
    TaskSpec(
        name="hellaswag", head="multiple_choice", reader="hellaswag_text", num_choices=4,
        description="HellaSwag commonsense sentence completion, 4 endings",
        metrics=("accuracy",), main_metric="accuracy", license="MIT",
        hub_id="Rowan/hellaswag", hub_splits=_hub("Rowan/hellaswag", None, train="train", dev="validation"),
        local_files={"pool": ("tasks/hellaswag/hellaswag_val_full.txt",)}, carve=Carve(group="activity label"),
        offline_rule=("only val (10,042, 6-line text form) offline: carved by activity label: whole activities, "
                      "in salted-sha1 order, fill a held-out dev of about 20% of the items, the others train"),
    ),
    TaskSpec(
        name="cosmosqa", head="multiple_choice", reader="cosmosqa_csv", num_choices=4,
        description="CosmosQA reading comprehension with commonsense, 4 answers",
        metrics=("accuracy",), main_metric="accuracy", license="CC BY 4.0",
        hub_id="allenai/cosmos_qa", hub_splits=_hub("allenai/cosmos_qa", None, train="train", dev="validation"),
        local_files={"pool": ("tasks/cosmosqa/valid.csv",)}, carve=Carve(group="context"),
        offline_rule=("only valid (2,985) offline: carved by context text: whole contexts, in "
                      "salted-sha1 order, fill a held-out dev of about 20% of the questions, the others train"),
    ),
    TaskSpec(
        name="commonsenseqa", head="multiple_choice", reader="csqa_jsonl", num_choices=5,
        description="CommonsenseQA, 5 answers",
        metrics=("accuracy",), main_metric="accuracy", license="MIT",
        hub_id="tau/commonsense_qa", hub_splits=_hub("tau/commonsense_qa", None, train="train", dev="validation"),
        local_files={"train": ("tasks/commonsenseqa/train_rand_split.jsonl",),
                     "dev": ("tasks/commonsenseqa/dev_rand_split.jsonl",)},
        offline_rule="official random split: train 9,741, dev 1,221",
    ),
    TaskSpec(
        name="ccg", head="tagging", reader="ccg_conll", labels=CCG_TAGS,
        description="CCG supertagging; offline the PMB 4.0.0 English gold categories (not CCGbank)",
        metrics=("accuracy",), main_metric="accuracy",
        license="PMB terms (free download); CCGbank itself is LDC-licensed",
        hub_id=None,
        local_files={"train": ("tasks/ccg/train.conll",), "dev": ("tasks/ccg/dev.conll",)},
        offline_rule=("PMB 4.0.0 English gold, the PMB team's part split (train p*2-p*9, dev p00-p40); 294 "
                      "supertags from train in frequency order plus '<unk>' for tags seen only in dev (13 of "
                      "7,368 dev tokens; scored as errors)"),
        offline_name="CCG (PMB 4.0.0 supertags)",
    ),
    # ---------------------------------------------------------------- ten more (tasks-extra)
    TaskSpec(
        name="rte", head="classification", reader="glue_pair_tsv",
        description="Recognising Textual Entailment (GLUE), 2-way",
        labels=("entailment", "not_entailment"), metrics=("accuracy",), main_metric="accuracy",
        license=_GLUE_LICENSE, hub_id="nyu-mll/glue", hub_config="rte", hub_splits=_glue("rte"),
        local_files={"train": ("tasks-extra/rte/train.tsv",), "dev": ("tasks-extra/rte/dev.tsv",)},
        offline_rule="GLUE train / dev TSVs (quoting off)",
    ),
    TaskSpec(
        name="mrpc", head="classification", reader="mrpc_msr",
        description="Microsoft Research Paraphrase Corpus (GLUE split)",
        labels=("not_equivalent", "equivalent"), metrics=("accuracy", "f1"), main_metric="accuracy",
        license="Microsoft Research Paraphrase Corpus terms (research license)", non_commercial=True,
        hub_id="nyu-mll/glue", hub_config="mrpc", hub_splits=_glue("mrpc"),
        local_files={"train": ("tasks-extra/mrpc/msr_paraphrase_train.txt", "tasks-extra/mrpc/mrpc_dev_ids.tsv"),
                     "dev": ("tasks-extra/mrpc/msr_paraphrase_train.txt", "tasks-extra/mrpc/mrpc_dev_ids.tsv")},
        offline_rule="MSRP train file (4,076 pairs) split by GLUE's dev id list: dev = the 408 listed pairs, train = the other 3,668",
    ),
    TaskSpec(
        name="cola", head="classification", reader="cola_tsv",
        description="Corpus of Linguistic Acceptability (GLUE), single sentence",
        labels=("unacceptable", "acceptable"), metrics=("accuracy", "mcc"), main_metric="mcc",
        license=_GLUE_LICENSE, hub_id="nyu-mll/glue", hub_config="cola", hub_splits=_glue("cola"),
        local_files={"train": ("tasks-extra/cola/train.tsv",), "dev": ("tasks-extra/cola/dev.tsv",)},
        offline_rule="GLUE train / in-domain dev TSVs (no header)",
    ),
    TaskSpec(
        name="stsb", head="regression", reader="glue_pair_tsv",
        description="STS Benchmark (GLUE), similarity score 0-5",
        metrics=("pearson", "spearman"), main_metric="pearson",
        license="scores CC BY-SA 4.0; sentences under their sources' terms",
        hub_id="nyu-mll/glue", hub_config="stsb", hub_splits=_glue("stsb"),
        local_files={"train": ("tasks-extra/stsb/train.tsv",), "dev": ("tasks-extra/stsb/dev.tsv",)},
        offline_rule="GLUE train / dev TSVs (quoting off)",
    ),
    TaskSpec(
        name="wnli", head="classification", reader="glue_pair_tsv",
        description="Winograd NLI (GLUE), 2-way; train and dev are adversarial to each other",
        labels=("not_entailment", "entailment"), metrics=("accuracy",), main_metric="accuracy",
        license=_GLUE_LICENSE, hub_id="nyu-mll/glue", hub_config="wnli", hub_splits=_glue("wnli"),
        local_files={"train": ("tasks-extra/wnli/train.tsv",), "dev": ("tasks-extra/wnli/dev.tsv",)},
        offline_rule="GLUE train / dev TSVs",
    ),
    TaskSpec(
        name="wic", head="classification", reader="wic_txt",
        description="Word-in-Context: same sense of the target word in two sentences? Target marked [like this] in both",
        labels=("false", "true"), metrics=("accuracy",), main_metric="accuracy",
        license="CC BY-NC 4.0", non_commercial=True,
        hub_id="aps/super_glue", hub_config="wic", hub_splits=_hub("aps/super_glue", "wic", train="train", dev="validation"),
        local_files={"train": ("tasks-extra/wic/train.data.txt", "tasks-extra/wic/train.gold.txt"),
                     "dev": ("tasks-extra/wic/dev.data.txt", "tasks-extra/wic/dev.gold.txt")},
        offline_rule="official WiC train / dev with separate gold files; the target token is wrapped in square brackets in both sentences",
    ),
    TaskSpec(
        name="ud_pos", head="tagging", reader="conllu_upos", labels=UPOS_TAGS,
        description="Universal Dependencies English-EWT UPOS tagging",
        metrics=("accuracy",), main_metric="accuracy", license="CC BY-SA 4.0",
        hub_id="universal_dependencies", hub_config="en_ewt",
        hub_splits=_hub("universal_dependencies", "en_ewt", train="train", dev="validation"),
        local_files={"train": ("tasks-extra/ud_ewt/en_ewt-ud-train.conllu",), "dev": ("tasks-extra/ud_ewt/en_ewt-ud-dev.conllu",)},
        offline_rule="official UD 2.16 train / dev; multiword-token and empty-node lines skipped",
    ),
    TaskSpec(
        name="wnut17", head="ner", reader="wnut_conll", labels=WNUT_TAGS,
        description="WNUT 2017 emerging and rare entities NER (BIO, 6 types)",
        metrics=("f1", "precision", "recall"), main_metric="f1", license="CC BY 4.0",
        hub_id="leondz/wnut_17", hub_splits=_hub("leondz/wnut_17", None, train="train", dev="validation"),
        local_files={"train": ("tasks-extra/wnut17/wnut17train.conll",), "dev": ("tasks-extra/wnut17/emerging.dev.conll",)},
        offline_rule="official train / dev; whitespace-only lines end a sentence",
    ),
    TaskSpec(
        name="openbookqa", head="multiple_choice", reader="openbookqa_tsv", num_choices=4,
        description="OpenBookQA (main), 4 answers, without the open book facts",
        metrics=("accuracy",), main_metric="accuracy",
        license="not stated in the files (HF card: Apache-2.0, unverified)",
        hub_id="allenai/openbookqa", hub_config="main",
        hub_splits=_hub("allenai/openbookqa", "main", train="train", dev="validation"),
        local_files={"train": ("tasks-extra/openbookqa/train.tsv",), "dev": ("tasks-extra/openbookqa/dev.tsv",)},
        offline_rule="official Main train / dev TSVs; the choices column is split on its (A)-(D) markers",
    ),
    TaskSpec(
        name="piqa", head="multiple_choice", reader="piqa_jsonl", num_choices=2,
        description="Physical Interaction QA, 2 solutions",
        metrics=("accuracy",), main_metric="accuracy", license="Academic Free License v3.0",
        hub_id="ybisk/piqa", hub_splits=_hub("ybisk/piqa", None, train="train", dev="validation"),
        local_files={"pool": ("tasks-extra/piqa/valid.jsonl", "tasks-extra/piqa/valid-labels.lst")},
        carve=Carve(group="goal"),
        offline_rule=("only valid (1,838) offline, labels from valid-labels.lst: carved by goal text: whole goals, in "
                      "salted-sha1 order, fill a held-out dev of about 20% of the items, the others train"),
    ),
)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _ENTRIES}

PAPER9 = ("anli", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg")
POOLS: dict[str, tuple[str, ...]] = {
    "paper9": PAPER9,
    "paper-offline": tuple(n for n in PAPER9 if TASKS[n].has_offline_data),
    "all-offline": tuple(n for n in TASKS if TASKS[n].has_offline_data),
}


def list_tasks() -> list[str]:
    """Every registered task name (the paper's nine first)."""
    return list(TASKS)


def get_task(name: str) -> TaskSpec:
    """The `TaskSpec` of a task; an unknown name fails listing the known ones."""
    if isinstance(name, TaskSpec):
        return name
    if name not in TASKS:
        raise XitConfigError(f"unknown task {name!r}.{suggest(name, list(TASKS))} Known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def resolve_pool(pool: str | list[str] | tuple[str, ...]) -> list[str]:
    """A pool name (paper9, paper-offline, all-offline) or an explicit list -> validated task names."""
    if isinstance(pool, str):
        if pool in POOLS:
            return list(POOLS[pool])
        if pool in TASKS:
            return [pool]
        raise XitConfigError(
            f"unknown task pool {pool!r}.{suggest(pool, list(POOLS) + list(TASKS))} "
            f"Known pools: {', '.join(POOLS)}; or give a list of task names from: {', '.join(TASKS)}"
        )
    names = list(pool)
    for name in names:
        get_task(name)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise XitConfigError(f"task pool lists {', '.join(dup)} more than once; give each task once")
    return names
