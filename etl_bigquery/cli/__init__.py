"""The `etl` command line: on top of flows, blocks and the engine."""
