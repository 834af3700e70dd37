"""Adam (Kingma & Ba, 2015) as Keras implements it (Sec. IV: lr 1e-5, beta1 0.5,
beta2 0.999; Keras' epsilon 1e-7; docs/design.md, "Adam"), one state per
network, updating in place:

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)        (bias correction)
    theta = theta - lr_t * m / (sqrt(v) + epsilon)

Keras' epsilon is the "epsilon hat" of the paper: it is added after the bias
correction has been folded into the step size.
"""
import numpy as np

from .backend import get_array_module, to_device
from .layers.base import state_dict_problems

PAPER_BETA1 = 0.5  # Sec. IV, for both networks


class Adam:
    """Adam for one network: ``Adam(net, lr, beta1, beta2, eps)``, then ``opt.step()`` after each backward.

    It holds the network's own parameter and gradient arrays (not copies) and
    moments of the same shapes on the same device. So move the network to its
    device *before* making its optimiser: ``Adam(net.to(cupy))``. A network
    moved afterwards gets new arrays, and the optimiser would go on updating
    the old ones.
    """

    def __init__(self, net, lr=1e-5, beta1=PAPER_BETA1, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.params = net.named_params()
        self.grads = net.named_grads()
        self.m = {k: p * 0 for k, p in self.params.items()}
        self.v = {k: p * 0 for k, p in self.params.items()}
        self.t = 0

    def step(self):
        """Apply one update from the accumulated gradients."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * (1.0 - b2 ** self.t) ** 0.5 / (1.0 - b1 ** self.t)
        for k, p in self.params.items():
            xp = get_array_module(p)
            g, m, v = self.grads[k], self.m[k], self.v[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            p -= lr_t * m / (xp.sqrt(v) + self.eps)

    def state_dict(self):
        state = {"t": np.array(self.t)}
        state.update({f"m.{k}": v for k, v in self.m.items()})
        state.update({f"v.{k}": v for k, v in self.v.items()})
        return state

    def load_state_dict(self, state):
        """Restore ``t`` and the moments in place; names and shapes are checked first (ValueError)."""
        expected = self.state_dict()
        problems = state_dict_problems(expected, state)
        if problems:
            raise ValueError("Adam state does not match the network's parameters: " + "; ".join(problems))
        self.t = int(state["t"])
        for k, moments in expected.items():
            if k != "t":
                moments[...] = to_device(state[k], get_array_module(moments))
