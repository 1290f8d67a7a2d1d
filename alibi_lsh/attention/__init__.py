"""ALiBi attention: exact, inside a sliding window, and approximated by random short blocks.

One job per module: ``exact`` (the reference), ``window`` (the banded baseline), ``lsh/`` (the
approximation, in reading order from its dense ``reference``), ``options`` (kernels and budgets,
one frozen object), ``padding`` (key padding: each row on its real keys), ``numerics`` (values
rescaled where their sum would overflow), ``fused`` (the one door to torch's private fused
kernels, with their fallback) and ``spec`` (``AttentionSpec``: which attention a model uses, and
the dispatch). The public functions are imported from :mod:`alibi_lsh`; words and budgets are in
docs/glossary.md.
"""
