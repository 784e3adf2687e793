"""xit: English intermediate-task training and zero-shot cross-lingual retrieval.

Reproduces and extends Phang et al. (2020), arXiv 2005.13013. See README.md.
"""

__version__ = "0.1.0"
