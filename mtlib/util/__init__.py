"""The bottom of the stack, imported by every other part: error types, the project root, progress."""
