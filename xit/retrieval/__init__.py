"""Zero-shot cross-lingual retrieval evaluation: Tatoeba, BUCC mining, LAReQA (XQuAD-R), Mewsli-X.

Modules: ``data`` (loaders, language sets, Tatoeba-derived mining corpora), ``mining``
(margin-based bitext mining), ``metrics``, ``cache`` (on-disk embedding cache) and ``suite``
(``EvalConfig`` and ``evaluate_encoder``, the one-call entry point).
"""
