// "Am I in the dataset?": indexed repositories and owners by name prefix (the URL holds the
// name: /dataset?q=octocat), and the opt-out request form.
import { getJSON, postJSON } from "./api.js";
import { el, fill, plural, setStatus } from "./dom.js";

const form = document.getElementById("dataset-form");
const statusLine = document.getElementById("status");
const owners = document.getElementById("owners");
const repos = document.getElementById("repos");
const optout = document.getElementById("optout-form");
const optoutStatus = document.getElementById("optout-status");
let inflight = null;

function searchHref(name) {
  // A qualifier alone lists every file it allows; repo:owner takes all of an owner's repositories.
  return `/?${new URLSearchParams({ q: `repo:${name}`, sort: "stars" })}`;
}

// The server hides personal data in names (an email address, an IP address, a key) behind
// placeholders; such a name cannot be searched or sent as it is shown: its author types it.
const REDACTED = /<(EMAIL|IP_ADDRESS|KEY)>/;

function nameItem(field, name, documents) {
  const hidden = REDACTED.test(name);
  return el("li", {},
    hidden ? el("span", { title: "part of this name is hidden: it holds personal data" }, name)
           : el("a", { href: searchHref(name) }, name), " ",
    el("span", { class: "count" }, plural(documents, "file")), " ",
    el("button", { type: "button", class: "link", "data-kind": field, "data-name": hidden ? "" : name,
                   "aria-label": `ask to remove ${name}` }, "ask to remove"));
}

async function lookUp(q) {
  if (inflight) inflight.abort();
  fill(owners);
  fill(repos);
  if (!q) {
    setStatus(statusLine, "");
    return;
  }
  const controller = new AbortController();
  inflight = controller;
  setStatus(statusLine, "Looking up…", "loading");
  try {
    const data = await getJSON(`/api/repos?${new URLSearchParams({ q, limit: "100" })}`, { signal: controller.signal });
    const removed = (data.opted_out || []).map((o) => el("li", { class: "opted" }, o.repo || o.owner, " ",
      el("span", { class: "count" }, `removed on request (${o.at.slice(0, 10)}); never re-ingested`)));
    fill(owners, ...data.owners.map((o) => nameItem("owner", o.owner, o.documents)),
         removed.filter((_, i) => data.opted_out[i].owner));
    fill(repos, ...data.repos.map((r) => nameItem("repo", r.repo, r.documents)),
         removed.filter((_, i) => data.opted_out[i].repo));
    if (!data.repos.length && !data.owners.length && !removed.length) {
      setStatus(statusLine, `Nothing indexed under a name starting with "${q}".`, "empty");
    } else {
      setStatus(statusLine, `${plural(data.owners.length, "owner")} and ${plural(data.repos.length, "repository", "repositories")} ` +
        `start with "${q}"${data.repos.length >= 100 ? " (the first 100)" : ""}.`);
    }
  } catch (e) {
    if (e.name !== "AbortError") setStatus(statusLine, e.message, "error");
  } finally {
    if (inflight === controller) inflight = null;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const q = form.q.value.trim();
  const url = q ? `/dataset?${new URLSearchParams({ q })}` : "/dataset";
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  lookUp(q);
});

window.addEventListener("popstate", () => {
  const q = new URLSearchParams(location.search).get("q") || "";
  form.q.value = q;
  lookUp(q);
});

// "ask to remove" next to a name fills the form below.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-kind]");
  if (!button) return;
  optout.kind.value = button.dataset.kind;
  optout.name.value = button.dataset.name;
  optout.name.placeholder = button.dataset.name ? "owner/name" : "the full name: part of it is hidden above";
  (button.dataset.name ? optout.contact : optout.name).focus();
  optout.scrollIntoView({ block: "center" });
});

optout.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = optout.kind.value;
  // The name goes as it is: it is matched against indexed names, which may begin or end with a space.
  const body = { [kind]: optout.name.value, contact: optout.contact.value, reason: optout.reason.value };
  setStatus(optoutStatus, "Sending…", "loading");
  try {
    const answer = await postJSON("/api/optout/requests", body);
    setStatus(optoutStatus, `Request ${answer.id} received for ${answer.repo || answer.owner} ` +
      `(${plural(answer.indexed_documents, "file")} indexed now). An operator will confirm it with you ` +
      "before removing the code.", "done");
    optout.reset();
  } catch (e) {
    setStatus(optoutStatus, e.message, "error");
  }
});

lookUp(form.q.value.trim());
