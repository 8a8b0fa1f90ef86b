// The search page: the URL holds the whole state (/?q=...&lang=...&page=2), the form mirrors
// it, and results come from /api/search.
import { getJSON } from "./api.js";
import { el, highlighted, licenseBadges, plural, setStatus, toUnitRanges } from "./dom.js";

const PARAMS = ["q", "exact", "lang", "license", "repo", "sort", "page", "size"];
const form = document.getElementById("search-form");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const pager = document.getElementById("pager");
const repoList = document.getElementById("repo-list");
const maxResultWindow = Number(form.dataset.maxResultWindow) || Infinity;
const indexedLine = statusLine.textContent;
let inflight = null;

function stateFromURL() {
  const params = new URLSearchParams(location.search);
  const state = {};
  for (const name of PARAMS) {
    const value = params.get(name);
    if (value) state[name] = value;
  }
  return state;
}

function urlFor(state) {
  const params = new URLSearchParams();
  for (const name of PARAMS) if (state[name]) params.set(name, state[name]);
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

function selectValue(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, value));
  select.value = value;
}

function fillForm(state) {
  form.q.value = state.q || "";
  form.exact.checked = state.exact === "1" || state.exact === "true";
  selectValue(form.lang, (state.lang || "").toLowerCase());
  form.license.value = state.license || "";
  form.repo.value = state.repo || "";
  selectValue(form.sort, state.sort || "score");
}

function stateFromForm() {
  const state = { q: form.q.value };
  if (form.exact.checked) state.exact = "1";
  for (const name of ["lang", "license", "repo"]) {
    const value = form[name].value.trim();
    if (value) state[name] = value;
  }
  if (form.sort.value !== "score") state.sort = form.sort.value;
  const size = stateFromURL().size;
  if (size) state.size = size;
  return state;
}

function docHref(id, state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.q && state.exact) params.set("exact", "1");
  const query = params.toString();
  return `/doc/${encodeURIComponent(id)}${query ? `?${query}` : ""}`;
}

function snippetLines(snippets, href) {
  return el("div", { class: "snippets" }, snippets.map((s) =>
    el("div", { class: "line" },
      el("a", { class: "ln", href: `${href}#L${s.line}`, "data-n": s.line, "aria-label": `line ${s.line}` }),
      el("code", {}, s.column ? "…" : null, highlighted(s.text, toUnitRanges(s.text, s.ranges))))));
}

function hitItem(hit, state) {
  const href = docHref(hit.id, state);
  const others = hit.sources_count - 1;
  return el("li", { class: "hit" },
    el("div", { class: "hit-head" },
      el("a", { class: "hit-path", href }, el("span", { class: "repo" }, hit.repo), "/", el("wbr"), hit.path),
      hit.url && el("a", { class: "ext", href: hit.url, rel: "noopener noreferrer", title: "open on GitHub" }, "GitHub ↗")),
    el("div", { class: "meta" },
      hit.lang && el("span", { class: "lang" }, hit.lang),
      licenseBadges(hit.licenses),
      el("span", { title: "stars" }, `★ ${hit.stars}`),
      el("span", {}, plural(hit.match_count, "match", "matches")),
      others > 0 && el("span", { title: "exact copies of this file elsewhere" }, `+${plural(others, "other source")}`)),
    hit.snippets.length ? snippetLines(hit.snippets, href) : null);
}

function pageLinks(data, state) {
  if (data.pages <= 1) return [];
  const link = (page, label, rel) => el("a", { href: urlFor({ ...state, page: page > 1 ? String(page) : "" }), rel, "data-nav": true }, label);
  const hasNext = data.page < data.pages && (data.page + 1) * data.size <= maxResultWindow;
  return [
    data.page > 1 ? link(data.page - 1, "‹ Previous", "prev") : el("span", { class: "disabled" }, "‹ Previous"),
    el("span", { class: "page-of" }, `page ${data.page.toLocaleString()} of ${data.pages.toLocaleString()}`),
    hasNext ? link(data.page + 1, "Next ›", "next") : el("span", { class: "disabled" }, "Next ›"),
  ];
}

function emptyMessage(state) {
  const filtered = state.lang || state.license || state.repo || /(^|\s)(lang|language|license|repo):/i.test(state.q);
  const where = filtered ? "the indexed corpus, with these filters" : "the indexed corpus";
  if (state.exact || state.q.includes('"')) {
    return `No matches: this exact text does not occur anywhere in ${where}. Every candidate is checked, so no result means it is not there.`;
  }
  return `No matches: no document in ${where} contains all of these words.`;
}

function render(data, state) {
  if (data.total === 0) {
    setStatus(statusLine, emptyMessage(state), "empty");
    return;
  }
  const first = (data.page - 1) * data.size + 1;
  const last = first + data.hits.length - 1;
  setStatus(statusLine, `${plural(data.total, "document")} · showing ${first.toLocaleString()}–${last.toLocaleString()} · ${data.took_ms} ms`);
  results.replaceChildren(...data.hits.map((hit) => hitItem(hit, state)));
  pager.replaceChildren(...pageLinks(data, state));
}

async function run(state) {
  if (inflight) inflight.abort();
  inflight = null;
  results.replaceChildren();
  pager.replaceChildren();
  document.title = state.q ? `${state.q} · StarScope search` : "StarScope search";
  if (!state.q) {
    setStatus(statusLine, indexedLine);
    return;
  }
  const controller = new AbortController();
  inflight = controller;
  const params = new URLSearchParams();
  for (const name of PARAMS) if (state[name]) params.set(name, state[name]);
  setStatus(statusLine, "Searching…", "loading");
  results.setAttribute("aria-busy", "true");
  try {
    render(await getJSON(`/api/search?${params}`, { signal: controller.signal }), state);
  } catch (e) {
    if (e.name !== "AbortError") setStatus(statusLine, e.message, "error");
  } finally {
    if (inflight === controller) {
      inflight = null;
      results.removeAttribute("aria-busy");
    }
  }
}

function navigate(url) {
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  run(stateFromURL());
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate(urlFor(stateFromForm()));
});

for (const name of ["exact", "lang", "sort"]) {
  form[name].addEventListener("change", () => {
    if (form.q.value) navigate(urlFor(stateFromForm()));
  });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
  window.scrollTo(0, 0);
});

window.addEventListener("popstate", () => {
  const state = stateFromURL();
  fillForm(state);
  run(state);
});

// Repository names for the repo filter, as the user types.
let repoTimer = null;
form.repo.addEventListener("input", () => {
  clearTimeout(repoTimer);
  repoTimer = setTimeout(async () => {
    try {
      const data = await getJSON(`/api/repos?q=${encodeURIComponent(form.repo.value.trim())}`);
      repoList.replaceChildren(...data.repos.map((r) => el("option", { value: r.repo, label: plural(r.documents, "document") })));
    } catch {
      // suggestions are a convenience; the search itself reports errors
    }
  }, 150);
});

run(stateFromURL());
