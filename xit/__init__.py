"""xit: English intermediate-task training and zero-shot cross-lingual retrieval.

Reproduces and extends Phang et al. (2020), arXiv 2005.13013. See README.md.
"""

__version__ = "0.1.0"

#: Version of the numbers xit produces: bump whenever the same checkpoint and settings would give different
#: values (metric definitions, text preprocessing, default prefixes, data order). Run ids, encoder-cache keys,
#: training fingerprints and the embedding cache key all hash it, so old results are never reused for new code.
RESULTS_VERSION = 2
