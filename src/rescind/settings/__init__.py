"""rescind's settings: one table per provider plus ``[approvers]`` and ``[notify]``.

Layers, highest first: command-line flags (``--set TABLE.KEY=VALUE`` and the
aliases ``--profile``, ``--region``, ``--break-glass``, ``--approvers``), the
environment (``RESCIND_<TABLE>_<KEY>``), the config file (``rescind.toml`` in the
config folder, or ``--config FILE``), then each model's defaults. Each provider's
``Settings`` model validates its table; a problem is ``FILE:LINE: message``.
"""
