"""A notebook-first research kit for fairness in knowledge distillation

Modules:

- `fairkd_nb.core`: Seeding, device and precision, presets, run folders, atomic writes, safe checkpoints, parameter checks and progress bars: the small things every notebook of the kit relies on.
- `fairkd_nb.runner`: Run a method notebook with parameters (checked before a kernel starts), sweep a grid, collect a leaderboard from the run folders — from Python or from the `fairkd` command."""

__version__ = "0.1.0"
