"""The ``sellout`` command's subcommands, one module each, imported only when the subcommand runs
(:mod:`sellout.command_line`)."""
