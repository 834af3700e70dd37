"""One module per lesson (``lessonNN.py``), each with a list ``EXERCISES`` of ``Exercise``."""
