"""The documentation, held to the code: README.md's setup and tour and the pages under docs/.

Every line of a ```sh block that starts with ``starscope`` or ``curl`` is a documented command,
and some test here runs each one as a reader would: in bash, from a scratch directory that
stands for theirs (``HOME`` is that directory, so ``~/src/myproject`` is a copy of the standard
library's ``json`` package and ``~/src/other`` one of ``urllib``; ``starscope`` is this checkout's
command line). Only what cannot run here as written is changed: the demo corpus' cap (200 MB
becomes 20), ports, and the Elasticsearch server's URL and index names. The other tests check
that the command-line reference names every command and option, that the links between the pages
lead somewhere, and that the README stays a short introduction.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CLI, API, OPERATIONS = (ROOT / "docs" / name for name in ("cli.md", "api.md", "operations.md"))
# The sections of docs/operations.md whose commands need an Elasticsearch server.
ES_SECTIONS = ("Elasticsearch", "Scaling out")


def section(path: Path, title: str) -> str:
    """The body under the level-2 heading ``## title`` of a page, down to the next one."""
    text = path.read_text()
    assert f"\n## {title}\n" in text, f"no '## {title}' in {path.name}"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def commands(text: str, prefix: str) -> list[str]:
    """The lines of the ```sh blocks in ``text`` that start with ``prefix``, comments cut."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith(prefix):
                lines.append(line)
    return lines


def tour() -> list[str]:
    return commands(section(README, "Tour"), "starscope")


def cli_reference() -> list[str]:
    """docs/cli.md's commands, then those of docs/operations.md that need no Elasticsearch
    server, in page order (rebuilding while serving and opting out use the reference's index)."""
    local = [title for title in re.findall(r"^## (.+)$", OPERATIONS.read_text(), re.M) if title not in ES_SECTIONS]
    return commands(CLI.read_text(), "starscope") + [c for t in local for c in commands(section(OPERATIONS, t), "starscope")]


def http_examples() -> list[str]:
    return commands(API.read_text(), "curl")


def es_examples() -> list[str]:
    return [c for title in ES_SECTIONS for c in commands(section(OPERATIONS, title), "starscope")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reader:
    """A scratch home with the two source trees the docs use, where documented lines run in bash
    with this checkout's ``starscope`` first on the PATH."""

    def __init__(self, home: Path):
        self.home = home
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        for name, src in (("myproject", stdlib / "json"), ("other", stdlib / "urllib")):
            shutil.copytree(src, home / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        bin_dir = home / "bin"
        bin_dir.mkdir()
        starscope = bin_dir / "starscope"
        starscope.write_text(f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} '
                             f'exec {shlex.quote(sys.executable)} -m search_api "$@"\n')
        starscope.chmod(0o755)
        self.env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        self.server = None

    def run(self, line: str) -> str:
        """Run one documented line; its standard output (a failure names the line)."""
        done = subprocess.run(["bash", "-c", line], cwd=self.home, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, (line, done.stderr)
        if "--json" in shlex.split(line):
            assert isinstance(json.loads(done.stdout), dict), line
        return done.stdout

    def serve(self, line: str, port: int) -> str:
        """Start a documented ``starscope serve`` line on ``port``; its base URL once it answers."""
        line = line.replace("--port 8000", f"--port {port}") if "--port" in line else f"{line} --port {port}"
        log = self.home / "server.log"
        self.server = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.home, env=self.env,
                                       stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1)
                return base
            except OSError:
                assert self.server.poll() is None, log.read_text()
                time.sleep(0.1)
        raise AssertionError(f"{line!r} never answered: {log.read_text()}")

    def stop(self):
        """SIGTERM, as an operator stops it: gunicorn lets requests in flight finish for up to
        its graceful timeout (30 s) before it kills a worker, so allow that and a margin."""
        if self.server is not None:
            server, self.server = self.server, None
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                raise AssertionError("the server did not stop on SIGTERM: "
                                     + (self.home / "server.log").read_text()[-4000:]) from None


@pytest.fixture()
def reader(tmp_path):
    r = Reader(tmp_path)
    yield r
    r.stop()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.status == 200, url
        return json.loads(resp.read())


def test_setup_section_has_exactly_the_two_commands():
    lines = commands(section(README, "Setup"), "make")
    assert [c.split()[:2] for c in lines] == [["make", "demo"], ["make", "test"]]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_is_a_short_introduction():
    """The README is the pitch, the setup and a tour of at most ten commands; references live
    under docs/."""
    assert len(README.read_text().splitlines()) < 200
    assert 1 <= len(tour()) <= 10
    for page in (CLI, API, OPERATIONS):
        assert f"(docs/{page.name})" in README.read_text(), f"the README does not link docs/{page.name}"


def test_every_documented_command_is_run_by_a_test():
    """A command added to any page's ```sh blocks must be one these tests run."""
    run = set(tour()) | set(cli_reference()) | set(http_examples()) | set(es_examples())
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for line in commands(page.read_text(), "starscope") + commands(page.read_text(), "curl"):
            assert line in run, f"{page.name}: {line!r} is run by no test (tests/test_readme.py)"


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = ""):
    """(name, parser) for every command that runs something: ``optout add``, not ``optout``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_commands(sub, f"{prefix}{name} ")
            return
    yield prefix.strip(), parser


def documented(text: str, option: str) -> bool:
    """Whether the prose of ``text`` (not its examples) names ``option`` in a code span."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    word = re.compile(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])")
    return any(word.search(span) for span in re.findall(r"`([^`]+)`", prose))


