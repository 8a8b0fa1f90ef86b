"""Personal data and secrets in corpus text: find them, and redact them for display.

In the spirit of BigCode's PII pipeline for StarCoder's data: email addresses, IP addresses and
keys (secrets) are replaced by ``<EMAIL>``, ``<IP_ADDRESS>`` and ``<KEY>``. What is *not* PII
matters as much, since most of what these patterns catch in code is harmless:

* emails: addresses at example/test/localhost domains and ``git@`` remotes are kept;
* IP addresses: they must parse (:mod:`ipaddress`); private, loopback, link-local, reserved and
  multicast addresses, the well-known public DNS resolvers, and dotted numbers in a version
  context (``version``, ``__version__``, ``==``, ``v1.2.3.4``) or with every part under 64
  (``3.1.1.6``, section ``8.2.4.44``) are kept; IPv6 needs a global host address (not a
  ``/prefix`` network);
* keys: known token formats (AWS, GitHub, Slack, Google, Stripe, JWTs, PEM private keys) always;
  otherwise only a quoted value assigned to a name that ends in a secret word (``password``,
  ``db_token``, ``api_key``..., not ``token_type``) and looking random (``detect-secrets``-style
  Shannon entropy of 3 bits or more, letters of both cases or digits, no placeholder words,
  not lowercase hex, which is a digest or an id far more often). Hex colours, hashes and
  UUIDs in ordinary code are kept, and so are documentation keys (``AKIAIOSFODNN7EXAMPLE``).

:func:`redact` returns the new text and an offset map, so ranges computed on the original text
(search matches, syntax tokens) can be moved onto the redacted one. :class:`PiiScan` tells
whether ranges overlap PII looking only at their lines (search checks every match this way).
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass

PLACEHOLDERS = {"EMAIL": "<EMAIL>", "IP_ADDRESS": "<IP_ADDRESS>", "KEY": "<KEY>"}

# Patterns start with a literal or a narrow class where they can, and leave what comes before the
# match to Python: a leading look-behind would make every position of the text a candidate.
_AT_DOMAIN = re.compile(r"@((?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24})(?![\w-])")
_LOCAL_PART = re.compile(r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}\Z")
_KEPT_EMAIL_DOMAINS = re.compile(r"(^|\.)(example\.(com|org|net)|test|localhost|invalid|domain\.com|email\.com)$", re.I)
# A full stop after the address ends a sentence; one followed by more of a name or number
# (1.2.3.4.5, an OID, 4.3.2.1.in-addr.arpa) makes it something else.
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\w)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_CONTEXT = re.compile(r"(version|release|__version__|==|>=|<=|~=)[\s\"':=()v]*$", re.I)
_DNS = {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
        "208.67.220.220", "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111"}
# Each starts with its literal, which lets the regex engine skip to candidates; the word
# boundary before it is checked apart (a leading \b would make every position a candidate).
_KEY_FORMATS = tuple(re.compile(p) for p in (
    r"AKIA[0-9A-Z]{16}\b",  # AWS access key id
    r"gh[pousr]_[A-Za-z0-9]{36,255}\b",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{40,255}\b",
    r"xox[abprs]-[A-Za-z0-9-]{10,250}",  # Slack
    r"AIza[0-9A-Za-z_-]{35}\b",  # Google API key
    r"[rs]k_live_[0-9A-Za-z]{16,247}\b",  # Stripe
    r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",  # JWT
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]{16,}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
))
# A secret is a quoted value (found first: quotes are rare, so the scan skips fast) whose line
# names it, just before, with a word that ends the name: ``DB_PASSWORD = "..."``, ``"api_key": "..."``.
_QUOTED = re.compile(r"([\"'])([^\"'\s\\]{8,200})\1")
_SECRET_NAME = re.compile(
    r"(?i)(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"auth[_-]?key|secret[_-]?key|signing[_-]?key|encryption[_-]?key)[\"'\]]{0,2}\s*(?:=|:|=>)\s*[rbuf]?\Z")
_PLACEHOLDER_WORDS = re.compile(r"(?i)x{3,}|your|example|sample|dummy|changeme|change_me|placeholder|secret|"
                                r"password|token|\$\{|\{\{|<[a-z_-]+>|%\(|^\*+$|test|fake|redacted")


@dataclass(frozen=True)
class Finding:
    start: int  # code-point offsets in the text
    end: int
    kind: str  # EMAIL | IP_ADDRESS | KEY

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


_DIGEST = re.compile(r"[0-9a-f]{16,128}")


def _looks_random(value: str) -> bool:
    if _DIGEST.fullmatch(value):
        return False  # a checksum (md5, sha1, sha2) of something, as schemas and lock files hold
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return entropy(value) >= 3.0 and classes >= 2 and not _PLACEHOLDER_WORDS.search(value)


def _ip_is_personal(text: str, start: int, candidate: str) -> bool:
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or str(ip) in _DNS):
        return False
    if ip.version == 4:
        if all(int(part) < 64 for part in candidate.split(".")):
            return False  # 3.1.1.6, 8.2.4.44: version and section numbers far more often than hosts
        line_start = text.rfind("\n", 0, start) + 1
        if _VERSION_CONTEXT.search(text[max(line_start, start - 40):start]):
            return False
    if text.startswith("/", start + len(candidate)):
        return False  # a network (192.0.0.8/29, 2002::/16), not a host
    return ip.is_global


def find_pii(text: str) -> list[Finding]:
    """Every email address, IP address and key in ``text``, sorted, never overlapping (a key
    wins over what it contains)."""
    found: list[Finding] = []
    for rx in _KEY_FORMATS:
        for m in rx.finditer(text):
            boundary = m.start() == 0 or not (text[m.start() - 1].isalnum() or text[m.start() - 1] == "_")
            if boundary and "EXAMPLE" not in m.group(0):  # AKIAIOSFODNN7EXAMPLE: the documentation's own
                found.append(Finding(m.start(), m.end(), "KEY"))
    for m in _QUOTED.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if (_SECRET_NAME.search(text, max(line_start, m.start() - 80), m.start())
                and _looks_random(m.group(2))):
            found.append(Finding(m.start(2), m.end(2), "KEY"))
    for m in _AT_DOMAIN.finditer(text):
        local = _LOCAL_PART.search(text, max(0, m.start() - 64), m.start())
        if (local and not _KEPT_EMAIL_DOMAINS.search(m.group(1))
                and local.group(0).lower() not in ("git", "noreply", "no-reply")):
            found.append(Finding(local.start(), m.end(), "EMAIL"))
    for m in _IPV4.finditer(text):
        before = text[m.start() - 1] if m.start() else " "
        if not (before.isalnum() or before in "_.") and _ip_is_personal(text, m.start(), m.group(0)):
            found.append(Finding(m.start(), m.end(), "IP_ADDRESS"))
    for m in _IPV6.finditer(text):
        if m.group(0).count(":") != 1 and _ip_is_personal(text, m.start(), m.group(0)):
            found.append(Finding(m.start(), m.end(), "IP_ADDRESS"))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    out: list[Finding] = []
    for f in found:
        if not out or f.start >= out[-1].end:
            out.append(f)
    return out


# Only a PEM private key spans lines; every other finding lies on one line and depends on that
# line alone (each pattern and its context checks stop at a line break).
_MULTILINE = "PRIVATE KEY-----"
# Cheap tests that a line may hold a finding, one per kind, each implied by its pattern: an
# @ before a domain, a dotted quad, a key format's prefix (a PEM key is found on the whole
# text), a quote and a secret word, two colons a hex group apart before an IPv6 candidate.
_DOTTED_QUAD = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_KEY_PREFIX = re.compile(r"AKIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|k_live_|eyJ")
_SECRET_WORDS = ("passw", "pwd", "secret", "token", "key")
_TWO_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")


def _may_hold_pii(line: str) -> bool:
    """False only when :func:`find_pii` finds nothing on the line (one PEM key aside)."""
    if "@" in line and _AT_DOMAIN.search(line):
        return True
    if _DOTTED_QUAD.search(line) or _KEY_PREFIX.search(line):
        return True
    if ('"' in line or "'" in line) and any(w in line.lower() for w in _SECRET_WORDS):
        return True
    return ":" in line and _TWO_COLONS.search(line) is not None and _IPV6.search(line) is not None


class PiiScan:
    """Whether ranges of a text overlap its PII, finding it only on the lines asked about.

    Exact search checks every occurrence of a literal in every candidate; scanning whole files
    for PII there would cost more than the search. The findings on a line are those
    :func:`find_pii` finds in the whole text, because no finding but a PEM key crosses a line
    break and every check of a finding's context (the secret's name, the version words before
    an address) looks within its line. A text holding a PEM key marker is scanned whole, once,
    and so is one asked about so many lines (one per :data:`WHOLE_SCAN_CHARS` characters) that
    a whole scan costs less.
    """

    WHOLE_SCAN_CHARS = 128  # a line looked at costs about what a whole scan of this many characters does

    def __init__(self, text: str):
        self.text = text
        self._lines: dict[int, list[Finding]] = {}
        self._whole: list[Finding] | None = None
        self._ends: list[int] = []
        if _MULTILINE in text:
            self._scan_whole()

    def _scan_whole(self) -> None:
        self._whole = find_pii(self.text)
        self._ends = [f.end for f in self._whole]

    def _on_line(self, line_start: int) -> list[Finding]:
        found = self._lines.get(line_start)
        if found is None:
            end = self.text.find("\n", line_start)
            line = self.text[line_start:len(self.text) if end < 0 else end]
            found = self._lines[line_start] = [Finding(f.start + line_start, f.end + line_start, f.kind)
                                               for f in find_pii(line)] if _may_hold_pii(line) else []
        return found

    def overlap_end(self, start: int, end: int) -> int | None:
        """The end of the last finding that the (non-empty) range ``[start, end)`` overlaps, or
        None when it overlaps none."""
        if self._whole is None and len(self._lines) * self.WHOLE_SCAN_CHARS > len(self.text):
            self._scan_whole()
        if self._whole is not None:  # sorted and disjoint: their ends are sorted too
            i, last = bisect.bisect_right(self._ends, start), None
            while i < len(self._whole) and self._whole[i].start < end:
                last = self._whole[i].end
                i += 1
            return last
        last = None
        at = self.text.rfind("\n", 0, start) + 1
        while True:
            for f in self._on_line(at):
                if f.start < end and start < f.end:
                    last = f.end if last is None else max(last, f.end)
            nl = self.text.find("\n", at)
            if nl < 0 or nl + 1 >= end:
                return last
            at = nl + 1


@dataclass(frozen=True)
class Redacted:
    """A text with its findings replaced by placeholders, and the offset map between the two.
    A finding that spans lines (a PEM key) keeps its line breaks after the placeholder, so line
    numbers stay those of the original."""

    text: str
    findings: tuple[Finding, ...]
    spans: tuple[tuple[int, int, int, int], ...]  # (old start, old end, new start, new end) per finding

    def offset(self, old: int) -> int:
        """Where an original offset lands; one inside a finding lands at its placeholder's start."""
        i = bisect.bisect_right(self.spans, (old, math.inf)) - 1  # the last finding starting at or before
        if i < 0:
            return old
        _, oe, ns, ne = self.spans[i]
        return ns if old < oe else old + (ne - oe)

    def range(self, start: int, end: int) -> tuple[int, int]:
        """An original ``[start, end)`` on the redacted text; one overlapping a finding covers
        its whole placeholder."""
        s, e = self.offset(start), self.offset(end)
        first = max(0, bisect.bisect_right(self.spans, (start, math.inf)) - 1)
        for os_, oe, ns, ne in self.spans[first:bisect.bisect_left(self.spans, (end,))]:
            if start < oe and end > os_:
                s, e = min(s, ns), max(e, ne)
        return s, e

    def counts(self) -> dict:
        return dict(Counter(f.kind for f in self.findings))


def redact(text: str) -> Redacted:
    """``text`` with every finding of :func:`find_pii` replaced by its placeholder."""
    findings = find_pii(text)
    parts, at, new_at, spans = [], 0, 0, []
    for f in findings:
        parts.append(text[at:f.start])
        new_at += f.start - at
        rep = f.placeholder + "\n" * text.count("\n", f.start, f.end)
        parts.append(rep)
        spans.append((f.start, f.end, new_at, new_at + len(rep)))
        new_at += len(rep)
        at = f.end
    parts.append(text[at:])
    return Redacted("".join(parts), tuple(findings), tuple(spans))
