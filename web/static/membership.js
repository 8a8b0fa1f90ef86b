// The membership test: paste code, see which 50-character windows the filter finds, marked in
// place. The text lives in the URL fragment (never sent to the server) so a link reproduces it.
import { postJSON } from "./api.js";
import { MAX_HASH_CHARS, el, fill, fprWords, hashState, highlighted, percent, plural, setHashState, setStatus,
         submitOnCtrlEnter, toUnitRanges } from "./dom.js";

const form = document.getElementById("membership-form");
const statusLine = document.getElementById("status");
const result = document.getElementById("result");
const verdict = document.getElementById("verdict");
const facts = document.getElementById("facts");
const marked = document.getElementById("marked");
const fpr = document.getElementById("fpr");
let inflight = null;

function fact(name, value) {
  return [el("dt", {}, name), el("dd", {}, value)];
}

function lines(text, ranges) {
  // The text with its spans marked, as numbered lines (a mark never crosses a line).
  const out = [];
  let start = 0, n = 1;
  for (const line of text.split("\n")) {
    const end = start + line.length;
    const local = ranges.filter(([s, e]) => e > start && s < end)
      .map(([s, e, cls, attrs]) => [Math.max(s, start) - start, Math.min(e, end) - start, cls, attrs]);
    out.push(el("div", { class: "line" }, el("span", { class: "ln", "data-n": n }),
                el("code", {}, highlighted(line, local))));
    start = end + 1;
    n += 1;
  }
  return out;
}

function render(text, data) {
  result.hidden = false;
  verdict.className = `verdict ${data.member ? "yes" : "no"}`;
  verdict.textContent = data.member
    ? `Found: ${percent(data.fraction)} of this text is in the indexed corpus.`
    : "Not found: no 50-character window of this text is in the indexed corpus.";
  fill(facts, 
    ...fact("coverage", `${percent(data.fraction)} of ${plural(data.normalized_length, "character")} (whitespace normalized)`),
    ...fact("longest match", plural(data.longest_chain, "character")),
    ...fact("windows found", `${data.hits.toLocaleString()} of ${data.windows.toLocaleString()}`),
    ...fact("matched spans", data.spans.length.toLocaleString()),
    ...fact("checked", data.exact ? "every hit verified against the stored files" : "membership filter only"));
  const ranges = toUnitRanges(text, data.spans.map((s) => [s.start, s.end]))
    .map(([s, e], i) => [s, e, "found", { title: `${plural(data.spans[i].end - data.spans[i].start, "character")} found` }]);
  fill(marked, ...lines(text, ranges));
  fpr.textContent = data.exact ? "Every marked window was confirmed in a stored file." : fprWords(data.filter);
}

async function run() {
  const text = form.text.value;
  const exact = form.exact.checked;
  setHashState({ text: text.length <= MAX_HASH_CHARS ? text : "", exact: exact ? "1" : "" });
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  setStatus(statusLine, "Testing…", "loading");
  result.setAttribute("aria-busy", "true");
  try {
    const data = await postJSON("/api/membership", { text, exact }, { signal: controller.signal });
    setStatus(statusLine, "");
    render(text, data);
  } catch (e) {
    if (e.name === "AbortError") return;
    result.hidden = true;
    setStatus(statusLine, e.message, "error");
  } finally {
    if (inflight === controller) inflight = null;
    result.removeAttribute("aria-busy");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
submitOnCtrlEnter(form.text);

const state = hashState();
if (state.get("text")) {
  form.text.value = state.get("text");
  form.exact.checked = state.get("exact") === "1";
  run();
}
