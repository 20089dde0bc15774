"""The SSH destination: the system `ssh` client and a POSIX shell with coreutils on the
collector (`wc`, `sha256sum`, `mv`); no agent, no rsync, no Python library.

Each step is one `ssh` command running a short `sh` script whose arguments are quoted
positional parameters (never pasted into the script). The bytes travel as the command's stdin
(`cat >> partial`), starting at the offset the partial already has, so a cut connection costs
only what was in flight. Using the `ssh` binary keeps the site's own client configuration
(keys, known hosts, jump hosts, ciphers) in charge, and an audited client in the path.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from sensor.ship.destination import Digest, Probe, ShipError, check_relative, partial_name

__all__ = ["SshDestination"]

_BASE_OPTIONS = (
    "-o", "BatchMode=yes",           # never prompt: a daemon has nobody to answer
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=5",   # a dead link is noticed in ~15 s, not at TCP's timeout
    "-o", "ServerAliveCountMax=3",
)  # fmt: skip

# Reads relative paths on stdin, answers one line each: final SIZE SHA256 | partial SIZE | none
_PROBE = r"""cd "$1" || exit 3
while IFS= read -r f; do
  p="${f%/*}/.${f##*/}.part"
  if [ -f "$f" ]; then s=$(wc -c < "$f") && h=$(sha256sum < "$f") || exit 3
    echo "final $s ${h%% *}"
  elif [ -f "$p" ]; then echo "partial $(wc -c < "$p")"
  else echo none; fi
done"""

# $2 final, $3 partial, $4 offset, $5 size, $6 sha256; the bytes from the offset on stdin.
# A cut session's `cat` may still be writing what was in flight when the next one starts:
# both hold a lock on the partial (flock(1), util-linux), and the new one appends only if the
# file it locked is still the partial (not renamed into place meanwhile) and has exactly the
# size it was probed at. A short partial (the link was cut) is kept
# for the next attempt; one that is whole but wrong is deleted.
_PUT = r"""cd "$1" || exit 3; f=$2; p=$3
mkdir -p "${p%/*}" && exec 9>>"$p" || exit 3
if command -v flock >/dev/null; then flock -w 60 9 || { echo "partial is busy" >&2; exit 3; }; fi
[ "$p" -ef /dev/fd/9 ] || { echo "partial was renamed by another shipper" >&2; exit 4; }
if [ "$4" = 0 ]; then : > "$p" || exit 3; fi
s=$(wc -c < "$p"); if [ $s != "$4" ]; then echo "partial moved to $s bytes" >&2; exit 4; fi
cat >&9 || exit 3
s=$(wc -c < "$p") || exit 3
if [ $s -lt "$5" ]; then echo "short $s"; exit 0; fi
h=$(sha256sum < "$p") || exit 3
if [ $s != "$5" ] || [ "${h%% *}" != "$6" ]; then rm -f "$p"; echo mismatch; exit 0; fi
if [ -e "$f" ]; then echo exists; exit 0; fi
sync "$p" 2>/dev/null; mv "$p" "$f" || exit 3; sync "${f%/*}" 2>/dev/null
s=$(wc -c < "$f") && h=$(sha256sum < "$f") || exit 3
echo "final $s ${h%% *}" """


class SshDestination:
    """`ssh://[user@]host[:port]/absolute/path` through the system `ssh` client."""

    def __init__(self, url: str, options: tuple[str, ...] = (), timeout: float = 600.0) -> None:
        u = urlsplit(url)
        if u.scheme != "ssh" or not u.hostname or not u.path.startswith("/"):
            raise ShipError(f"expected ssh://[user@]host[:port]/path, got {url!r}")
        target = f"{u.username}@{u.hostname}" if u.username else u.hostname
        port = ("-p", str(u.port)) if u.port else ()
        self.name = f"ssh://{target}{':' + str(u.port) if u.port else ''}{u.path}"
        self.root = u.path.rstrip("/") or "/"
        self._ssh = ("ssh", *_BASE_OPTIONS, *options, *port, target)
        self._timeout = timeout

    def probe(self, rels: Sequence[str]) -> list[Probe]:
        names = "".join(f"{check_relative(r)}\n" for r in rels).encode()
        lines = self._call(_PROBE, stdin=names).splitlines()
        if len(lines) != len(rels):
            raise ShipError(f"{self.name}: probe answered {len(lines)} of {len(rels)} lines")
        return [_probe(line) for line in lines]

    def put(self, local: Path, rel: str, offset: int, want: Digest) -> Digest | None:
        args = (str(check_relative(rel)), str(partial_name(rel)), str(offset))
        with local.open("rb") as f:
            f.seek(offset)  # the child reads from here: the fd's offset is shared
            out = self._call(_PUT, *args, str(want.size), want.sha256, stdin=f)
        words = out.split()
        if words[:1] == ["mismatch"]:
            return None
        if words[:1] == ["short"]:
            raise ShipError(f"{self.name}: {rel} cut at byte {words[1]} of {want.size}")
        if words[:1] == ["exists"]:
            raise ShipError(f"{self.name}: {rel} appeared while shipping it")
        if words[:1] != ["final"] or len(words) != 3:
            raise ShipError(f"{self.name}: unexpected answer: {out.strip()[:200]!r}")
        return Digest(int(words[1]), words[2])

    def _call(self, script: str, *args: str, stdin: IO[bytes] | bytes) -> str:
        """Run `script` on the collector with `$1` = root and the rest of `args` after it."""
        quoted = map(shlex.quote, (self.root, *args))
        remote = " ".join(["sh", "-c", shlex.quote(script), "sh", *quoted])
        feed: dict[str, Any] = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
        try:
            res: subprocess.CompletedProcess[bytes] = subprocess.run(
                [*self._ssh, remote],
                capture_output=True,
                **feed,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ShipError(f"{self.name}: no answer in {self._timeout:.0f} s") from None
        except OSError as e:
            raise ShipError(f"cannot run ssh: {e.strerror}") from None
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip().splitlines()
            why = err[-1] if err else f"exit status {res.returncode}"
            raise ShipError(f"{self.name}: {why}")
        return res.stdout.decode(errors="replace")


def _probe(line: str) -> Probe:
    words = line.split()
    if words[:1] == ["final"] and len(words) == 3:
        return Probe(Digest(int(words[1]), words[2]), 0)
    if words[:1] == ["partial"] and len(words) == 2:
        return Probe(None, int(words[1]))
    if words == ["none"]:
        return Probe(None, 0)
    raise ShipError(f"unexpected probe answer: {line[:200]!r}")
