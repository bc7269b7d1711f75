"""The processes: the Celery worker, the scheduler, and `router up`."""
