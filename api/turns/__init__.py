"""Running turns: the model adapters, the memory stores functions search, and the runner."""
