# Copyright 2026 UnityKernel contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Secrets: the one reader (an environment variable or a file) and the one redaction for display.

Every secret of the package is read by :func:`read_secret` under the same rules: the Redis
password (``redis.password_env`` / ``redis.password_file``, also the bridge's memory
store's), the live view's token (``live.token_env`` / ``live.token_file``) and a model's
API key (``api_key_env`` / ``api_key_file`` of the LLM bridge). Whatever may hold one is
shown through :func:`redact_url` (a URL), :func:`redact_urls` (a document) or
:func:`redact_text` (a log line: every line the nodes send to the ROS log goes through it),
or not at all.
"""

import logging
import os
import re
from typing import Any, Dict, Mapping, Optional
import urllib.parse

from unity_kernel_core.common.files import read_text
from unity_kernel_core.errors import ConfigError, SecretError

SECRET_FILE_MAX_BYTES = 64 * 1024
"""A secret file larger than this is refused (64 KiB)."""
TLS_FILE_MAX_BYTES = 1024 * 1024
"""A TLS certificate, key or CA file larger than this is refused (1 MiB)."""
_ENCRYPTED_PEM = ('-----BEGIN ENCRYPTED PRIVATE KEY-----', 'Proc-Type: 4,ENCRYPTED')
SECRET_WORDS = ('pass', 'secret', 'token', 'key', 'auth')
"""A URL query parameter whose name holds one of these is shown as ``***``."""
REDACTED = '***'


def read_secret(env: Optional[str], file: Optional[str], *, env_key: str, file_key: str,
                required: bool = False,
                environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """
    Return a secret from the environment variable ``env``, else from ``file``; None if neither.

    The rules, the same for every secret:

    - the variable wins when it is set and not blank; its value is stripped of white space;
    - the file (``~`` and ``$VARS`` expanded) must be a regular UTF-8 file of at most
      :data:`SECRET_FILE_MAX_BYTES`; the secret is its first line, stripped; a file that
      cannot be read, or whose first line is blank, is a :class:`SecretError`;
    - ``required``: finding none is a :class:`SecretError` too.

    ``env_key`` and ``file_key`` name the settings in messages (``redis.password_file``);
    a message never holds the secret.
    """
    values = os.environ if environ is None else environ
    if env:
        value = values.get(env, '').strip()
        if value:
            return value
    if file:
        path = os.path.expanduser(os.path.expandvars(file))
        try:
            lines = read_text(path, SECRET_FILE_MAX_BYTES).splitlines()
        except ConfigError as exc:
            raise SecretError(f'{file_key}: cannot read it: {exc.issues[0]}') from None
        if not lines or not lines[0].strip():
            raise SecretError(f'{file_key} {path}: empty, expected the secret on its first '
                              'line')
        return lines[0].strip()
    if required:
        if env:
            raise SecretError(f'{env_key}: environment variable {env} is not set or empty')
        raise SecretError(f'no secret configured: set {env_key} or {file_key}')
    return None


def check_tls_files(files: Mapping[str, Optional[str]]) -> Dict[str, str]:
    """
    Return the TLS files given (``{setting: path}``; CA, certificate, key), each checked.

    Read as the secrets are (``~`` expanded, symlinks followed: Kubernetes mounts a Secret's
    files as links): each must be a regular UTF-8 (PEM) file of at most
    :data:`TLS_FILE_MAX_BYTES` (a FIFO handed to OpenSSL would block the process), and hold
    no encrypted private key: OpenSSL would ask for its passphrase on the terminal and wait
    (or fail with ``Invalid argument`` without one). :class:`SecretError` names the setting.
    """
    out = {}
    for key, file in files.items():
        if not file:
            continue
        path = os.path.expanduser(os.path.expandvars(file))
        try:
            text = read_text(path, TLS_FILE_MAX_BYTES, what='a PEM file')
        except ConfigError as exc:
            raise SecretError(f'{key}: cannot read it: {exc.issues[0]}') from None
        if any(marker in text for marker in _ENCRYPTED_PEM):
            raise SecretError(f'{key} {path}: holds an encrypted private key, whose passphrase '
                              'would be asked for on a terminal: give the key unencrypted '
                              '(openssl pkey -in KEY -out PLAIN), readable only by its user')
        out[key] = path
    return out


def refuse_passphrase() -> str:
    """
    Refuse to unlock an encrypted key: ``ssl``'s ``load_cert_chain(password=...)``.

    Without a ``password``, OpenSSL asks for the passphrase on the terminal and waits; this
    raises :class:`SecretError` instead (:func:`check_tls_files` finds such keys first).
    """
    raise SecretError('a TLS private key is encrypted: give it unencrypted (openssl pkey)')


def redact_url(url: Optional[str]) -> str:
    """
    Return ``url`` fit to show: its password and secret query values as ``***``.

    ``redis://bob:pw@host:6379/0?token=t`` is shown as
    ``redis://bob:***@host:6379/0?token=***``; no URL is shown as ``(none)``. Never raises,
    whatever the text.
    """
    if not url:
        return '(none)'
    scheme, sep, rest = url.partition('://')
    if not sep:
        scheme, rest = '', url
    stop = min((i for i in (rest.find('?'), rest.find('#')) if i >= 0), default=len(rest))
    at = rest.rfind('@', 0, stop)  # a password may hold '/': all before the last '@' goes
    if at >= 0:
        user, colon, _password = rest[:at].partition(':')
        rest = f'{user}:{REDACTED}{rest[at:]}' if colon else rest
    head, qmark, query = rest.partition('?')
    if qmark:
        query, hash_, fragment = query.partition('#')
        query = '&'.join(_redact_parameter(p) for p in query.split('&')) + hash_ + fragment
    return f'{scheme}{sep}{head}{qmark}{query}'


def redact_urls(value: Any) -> Any:
    """
    Return a copy of a JSON-like ``value`` with every URL in it shown by :func:`redact_url`.

    For documents that are shown whole (the config the dashboard displays): any string that
    holds ``://`` is taken for a URL, at any depth of dicts and lists.
    """
    if isinstance(value, str):
        return redact_url(value) if '://' in value else value
    if isinstance(value, dict):
        return {key: redact_urls(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_urls(item) for item in value]
    return value


_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://[^\s\'"<>]+')
_PARAMETER = re.compile(r'(?P<name>[A-Za-z0-9_.%-]+)=(?P<value>[^&\s#\'"]+)')


def redact_text(text: str) -> str:
    """
    Return ``text`` (a log line, a request line) with the secrets in it shown as ``***``.

    Every URL in it as :func:`redact_url` shows it, and every ``name=value`` one of whose
    parts is a secret word (``?token=...`` of a request path, ``password=...``,
    ``api_key=...``, ``X-Auth-Token=...``). Never raises.
    """
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _PARAMETER.sub(_redact_secret_parameter, text)


_SECRET_PARTS = frozenset({'pass', 'passwd', 'password', 'secret', 'token', 'key', 'apikey',
                           'auth', 'authorization', 'credential', 'credentials'})


def _redact_secret_parameter(match: 're.Match[str]') -> str:
    # a name one of whose parts is a secret word (token, api_key, X-Auth-Token, passwd), not
    # a name that merely holds one (monkey, keyframe)
    parts = re.split(r'[_.%-]', match.group('name').lower())
    if any(part in _SECRET_PARTS for part in parts):
        return f'{match.group("name")}={REDACTED}'
    return match.group(0)


class RedactingFilter(logging.Filter):
    """A logging filter passing every record with its secrets redacted (:func:`redact_text`)."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 (logging's name)
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is logging's own error to report
            return True
        record.msg, record.args = redact_text(message), None
        return True


def _redact_parameter(parameter: str) -> str:
    name, equals, _value = parameter.partition('=')
    word = urllib.parse.unquote(name).lower()
    if equals and any(w in word for w in SECRET_WORDS):
        return f'{name}={REDACTED}'
    return parameter
