"""The queue's contract: task names, queues, the typed batches they carry, and the
Celery broker's transport."""
