// The attribution playground: generate with the server's model (streamed) or paste text, then
// see the verbatim spans the corpus holds, coloured by license family, each one's sources, the
// near-duplicates and a license summary. Form state lives in the URL fragment (never sent to
// the server), so a link reproduces the page without the code reaching any log.
import { getJSON, postEventStream, postJSON } from "./api.js";
import { MAX_HASH_CHARS, el, fill, hashState, highlighted, licenseBadges, percent, plural, safeHref, setHashState,
         setStatus, submitOnCtrlEnter, toUnitRanges } from "./dom.js";

const tabs = { generate: document.getElementById("tab-generate"), paste: document.getElementById("tab-paste") };
const forms = { generate: document.getElementById("generate-form"), paste: document.getElementById("paste-form") };
const gen = forms.generate;
const stopButton = document.getElementById("stop");
const statusLine = document.getElementById("status");
const result = document.getElementById("result");
const output = document.getElementById("output");
const panel = document.getElementById("panel");
const summary = document.getElementById("summary");
const near = document.getElementById("near");
const truncatedNotice = document.getElementById("truncated");
const hasModel = Boolean(gen.dataset.model);
let inflight = null;
let current = { text: "", spans: [] };

// -- tabs ------------------------------------------------------------------------------------
function selectTab(name, focus = false) {
  for (const [key, tab] of Object.entries(tabs)) {
    const on = key === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    forms[key].hidden = !on;
  }
  if (focus) tabs[name].focus();
}

for (const [name, tab] of Object.entries(tabs)) {
  tab.addEventListener("click", () => selectTab(name));
  tab.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      selectTab(name === "generate" ? "paste" : "generate", true);
    }
  });
}

if (!gen.dataset.fim) {
  const option = gen.mode.querySelector('option[value="fim"]');
  option.disabled = true;
  option.textContent += " (this model has no FIM tokens)";
}
gen.mode.addEventListener("change", () => {
  gen.suffix.hidden = gen.mode.value !== "fim";
});

// -- rendering -------------------------------------------------------------------------------
function family(licenses) {
  if (!licenses || !licenses.families) return "unknown";
  if (licenses.families.copyleft) return "copyleft";
  if (licenses.families.unknown) return "unknown";
  return "permissive";
}

function spanLabel(span) {
  const where = `${span.count_complete ? "" : "at least "}${plural(span.count, "file")}`;
  return `${plural(span.normalized_length, "character")} found in ${where}` +
    (span.common ? " (common boilerplate)" : ` · ${family(span.licenses)} license`);
}

function renderOutput(text, spans, before = "", after = "") {
  const order = spans.map((s, i) => [s, i]).sort((a, b) => a[0].start - b[0].start || b[0].end - a[0].end);
  const units = toUnitRanges(text, order.map(([s]) => [s.start, s.end]));
  const ranges = units.map(([s, e], k) => {
    const [span, i] = order[k];
    return [s, e, span.common ? "span common" : `span lic-${family(span.licenses)}`,
            { tabindex: 0, role: "button", "data-span": i, title: spanLabel(span), "aria-label": spanLabel(span) }];
  });
  ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  fill(output, 
    before ? el("span", { class: "context", title: "prompt (not attributed)" }, before) : null,
    el("span", { class: "generated" }, highlighted(text, ranges)),
    after ? el("span", { class: "context", title: "code after the gap (not attributed)" }, after) : null);
}

function licenseLine(licenses) {
  const fams = licenses.families || {};
  return el("p", { class: "families" },
    el("span", { class: "badge lic-permissive" }, `${fams.permissive || 0} permissive`), " ",
    el("span", { class: "badge lic-copyleft" }, `${fams.copyleft || 0} copyleft`), " ",
    el("span", { class: "badge lic-unknown" }, `${fams.unknown || 0} unknown`));
}

function contextLines(content, source) {
  // The source's lines around the span (two before and after), the span marked.
  const [[s, e]] = toUnitRanges(content, [[source.start, source.end]]);
  const lines = content.split("\n");
  const first = Math.max(1, source.start_line - 2), last = Math.min(lines.length, source.end_line + 2);
  let offset = 0;
  for (let n = 1; n < first; n++) offset += lines[n - 1].length + 1;
  const out = [];
  for (let n = first; n <= last; n++) {
    const line = lines[n - 1];
    const a = Math.max(s, offset) - offset, b = Math.min(e, offset + line.length) - offset;
    out.push(el("div", { class: "line" }, el("span", { class: "ln", "data-n": n }),
                el("code", {}, b > a ? highlighted(line, [[a, b]]) : line)));
    offset += line.length + 1;
  }
  return el("div", { class: "code context-snippet" }, out);
}

// A source's start and end are offsets in the content as the server serves it (redacted of
// PII when it redacts), so they apply to the document's content as they are.
async function addContext(item, source) {
  try {
    const doc = await getJSON(`/api/documents/${encodeURIComponent(source.id)}`);
    item.append(contextLines(doc.content, source));
  } catch (e) {
    item.append(el("p", { class: "status error" }, e.message));
  }
}

