"""Why a VM cannot be started, in words the user can act on."""


class VmUnavailable(Exception):
    """A host capability or tool is missing (QEMU, the unprivileged user, ...)."""


class VmConfigError(Exception):
    """The profile's VM settings or mounts cannot be used as they are."""
