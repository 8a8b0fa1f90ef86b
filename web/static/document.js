// The document page: the whole file with anchorable line numbers (#L12), every match of the
// URL's ?q= highlighted, and every source the content was found at.
import { getJSON } from "./api.js";
import { el, formatBytes, licenseBadges, plural, setStatus, styled, toUnitRanges } from "./dom.js";

const root = document.getElementById("doc");
const statusLine = document.getElementById("status");
const code = document.getElementById("code");
const sourceList = document.getElementById("sources");
const matchNav = document.getElementById("match-nav");
const matchCount = document.getElementById("match-count");
const { sha, q, exact } = root.dataset;
let matches = [];
let current = -1;

// One element per line. A match spanning lines is marked on each; only its first visible
// piece gets the "match" class, so the match navigation counts it once.
function renderLines(content, ranges, tokenRanges = []) {
  const units = toUnitRanges(content, ranges);
  const tokens = toUnitRanges(content, tokenRanges.map(([s, e]) => [s, e]))
    .map(([s, e], i) => [s, e, tokenRanges[i][2]]);
  const lines = content.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const fragment = document.createDocumentFragment();
  let start = 0, r = 0, counted = -1, t = 0;
  lines.forEach((raw, i) => {
    const end = start + raw.length;
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const local = [];
    for (let k = r; k < units.length && units[k][0] < end; k++) {
      const [s, e] = units[k];
      const a = Math.max(s, start) - start, b = Math.min(e, start + text.length) - start;
      if (b <= a) continue;
      local.push([a, b, k > counted ? "match" : null]);
      counted = Math.max(counted, k);
    }
    while (r < units.length && units[r][1] <= end + 1) r++;
    const colours = [];  // a token spanning lines (a docstring) is coloured on each
    for (let k = t; k < tokens.length && tokens[k][0] < end; k++) {
      const a = Math.max(tokens[k][0], start) - start, b = Math.min(tokens[k][1], start + text.length) - start;
      if (b > a) colours.push([a, b, tokens[k][2]]);
    }
    while (t < tokens.length && tokens[t][1] <= end + 1) t++;
    const n = i + 1;
    fragment.append(el("div", { class: "line", id: `L${n}` },
      el("a", { class: "ln", href: `#L${n}`, "data-n": n, "aria-label": `line ${n}` }),
      el("code", {}, styled(text, local, colours))));
    start = end + 1;
  });
  code.replaceChildren(fragment);
}

function renderSources(sources) {
  sourceList.replaceChildren(...sources.map((s) => el("li", {},
    s.url ? el("a", { href: s.url, rel: "noopener noreferrer" }, `${s.repo}/${s.path}`)
          : el("span", {}, `${s.repo}/${s.path}`),
    " ", licenseBadges(s.licenses), el("span", { class: "stars", title: "stars" }, `★ ${s.stars}`))));
}

function showMatch(i) {
  if (!matches.length) return;
  if (current >= 0) matches[current].classList.remove("current");
  current = (i + matches.length) % matches.length;
  matches[current].classList.add("current");
  matches[current].scrollIntoView({ block: "center" });
  matchCount.textContent = `${(current + 1).toLocaleString()} / ${plural(matches.length, "match", "matches")}`;
}

// #L12 marks line 12, #L12-L20 lines 12 to 20 (the attribution page links to a span's lines).
let targets = [];
function showTargetLine() {
  for (const line of targets) line.classList.remove("target");
  targets = [];
  const m = /^#L(\d+)(?:-L(\d+))?$/.exec(location.hash);
  if (!m) return false;
  const first = Number(m[1]), last = Math.max(first, Number(m[2] || m[1]));
  for (let n = first; n <= last && n - first < 10000; n++) {
    const line = document.getElementById(`L${n}`);
    if (!line) break;
    line.classList.add("target");
    targets.push(line);
  }
  if (!targets.length) return false;
  targets[0].scrollIntoView({ block: "center" });
  return true;
}

async function load() {
  setStatus(statusLine, "Loading…", "loading");
  const params = new URLSearchParams({ syntax: "1" });
  if (q) params.set("q", q);
  if (q && exact) params.set("exact", exact);
  let doc;
  try {
    doc = await getJSON(`/api/documents/${encodeURIComponent(sha)}?${params}`);
  } catch (e) {
    setStatus(statusLine, e.message, "error");
    return;
  }
  renderSources(doc.sources);
  renderLines(doc.content, doc.matches ? doc.matches.ranges : [], doc.syntax ? doc.syntax.tokens : []);
  const lines = code.childElementCount;
  const summary = `${plural(lines, "line")} · ${formatBytes(doc.size)}`;
  if (doc.matches && doc.matches.count === 0) {
    setStatus(statusLine, `${summary} · no match of this query in the file`, "empty");
  } else {
    setStatus(statusLine, summary);
  }
  matches = [...code.querySelectorAll("mark.match")];
  if (matches.length) {
    matchNav.hidden = false;
    matchCount.textContent = plural(matches.length, "match", "matches");
  }
  if (!showTargetLine() && matches.length) showMatch(0);
}

document.getElementById("next-match").addEventListener("click", () => showMatch(current + 1));
document.getElementById("prev-match").addEventListener("click", () => showMatch(current - 1));
window.addEventListener("hashchange", showTargetLine);
load();
