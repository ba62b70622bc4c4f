"""xDS resources, pure: versioned resource sets per node group, their diff, and the delta and
state-of-the-world protocol state of one stream (what to send next). The gRPC server lives in `egd.xds`."""
