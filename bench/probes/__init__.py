"""Scripts that the compile suite runs in fresh processes."""
