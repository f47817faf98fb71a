"""S3's XML: small builders for answers, and the two request bodies S3 clients send as XML
(CompleteMultipartUpload and Delete), parsed with size limits."""

from __future__ import annotations

from typing import TypeAlias
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from groundflare.shim.messages import Response
from groundflare.shim.r2.s3.errors import XML_TYPE, malformed_xml

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
Node: TypeAlias = str | int | bool | list[tuple[str, "Node"]] | None


def render(tag: str, value: Node) -> str:
    if value is None:
        return f"<{tag}/>"
    if isinstance(value, bool):
        return f"<{tag}>{'true' if value else 'false'}</{tag}>"
    if isinstance(value, list):
        return f"<{tag}>{''.join(render(t, v) for t, v in value)}</{tag}>"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def document(root: str, children: list[tuple[str, Node]], status: int = 200) -> Response:
    inner = "".join(render(tag, value) for tag, value in children)
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">{inner}</{root}>'
    return Response(status=status, body=xml.encode("utf-8"), headers={"Content-Type": XML_TYPE})


def parse(body: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise malformed_xml() from exc


def local(tag: str) -> str:
    """A tag without its namespace (clients send S3's, or none)."""
    return tag.rsplit("}", 1)[-1]


def children(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [child for child in element if local(child.tag) == name]


def text(element: ElementTree.Element, name: str) -> str | None:
    found = children(element, name)
    return None if not found else (found[0].text or "")
