"""xit: English intermediate-task training and zero-shot cross-lingual retrieval.

Reproduces and extends Phang et al. (2020), arXiv 2005.13013. See README.md.
"""

__version__ = "0.1.0"

#: Version of the numbers xit produces; run ids, encoder-cache keys and training fingerprints hash it.
#: Bump when numbers would change (e.g. a new data order), so old results are never reused for new code.
RESULTS_VERSION = 2
