"""The mean teacher (Sec. IV-B, Fig. 3; Tarvainen & Valpola, 2017).

A teacher is a copy of a student network whose weights follow an exponential
moving average of the student's after every student step:

    theta_teacher = alpha * theta_teacher + (1 - alpha) * theta_student

alpha = 0.999 with no ramp-up, since the teacher starts equal to the
pretrained student (docs/design.md, "The mean teacher's decay"); batch-norm
running statistics are averaged the same way (``buffers="average"``) or
copied from the student (``buffers="copy"``, as StyleGAN2-ADA's G_ema;
docs/design.md, "Batch-norm statistics of the teacher"). There is no
consistency loss: the teacher never feeds back into the student. The teacher
stays in inference mode.
"""
BUFFER_MODES = ("average", "copy")


class EMATeacher:
    """The teacher of one student network: ``teacher.network`` is its copy, ``teacher.update(alpha)`` one EMA step.

    ``buffers``: 'average' (batch-norm running statistics averaged like the
    weights) or 'copy' (taken from the student at each step). Make the
    teacher after the student has its weights and device: the copy is taken
    once, here.
    """

    def __init__(self, student, buffers="average"):
        if buffers not in BUFFER_MODES:
            raise ValueError(f"buffers must be one of {BUFFER_MODES}, got {buffers!r}")
        self.student = student
        self.buffers = buffers
        self.network = student.clone().set_training(False)

    def update(self, alpha):
        """One EMA step after a student step; alpha is the decay (0.999)."""
        alpha = float(alpha)
        pairs = [(self.network.named_params(), self.student.named_params(), "average"),
                 (self.network.named_buffers(), self.student.named_buffers(), self.buffers)]
        for teacher, student, how in pairs:
            for k, t in teacher.items():
                if how == "copy":
                    t[...] = student[k]
                else:
                    t *= alpha
                    t += (1.0 - alpha) * student[k]
