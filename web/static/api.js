// Calls to the StarScope JSON API. Every failure becomes an ApiFailure whose message is the
// API's own error message (or a plain one when the server could not be reached).

export class ApiFailure extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export async function getJSON(url, { signal } = {}) {
  return request(url, { signal, headers: { Accept: "application/json" } });
}

export async function postJSON(url, body, { signal } = {}) {
  return request(url, { method: "POST", signal, body: JSON.stringify(body),
                        headers: { Accept: "application/json", "Content-Type": "application/json" } });
}

async function request(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiFailure("Could not reach the StarScope server.", "network_error", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: reported below
  }
  if (!response.ok) {
    const err = body && body.error;
    throw new ApiFailure((err && err.message) || `The server answered ${response.status}.`,
                         (err && err.code) || "http_error", response.status);
  }
  if (body === null) {
    throw new ApiFailure("The server sent an answer that is not JSON.", "bad_response", response.status);
  }
  return body;
}

// POST a JSON body to an endpoint answering text/event-stream, calling onEvent(name, data) for
// each event ("message" when unnamed) as it arrives. Errors before the stream starts come back
// as JSON and are thrown as ApiFailure.
export async function postEventStream(url, body, onEvent, { signal } = {}) {
  let response;
  try {
    response = await fetch(url, { method: "POST", signal, body: JSON.stringify(body),
                                  headers: { Accept: "text/event-stream", "Content-Type": "application/json" } });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiFailure("Could not reach the StarScope server.", "network_error", 0);
  }
  if (!response.ok || !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    let err = null;
    try {
      err = (await response.json()).error;
    } catch {
      // not JSON
    }
    throw new ApiFailure((err && err.message) || `The server answered ${response.status}.`,
                         (err && err.code) || "http_error", response.status);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}
