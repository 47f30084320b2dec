"""The domain package imports no IO library (cosmicpython's rule), checked on its source."""

import ast
from pathlib import Path

import payments.domain

FORBIDDEN = {
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "redis",
    "stripe",
    "httpx",
    "grpc",
    "fastapi",
    "starlette",
    "structlog",
    "socket",
    "requests",
    "uvicorn",
    "prometheus_client",
    "opentelemetry",
    "os",
    "subprocess",
    "asyncio",
}


def test_domain_imports_no_io_library():
    root = Path(payments.domain.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    assert len(list(root.rglob("*.py"))) >= 5
