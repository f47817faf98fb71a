"""R2: buckets served to workerd's r2Bucket binding (specs/r2.md)."""
