"""Usage: recording attempts, rollups, and the queries behind monitoring."""
