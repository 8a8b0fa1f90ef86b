"""PII in corpus text: what is found (true positives), what is not (false positives from real
code: versions, hex colours, hashes, private addresses, placeholders), and redaction's offsets."""

import pytest

from indexer.pii import find_pii, redact

GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.mark.parametrize("text, kind, found", [
    ("# Author: Jane Doe <jane.doe@corp-mail.de>\n", "EMAIL", "jane.doe@corp-mail.de"),
    ('__author__ = "Guido (guido@python.org)"\n', "EMAIL", "guido@python.org"),
    ('AWS_ACCESS_KEY_ID = "AKIAZ7Q4WTNVHK2L5RXD"\n', "KEY", "AKIAZ7Q4WTNVHK2L5RXD"),
    (f"headers = {{'Authorization': 'token {GH}'}}\n", "KEY", GH),
    ('DB_PASSWORD = "h7$Kq9!zLm2Pw"\n', "KEY", "h7$Kq9!zLm2Pw"),
    ('config["api_key"] = "9fA3kL0qZ7xB2mN8"\n', "KEY", "9fA3kL0qZ7xB2mN8"),
    ("server = '34.102.136.180'\n", "IP_ADDRESS", "34.102.136.180"),
    ("# Requests come from 34.102.136.180.\n", "IP_ADDRESS", "34.102.136.180"),  # a full stop ends it
    ("upstream 34.102.136.180. Retry\n", "IP_ADDRESS", "34.102.136.180"),
    ("ssh admin@host -p 22  # 2a03:2880:f12f:83:face:b00c:0:25de\n", "IP_ADDRESS", "2a03:2880:f12f:83:face:b00c:0:25de"),
    ("KEY = '''-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
     "-----END OPENSSH PRIVATE KEY-----'''\n", "KEY", None),
])
def test_true_positives(text, kind, found):
    hits = find_pii(text)
    assert [f.kind for f in hits] == [kind]
    if found:
        assert text[hits[0].start:hits[0].end] == found


@pytest.mark.parametrize("text", [
    "__version__ = '1.2.3.4'\nrequests==2.31.0.1\nversion: 10.2.0.1\nrelease 100.200.30.4\n",
    "See RFC 7231 section 8.2.4.44 and spec 3.1.1.6; libfoo v121.5.200.7\n",
    "oid = '1.3.6.1.4.1.311.60.2.1.3'; build 121.5.200.7.3; host 180.136.102.34.in-addr.arpa\n",
    "color: #ff00aa; background: #fff; border-color: #A1B2C3;\n",
    "commit = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3'\nuuid = '123e4567-e89b-12d3-a456-426614174000'\n",
    "host = '192.168.1.20'; lo = '127.0.0.1'; any = '0.0.0.0'; dns = '8.8.8.8'\n",
    "net = IPv4Network('192.0.0.8/29'); v6 = IPv6Network('2002::/16'); lo6 = '::1'\n",
    "t = '12:30:45'; mac = '00:1a:2b:3c:4d:5e'; std::vector<int> v; a::b::c();\n",
    "contact: someone@example.com or admin@localhost; git@github.com:o/r.git\n",
    "@property\ndef total(self): return self.a @ self.b\n",
    "setup_environment\n@pytest.fixture\ndef env(): pass\n",  # a decorator under a name is no address
    'password = "your-password-here"\napi_key = "xxxxxxxxxxxxxxxx"\ntoken = "${GITHUB_TOKEN}"\n',
    "password = os.environ['DB_PASSWORD']\nsecret = get_secret('name')\n",
    "token_type = 'quoted-string'\nkeyword = 'Authorization'\n",
    '"AWS::ApiGateway::ApiKey": "48205d4ffd7feba3",\nuser_id = "AKIAIOSFODNN7EXAMPLE"\n',
])
def test_false_positives_are_left_alone(text):
    assert find_pii(text) == []


def test_redaction_keeps_lines_and_maps_offsets():
    text = ('a = 1\nkey = """-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n'
            '-----END RSA PRIVATE KEY-----"""\nmail("jo@corp.de")  # end\n')
    red = redact(text)
    assert red.counts() == {"KEY": 1, "EMAIL": 1}
    assert red.text.count("\n") == text.count("\n")  # line numbers do not move
    assert "<KEY>" in red.text and 'mail("<EMAIL>")' in red.text and "jo@" not in red.text
    i = text.index("end")
    s, e = red.range(i, i + 3)
    assert red.text[s:e] == "end"
    i = text.index("jo@corp")
    s, e = red.range(i, i + 2)  # a range inside a finding covers its placeholder
    assert red.text[s:e] == "<EMAIL>"
    assert red.offset(0) == 0 and redact("nothing here").text == "nothing here"
