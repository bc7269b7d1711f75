"""The HTTP shell: validate, enqueue, answer. Decisions happen in the workers."""
