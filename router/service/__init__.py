"""What the API and the processes share: the runtime (clients, rules, backends),
the engine that folds and fires, the intake and the deadline watchers."""
