"""``mlflow-core endpoints``: which RPCs we serve natively, and which MLflow still serves."""

from __future__ import annotations

from collections import Counter

import click

from mlflow_core.entrypoints.http.protocol.rpcs import RPCS


def coverage_table() -> list[str]:
    rows = [("service", "rpc", "method", "path", "ported")]
    for rpc in RPCS:
        for endpoint in rpc.endpoints:
            rows.append(
                (
                    rpc.service,
                    rpc.name,
                    endpoint.method,
                    endpoint.http_paths()[0],
                    "yes" if rpc.ported else "no",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    totals: Counter[str] = Counter()
    ported: Counter[str] = Counter()
    for rpc in RPCS:
        totals[rpc.service] += 1
        ported[rpc.service] += rpc.ported
    for service, total in totals.items():
        lines.append(f"{service}: {ported[service]} of {total} RPCs ported")
    lines.append(f"total: {sum(ported.values())} of {sum(totals.values())} RPCs ported")
    return lines


@click.command()
def endpoints() -> None:
    """Print every MLflow REST RPC with its method and path, and whether it is ported."""
    click.echo("\n".join(coverage_table()))
