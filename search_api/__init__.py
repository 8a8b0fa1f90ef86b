"""StarScope's HTTP face: the JSON API and the browser pages, in one Flask app.

``search_api.app.create_app({"INDEX_DIR": ...})`` assembles it (``starscope serve`` calls it);
nothing here reads configuration at import time, and this package is the only one that imports
Flask. The blueprints answer from the index :mod:`search_api.served` holds, and the app imports
the blueprints, never the other way round. Endpoints:

* ``GET /api/search`` - full-text search (:mod:`search_api.search`);
* ``GET /api/documents/<sha>`` - one content with all its sources (:mod:`search_api.documents`);
* ``GET /api/repos`` - repository names for the repo filter (:mod:`search_api.search`);
* ``GET /api/health`` - status and index counts (:mod:`search_api.health`);
* ``GET /`` and ``GET /doc/<sha>`` - the pages (:mod:`search_api.web`).

Errors have one JSON shape, made in :mod:`search_api.errors`.

``POST /api/generate`` (:mod:`search_api.generation`) is where the model and membership meet: the
model knows nothing of attribution, so :mod:`search_api.compose`, which imports no Flask, composes
generate-then-attribute for it and for the command line's ``generate --attribute``.
"""
