"""`linelab` subcommands owned by the scenario runner.

Every module in this package that defines ``register(subparsers)`` is a subcommand;
`scenarios.cli` discovers them, so adding a command never edits a shared file.
"""
