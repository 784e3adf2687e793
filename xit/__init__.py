"""xit: English intermediate-task training and zero-shot cross-lingual retrieval.

Reproduces and extends Phang et al. (2020), arXiv 2005.13013. See README.md.
"""

__version__ = "0.1.0"

#: Version of the retrieval numbers: bump whenever the same checkpoint and settings would give different
#: values (metric definitions, text preprocessing, default prefixes). It is part of the embedding cache key,
#: so a bump also invalidates every cached embedding.
RESULTS_VERSION = 2
