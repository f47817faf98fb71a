"""A running stack's bindings from Python, in tests and scripts (docs/testing.md):

with groundflare.bindings.connect(Path(".data/dev")) as stack:
    stack.d1("DB").execute("SELECT * FROM projects WHERE id = ?", [1])
    stack.kv("KV").put("flag:new-ui", "on")
"""

from groundflare.bindings.channel import BindingError, StackError
from groundflare.bindings.d1 import D1Database
from groundflare.bindings.kv import KvNamespace
from groundflare.bindings.objects import DurableObjectStub, Queue
from groundflare.bindings.r2 import R2Bucket, R2ObjectBody
from groundflare.bindings.stack import Stack, connect

__all__ = [
    "BindingError",
    "D1Database",
    "DurableObjectStub",
    "KvNamespace",
    "Queue",
    "R2Bucket",
    "R2ObjectBody",
    "Stack",
    "StackError",
    "connect",
]
