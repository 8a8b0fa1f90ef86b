"""The API's request and response models: validation and the OpenAPI document come from these.

Requests forbid unknown fields (a misspelt ``min_lenght`` must not silently use the default).
Responses describe exactly what the domain objects' ``to_json`` produce; the tests check every
answer against them (schemathesis, over the live OpenAPI document).
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from indexer.optout import MAX_NAME_CHARS, check_name
from indexer.query import SORTS
from indexer.store import MAX_PAGE_SIZE


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------------------
class ErrorBody(Response):
    code: str = Field(description="stable, machine-readable reason")
    message: str = Field(description="for people")
    details: Optional[dict] = None


class ErrorResponse(Response):
    error: ErrorBody


# -- query strings -----------------------------------------------------------------------------
Flag = Literal["0", "1", "true", "false", "yes", "no", "on", "off", ""]


class SearchParams(Request):
    q: str = Field(description="the query: keywords, \"exact literals\", lang:/license:/repo: filters")
    exact: Flag = Field("0", description="1: the whole of q is one exact substring")
    lang: Optional[str] = None
    license: Optional[str] = None
    repo: Optional[str] = Field(None, description="owner/name, or an owner alone")
    sort: Literal[tuple(SORTS)] = "score"  # type: ignore[valid-type]
    page: int = Field(1, ge=1)
    size: int = Field(10, ge=1, le=MAX_PAGE_SIZE)


class DocumentParams(Request):
    q: Optional[str] = Field(None, description="add this query's matches in the document")
    exact: Flag = "0"
    syntax: Flag = Field("0", description="1: add syntax classes for colouring (pygments' tokens)")


class ReposParams(Request):
    q: str = Field("", description="prefix of owner/name, or of an owner (case-insensitive)")
    limit: int = Field(100, ge=1, le=1000)


# -- search and documents ----------------------------------------------------------------------
class SnippetModel(Response):
    line: int
    column: int
    text: str
    ranges: list[list[int]]


class HitSummary(Response):
    id: str
    repo: str
    path: str
    licenses: list[str]
    lang: str
    stars: int
    url: Optional[str]
    size: int
    sources_count: int


class Hit(HitSummary):
    score: float
    match_count: int
    snippets: list[SnippetModel]


class SearchResponse(Response):
    query: str
    total: int
    page: int
    size: int
    pages: int
    sort: str
    hits: list[Hit]
    took_ms: float


class SourceModel(Response):
    id: str
    repo: str
    path: str
    licenses: list[str]
    stars: int
    url: Optional[str]


class Matches(Response):
    query: str
    count: int
    ranges: list[list[int]]
    snippets: list[SnippetModel]


class Syntax(Response):
    lexer: Optional[str] = Field(description="pygments' lexer, null when the file is shown plain")
    tokens: list[list[Union[int, str]]] = Field(description="[start, end, class]: code-point offsets and one of "
                                                            "c s m k nf nc nb nd nt na o")


class PiiRedactions(Response):
    redacted: dict[str, int] = Field(description="placeholders put in, per kind: EMAIL, IP_ADDRESS, KEY")
    placeholders: list[list[Union[int, str]]] = Field(
        description="[start, end, kind] of each placeholder in the (redacted) content, in code points")


class DocumentResponse(HitSummary):
    licenses_all: list[str]
    content: str
    sources: list[SourceModel]
    matches: Optional[Matches] = None
    syntax: Optional[Syntax] = None
    pii: Optional[PiiRedactions] = None


class RepoCount(Response):
    repo: str
    documents: int


class OwnerCount(Response):
    owner: str
    documents: int


class OptedOut(Response):
    repo: Optional[str] = None
    owner: Optional[str] = None
    seq: int
    at: str


class ReposResponse(Response):
    repos: list[RepoCount]
    owners: list[OwnerCount]
    opted_out: list[OptedOut] = Field(default_factory=list, description="removed on request; never re-ingested")


# -- membership and attribution ----------------------------------------------------------------
class MembershipRequest(Request):
    text: StrictStr = Field(min_length=1, description="the text to test (raw; offsets in answers index it)")
    exact: StrictBool = Field(False, description="confirm every filter hit in the store")


class FilterInfo(Response):
    fpr_configured: Optional[float]
    fpr_theoretical: Optional[float]
    fpr_measured: Optional[float]
    items: Optional[int]


class MembershipSpanModel(Response):
    start: int
    end: int
    text: str
    hits: int
    longest_chain: int


class MembershipResponse(Response):
    member: bool
    length: int
    normalized_length: int
    windows: int
    hits: int
    spans: list[MembershipSpanModel]
    longest_chain: int
    fraction: float
    exact: bool
    filter: FilterInfo


class LicenseSummary(Response):
    sources: int
    licenses: dict[str, int]
    families: dict[str, int]
    copyleft: bool
    weak_copyleft_only: bool
    unknown: bool


class StoredFileModel(Response):
    """A stored content as attribution names it: its primary source and license family."""

    id: str
    repo: str
    path: str
    licenses: list[str]
    license_family: str
    lang: str
    stars: int
    url: Optional[str]
    documents: int = Field(description="sources (repo, path) holding this exact content")


class SourceMatchModel(StoredFileModel):
    start: int
    end: int
    start_line: int
    end_line: int
    also_in: list[dict]


class AttributedSpanModel(Response):
    start: int
    end: int
    text: str
    start_line: int
    end_line: int
    normalized_length: int
    common: bool
    count: int
    count_complete: bool
    contents: int
    sources: list[SourceMatchModel]
    licenses: LicenseSummary


class NearDuplicateModel(StoredFileModel):
    signature: Literal["plain", "abstracted"]
    kind: Literal["near-duplicate", "renamed copy"]
    estimated_jaccard: float
    jaccard: float
    estimated_plain: Optional[float]
    estimated_abstracted: Optional[float]


class AttributionRequest(Request):
    text: StrictStr = Field(min_length=1, description="the text to attribute (a snippet, a generated file)")
    min_length: Optional[StrictInt] = Field(None, ge=1, description="shortest span, normalized characters (50)")
    common_threshold: Optional[StrictInt] = Field(None, ge=1, description="more documents: common (10)")
    max_sources: Optional[StrictInt] = Field(None, ge=1, description="sources listed per span (10)")
    near_duplicates: StrictBool = Field(True, description="also look for near-duplicates and renamed copies")
    lang: Optional[StrictStr] = Field(None, description="language of the text (for renamed copies)")
    path: Optional[StrictStr] = Field(None, description="a file name whose extension gives the language")


class AttributionLimitsModel(Response):
    """What limits left out of an attribution (verbatim spans are never cut)."""

    max_candidates: int = Field(description="near-duplicate candidates scored at most (the server's limit)")
    max_counted: int = Field(description="documents whose sources are summed per span at most")
    incomplete_counts: int = Field(description="spans held by more documents than max_counted: their count is "
                                               "a lower bound (count_complete false; contents stays exact)")
    near_duplicate_candidates_available: Optional[int] = Field(
        description="stored files sharing a near-duplicate band with the text; more than max_candidates: some "
                    "were not scored (null when near-duplicates were not looked for)")


class AttributionResponse(Response):
    length: int
    normalized_length: int
    spans: list[AttributedSpanModel]
    coverage: float
    longest: int
    licenses: LicenseSummary
    candidates: int = Field(description="stored files fetched (the sources shown)")
    filter: FilterInfo
    truncated: bool = Field(description="a limit cut this answer: limits says which and by how much; never "
                                        "silently partial")
    limits: AttributionLimitsModel
    near_duplicates: list[NearDuplicateModel]


class BatchLine(Response):
    """One line of ``/api/attribution/batch``'s JSONL answer."""

    line: int
    id: Optional[str | int] = None
    result: Optional[AttributionResponse] = None
    error: Optional[ErrorBody] = None


