"""D1: SQLite databases served to workerd's d1-api binding (and legacy HTTP adapters)."""
