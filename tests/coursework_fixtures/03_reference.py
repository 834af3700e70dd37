# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 3 (a test fixture): one exercise with its reference solution between the markers
#
# The Dense layer's backward: `dout` (N, M) and the cache `(x, w)` give the gradients of x, w and b.

# %%
import numpy as np

from mttgan_min.coursework import check

# %%
def my_dense_backward(dout, cache):
    """dout (N, M), cache (x (N, D), w (D, M)) -> dx (N, D), dw (D, M), db (M,)."""
    ### BEGIN SOLUTION
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
    ### END SOLUTION


# %%
my_dense_backward = check("dense_backward", my_dense_backward)

# %% [markdown]
# The rest of the lesson uses the function that `check` returned.

# %%
grads = my_dense_backward(np.ones((2, 3)), (np.ones((2, 4)), np.ones((4, 3))))
print("shapes:", [g.shape for g in grads])
print("end of the lesson")

# %% [markdown]
# ## What to try next
#
# Nothing: this is a test fixture.
