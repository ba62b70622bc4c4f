"""One module per `egd` command (or pair of commands)."""
