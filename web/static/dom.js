// Building the page from API data. Corpus text (code, paths, repository names) only ever
// becomes text nodes: the corpus contains HTML and JavaScript, which must show, never run.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
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
// range's optional third item is a class for its mark.
export function highlighted(text, ranges) {
  const out = [];
  let at = 0;
  for (const [s, e, markClass] of ranges) {
    const a = Math.max(s, at), b = Math.min(e, text.length);
    if (b <= a) continue;
    if (a > at) out.push(text.slice(at, a));
    out.push(el("mark", { class: markClass || null }, text.slice(a, b)));
    at = b;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

const COPYLEFT = /^(A?GPL|LGPL|MPL|EPL|EUPL|CDDL|OSL|CECILL|SSPL|CC-BY-SA|CC-BY-NC)/i;

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
