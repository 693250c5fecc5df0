"""Reading YAML settings files safely: profiles (`mtlib/profiles/<name>.yaml`) and run folders'
config.yaml. Anything that is not a small mapping of settings is a ConfigError naming the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..util import paths
from ..util.errors import ConfigError


def default_profile() -> str:
    """The profile an empty `profile` means: $MTLIB_PROFILE, else cpu (`make lab PROFILE=smoke`)."""
    return os.environ.get("MTLIB_PROFILE") or "cpu"


def profile_path(profile: str) -> Path:
    """mtlib/profiles/<profile>.yaml (empty: `default_profile()`), or a YAML file: a relative path
    is looked up from the working folder, then from the project root (as data and run folders
    are), so a notebook, whose working folder is notebooks/, finds the file its command named."""
    profile = profile or default_profile()
    path = Path(profile).expanduser()
    if path.suffix in (".yaml", ".yml"):
        for candidate in (path.resolve(), paths.from_root(path)):
            if candidate.is_file():
                return candidate
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()} and {paths.project_root()})"
        raise ConfigError(f"profile file {profile} does not exist{where}; name a YAML file, or a profile of {paths.profiles_dir()}")
    path = paths.profiles_dir() / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in paths.profiles_dir().glob("*.yaml"))
        raise ConfigError(f"no profile {profile!r} (looked for {path}); profiles: {', '.join(known)}, or a path to a YAML file")
    return path


MAX_YAML_BYTES = 1_000_000  # a config is a few hundred bytes; this bounds what parsing can cost


class _SafeLoaderNoAliases(yaml.SafeLoader):
    """yaml.SafeLoader without anchors and aliases (a config never needs them, and an alias bomb
    of a few hundred bytes expands to gigabytes) and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted in mtlib configs", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A key given twice is refused at its second line: YAML's last-wins would silently drop
        the first value, and a config that says two things means neither for sure."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"the key {key!r} is given twice (first at line {seen[key] + 1}); keep one", key_node.start_mark
                        )
                    seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of settings; anything else is a ConfigError naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = path.read_bytes()
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: {len(raw):,} bytes is too large for a config file (at most {MAX_YAML_BYTES:,})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_SafeLoaderNoAliases)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deep to be a config file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file is a mapping of settings (name: value), not a {type(data).__name__}")
    return data


def content_sha256(text: bytes) -> str:
    """A profile's content hash: of its settings as YAML reads them (sorted JSON), so a comment
    or a reordering does not make it another profile; unreadable YAML hashes its bytes."""
    import hashlib
    import json

    try:
        content = json.dumps(yaml.safe_load(text), sort_keys=True, default=str).encode("utf-8")
    except yaml.YAMLError:
        content = text
    return hashlib.sha256(content).hexdigest()
