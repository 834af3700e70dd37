"""Losses computed from logits, in numerically stable forms.

Binary cross-entropy (Eq. (2)): the discriminator's sigmoid output layer
(Fig. 4) is fused with the loss (docs/design.md, "The discriminator's output
and the loss"). For a logit z and target y,

    BCE(sigmoid(z), y) = max(z, 0) - z * y + log(1 + exp(-|z|))

which is finite and exact for |z| up to 1e4 (no exp overflows, no log(0)),
and whose gradient is simply sigmoid(z) - y.
"""
from .backend import get_array_module
from .layers.activations import sigmoid


def bce_with_logits_forward(logits, targets):
    """logits, targets (N, 1) -> (mean loss as a 0-d array, cache)."""
    xp = get_array_module(logits)
    z, y = logits, targets
    loss = xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
    return loss.mean(), (z, y)


def bce_with_logits_backward(cache):
    """d(mean loss)/d logits = (sigmoid(z) - y) / N."""
    z, y = cache
    return (sigmoid(z) - y) / z.size


def softmax_cross_entropy_forward(logits, labels):
    """logits (N, K), integer labels (N,) -> (mean loss, cache).

    loss = logsumexp(z) - z[label], with the maximum subtracted first.
    """
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum
    onehot = (labels.reshape(-1, 1) == xp.arange(logits.shape[1]).reshape(1, -1)).astype(logits.dtype)
    loss = -(log_probs * onehot).sum(axis=1).mean()
    return loss, (log_probs, onehot)


def softmax_cross_entropy_backward(cache):
    """d(mean loss)/d logits = (softmax(z) - onehot) / N."""
    log_probs, onehot = cache
    xp = get_array_module(log_probs)
    return (xp.exp(log_probs) - onehot) / log_probs.shape[0]
