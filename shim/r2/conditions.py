"""`onlyIf`: R2's conditional reads and writes (the R2 gateway's rules, as Miniflare copies them).

A failed condition is 412 / 10031; for a get it still reports the object's
metadata, for a put the Worker sees `null`.
"""

from __future__ import annotations

from groundflare.shim.r2.messages import Conditional, Etag


def _listed(etags: list[Etag], etag: str, weak_matches: bool) -> bool:
    return any(
        e.type == "wildcard" or (e.value == etag and (e.type == "strong" or weak_matches))
        for e in etags
    )


def _seconds(ms: int) -> int:
    return ms // 1000 * 1000


def holds(cond: Conditional, etag: str | None, uploaded: int) -> bool:
    """Whether `cond` holds for an object with this etag and upload time (etag None: absent)."""
    if etag is None:
        return cond.etag_matches is None and cond.uploaded_after is None
    truncate = _seconds if cond.seconds_granularity else int
    last_modified = truncate(uploaded)
    if_match = cond.etag_matches is None or _listed(cond.etag_matches, etag, weak_matches=False)
    if_none_match = cond.etag_does_not_match is None or not _listed(
        cond.etag_does_not_match, etag, weak_matches=True
    )
    if_modified_since = (
        cond.uploaded_after is None
        or truncate(cond.uploaded_after) < last_modified
        or (cond.etag_does_not_match is not None and if_none_match)
    )
    if_unmodified_since = (
        cond.uploaded_before is None
        or last_modified < truncate(cond.uploaded_before)
        or (cond.etag_matches is not None and if_match)
    )
    return if_match and if_none_match and if_modified_since and if_unmodified_since