def test_every_command_and_option_is_documented():
    """docs/cli.md has a section per command, naming each of its options; the Elasticsearch
    options, shared by most commands, are named once in their own section, which lists the
    commands that take them."""
    from search_api.cli import build_parser

    text = CLI.read_text()
    es_section = section(CLI, "Elasticsearch options")
    missing = []
    for name, parser in leaf_commands(build_parser()):
        if f"\n### {name}\n" not in text:
            missing.append(f"{name} (no '### {name}' section)")
            continue
        body = text.split(f"\n### {name}\n", 1)[1].split("\n#", 1)[0]
        for group in parser._action_groups:
            shared = group.title == "Elasticsearch"
            if shared and group._group_actions and f"`{name}`" not in es_section:
                missing.append(f"{name}: not listed under 'Elasticsearch options'")
            for action in group._group_actions:
                for option in action.option_strings:
                    if option.startswith("--") and option != "--help" and \
                            not documented(es_section if shared else body, option):
                        missing.append(f"{name} {option}")
    assert not missing, f"undocumented in docs/cli.md: {missing}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercased, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_links_between_the_pages_lead_somewhere():
    pages = [README, ROOT / "BENCHMARKS.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and anchor not in anchors(dest)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


@pytest.mark.slow
def test_the_tour_runs_as_documented(reader):
    """The README's ten commands, in order: a tree of one's own ingested, indexed, searched,
    one file of it fetched by its git blob sha, tested, attributed and served."""
    for line in tour():
        if line.startswith("starscope serve"):
            health = get_json(reader.serve(line, free_port()) + "/api/health")
            assert health["documents"] > 0
            continue
        out = reader.run(line)
        if line.startswith("starscope get"):
            decoder = (reader.home / "src" / "myproject" / "decoder.py").read_text()
            assert out.startswith("# myproject/decoder.py") and decoder in out, out[:200]
    assert reader.server is not None, "the tour serves nothing"


@pytest.mark.slow
def test_cli_and_http_examples_run_as_documented(reader):
    """docs/cli.md's examples (and docs/operations.md's rebuild and opt-out walk-throughs), then
    docs/api.md's requests against the server the reference starts."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    generation = (stdlib / "json" / "decoder.py").read_text()[:3000]
    (reader.home / "generations.jsonl").write_text(json.dumps({"id": "g1", "text": generation}) + "\n")
    base = None
    for line in cli_reference():
        line = line.replace("--max-total-mb 200", "--max-total-mb 20")
        if line.startswith("starscope serve"):
            base = reader.serve(line, free_port())
        else:
            reader.run(line)
    (result,) = [json.loads(r) for r in (reader.home / "results.jsonl").read_text().splitlines()]
    assert result["id"] == "g1" and result["result"]["coverage"] > 0.9
    assert base is not None, "docs/cli.md shows no serve example"
    for line in http_examples():
        words = shlex.split(line)
        url = words[-1].replace("http://127.0.0.1:8000", base)
        data = words[words.index("-d") + 1].encode() if "-d" in words else None
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200, line
            assert isinstance(json.loads(resp.read()), dict), line


@pytest.mark.es
def test_scaling_out_examples_run_against_a_real_server(reader, request):
    """docs/operations.md's Elasticsearch walk-through and several indexers, on the two small
    trees and a fresh index name."""
    from .backends import es_config

    config = es_config(request)
    # What the walk-through starts from: the demo shards, and two shard sets for two indexers.
    reader.run("starscope ingest ~/src/myproject --out var/demo/shards")
    for tree, part in (("myproject", "part-00"), ("other", "part-01")):
        reader.run(f"starscope ingest ~/src/{tree} --out ingested-{tree}")
        for i, shard in enumerate(sorted((reader.home / f"ingested-{tree}").glob("*.parquet"))):
            (reader.home / "shards").mkdir(exist_ok=True)
            shard.rename(reader.home / "shards" / f"{part}-{i}.parquet")
    for line in es_examples():
        line = (line.replace("--es-index stack", f"--es-index {config.index}")
                .replace("--es-index demo", f"--es-index {config.index}")
                .replace("http://127.0.0.1:9200", config.url))
        if line.startswith("starscope serve"):
            base = reader.serve(line, free_port())
            assert get_json(base + "/api/search?q=decoder")["total"] > 0
        else:
            reader.run(line)
    assert reader.server is not None
