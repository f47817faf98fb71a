"""Typed model of a workerd stack, its import from wrangler config, and capnp rendering.

Pure functions only: nothing here starts a process or touches the network.
"""
