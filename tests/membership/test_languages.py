"""The extension/file-name table that names languages the way The Stack does."""

from __future__ import annotations

import pytest

from membership.languages import LANGUAGES, canonical_language, language_for


@pytest.mark.parametrize(("path", "language"), [
    ("pkg/module.py", "python"), ("stubs/x.pyi", "python"), ("fast.pyx", "cython"),
    ("decl.pxd", "cython"), ("lib.c", "c"), ("lib.h", "c"), ("lib.cpp", "c++"),
    ("lib.hpp", "c++"), ("kernel.cu", "cuda"), ("app.js", "javascript"), ("mod.mjs", "javascript"),
    ("app.ts", "typescript"), ("view.tsx", "tsx"), ("site.css", "css"), ("index.html", "html"),
    ("run.sh", "shell"), ("README.md", "markdown"), ("Main.java", "java"), ("main.go", "go"),
    ("lib.rs", "rust"), ("app.rb", "ruby"), ("index.php", "php"), ("Prog.cs", "c-sharp"),
    ("conf.yaml", "yaml"), ("Cargo.toml", "toml"), ("data.json", "json"), ("q.sql", "sql"),
    ("x.kt", "kotlin"), ("x.swift", "swift"), ("x.scala", "scala"), ("x.lua", "lua"),
    ("x.pl", "perl"), ("x.r", "r"), ("x.R", "r"), ("x.jl", "julia"), ("x.hs", "haskell"),
    ("x.ex", "elixir"), ("x.erl", "erlang"), ("x.clj", "clojure"), ("x.dart", "dart"),
    ("x.m", "objective-c"), ("x.f90", "fortran"), ("x.asm", "assembly"), ("x.ps1", "powershell"),
    ("x.bat", "batchfile"), ("x.vue", "vue"), ("x.scss", "scss"), ("x.tex", "tex"),
    ("x.rst", "restructuredtext"), ("x.proto", "protocol-buffer"), ("x.ipynb", "jupyter-notebook"),
    ("SETUP.PY", "python"),
])
def test_extensions(path, language):
    assert language_for(path) == language


@pytest.mark.parametrize(("path", "language"), [
    ("Makefile", "makefile"), ("src/GNUmakefile", "makefile"), ("rules.mk", "makefile"),
    ("Dockerfile", "dockerfile"), ("docker/Dockerfile.dev", "dockerfile"),
    ("CMakeLists.txt", "cmake"), ("Gemfile", "ruby"), ("Rakefile", "ruby"),
])
def test_special_file_names(path, language):
    assert language_for(path) == language


@pytest.mark.parametrize("path", ["notes.txt", "LICENSE", "archive.tar.gz", "image.png",
                                  "module.cpython-311-x86_64-linux-gnu.so", ".gitignore", "x.pyc"])
def test_unknown_files_have_no_language(path):
    assert language_for(path) == ""


def test_the_table_covers_many_languages_in_stack_spelling():
    assert len(LANGUAGES) >= 45
    assert all(name == name.lower() and " " not in name for name in LANGUAGES)


@pytest.mark.parametrize(("label", "canonical"), [
    ("Python", "python"), ("C++", "c++"), ("C#", "c-sharp"), ("Jupyter Notebook",
                                                              "jupyter-notebook"),
    ("Visual Basic", "visual-basic"), ("", ""), (None, ""), ("Brand New Lang", "brand-new-lang"),
])
def test_corpus_labels_are_canonicalised(label, canonical):
    assert canonical_language(label) == canonical
