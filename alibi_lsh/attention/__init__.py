"""ALiBi attention: exact, truncated to a sliding window, and approximated by random short blocks.

One idea per module: ``exact`` (the reference), ``window`` (the banded baseline), ``lsh/`` (the
positional-LSH estimator, in reading order), ``padding`` (key padding: each row on its real keys),
``fused`` (the one door to torch's private fused kernels, with their fallback) and ``spec``
(``AttentionSpec``: which attention a model uses, and the dispatch). The public functions are
imported from :mod:`alibi_lsh`.
"""
