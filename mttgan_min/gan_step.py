"""One MTT-GAN training iteration (Sec. IV, Eq. (2); docs/design.md, "One training iteration").

Per minibatch of 32:
1. D step: 16 real images (label 1) and 16 images from the student G in
   training mode (label 0), one Adam step on D.
2. G step: 32 fresh latent vectors labelled 1 through a frozen D (the
   non-saturating loss -log D(G(z)), the first term of Eq. (2)); D's dropout
   stays on, its weights do not change. The second term of Eq. (2), the real
   images' log(1 - D(x_r)), does not depend on G and so contributes no
   gradient; it is not computed.
3. The mean teachers of G and D take one EMA step (fine-tuning of MTT-GAN).
"""
from .backend import get_array_module, to_numpy
from .losses import bce_with_logits_backward, bce_with_logits_forward
from .layers.activations import sigmoid
from .models import sample_latent


def _fill(xp, n, value, dtype):
    return xp.full((n, 1), value, dtype=dtype)


def discriminator_step(G, D, opt_D, real, rng, latent="normal"):
    """One Adam step of D on 16 real + 16 fake; returns (loss, mean D(real), mean D(fake)) as 0-d arrays."""
    xp = get_array_module(real)
    n = real.shape[0]
    G.set_training(True)
    D.set_training(True).set_trainable(True)
    fake = G.forward(sample_latent(rng, n, G.input_shape[0], latent, real.dtype))
    x = xp.concatenate([real, fake], axis=0)
    y = xp.concatenate([_fill(xp, n, 1.0, real.dtype), _fill(xp, n, 0.0, real.dtype)], axis=0)
    D.zero_grad()
    logits = D.forward(x)
    loss, cache = bce_with_logits_forward(logits, y)
    D.backward(bce_with_logits_backward(cache))
    opt_D.step()
    p = sigmoid(logits)
    return loss, p[:n].mean(), p[n:].mean()


def generator_step(G, D, opt_G, n, rng, latent="normal", dtype="float32"):
    """One Adam step of G on n fresh latents labelled real, D frozen; returns the loss (0-d array)."""
    G.set_training(True)
    D.set_training(True).set_trainable(False)
    z = sample_latent(rng, n, G.input_shape[0], latent, dtype)
    xp = get_array_module(z)
    G.zero_grad()
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, _fill(xp, n, 1.0, dtype))
    G.backward(D.backward(bce_with_logits_backward(cache)))
    opt_G.step()
    D.set_trainable(True)
    return loss


def mtt_gan_step(G, D, opt_G, opt_D, real, rng, latent="normal", teachers=None, ema_decay=0.999):
    """One iteration: D step, G step (batch 2 * len(real)), then the EMA teachers.

    real: (16, S, S, 1) float32 on the device; rng: a generator on the same
    device (latents and dropout masks); teachers: (teacher_G, teacher_D)
    EMATeacher pair (or any tuple of teachers) or None. Returns a dict
    {"d_loss", "g_loss", "d_real", "d_fake"} of Python floats (one
    device-to-host copy per iteration).
    """
    xp = get_array_module(real)
    D.set_rng(rng)
    d_loss, d_real, d_fake = discriminator_step(G, D, opt_D, real, rng, latent)
    g_loss = generator_step(G, D, opt_G, 2 * real.shape[0], rng, latent, real.dtype)
    if teachers is not None:
        for teacher in teachers:
            teacher.update(ema_decay)
    values = to_numpy(xp.stack([d_loss, g_loss, d_real, d_fake]))
    return dict(zip(("d_loss", "g_loss", "d_real", "d_fake"), (float(v) for v in values)))
