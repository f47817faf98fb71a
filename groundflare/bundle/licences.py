"""The licence of everything a sidecar bundle ships, gathered into DIR/licenses/.

Python and every distribution frozen into the executable (groundflare's run-time
dependencies, and PyInstaller, whose bootloader is the executable), workerd (its npm
package), and with the VM the kernel and busybox (their Debian copyright files).
`licenses/README.md` lists each with its version and declared licence.
"""

from __future__ import annotations

import importlib.metadata as metadata
import io
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

LICENCE_FILE = re.compile(r"(^|/)(licen[cs]e|copying|notice)[^/]*$", re.IGNORECASE)
# The bootloader and the frozen importer are PyInstaller's (GPL-2.0 with its bootloader
# exception, which allows shipping them with any program).
FREEZER = "pyinstaller"


@dataclass(frozen=True)
class Shipped:
    name: str
    version: str
    licence: str
    files: tuple[str, ...]  # relative to licenses/


def runtime_distributions(root: str = "groundflare") -> list[metadata.Distribution]:
    """`root` and what it needs at run time, transitively (extras and other platforms'
    dependencies left out)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(seen.values())


def _declared(dist: metadata.Distribution) -> str:
    if dist.metadata["Name"].lower() == FREEZER:
        return "GPL-2.0-or-later WITH its bootloader exception"
    meta = dist.metadata
    licence = meta["License-Expression"] or meta["License"] or ""
    if licence and len(licence) < 80:
        return licence.strip()
    classifiers = [
        c.removeprefix("License :: ").removeprefix("OSI Approved :: ")
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    return "; ".join(classifiers) or (licence.splitlines()[0] if licence else "see files")


def python_licences(dest: Path) -> list[Shipped]:
    shipped = []
    (dest / "python").mkdir(parents=True, exist_ok=True)
    stdlib_licence = Path(sysconfig.get_path("stdlib")) / "LICENSE.txt"
    files: tuple[str, ...] = ()
    if stdlib_licence.is_file():
        shutil.copyfile(stdlib_licence, dest / "python" / "LICENSE.txt")
        files = ("python/LICENSE.txt",)
    shipped.append(Shipped("CPython", sys.version.split()[0], "PSF-2.0", files))
    dists = [*runtime_distributions(), metadata.distribution(FREEZER)]
    for dist in sorted(dists, key=lambda d: d.metadata["Name"].lower()):
        name = dist.metadata["Name"]
        copied = []
        for file in dist.files or []:
            if LICENCE_FILE.search(str(file)):
                target = dest / "python" / name / Path(str(file)).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(str(file.locate())), target)
                copied.append(target.relative_to(dest).as_posix())
        shipped.append(Shipped(name, dist.version, _declared(dist), tuple(sorted(set(copied)))))
    return shipped


def npm_licence(dest: Path, name: str, package_dir: Path) -> Shipped:
    """An npm package's declared licence and whatever licence files it carries (workerd's
    platform packages carry none: their package.json declares Apache-2.0)."""
    folder = dest / name
    folder.mkdir(parents=True, exist_ok=True)
    package = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    copied = []
    for path in sorted(package_dir.iterdir()):
        if path.is_file() and (LICENCE_FILE.search(path.name) or path.name == "package.json"):
            shutil.copyfile(path, folder / path.name)
            copied.append(f"{name}/{path.name}")
    return Shipped(package["name"], package["version"], package.get("license", "?"), tuple(copied))


def deb_licence(dest: Path, deb: Path, package: str, version: str) -> Shipped:
    """A Debian package's copyright file, read out of the .deb (nothing installed)."""
    data = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True
    ).stdout
    target = dest / package / "copyright"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(f"./usr/share/doc/{package}/copyright")
        if member is None:
            raise FileNotFoundError(f"{deb.name} has no copyright file")
        target.write_bytes(member.read())
    return Shipped(package, version, "see copyright (Debian)", (f"{package}/copyright",))


def write_index(dest: Path, shipped: list[Shipped]) -> None:
    lines = [
        "# Licences of what this bundle ships",
        "",
        "groundflare itself: Apache-2.0.",
        "",
        "| component | version | licence | files |",
        "|---|---|---|---|",
    ]
    for item in shipped:
        files = ", ".join(f"`{f}`" for f in item.files) or "none shipped by the package"
        lines.append(f"| {item.name} | {item.version} | {item.licence} | {files} |")
    (dest / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
