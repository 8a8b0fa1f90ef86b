"""PII detection (indexer/pii.py): precision and recall on a labelled sample of real code.

The sample is built, so its labels are known: real source files (this Python installation's
standard library and installed packages), each with one planted line at a random line boundary. Half of the planted
lines hold PII (an email address, a public IPv4 or IPv6 address, a key in a known format, or a
random secret assigned to a secret-named variable); the other half hold the look-alikes real
code is full of (version and section numbers, private addresses and networks, hex colours,
hashes, UUIDs, example.com addresses, placeholder secrets, secret-named variables holding
ordinary words). A finding on a planted PII line counts as a true positive when it covers the
planted value; one on a look-alike line is a false positive. Findings in the untouched files
are counted apart (unlabelled), with examples.

    .venv/bin/python bench/pii_bench.py [--files 400] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import sysconfig
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rand(rng, n, alphabet=string.ascii_letters + string.digits):
    return "".join(rng.choice(alphabet) for _ in range(n))


def positives(rng):
    """(kind, line, value) with PII."""
    first, last = rng.choice(["anna", "li", "omar", "sven", "maria"]), rng.choice(["berg", "chen", "diaz", "okafor"])
    domain = rng.choice(["corp-mail.de", "uni-x.edu", "fastmail.fm", "acme.io", "mail.ru"])
    ip4 = f"{rng.randint(64, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    ip6 = "2a03:2880:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(6))
    email = f"{first}.{last}@{domain}"
    keys = [f"AKIA{rand(rng, 16, string.ascii_uppercase + string.digits)}", "ghp_" + rand(rng, 36),
            "xoxb-" + rand(rng, 12, string.digits) + "-" + rand(rng, 24), "AIza" + rand(rng, 35),
            "sk_live_" + rand(rng, 24)]
    key = rng.choice(keys)
    secret = rand(rng, rng.randint(12, 32), string.ascii_letters + string.digits + "!$%&*")
    name = rng.choice(["DB_PASSWORD", "api_key", "client_secret", "auth_token", "SECRET_KEY"])
    return rng.choice([
        ("EMAIL", f"# Maintainer: {first.title()} {last.title()} <{email}>", email),
        ("EMAIL", f"CONTACT = '{email}'", email),
        ("IP_ADDRESS", f"UPSTREAM = '{ip4}'", ip4),
        ("IP_ADDRESS", f"# Requests come from {ip4}.", ip4),
        ("IP_ADDRESS", f"    conn = connect(host=\"{ip6}\", port=443)", ip6),
        ("KEY", f"TOKEN = \"{key}\"", key),
        ("KEY", f"{name} = '{secret}'", secret),
    ])


def lookalikes(rng):
    """A line without PII that a careless detector would flag."""
    v = ".".join(str(rng.randint(0, 40)) for _ in range(4))
    return rng.choice([
        f"__version__ = '{rng.randint(1, 300)}.{rng.randint(0, 300)}.{rng.randint(0, 99)}.{rng.randint(0, 99)}'",
        f"requires = ['lib=={rng.randint(1, 300)}.{rng.randint(0, 300)}.{rng.randint(0, 200)}.{rng.randint(0, 9)}']",
        f"# see section {v} of the specification",
        f"HOST = '{rng.choice(['10', '192.168', '172.16'])}.{rng.randint(0, 255)}.{rng.randint(1, 254)}'"
        .replace("'192.168.", "'192.168.").replace("'10.", "'10.0."),
        f"LOCAL = '127.0.0.{rng.randint(1, 254)}'",
        f"NET = ip_network('{rng.randint(1, 223)}.{rng.randint(0, 255)}.0.0/16')",
        f"COLOR = '#{rand(rng, 6, '0123456789abcdef')}'",
        f"COMMIT = '{rand(rng, 40, '0123456789abcdef')}'",
        f"REQUEST_ID = '{uuid.UUID(int=rng.getrandbits(128))}'",
        f"EXAMPLE = 'user{rng.randint(1, 99)}@example.com'",
        f"password = '{rng.choice(['your-password-here', 'changeme', '********', '${DB_PASSWORD}'])}'",
        f"token_type = '{rng.choice(['quoted-string', 'display-name', 'bearer'])}'",
        f"password = os.environ['{rng.choice(['DB_PASSWORD', 'PGPASSWORD'])}']",
        f"when = '{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}'",
    ])


def main(argv=None) -> int:
    from indexer.pii import find_pii

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.rglob("*.py"))
    files = rng.sample(files, min(args.files, len(files)))
    tp, fn, fp = Counter(), Counter(), Counter()
    natural, examples = Counter(), []
    planted_pos = planted_neg = 0
    for i, path in enumerate(files):
        text = path.read_text(encoding="utf-8", errors="replace")
        base = find_pii(text)
        natural.update(f.kind for f in base)
        examples += [(f.kind, text[f.start:f.end]) for f in base[:1]]
        lines = text.split("\n")
        at = rng.randrange(len(lines) + 1)
        if i % 2 == 0:
            kind, line, value = positives(rng)
            planted_pos += 1
        else:
            kind, line, value = "NONE", lookalikes(rng), None
            planted_neg += 1
        new = "\n".join(lines[:at] + [line] + lines[at:])
        start = len("\n".join(lines[:at])) + (1 if at else 0)
        end = start + len(line)
        on_line = [f for f in find_pii(new) if start <= f.start < end]
        if value is not None:
            v0 = start + line.index(value)
            hit = [f for f in on_line if f.start <= v0 and v0 + len(value) <= f.end]
            (tp if hit else fn)[kind] += 1
            fp.update("extra" for f in on_line if f not in hit)
        else:
            fp.update(f.kind for f in on_line)
    found, missed, wrong = sum(tp.values()), sum(fn.values()), sum(fp.values())
    print(f"sample: {len(files)} real files under {stdlib}; {planted_pos} planted PII lines, "
          f"{planted_neg} planted look-alike lines (seed {args.seed})")
    print()
    print("| kind | planted | found | recall |")
    print("| --- | --- | --- | --- |")
    for kind in ("EMAIL", "IP_ADDRESS", "KEY"):
        n = tp[kind] + fn[kind]
        print(f"| {kind} | {n} | {tp[kind]} | {tp[kind] / max(n, 1):.1%} |")
    print(f"| all | {found + missed} | {found} | **{found / max(found + missed, 1):.1%}** |")
    print()
    print(f"precision on the planted lines: {found} true / {found + wrong} findings = "
          f"**{found / max(found + wrong, 1):.1%}** (false positives: {dict(fp) or 0})")
    print(f"findings in the untouched files (unlabelled): {dict(natural)}; e.g. "
          f"{', '.join(repr(v[:40]) for _, v in examples[:6])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