class OverlapRequest(BaseModel):
    """The Data Portraits request (llm-vscode's ``llm.attributionEndpoint``): extra fields are
    ignored, as that protocol's servers do."""

    document: StrictStr


class OverlapResponse(Response):
    spans: list[list[int]] = Field(description="[start, end) in raw characters of document")
    member: bool
    fraction: float
    longest_chain: int
    matches: list[AttributedSpanModel] = Field(description="the spans with their sources")
    truncated: bool = Field(description="a limit cut this answer (limits says which); the spans are whole")
    limits: AttributionLimitsModel


# -- the index ---------------------------------------------------------------------------------
class IndexSummary(Response):
    backend: Optional[str]
    counts: dict
    corpus_fingerprint: Optional[str]
    updated: Optional[str]


class SwitchFailure(Response):
    at: str
    message: str


class HealthResponse(Response):
    status: Literal["ok"]
    documents: int
    index: IndexSummary
    switched_at: Optional[str] = None
    switch_error: Optional[SwitchFailure] = None
    membership_error: Optional[ErrorBody] = Field(
        None, description="why membership and attribution are off (`filter_outdated`: rebuild the filter)")


class SwitchFailureDetails(SwitchFailure):
    target: str = Field(description="the directory the served link points at, which could not be opened")


class AdminStatus(Response):
    index_dir: str = Field(description="the index directory this worker serves")
    link: Optional[str] = Field(description="the served path, when it is a link (`starscope switch`)")
    model: Optional[str] = Field(description="the model folder or id given to `starscope serve --model`")
    switched_at: Optional[str] = None
    switch_error: Optional[SwitchFailureDetails] = None


