"""Cache stores: pick a backend from a URL, lazily, with an install hint when it is missing.

========  ==========================================  =============================
scheme    class                                       needs
========  ==========================================  =============================
file      ``buildonce.store.local:LocalStore``        nothing (the default)
s3        ``buildonce.store.s3:S3Store``              ``pip install 'buildonce[s3]'``
gha       ``buildonce.store.gha:GhaStore``            GitHub's cache service (Actions)
========  ==========================================  =============================

Selection order: ``--store URL``, then ``$BUILDONCE_STORE``, then GitHub's cache service
when the runner exported ``ACTIONS_RESULTS_URL`` and ``ACTIONS_RUNTIME_TOKEN`` (only
JavaScript and container actions see those), then the local directory
``$BUILDONCE_CACHE_DIR``, ``$XDG_CACHE_HOME/buildonce`` or ``~/.cache/buildonce``.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from buildonce.errors import ConfigError
from buildonce.store.base import EntryRecord, Event, Lookup, ObjectStore, PublishResult, Store


@dataclass(frozen=True, slots=True)
class Backend:
    target: str  # "module:Class"
    install_hint: str


#: URL scheme -> backend.  The class is imported only when a URL with its scheme is opened.
BACKENDS: Mapping[str, Backend] = {
    "file": Backend("buildonce.store.local:LocalStore", "it is built in"),
    "s3": Backend("buildonce.store.s3:S3Store", "pip install 'buildonce[s3]'"),
    "gha": Backend(
        "buildonce.store.gha:GhaStore",
        "it works only inside a GitHub Actions JavaScript or container action",
    ),
}


def default_local_dir(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    if environ.get("BUILDONCE_CACHE_DIR"):
        return Path(environ["BUILDONCE_CACHE_DIR"]).expanduser()
    if environ.get("XDG_CACHE_HOME"):
        return Path(environ["XDG_CACHE_HOME"]).expanduser() / "buildonce"
    return Path("~/.cache/buildonce").expanduser()


def resolve_store_url(url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The store URL the user asked for, or the default one for this environment."""
    environ = os.environ if env is None else env
    if url:
        return url
    if environ.get("BUILDONCE_STORE"):
        return environ["BUILDONCE_STORE"]
    if environ.get("ACTIONS_RESULTS_URL") and environ.get("ACTIONS_RUNTIME_TOKEN"):
        return "gha"
    return str(default_local_dir(environ))


def load_backend(scheme: str, where: str) -> type[Any]:
    backend = BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(f"{s}://" for s in BACKENDS)
        raise ConfigError(
            f"unknown store scheme {scheme!r}",
            where=where,
            hint=f"use a directory path or one of {known}",
        )
    module_name, _, class_name = backend.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the {scheme} store is not available ({exc.name} is not installed)",
            where=where,
            hint=backend.install_hint,
        ) from exc
    cls: type[Any] = getattr(module, class_name)
    return cls


#: Spellings of GitHub's cache: ``gha`` is what the action's ``store:`` input says.
GHA_URLS = frozenset({"gha", "gha:", "gha://"})


def open_store(
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    on_warning: Callable[[str], None] | None = None,
) -> Store:
    """Open the store named by ``url`` (or the default one); raises ConfigError if unusable.

    ``on_warning`` receives what a backend reports while it works (retries, an outage
    treated as a miss); backends that report nothing ignore it.
    """
    environ = dict(os.environ if env is None else env)
    resolved = resolve_store_url(url, environ)
    if resolved.strip().lower() in GHA_URLS:
        # A bare "gha" has no scheme and would otherwise name a directory called gha.
        resolved, scheme = "gha", "gha"
    else:
        scheme = urlsplit(resolved).scheme.lower()
    # "C:\\cache" parses with scheme "c": a one-letter scheme is a Windows drive, not a URL.
    if len(scheme) <= 1:
        scheme = "file"
    cls = load_backend(scheme, where=f"store {resolved}")
    if on_warning is not None and "on_warning" in inspect.signature(cls.from_url).parameters:
        store: Store = cls.from_url(resolved, environ, on_warning=on_warning)
    else:
        store = cls.from_url(resolved, environ)
    return store


__all__ = [
    "BACKENDS",
    "GHA_URLS",
    "Backend",
    "EntryRecord",
    "Event",
    "Lookup",
    "ObjectStore",
    "PublishResult",
    "Store",
    "default_local_dir",
    "load_backend",
    "open_store",
    "resolve_store_url",
]
