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
  let response;
  try {
    response = await fetch(url, { signal, headers: { Accept: "application/json" } });
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
