// Building the page from API data. Corpus text (code, paths, repository names) only ever
// becomes text nodes: the corpus contains HTML and JavaScript, which must show, never run.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child);  // strings become text nodes
  }
  return node;
}

// The API counts offsets in Unicode code points (Python string indices); JavaScript strings
// count UTF-16 units, which differ after any character outside the Basic Multilingual Plane.
const ASTRAL = /[\uD800-\uDBFF][\uDC00-\uDFFF]/;

export function toUnitRanges(text, ranges) {
  if (!ranges.length || !ASTRAL.test(text)) return ranges;
  const wanted = [...new Set(ranges.flat())].sort((a, b) => a - b);
  const units = new Map();
  let point = 0, unit = 0, w = 0;
  while (w < wanted.length) {
    if (wanted[w] === point || unit >= text.length) {
      units.set(wanted[w++], unit);
      continue;
    }
    const high = text.charCodeAt(unit);
    const pair = high >= 0xD800 && high <= 0xDBFF && (text.charCodeAt(unit + 1) & 0xFC00) === 0xDC00;
    unit += pair ? 2 : 1;
    point += 1;
  }
  return ranges.map(([s, e]) => [units.get(s), units.get(e)]);
}

// `text` as text nodes with every [start, end) range (UTF-16 units) wrapped in <mark>; a
// range's optional third item is a class for its mark, its fourth more attributes. Ranges are
// taken in order; a range overlapping the one before starts where that one ended.
export function highlighted(text, ranges) {
  const out = [];
  let at = 0;
  for (const [s, e, markClass, attrs] of ranges) {
    const a = Math.max(s, at), b = Math.min(e, text.length);
    if (b <= a) continue;
    if (a > at) out.push(text.slice(at, a));
    out.push(el("mark", { ...(attrs || {}), class: markClass || null }, text.slice(a, b)));
    at = b;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

// Like highlighted(), with syntax colouring: `tokens` are [start, end, class] ranges (UTF-16
// units, sorted, disjoint) that become <span class="t-CLASS">; a mark may hold several.
export function styled(text, marks, tokens) {
  if (!tokens.length) return highlighted(text, marks);
  const cuts = new Set([0, text.length]);
  for (const [a, b] of marks) cuts.add(a).add(b);
  for (const [a, b] of tokens) cuts.add(a).add(b);
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((x, y) => x - y);
  const out = [];
  let m = 0, t = 0, open = null, openIndex = -1;
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i], b = points[i + 1];
    while (t < tokens.length && tokens[t][1] <= a) t++;
    while (m < marks.length && marks[m][1] <= a) m++;
    const token = t < tokens.length && tokens[t][0] <= a ? tokens[t] : null;
    const mark = m < marks.length && marks[m][0] <= a ? marks[m] : null;
    const piece = token ? el("span", { class: `t-${token[2]}` }, text.slice(a, b)) : text.slice(a, b);
    if (!mark) {
      openIndex = -1;
      out.push(piece);
      continue;
    }
    if (openIndex !== m) {
      open = el("mark", { class: mark[2] || null });
      openIndex = m;
      out.push(open);
    }
    open.append(piece);
  }
  return out;
}

const COPYLEFT = /^(A?GPL|LGPL|MPL|EPL|EUPL|CDDL|OSL|CECILL|SSPL|CC-BY-SA|CC-BY-NC)/i;

// Replace `node`'s children; null, undefined and false items are left out (not "null" text).
export function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function licenseBadges(licenses) {
  return (licenses || []).map((id) => {
    const family = !id || id === "unknown" ? "unknown" : COPYLEFT.test(id) ? "copyleft" : "other";
    return el("span", { class: `badge lic-${family}`, title: `license: ${id || "unknown"}` }, id || "unknown");
  });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function plural(n, word, words = `${word}s`) {
  return `${n.toLocaleString()} ${n === 1 ? word : words}`;
}

export function setStatus(node, text, kind = "") {
  node.className = kind ? `status ${kind}` : "status";
  node.textContent = text;
}

// Only http(s) links from data: anything else (javascript:, data:) is dropped.
export function safeHref(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

// Pages whose input is code keep their state in the URL's fragment, which browsers never send
// to the server: a shared link reproduces the page, and the code stays out of server logs.
export function hashState() {
  return new URLSearchParams(location.hash.slice(1));
}

export const MAX_HASH_CHARS = 8000;

export function setHashState(entries) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(entries)) if (value) params.set(name, value);
  const hash = params.toString();
  const url = location.pathname + location.search + (hash && hash.length <= MAX_HASH_CHARS * 3 ? `#${hash}` : "");
  if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
}

// Ctrl+Enter (Cmd+Enter on a Mac) in a text area submits its form.
export function submitOnCtrlEnter(textarea) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      textarea.form.requestSubmit();
    }
  });
}

export function percent(fraction) {
  if (fraction > 0 && fraction < 0.001) return "<0.1%";
  return `${(fraction * 100).toFixed(fraction >= 0.1 ? 0 : 1)}%`;
}

// The Bloom filter's false-positive rate in plain words.
export function fprWords(filter) {
  const rate = filter.fpr_measured ?? filter.fpr_theoretical ?? filter.fpr_configured;
  if (!rate) return "";
  const oneIn = Math.round(1 / rate).toLocaleString();
  return `Each 50-character window of the text is looked up in a Bloom filter. For a window that is ` +
    `not in the data, the filter wrongly answers "present" about once in ${oneIn} lookups ` +
    `(${(rate * 100).toFixed(2)}%, measured on random probes). A span of one or two windows can be such ` +
    `a false alarm; a long run of consecutive hits practically cannot. Tick "verify" to check every ` +
    `hit against the stored files.`;
}
