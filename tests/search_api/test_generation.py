"""``/api/generate``: JSON and server-sent events, attribution of the generated part only."""

import json

import pytest

from search_api import models
from search_api.app import create_app

from .conftest import error_of


@pytest.fixture(scope="module")
def gen_client(demo_model):
    return create_app({"INDEX_DIR": str(demo_model.index), "MODEL": str(demo_model.path),
                       "MODEL_DEVICE": "cpu", "TESTING": True}).test_client()


def test_generate_and_attribute_the_generated_part(gen_client):
    r = gen_client.post("/api/generate", json={"prompt": "import os\n\n\ndef ", "max_new_tokens": 40,
                                               "temperature": 0, "attribute": True})
    body = r.get_json()
    models.GenerateResponse.model_validate(body)
    assert body["generation"]["new_tokens"] >= 1 and body["generation"]["text"] == body["text"]
    if body["attribution"] is not None:
        assert body["attribution"]["length"] == len(body["text"])
    else:
        assert body["attribution_reason"]
    stats = gen_client.get("/api/stats").get_json()["model"]
    assert stats["architecture"] == "GPTBigCodeForCausalLM" and stats["fim"] and stats["context"] == 256


def test_the_model_is_named_by_its_folder_not_its_path(gen_client, demo_model):
    """Where the operator keeps models is not shown to the public."""
    stats = gen_client.get("/api/stats").get_json()["model"]
    assert stats["name"] == demo_model.path.name and str(demo_model.path.parent) not in json.dumps(stats)
    page = gen_client.get("/attribute").get_data(as_text=True)
    assert str(demo_model.path.parent) not in page


def test_streaming_sends_the_pieces_then_the_whole_answer(gen_client):
    req = {"prompt": "def main():\n", "max_new_tokens": 24, "temperature": 0}
    whole = gen_client.post("/api/generate", json=req).get_json()
    r = gen_client.post("/api/generate", json={**req, "stream": True})
    assert r.mimetype == "text/event-stream"
    events = [e for e in r.get_data(as_text=True).split("\n\n") if e]
    pieces = [json.loads(e[len("data: "):])["text"] for e in events if e.startswith("data: ")]
    assert events[-1].startswith("event: done\n")
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert "".join(pieces) == done["text"] == whole["text"]


def test_a_stream_with_nothing_to_send_still_ends_with_its_answer(gen_client):
    req = {"prompt": "def main():\n", "max_new_tokens": 24, "temperature": 0}
    first = gen_client.post("/api/generate", json=req).get_json()["text"][:1]
    r = gen_client.post("/api/generate", json={**req, "stream": True, "stop": [first]})
    events = [e for e in r.get_data(as_text=True).split("\n\n") if e]
    assert len(events) == 1 and events[0].startswith("event: done\n")
    done = json.loads(events[0].split("data: ", 1)[1])
    assert done["text"] == "" and done["generation"]["stop_reason"] == "stop_sequence"


def test_fim_and_bad_requests(gen_client):
    r = gen_client.post("/api/generate", json={"fim_prefix": "def f(x):\n    ", "fim_suffix": "\n    return y\n",
                                               "max_new_tokens": 8, "temperature": 0})
    assert r.status_code == 200
    error_of(gen_client.post("/api/generate", json={"prompt": "x", "fim_suffix": "y"}), 400, "invalid_parameter")
    error_of(gen_client.post("/api/generate", json={"prompt": "x", "max_new_tokens": 5000}), 400, "invalid_parameter")
    error_of(gen_client.post("/api/generate", json={"prompt": "x", "max_new_tokens": 300}), 400, "invalid_parameter")
    error_of(gen_client.post("/api/generate", json={"prompt": "x", "temperture": 1}), 400, "invalid_parameter")


def test_a_server_without_a_model_says_so(client):
    error_of(client.post("/api/generate", json={"prompt": "def f():"}), 409, "no_model")


def test_a_missing_model_folder_fails_at_start(index_dir, tmp_path):
    from model.generate import ModelNotFound

    with pytest.raises(ModelNotFound, match="no model at"):
        create_app({"INDEX_DIR": str(index_dir), "MODEL": str(tmp_path / "none")})
