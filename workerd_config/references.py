"""Bindings that point at other Workers must find them in the same stack."""

from __future__ import annotations

from groundflare.workerd_config.model import DurableObjectBinding, ServiceBinding, Stack


def missing_references(stack: Stack) -> list[str]:
    """One line per binding whose target Worker (or class) is not part of the stack."""
    workers = {worker.name: worker for worker in stack.workers}
    problems = []
    for worker in stack.workers:
        for binding in worker.bindings:
            if isinstance(binding, ServiceBinding) and binding.service not in workers:
                problems.append(
                    f"{worker.name}: service binding {binding.name} targets Worker "
                    f"{binding.service!r}, which is not running: add its wrangler config with -c"
                )
            if isinstance(binding, DurableObjectBinding):
                owner = workers.get(binding.worker or worker.name)
                if owner is None:
                    problems.append(
                        f"{worker.name}: Durable Object binding {binding.name} uses class "
                        f"{binding.class_name} of Worker {binding.worker!r}, which is not "
                        "running: add its wrangler config with -c"
                    )
                elif binding.class_name not in {c.class_name for c in owner.durable_objects}:
                    problems.append(
                        f"{worker.name}: Durable Object binding {binding.name}: Worker "
                        f"{owner.name} has no Durable Object class {binding.class_name} in its "
                        "[[migrations]]"
                    )
    return problems