function sourceItem(source) {
  const href = `/doc/${encodeURIComponent(source.id)}#L${source.start_line}-L${source.end_line}`;
  const github = safeHref(source.url);
  const others = (source.also_in || []).length;
  return el("li", { class: "source" },
    el("a", { class: "hit-path", href }, el("span", { class: "repo" }, source.repo), "/", el("wbr"), source.path),
    el("div", { class: "meta" },
      el("span", {}, source.start_line === source.end_line ? `line ${source.start_line}`
                                                          : `lines ${source.start_line}–${source.end_line}`),
      licenseBadges(source.licenses),
      el("span", { class: "stars" }, `★ ${source.stars}`),
      others > 0 && el("span", { title: "exact copies of this file elsewhere" }, `+${plural(others, "other source")}`),
      github && el("a", { class: "ext", href: github, rel: "noopener noreferrer" }, "GitHub ↗")));
}

function showSpan(i) {
  const span = current.spans[i];
  if (!span) return;
  for (const mark of output.querySelectorAll("mark.selected")) mark.classList.remove("selected");
  for (const mark of output.querySelectorAll(`mark[data-span="${i}"]`)) mark.classList.add("selected");
  const list = el("ul", { class: "sources-list" });
  const items = span.sources.map(sourceItem);
  list.append(...items);
  fill(panel, 
    el("h2", {}, spanLabel(span)),
    span.common ? el("p", { class: "fine" }, "Boilerplate: this text is in so many files that it says little about where the code came from.") : null,
    licenseLine(span.licenses),
    list,
    span.sources.length < span.count ? el("p", { class: "fine" }, `Showing ${span.sources.length} of ${plural(span.count, "file")}.`) : null);
  span.sources.slice(0, 3).forEach((source, k) => addContext(items[k], source));
}

output.addEventListener("click", (event) => {
  const mark = event.target.closest("mark[data-span]");
  if (mark) showSpan(Number(mark.dataset.span));
});
output.addEventListener("keydown", (event) => {
  const mark = event.target.closest("mark[data-span]");
  if (mark && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    showSpan(Number(mark.dataset.span));
  }
});

function renderSummary(att) {
  const real = att.spans.filter((s) => !s.common);
  const common = att.spans.length - real.length;
  const lic = att.licenses || {};
  const perLicense = Object.entries(lic.licenses || {});
  fill(summary, 
    el("h2", {}, "Summary"),
    el("p", {}, real.length
      ? `${percent(att.coverage)} of the text lies in ${plural(real.length, "verbatim span")} found in the corpus; ` +
        `the longest has ${plural(att.longest, "character")}.`
      : "No verbatim span of 50 characters or more from the corpus (beyond common boilerplate)."),
    common ? el("p", { class: "fine" }, `${plural(common, "common boilerplate span")} shown muted.`) : null,
    real.length ? licenseLine(lic) : null,
    perLicense.length ? el("p", { class: "fine" }, "Licenses of the sources: ",
      perLicense.map(([id, n], k) => [k ? ", " : "", `${id} (${n})`])) : null,
    lic.copyleft ? el("p", { class: "warn" }, "Some sources are under a copyleft license: reusing this text may oblige you to license your code alike.") : null);
}

function renderNear(att) {
  const list = att.near_duplicates || [];
  fill(near, 
    el("h2", {}, "Near-duplicates and renamed copies"),
    list.length
      ? el("ul", { class: "sources-list" }, list.map((n) => el("li", { class: "source" },
          el("a", { class: "hit-path", href: `/doc/${encodeURIComponent(n.id)}` }, el("span", { class: "repo" }, n.repo), "/", el("wbr"), n.path),
          el("div", { class: "meta" },
            el("span", { class: "kind" }, n.kind),
            el("span", { title: "shingle Jaccard similarity" }, `similarity ${percent(n.jaccard)}`),
            licenseBadges(n.licenses),
            el("span", { class: "stars" }, `★ ${n.stars}`)))))
      : el("p", { class: "fine" }, "None: no stored file is a lightly edited or renamed copy of this text."));
}

// What a limit cut from the answer, in words; null when nothing was cut.
function truncationNotice(att) {
  if (!att.truncated) return null;
  const limits = att.limits || {};
  const parts = [];
  if (limits.incomplete_counts) {
    parts.push(`${plural(limits.incomplete_counts, "span")} ${limits.incomplete_counts === 1 ? "is" : "are"} held by more than ${plural(limits.max_counted, "file")} and only that many were counted ("at least" below)`);
  }
  const nearAvailable = limits.near_duplicate_candidates_available;
  if (nearAvailable > limits.max_candidates) {
    parts.push(`${plural(nearAvailable, "file")} may be near-duplicates and ${limits.max_candidates} were compared`);
  }
  return `Incomplete answer: ${parts.join("; ")}.`;
}

function renderAttribution(text, att, before = "", after = "") {
  current = { text, spans: att.spans };
  result.hidden = false;
  const notice = truncationNotice(att);
  truncatedNotice.hidden = !notice;
  truncatedNotice.textContent = notice || "";
  renderOutput(text, att.spans, before, after);
  fill(panel, el("p", { class: "fine" }, att.spans.length
    ? "Select a marked span (click, or Tab to it and press Enter) to see where it comes from."
    : "Nothing to select: no span of this text was found in the corpus."));
  renderSummary(att);
  renderNear(att);
}

