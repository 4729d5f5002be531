"""Where `voka login` keeps the session: `$XDG_CONFIG_HOME/voka/credentials.json` (default
`~/.config/voka/`), readable by its owner only (0600, in a 0700 folder), written whole to a
temporary file and renamed so a crash never leaves half a file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from voka_client.credentials import Tokens

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "voka" / "credentials.json"


@dataclass(frozen=True)
class Saved:
    """The last login: the server it was made at, the account and its tokens."""

    url: str
    username: str
    tokens: Tokens


def load() -> Saved | None:
    """The saved login, or None when there is none (or the file is not one of ours)."""
    try:
        data = json.loads(config_path().read_text())
        return Saved(data["url"], data["username"], Tokens(**data["tokens"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(saved: Saved) -> Path:
    path = config_path()
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "w") as out:
        os.fchmod(out.fileno(), FILE_MODE)  # O_CREAT's mode is cut by the umask
        json.dump({**asdict(saved), "tokens": asdict(saved.tokens)}, out, indent=2)
    os.replace(temporary, path)
    return path


def forget() -> bool:
    """Deletes the saved login; False when there was none."""
    try:
        config_path().unlink()
    except FileNotFoundError:
        return False
    return True
