"""Positional-LSH ALiBi attention: R ordinary attentions over random short blocks.

Reading order: ``reference`` (the estimator written densely), ``draws`` (the random blocks as
tensors), ``union`` (the fast path: one count-weighted pass over the union of each query's
blocks), ``per_sample`` (R block attentions merged by ``merge``'s online log-sum-exp) and
``entry`` (:func:`lsh_alibi_attention`: checks, draws, then the chosen path).
"""
