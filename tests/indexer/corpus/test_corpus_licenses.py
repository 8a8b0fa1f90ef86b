"""License names, expressions and real LICENSE texts to SPDX ids."""

from __future__ import annotations

import sysconfig
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from indexer.corpus.licenses import (_SPDX_IDS, detect_license_file, licenses_from_expression,
                                     normalize_license)


@pytest.mark.parametrize(("name", "spdx"), [
    ("MIT", "MIT"), ("mit", "MIT"), ("The MIT License (MIT)", "MIT"),
    ("License :: OSI Approved :: MIT License", "MIT"),
    ("Apache 2.0", "Apache-2.0"), ("Apache License, Version 2.0", "Apache-2.0"),
    ("License :: OSI Approved :: Apache Software License", "Apache-2.0"), ("ASL 2.0", "Apache-2.0"),
    ("New BSD License", "BSD-3-Clause"), ("BSD 3-Clause", "BSD-3-Clause"),
    ("Simplified BSD", "BSD-2-Clause"), ("BSD-2-Clause", "BSD-2-Clause"),
    ("GPLv2", "GPL-2.0-only"), ("GPL-2.0+", "GPL-2.0-or-later"),
    ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"), ("GPL-3.0", "GPL-3.0-only"),
    ("LGPLv3+", "LGPL-3.0-or-later"), ("LGPL-2.1", "LGPL-2.1-only"),
    ("GNU Affero General Public License v3", "AGPL-3.0-only"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"), ("ISC License (ISCL)", "ISC"),
    ("Python Software Foundation License", "PSF-2.0"), ("PSF", "PSF-2.0"),
    ("The Unlicense (Unlicense)", "Unlicense"), ("0BSD", "0BSD"),
    ("License :: OSI Approved :: zlib/libpng License", "Zlib"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    ("CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
    ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
])
def test_names_normalize_to_spdx(name, spdx):
    assert normalize_license(name) == spdx


@pytest.mark.parametrize("name", ["", "   ", None, "BSD", "BSD License", "GPL", "LGPL", "MPL",
                                  "Proprietary", "Public Domain", "MIT OR Apache-2.0",
                                  "License :: OSI Approved"])
def test_unknown_ambiguous_or_compound_names_are_not_guessed(name):
    assert normalize_license(name) is None


def test_normalization_is_idempotent_on_every_id_it_knows():
    for spdx in _SPDX_IDS:
        assert normalize_license(spdx) == spdx
        assert normalize_license(spdx.lower()) == spdx
        assert licenses_from_expression(spdx) == (spdx,)


@pytest.mark.parametrize(("expression", "licenses"), [
    ("MIT OR Apache-2.0", ("MIT", "Apache-2.0")),
    ("(MIT OR Apache-2.0) AND BSD-3-Clause", ("MIT", "Apache-2.0", "BSD-3-Clause")),
    ("MIT/Apache-2.0", ("MIT", "Apache-2.0")),
    ("MPL-2.0 AND MIT", ("MPL-2.0", "MIT")),
    ("GPLv2 or later", ("GPL-2.0-or-later",)),
    ("Apache License, Version 2.0", ("Apache-2.0",)),
    ("MIT License (MIT)", ("MIT",)),
    ("LicenseRef-NVIDIA-Proprietary", ("LicenseRef-NVIDIA-Proprietary",)),
    ("BSD", ("BSD",)),
    ("Apache-2.0 AND LicenseRef-Custom", ("Apache-2.0", "LicenseRef-Custom")),
    ("", ()),
])
def test_expressions_split_into_licenses(expression, licenses):
    assert licenses_from_expression(expression) == licenses


MIT_TEXT = """MIT License

Copyright (c) 2024 Example Author

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""

BSD_2_TEXT = """Copyright (c) 2024, Example Author

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
"""

ISC_TEXT = """ISC License

Copyright (c) 2024, Example Author

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.
"""

UNLICENSE_TEXT = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or distribute this software.
"""

GPL_NOTICE = """This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.
"""


@pytest.mark.parametrize(("text", "spdx"), [
    (MIT_TEXT, "MIT"), (BSD_2_TEXT, "BSD-2-Clause"), (ISC_TEXT, "ISC"),
    (UNLICENSE_TEXT, "Unlicense"), (GPL_NOTICE, "GPL-3.0-or-later"),
    ("GNU GENERAL PUBLIC LICENSE\n   Version 2, June 1991\n" + GPL_NOTICE, "GPL-2.0-only"),
    ("                   GNU LESSER GENERAL PUBLIC LICENSE\n"
     "                       Version 3, 29 June 2007\n", "LGPL-3.0-only"),
    (BSD_2_TEXT.replace("2. Redist", "3. Neither the name of the copyright holder nor the "
                                     "names of its contributors may be used.\n2. Redist"),
     "BSD-3-Clause"),
    ("MIT\n", "MIT"),
    ("All rights reserved. Ask us before you use this.", None),
    ("", None),
])
def test_license_texts_are_recognised(text, spdx):
    assert detect_license_file(text) == spdx


def test_cpython_license_file_is_psf():
    license_file = Path(sysconfig.get_paths()["stdlib"], "LICENSE.txt")
    if not license_file.is_file():
        pytest.skip(f"this interpreter ships no {license_file}")
    assert detect_license_file(license_file.read_text(encoding="utf-8")) == "PSF-2.0"


@pytest.mark.parametrize(("dist_name", "spdx"), [
    ("pyarrow", "Apache-2.0"), ("certifi", "MPL-2.0"), ("click", "BSD-3-Clause"),
    ("pytest", "MIT"), ("pygments", "BSD-2-Clause"), ("typing_extensions", "PSF-2.0"),
    ("numpy", "BSD-3-Clause"), ("flask", "BSD-3-Clause"), ("urllib3", "MIT"),
])
def test_real_license_files_of_installed_packages(dist_name, spdx):
    try:
        dist = distribution(dist_name)
    except PackageNotFoundError:
        pytest.skip(f"{dist_name} is not installed")
    own_license_files = [file for file in dist.files or []
                         if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))
                         and file.parts[0].endswith(".dist-info") and len(file.parts) <= 3]
    if not own_license_files:
        pytest.skip(f"{dist_name} ships no license file in its metadata")
    text = Path(dist.locate_file(sorted(own_license_files, key=str)[0])).read_text(
        encoding="utf-8", errors="replace")
    assert detect_license_file(text) == spdx


@pytest.mark.parametrize(("name", "spdx"), [
    ("GPL-2", "GPL-2.0-only"), ("GPL-3", "GPL-3.0-only"), ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-3", "LGPL-3.0-only"), ("Apache-2.0", "Apache-2.0"), ("MPL-2.0", "MPL-2.0"),
    ("BSD", "BSD-3-Clause"),
])
def test_full_gnu_and_other_license_texts(name, spdx):
    """Debian-based systems ship the full texts of common licenses."""
    path = Path("/usr/share/common-licenses", name)
    if not path.is_file():
        pytest.skip(f"{path} is not on this system")
    assert detect_license_file(path.read_text(encoding="utf-8", errors="replace")) == spdx
