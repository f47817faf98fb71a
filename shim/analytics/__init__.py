"""Workers Analytics Engine: data points kept, the SQL API answered (docs/bindings.md)."""