// -- actions ---------------------------------------------------------------------------------
function begin() {
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  result.setAttribute("aria-busy", "true");
  return controller;
}

function end(controller) {
  if (inflight === controller) inflight = null;
  result.removeAttribute("aria-busy");
  stopButton.disabled = true;
  gen.querySelector("#generate").disabled = !hasModel;
}

async function attributePasted() {
  const text = forms.paste.text.value;
  setHashState({ tab: "paste", text: text.length <= MAX_HASH_CHARS ? text : "" });
  const controller = begin();
  setStatus(statusLine, "Attributing…", "loading");
  try {
    const att = await postJSON("/api/attribution", { text }, { signal: controller.signal });
    setStatus(statusLine, `${plural(att.candidates, "candidate file")} checked` +
      (att.truncated ? " (a limit was reached: the answer is incomplete)." : "."));
    renderAttribution(text, att);
  } catch (e) {
    if (e.name !== "AbortError") {
      result.hidden = true;
      setStatus(statusLine, e.message, "error");
    }
  } finally {
    end(controller);
  }
}

async function generate() {
  const fim = gen.mode.value === "fim";
  const prompt = gen.prompt.value, suffix = fim ? gen.suffix.value : "";
  setHashState({ tab: "generate", mode: gen.mode.value, prompt: prompt.length <= MAX_HASH_CHARS ? prompt : "",
                 suffix: suffix.length <= MAX_HASH_CHARS ? suffix : "" });
  const body = fim ? { fim_prefix: prompt, fim_suffix: suffix } : { prompt, mode: gen.mode.value };
  body.max_new_tokens = Number(gen.max_new_tokens.value) || 128;
  body.temperature = Number(gen.temperature.value);
  if (gen.seed.value !== "") body.seed = Number(gen.seed.value);
  body.attribute = true;
  body.stream = true;
  const controller = begin();
  stopButton.disabled = false;
  gen.querySelector("#generate").disabled = true;
  result.hidden = false;
  current = { text: "", spans: [] };
  truncatedNotice.hidden = true;
  fill(summary, );
  fill(near, );
  fill(panel, el("p", { class: "fine" }, "Attribution follows when generation ends."));
  const before = prompt;
  const live = el("span", { class: "generated streaming" });
  fill(output, el("span", { class: "context" }, before), live,
                         suffix ? el("span", { class: "context" }, suffix) : null);
  let pieces = 0;
  setStatus(statusLine, "Generating…", "loading");
  try {
    await postEventStream("/api/generate", body, (name, data) => {
      if (name === "message") {
        live.append(data.text);
        pieces += 1;
        setStatus(statusLine, `Generating… ${plural(pieces, "piece")}`, "loading");
      } else if (name === "done") {
        const g = data.generation;
        setStatus(statusLine, `${plural(g.new_tokens, "token")} generated (${g.stop_reason.replace(/_/g, " ")})` +
          (g.truncated_tokens ? `; the prompt was cut by ${plural(g.truncated_tokens, "token")} to fit the context` : "") + ".");
        if (data.attribution) {
          renderAttribution(data.text, data.attribution, before, suffix);
        } else {
          fill(output, el("span", { class: "context" }, before), el("span", { class: "generated" }, data.text),
                                 suffix ? el("span", { class: "context" }, suffix) : null);
          fill(panel, el("p", { class: "fine" }, data.attribution_reason || "Nothing to attribute."));
        }
      } else if (name === "error") {
        setStatus(statusLine, data.message, "error");
      }
    }, { signal: controller.signal });
  } catch (e) {
    if (e.name === "AbortError") setStatus(statusLine, "Stopped.");
    else setStatus(statusLine, e.message, "error");
  } finally {
    end(controller);
  }
}

gen.addEventListener("submit", (event) => {
  event.preventDefault();
  if (hasModel) generate();
});
forms.paste.addEventListener("submit", (event) => {
  event.preventDefault();
  attributePasted();
});
stopButton.addEventListener("click", () => {
  if (inflight) inflight.abort();  // the server sees the disconnect and stops the model
});
submitOnCtrlEnter(gen.prompt);
submitOnCtrlEnter(gen.suffix);
submitOnCtrlEnter(forms.paste.text);

// -- state from the URL ------------------------------------------------------------------------
const state = hashState();
if (state.get("tab") === "paste" || (!hasModel && !state.get("tab"))) {
  selectTab("paste");
  if (state.get("text")) {
    forms.paste.text.value = state.get("text");
    attributePasted();
  }
} else {
  selectTab("generate");
  if (state.get("mode")) gen.mode.value = state.get("mode");
  gen.suffix.hidden = gen.mode.value !== "fim";
  if (state.get("prompt")) gen.prompt.value = state.get("prompt");
  if (state.get("suffix")) gen.suffix.value = state.get("suffix");
}
