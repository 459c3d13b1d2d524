// The JSON API, from the console: the account and its admin token are kept in this tab's session storage (never in
// a URL), and every error is turned into a sentence from the API's error code.

const KEY = "optout-console-session";
// The API is where the console is served from: /<stage>/console/ -> /<stage>/
export const BASE = window.location.pathname.replace(/console\/.*$/, "");

export function session() {
  try {
    const saved = JSON.parse(window.sessionStorage.getItem(KEY) || "null");
    return saved && saved.account && saved.token ? saved : null;
  } catch {
    return null;
  }
}

export function signIn(account, token) {
  window.sessionStorage.setItem(KEY, JSON.stringify({ account, token }));
}

export function signOut() {
  window.sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** The account's path: /v1/accounts/<account><rest>. */
export function accountPath(rest = "") {
  const current = session();
  return `v1/accounts/${encodeURIComponent(current ? current.account : "")}${rest}`;
}

/**
 * Call the API: `path` under the base (e.g. accountPath("/inbound")), `query` an object (empty values left out),
 * `body` JSON (or `text` with `contentType`). Resolves to the parsed JSON (or the text for `accept` text/csv);
 * rejects with an ApiError.
 */
export async function call(method, path, { query, body, text, contentType, accept } = {}) {
  const current = session();
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    params.append(name, String(value));
  }
  const url = BASE + path + (params.toString() ? `?${params}` : "");
  const headers = { Accept: accept || "application/json" };
  if (current) headers.Authorization = `Bearer ${current.token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (text !== undefined) {
    headers["Content-Type"] = contentType || "text/plain";
    payload = text;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "The service did not answer: check the connection and try again.");
  }
  if (response.ok) {
    if (accept && accept.startsWith("text/")) {
      return { text: await response.text(), nextCursor: response.headers.get("X-Next-Cursor") };
    }
    return response.status === 204 ? null : response.json();
  }
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    error = {};
  }
  throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || "", error.details);
}

/**
 * Every page of a CSV listing (`Accept: text/csv`), joined into one file: the first page's header, then each page's
 * rows, following `X-Next-Cursor` until there is none.
 */
export async function csvPages(path, query = {}) {
  let cursor;
  let csv = "";
  do {
    const page = await call("GET", path, { query: { ...query, cursor }, accept: "text/csv" });
    const text = csv ? page.text.split("\n").slice(1).join("\n") : page.text;
    csv += csv && !csv.endsWith("\n") && text ? `\n${text}` : text;
    cursor = page.nextCursor;
  } while (cursor);
  return csv;
}

const SENTENCES = {
  unauthenticated: "The token was not accepted: sign in again with the account's admin token.",
  forbidden: "This token may not do that (it belongs to another account, or only the operator may).",
  account_not_found: "There is no such account.",
  invalid_phone: "That is not a phone number this account can read (give it in E.164, e.g. +14155550123).",
  invalid_cursor: "The page to continue from has expired: start the list again.",
  lift_refused: "Refused: ",
  not_suppressed: "Nothing to lift: the number is not blocked in that scope.",
  group_exists: "The account already has a group with that id.",
  group_not_found: "There is no such group.",
  message_not_found: "There is no such message in the log.",
  import_not_found: "There is no such import.",
  payload_too_large: "The file is too large for one request.",
  store_unavailable: "The service could not do it just now: try again in a moment.",
  internal_error: "The service failed to answer; the failure is logged. Try again, or tell the operator.",
  network: "The service did not answer: check the connection and try again.",
};

/** A sentence for people from an ApiError (or any error); `feature` names what is missing on a 404. */
export function describe(error, feature) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error && error.message ? error.message : error}`;
  // A path this server does not route: the contract's 404, or (a deeper path under `chalice local`) a bare 403.
  const unrouted = error.code === "not_found" || error.code === "http_403" || error.code === "http_404";
  if (unrouted && feature) return `${feature} is not available on this server yet.`;
  if (error.code === "lift_refused") return SENTENCES.lift_refused + error.message;
  if (error.code === "invalid_request") {
    const problems = (error.details.errors || []).map((item) => describeProblem(item, feature));
    return problems.length ? problems.join(" ") : error.message || "The request was not valid.";
  }
  const sentence = SENTENCES[error.code];
  if (sentence) return sentence;
  return error.message || `The service answered ${error.status}.`;
}

function describeProblem(item, feature) {
  const name = item.field || "";
  if (/extra (inputs|fields)|not permitted/i.test(item.problem || "")) {
    return `${feature ? `${feature}: ` : ""}filtering by "${name}" is not available on this server yet.`;
  }
  return name ? `${name}: ${item.problem}.` : `${item.problem}.`;
}
