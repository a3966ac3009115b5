"""One module per subcommand, each with `register(subparsers)`; heavy imports stay inside the command's `run`."""
