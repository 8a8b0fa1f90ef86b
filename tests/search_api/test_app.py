"""``create_app``: config checks, and one store opened per app."""

import pytest

from indexer.manifest import ManifestError
from search_api.app import create_app
from search_api.served import ServedIndex


def test_index_dir_is_required():
    with pytest.raises(ValueError, match="INDEX_DIR"):
        create_app()
    with pytest.raises(ValueError, match="INDEX_DIR"):
        create_app({"INDEX_DIR": ""})


def test_a_directory_that_is_not_an_index_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="not a StarScope index"):
        create_app({"INDEX_DIR": str(tmp_path)})


@pytest.mark.parametrize("config, message", [
    ({"MAX_QUERY_CHARS": 0}, "MAX_QUERY_CHARS"),
    ({"MAX_QUERY_CHARS": 10_000}, "MAX_QUERY_CHARS"),
    ({"MAX_QUERY_CHARS": "100"}, "MAX_QUERY_CHARS"),
    ({"MAX_CONTENT_LENGTH": 0}, "MAX_CONTENT_LENGTH"),
])
def test_invalid_limits_are_refused(index_dir, config, message):
    with pytest.raises(ValueError, match=message):
        create_app({"INDEX_DIR": str(index_dir), **config})


def test_store_and_manifest_load_once_into_extensions(app, index_dir):
    served = app.extensions["starscope"].current
    assert isinstance(served, ServedIndex)
    assert served.path == index_dir
    assert served.manifest["format"] == "starscope-index"
    assert served.languages[0] == "python"
    assert app.config["MAX_CONTENT_LENGTH"] == 1 << 20
    assert app.config["MAX_QUERY_CHARS"] == 4096
