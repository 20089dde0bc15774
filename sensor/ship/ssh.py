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
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from sensor.ship.destination import Digest, Probe, ShipError, check_relative, partial_name

__all__ = ["SshDestination"]

_BASE_OPTIONS = (
    "-o", "BatchMode=yes",           # never prompt: a daemon has nobody to answer
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=5",   # a dead link is noticed in ~15 s, not at TCP's timeout
    "-o", "ServerAliveCountMax=3",
)  # fmt: skip

_PROBE = r"""f="$1/$2"; p="$1/$3"
if [ -f "$f" ]; then s=$(wc -c < "$f") && h=$(sha256sum < "$f") || exit 3
  echo "final $s ${h%% *}"; fi
if [ -f "$p" ]; then echo "partial $(wc -c < "$p")"; fi
echo ok"""

# A cut session's `cat` may still be writing what was in flight when the next one starts:
# both take a lock on the partial (flock(1), util-linux), and the new one appends only if the
# partial has exactly the size it was probed at.
_LOCK = r"""exec 9>>"$p" || exit 3
if command -v flock >/dev/null; then flock -w 60 9 || { echo "partial is busy" >&2; exit 3; }; fi
"""

_APPEND = r"""p="$1/$2"; mkdir -p "$(dirname "$p")" || exit 3
@LOCK@if [ "$3" = 0 ]; then : > "$p" || exit 3; fi
s=$(wc -c < "$p"); if [ $s != "$3" ]; then echo "partial moved to $s bytes" >&2; exit 4; fi
cat >&9 || exit 3
echo ok""".replace("@LOCK@", _LOCK)

_COMMIT = r"""f="$1/$2"; p="$1/$3"; [ -f "$p" ] || { echo "no partial" >&2; exit 3; }
@LOCK@s=$(wc -c < "$p") && h=$(sha256sum < "$p") || exit 3
if [ $s != "$4" ] || [ "${h%% *}" != "$5" ]; then rm -f "$p"; echo mismatch; exit 0; fi
if [ -e "$f" ]; then echo exists; exit 0; fi
sync "$p" 2>/dev/null; mv "$p" "$f" || exit 3; sync "$(dirname "$f")" 2>/dev/null
s=$(wc -c < "$f") && h=$(sha256sum < "$f") || exit 3
echo "final $s ${h%% *}" """.replace("@LOCK@", _LOCK)


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

    def probe(self, rel: str) -> Probe:
        out = self._call(_PROBE, str(check_relative(rel)), str(partial_name(rel)))
        final, partial = None, 0
        for line in out.splitlines():
            words = line.split()
            if words[:1] == ["final"] and len(words) == 3:
                final = Digest(int(words[1]), words[2])
            elif words[:1] == ["partial"] and len(words) == 2:
                partial = int(words[1])
        return Probe(final, partial)

    def append(self, local: Path, rel: str, offset: int) -> None:
        part = str(partial_name(str(check_relative(rel))))
        with local.open("rb") as f:
            f.seek(offset)  # the child reads from here: the fd's offset is shared
            self._call(_APPEND, part, str(offset), stdin=f)

    def commit(self, rel: str, want: Digest) -> Digest | None:
        out = self._call(
            _COMMIT, str(check_relative(rel)), str(partial_name(rel)), str(want.size), want.sha256
        )
        words = out.split()
        if words[:1] == ["mismatch"]:
            return None
        if words[:1] == ["exists"]:
            raise ShipError(f"{self.name}: {rel} appeared while shipping it")
        if words[:1] != ["final"] or len(words) != 3:
            raise ShipError(f"{self.name}: unexpected answer to commit: {out.strip()[:200]!r}")
        return Digest(int(words[1]), words[2])

    def _call(self, script: str, *args: str, stdin: IO[bytes] | int = subprocess.DEVNULL) -> str:
        """Run `script` on the collector with `$1` = root and the rest of `args` after it."""
        quoted = map(shlex.quote, (self.root, *args))
        remote = " ".join(["sh", "-c", shlex.quote(script), "sh", *quoted])
        try:
            res = subprocess.run(
                [*self._ssh, remote],
                stdin=stdin,
                capture_output=True,
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
