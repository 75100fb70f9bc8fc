"""Artifact URI arithmetic with the results of ``mlflow.utils.uri`` (POSIX hosts only).

MLflow stores experiment artifact locations as strings it derives from the server's default
artifact root; a database shared by both servers must hold the same strings.
"""

from __future__ import annotations

import pathlib
import posixpath
import urllib.parse
import urllib.request

from mlflow_core.errors import MlflowCoreError


def _is_remote_hostname(hostname: str | None) -> bool:
    if not hostname:
        return False
    return not (hostname == "." or hostname.startswith(("localhost", "127.0.0.1")))


def is_local_uri(uri: str) -> bool:
    """True for a local path or a ``file:`` URI on this host (``mlflow.utils.uri.is_local_uri``)."""
    if uri == "databricks":
        return False
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "":
        return True
    remote = _is_remote_hostname(parsed.hostname)
    if parsed.scheme == "file":
        if remote:
            raise MlflowCoreError(
                f"{uri} is not a valid remote uri. For remote access "
                "on windows, please consider using a different scheme "
                "such as SMB (e.g. smb://<hostname>/<path>)."
            )
        return True
    return False


def _uri_scheme(uri: str) -> str:
    scheme = urllib.parse.urlparse(uri).scheme
    # A single letter is a Windows drive, which MLflow treats as a local path.
    return "" if len(scheme) == 1 and scheme.isalpha() else scheme


def _local_file_uri_to_path(uri: str) -> str:
    path = urllib.parse.urlparse(uri).path if uri.startswith("file:") else uri
    return urllib.request.url2pathname(path)


def resolve_uri_if_local(uri: str) -> str:
    """Make a relative local path or ``file:`` URI absolute against the working directory."""
    if not is_local_uri(uri):
        return uri
    local_path = _local_file_uri_to_path(uri)
    if pathlib.Path(local_path).is_absolute():
        return uri
    absolute = pathlib.Path.cwd().joinpath(local_path).as_posix()
    if _uri_scheme(uri) == "":
        return absolute
    split = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit((split.scheme, None, absolute, split.query, split.fragment))


def _fully_unquote(url: str) -> str:
    for _ in range(10):
        decoded = urllib.parse.unquote(url)
        reparsed = urllib.parse.urlunparse(urllib.parse.urlparse(decoded))
        if reparsed == url:
            return url
        url = reparsed
    return url


def validate_query_string(query: str) -> None:
    # A traversal in the query could be resolved into the path once the URI is joined.
    if ".." in _fully_unquote(query):
        raise MlflowCoreError.invalid_parameter_value("Invalid query string")


def _join_posix(prefix: str, suffix: str) -> str:
    if not prefix:
        return suffix
    return posixpath.join(prefix, suffix.lstrip(posixpath.sep))


def append_to_uri_path(uri: str, *paths: str) -> str:
    """Append POSIX ``paths`` to the path of ``uri``, keeping its query (``append_to_uri_path``)."""
    path = ""
    for subpath in paths:
        path = _join_posix(path, subpath)
    parsed = urllib.parse.urlparse(uri)
    validate_query_string(parsed.query)
    if not parsed.scheme:
        return _join_posix(uri, path)
    prefix = ""
    if not parsed.path.startswith("/"):
        # urlunparse would turn a relative path absolute for some schemes (e.g. "file:").
        prefix = parsed.scheme + ":"
        parsed = parsed._replace(scheme="")
    return prefix + urllib.parse.urlunparse(parsed._replace(path=_join_posix(parsed.path, path)))
