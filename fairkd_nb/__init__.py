"""A notebook-first research kit for fairness in knowledge distillation

Modules:

- `fairkd_nb.core`: Seeding, device and precision, presets, run folders, atomic writes, safe checkpoints, parameter checks and progress bars: the small things every notebook of the kit relies on."""

__version__ = "0.1.0"
