"""Which programming language a file is written in, named the way The Stack names it.

The Stack names languages by their GitHub Linguist name, lowercased with spaces turned into
dashes and ``#`` spelled out: ``python``, ``c++``, ``c-sharp``, ``jupyter-notebook``. Readers of
corpora that carry their own language column go through :func:`canonical_language`, and files
without one go through :func:`language_for`, so a filter on ``lang`` means the same thing for
every input.
"""

from __future__ import annotations

from pathlib import PurePath

_EXTENSIONS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    "ada": (".ada", ".adb", ".ads"),
    "assembly": (".asm", ".s", ".nasm"),
    "awk": (".awk",),
    "batchfile": (".bat", ".cmd"),
    "c": (".c", ".h"),
    "c++": (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".inl", ".ipp", ".tpp"),
    "c-sharp": (".cs",),
    "clojure": (".clj", ".cljs", ".cljc", ".edn"),
    "cmake": (".cmake",),
    "coffeescript": (".coffee",),
    "common-lisp": (".lisp", ".lsp"),
    "css": (".css",),
    "cuda": (".cu", ".cuh"),
    "cython": (".pyx", ".pxd", ".pxi"),
    "dart": (".dart",),
    "dockerfile": (".dockerfile",),
    "elixir": (".ex", ".exs"),
    "elm": (".elm",),
    "emacs-lisp": (".el",),
    "erlang": (".erl", ".hrl"),
    "f-sharp": (".fs", ".fsi", ".fsx"),
    "fish": (".fish",),
    "fortran": (".f", ".for", ".f77", ".f90", ".f95", ".f03", ".f08"),
    "glsl": (".glsl", ".vert", ".frag"),
    "go": (".go",),
    "graphql": (".graphql", ".gql"),
    "groovy": (".groovy", ".gradle"),
    "haskell": (".hs",),
    "hcl": (".hcl", ".tf"),
    "html": (".html", ".htm", ".xhtml"),
    "ini": (".ini", ".cfg"),
    "java": (".java",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "json": (".json",),
    "julia": (".jl",),
    "jupyter-notebook": (".ipynb",),
    "kotlin": (".kt", ".kts"),
    "less": (".less",),
    "literate-haskell": (".lhs",),
    "lua": (".lua",),
    "makefile": (".mk", ".mak"),
    "markdown": (".md", ".markdown"),
    "matlab": (".matlab",),
    "nim": (".nim",),
    "nix": (".nix",),
    "objective-c": (".m",),
    "objective-c++": (".mm",),
    "ocaml": (".ml", ".mli"),
    "pascal": (".pas",),
    "perl": (".pl", ".pm"),
    "php": (".php",),
    "powershell": (".ps1", ".psm1", ".psd1"),
    "protocol-buffer": (".proto",),
    "python": (".py", ".pyi", ".pyw"),
    "r": (".r",),
    "racket": (".rkt",),
    "restructuredtext": (".rst",),
    "ruby": (".rb", ".rake", ".gemspec"),
    "rust": (".rs",),
    "sass": (".sass",),
    "scala": (".scala", ".sc"),
    "scheme": (".scm", ".ss"),
    "scss": (".scss",),
    "shell": (".sh", ".bash", ".zsh", ".ksh"),
    "solidity": (".sol",),
    "sql": (".sql",),
    "svelte": (".svelte",),
    "swift": (".swift",),
    "systemverilog": (".sv", ".svh"),
    "tcl": (".tcl",),
    "tex": (".tex", ".sty", ".cls"),
    "thrift": (".thrift",),
    "toml": (".toml",),
    "tsx": (".tsx",),
    "typescript": (".ts", ".mts", ".cts"),
    "verilog": (".v", ".vh"),
    "vhdl": (".vhd", ".vhdl"),
    "vim-script": (".vim",),
    "visual-basic": (".vb", ".bas"),
    "vue": (".vue",),
    "xml": (".xml", ".xsd", ".xsl", ".xslt"),
    "yaml": (".yaml", ".yml"),
    "zig": (".zig",),
}

LANGUAGE_BY_EXTENSION: dict[str, str] = {
    extension: language
    for language, extensions in _EXTENSIONS_BY_LANGUAGE.items()
    for extension in extensions
}
"""Lowercase extension (with its dot) -> language name.

Note:
    Ambiguous extensions go to the language The Stack files most of them under: ``.h`` is C
    (C++ headers mostly use ``.hpp``/``.hh`` or live beside ``.cpp`` files, which does not
    change their text), ``.m`` is Objective-C, ``.v`` is Verilog.
"""

LANGUAGE_BY_FILENAME: dict[str, str] = {
    "makefile": "makefile",
    "gnumakefile": "makefile",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "rakefile": "ruby",
    "gemfile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "sconstruct": "python",
    "sconscript": "python",
    "jenkinsfile": "groovy",
    ".bashrc": "shell",
    ".bash_profile": "shell",
    ".zshrc": "shell",
    ".profile": "shell",
}
"""Lowercase whole file name -> language, for files that are known by name, not extension."""

LANGUAGES: frozenset[str] = frozenset(LANGUAGE_BY_EXTENSION.values()) | frozenset(
    LANGUAGE_BY_FILENAME.values())
"""Every language name this module can produce."""

_LANGUAGE_ALIASES = {
    "c#": "c-sharp",
    "csharp": "c-sharp",
    "f#": "f-sharp",
    "fsharp": "f-sharp",
    "cpp": "c++",
    "objectivec": "objective-c",
    "jupyter": "jupyter-notebook",
    "bash": "shell",
    "sh": "shell",
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "rst": "restructuredtext",
    "viml": "vim-script",
    "protobuf": "protocol-buffer",
    "protocol-buffers": "protocol-buffer",
    "golang": "go",
}


def language_for(path: str | PurePath) -> str:
    """The Stack language name for a file path, or ``""`` when the file is not a known language.

    The file name is tried first (``Makefile``, ``Dockerfile.dev``, ``CMakeLists.txt``), then the
    last extension, case-insensitively (``setup.PY`` is Python, ``x.tar.gz`` is unknown).
    """
    # String operations, not PurePath: this runs once per file of every corpus and tree.
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1].lower()
    by_name = LANGUAGE_BY_FILENAME.get(name)
    if by_name:
        return by_name
    if name.startswith("dockerfile."):
        return "dockerfile"
    dot = name.rfind(".")
    if dot <= 0:  # no extension, or a dotfile such as ".gitignore"
        return ""
    return LANGUAGE_BY_EXTENSION.get(name[dot:], "")


def canonical_language(name: str | None) -> str:
    """A corpus' own language label in The Stack's spelling: ``"C#"`` -> ``"c-sharp"``.

    Unknown labels are kept, only lowercased with spaces as dashes, so that a corpus with
    languages this table lacks still filters consistently.
    """
    if not name:
        return ""
    label = "-".join(str(name).strip().lower().split())
    return _LANGUAGE_ALIASES.get(label, label)
