"""egd: the daemon and command line, the I/O shell around `events` and `projections`."""
