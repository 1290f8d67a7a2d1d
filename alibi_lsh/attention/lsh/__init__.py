"""Positional-LSH ALiBi attention: R ordinary attentions over random short blocks.

Reading order:

1. ``reference``: the estimator written densely, softmax(scale q k^T + log M_hat) v;
2. ``draws``: the random blocks of every head as tensors, and the cache that keeps them;
3. ``geometry``: where each query's block starts and ends, shared by both paths;
4. ``union``: the fast path, one count-weighted softmax over the union of each query's blocks;
5. ``per_sample``: the paper's construction, R ordinary block attentions per head, merged by
   ``merge``'s online log-sum-exp;
6. ``entry``: :func:`lsh_alibi_attention`, checks, draws, then one branch to the chosen path.
"""
