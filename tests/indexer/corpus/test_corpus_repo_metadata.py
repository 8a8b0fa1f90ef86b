"""Repository names from git remotes; licenses from LICENSE files, manifests, package metadata."""

from __future__ import annotations

import json
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest

from indexer.corpus.repo_metadata import (distribution_licenses, repo_from_remote_url,
                                          repo_name_for_tree, tree_licenses)

APACHE_HEADER = ("                                 Apache License\n"
                 "                           Version 2.0, January 2004\n"
                 "                        http://www.apache.org/licenses/\n")


@pytest.mark.parametrize(("url", "repo"), [
    ("git@github.com:acme/widgets.git", "acme/widgets"),
    ("https://github.com/acme/widgets", "acme/widgets"),
    ("https://github.com/acme/widgets.git/", "acme/widgets"),
    ("ssh://git@gitlab.example.com:2222/group/sub/tool.git", "sub/tool"),
    ("/srv/git/widgets.git", None),
    ("../widgets", None),
    ("file:///srv/git/widgets.git", None),
    ("https://example.com/just-one", None),
])
def test_repo_from_remote_url(url, repo):
    assert repo_from_remote_url(url) == repo


def test_repo_name_prefers_origin_then_directory_name(tmp_path):
    root = tmp_path / "checkout"
    (root / ".git").mkdir(parents=True)
    assert repo_name_for_tree(root) == "checkout"
    (root / ".git" / "config").write_text(
        '[remote "upstream"]\n\turl = https://github.com/up/stream.git\n'
        '[remote "origin"]\n\turl = https://github.com/me/fork.git\n')
    assert repo_name_for_tree(root) == "me/fork"


def test_tree_licenses_from_several_license_files(tmp_path):
    (tmp_path / "LICENSE-APACHE").write_text(APACHE_HEADER)
    (tmp_path / "LICENSE-MIT").write_text("Permission is hereby granted, free of charge, to any "
                                          "person obtaining a copy of this software. The above "
                                          "copyright notice and this permission notice shall be "
                                          "included in all copies.")
    assert tree_licenses(tmp_path) == ("Apache-2.0", "MIT")


@pytest.mark.parametrize(("name", "text", "licenses"), [
    ("pyproject.toml", '[project]\nname = "x"\nlicense = "MIT OR Apache-2.0"\n',
     ("MIT", "Apache-2.0")),
    ("pyproject.toml", '[project]\nlicense = {text = "BSD 3-Clause"}\n', ("BSD-3-Clause",)),
    ("pyproject.toml", '[tool.poetry]\nlicense = "GPL-3.0-or-later"\n', ("GPL-3.0-or-later",)),
    ("package.json", json.dumps({"name": "x", "license": "ISC"}), ("ISC",)),
    ("Cargo.toml", '[package]\nname = "x"\nlicense = "MIT/Apache-2.0"\n', ("MIT", "Apache-2.0")),
    ("setup.cfg", "[metadata]\nname = x\nlicense = Apache Software License\n", ("Apache-2.0",)),
    ("setup.cfg", "[metadata]\nname = x\n", ()),
])
def test_tree_licenses_from_manifests(tmp_path, name, text, licenses):
    (tmp_path / name).write_text(text)
    assert tree_licenses(tmp_path) == licenses


def test_pyproject_license_file_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nlicense = {file = "docs/TERMS"}\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "TERMS").write_text(APACHE_HEADER)
    assert tree_licenses(tmp_path) == ("Apache-2.0",)


def test_unrecognised_license_file_is_not_guessed(tmp_path):
    (tmp_path / "LICENSE").write_text("Copyright Acme. All rights reserved.\n" * 20)
    assert tree_licenses(tmp_path) == ()


def make_distribution(site: Path, metadata_lines: list[str],
                      license_files: dict[str, str] | None = None) -> PathDistribution:
    info = site / "demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.4", "Name: demo",
                                              "Version: 1.0", *metadata_lines]) + "\n\n")
    records = ["demo-1.0.dist-info/METADATA,,"]
    for relative, text in (license_files or {}).items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(text)
        records.append(f"{relative},,")
    (info / "RECORD").write_text("\n".join(records) + "\n")
    return PathDistribution(info)


@pytest.mark.parametrize(("lines", "files", "licenses"), [
    (["License-Expression: MIT OR Apache-2.0", "License: GPL",
      "Classifier: License :: OSI Approved :: BSD License"], None, ("MIT", "Apache-2.0")),
    (["License: BSD-3-Clause"], None, ("BSD-3-Clause",)),
    (["License: BSD", "Classifier: License :: OSI Approved :: MIT License",
      "Classifier: License :: OSI Approved :: Apache Software License"], None,
     ("MIT", "Apache-2.0")),
    (["License: BSD", "Classifier: License :: OSI Approved :: BSD License"],
     {"demo-1.0.dist-info/licenses/LICENSE": APACHE_HEADER,
      "demo-1.0.dist-info/licenses/vendor/thing/LICENSE": "ISC License\n"},
     ("Apache-2.0",)),
    (["License: BSD"], None, ("BSD",)),
    (["License: UNKNOWN"], None, ()),
    ([], None, ()),
])
def test_distribution_licenses_take_the_most_specific_source(tmp_path, lines, files, licenses):
    assert distribution_licenses(make_distribution(tmp_path, lines, files)) == licenses
