"""One module per CLI command group; each has ``add_parser(subparsers)``.

``add_parser`` registers its sub-command(s) and sets ``func`` on the parser to a
callable ``(args) -> int`` (the exit code). Keep imports of heavy modules inside
those functions so ``rescind --help`` stays fast.
"""

COMMAND_MODULES: tuple[str, ...] = (
    "rescind.commands.run",
    "rescind.commands.validate",
    "rescind.commands.schema",
    "rescind.commands.keys",
    "rescind.commands.approve",
    "rescind.commands.verify",
    "rescind.commands.resume",
    "rescind.commands.seal",
    "rescind.commands.score",
    "rescind.commands.timeline",
    "rescind.commands.config",
    "rescind.commands.notify",
)
