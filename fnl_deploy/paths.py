"""Where the Ansible roles, playbooks and templates are, from a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def share_dir(name: str) -> Path:
    """``roles``, ``playbooks``, ``templates`` or ``lab``: the checkout's, else the wheel's copy.

    The wheel carries them under ``fnl_deploy/resources/`` (see pyproject.toml); a
    checkout or an editable install uses the top-level directories directly.
    """
    checkout = _PACKAGE.parent / name
    if checkout.is_dir() and (_PACKAGE.parent / "pyproject.toml").is_file():
        return checkout
    return _PACKAGE / "resources" / name