class StatsResponse(Response):
    documents: int
    sources: int
    content_bytes: int
    segments: int
    by_lang: dict[str, int]
    index: IndexSummary
    store: dict
    membership: Optional[dict]
    model: Optional[dict]


_REPO = "a repository's name as the index lists it: owner/name, or a source tree's folder name such as json"
_OWNER = "an owner: everything whose name starts with OWNER/, and a repository named OWNER"


class OptoutRequest(Request):
    repo: Optional[StrictStr] = Field(None, description=_REPO, max_length=MAX_NAME_CHARS)
    owner: Optional[StrictStr] = Field(None, description=_OWNER, max_length=MAX_NAME_CHARS)
    reason: StrictStr = Field(min_length=1, description="why (recorded)")

    @field_validator("repo", "owner")
    @classmethod
    def _a_name(cls, value, info):
        return None if value is None else check_name(info.field_name, value)

    @model_validator(mode="after")
    def _one_target(self):
        if bool(self.repo) == bool(self.owner):
            raise ValueError("give exactly one of repo or owner")
        return self


class OptoutResponse(Response):
    removed: int = Field(description="contents deleted or changed")
    repo: Optional[str]
    owner: Optional[str]
    seq: int = Field(description="the opt-out's entry in the index's ledger")
    contents_removed: int = Field(description="contents left without any source, so deleted")
    already: bool = Field(False, description="already opted out with nothing left: the earlier entry, nothing added")


class AuthorOptoutRequest(Request):
    repo: Optional[StrictStr] = Field(None, description=_REPO, max_length=MAX_NAME_CHARS)
    owner: Optional[StrictStr] = Field(None, description=_OWNER, max_length=MAX_NAME_CHARS)
    contact: StrictStr = Field(description="an email address or profile URL, so the operator can confirm",
                               max_length=200)
    reason: StrictStr = Field(description="why", max_length=2000)


class AuthorOptoutResponse(Response):
    id: str = Field(description="the request's id, for follow-up")
    received_at: str
    repo: Optional[str] = None
    owner: Optional[str] = None
    indexed_documents: int = Field(description="documents of that repository or owner indexed now")
    status: Literal["pending"] = Field(description="an operator reviews requests and removes the code")


class AuthorOptoutList(Response):
    requests: list[dict]
    bad_lines: int = Field(description="lines cut short by a crash mid-write (skipped)")


# -- generation --------------------------------------------------------------------------------
class GenerateRequest(Request):
    prompt: Optional[StrictStr] = Field(None, description="completion prompt, or the user's question (assistant)")
    fim_prefix: Optional[StrictStr] = Field(None, description="fill-in-the-middle: the code before the gap")
    fim_suffix: Optional[StrictStr] = Field(None, description="fill-in-the-middle: the code after the gap")
    mode: Literal["completion", "assistant"] = "completion"
    repo: Optional[StrictStr] = Field(None, description="<reponame> metadata prefix")
    filename: Optional[StrictStr] = Field(None, description="<filename> metadata prefix")
    stars: Optional[StrictInt] = Field(None, ge=0, description="<gh_stars> metadata prefix")
    humaneval_prefix: StrictBool = False
    max_new_tokens: StrictInt = Field(128, ge=1, le=1024)
    temperature: float = Field(0.2, ge=0, le=5, description="0: greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    seed: Optional[StrictInt] = None
    stop: list[StrictStr] = Field(default_factory=list, max_length=8)
    attribute: StrictBool = Field(False, description="attribute the generated part (not the prompt)")
    stream: StrictBool = Field(False, description="answer text/event-stream, token by token")


class GenerationInfo(Response):
    text: str
    prompt_tokens: int
    new_tokens: int
    truncated_tokens: int
    stop_reason: Literal["eos", "stop_sequence", "max_new_tokens", "cancelled"]


class GenerateResponse(Response):
    text: str
    generation: GenerationInfo
    attribution: Optional[AttributionResponse] = None
    attribution_reason: Optional[str] = None
