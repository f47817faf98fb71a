"""Queues: producers, the queue store, consumers (docs/queues.md)."""
