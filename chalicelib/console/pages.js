// The console's pages. Each `render(main, params, {go})` appends to <main> and calls the JSON API; every value from
// the API goes into the page as text (dom.js), and every error as a sentence (api.js `describe`).

import { accountPath, call, csvPages, describe } from "./api.js";
import { legend, optOutChart } from "./chart.js";
import { field, fill, h, notice, saveFile, uid, when } from "./dom.js";

const CONTACT_SOURCES = ["keyword", "natural_language", "carrier"];
const SOURCE_TEXT = {
  keyword: "keyword (the contact texted STOP or the like)",
  natural_language: "the contact's own words",
  carrier: "the carrier (the contact opted out there)",
  manual: "an admin, by hand",
  import: "an import",
  bounce: "bounce (a text could not be delivered)",
};
const KINDS = ["group", "event", "organisation", "employee", "topic"];
// SMS received: the service reads at most INBOUND_READ messages a call; one "load" makes at most INBOUND_CALLS calls.
const INBOUND_READ = 1000;
const INBOUND_CALLS = 5;
// A group search may answer an empty page that goes on: follow its cursor at most GROUP_CALLS more times.
const GROUP_CALLS = 10;
// Suppressions: numbers loaded a page (`?page_size=` in the page's address changes it).
const SUPPRESSIONS_PAGE = 200;

function phonePath(phone, rest = "") {
  return accountPath(`/numbers/${encodeURIComponent(phone)}${rest}`);
}

function statusArea() {
  return h("div", { class: "status-area", "aria-live": "polite" });
}

/** Run `work` with `button` disabled; its error, as a sentence, goes to `area`. */
async function busy(button, area, work, feature) {
  button.disabled = true;
  if (area) fill(area);
  try {
    return await work();
  } catch (error) {
    if (area) fill(area, notice("error", describe(error, feature)));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/**
 * One page of the account's groups matching `query` ({q, kind, limit}), from `cursor`: a search may answer a short
 * or empty page that still goes on, so follow `next_cursor` (at most GROUP_CALLS more calls) until `limit` groups are
 * found or the list ends. Resolves to {groups, next_cursor}; a `next_cursor` left means more may match.
 */
async function findGroups(query, cursor) {
  const groups = [];
  let next = cursor;
  let calls = 0;
  do {
    const page = await call("GET", accountPath("/groups"), { query: { ...query, limit: query.limit - groups.length, cursor: next } });
    groups.push(...page.groups);
    next = page.next_cursor;
    calls += 1;
  } while (next && groups.length < query.limit && calls <= GROUP_CALLS);
  return { groups, next_cursor: next || null };
}

const groupNames = new Map();

/** "group:<id>" as people read it: the group's name when the account's catalogue has it. */
async function scopeLabel(scope) {
  if (scope === "all") return "All messages (all for business)";
  const [kind, ...rest] = scope.split(":");
  const value = rest.join(":");
  if (kind === "sender") return `Sender number ${value}`;
  if (kind === "group") {
    if (!groupNames.has(value)) {
      groupNames.set(
        value,
        call("GET", accountPath(`/groups/${encodeURIComponent(value)}`)).then(
          (group) => `${group.kind[0].toUpperCase()}${group.kind.slice(1)} ${group.name} (${value})`,
          () => `Group ${value}`,
        ),
      );
    }
    return groupNames.get(value);
  }
  return scope;
}

// --- Number ----------------------------------------------------------------------------------------------------------

async function numberPage(main, params, { go }) {
  const input = h("input", { type: "tel", name: "phone", value: params.get("phone") || "", required: true, autocomplete: "off" });
  main.append(
    h(
      "form",
      {
        class: "card row",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          go("number", { phone: input.value.trim() });
        },
      },
      field("Phone number, in any format", input, "E.164 (+14155550123) or as people write it: (415) 555-0123"),
      h("button", { type: "submit", class: "primary" }, "Look up"),
    ),
  );
  const phone = params.get("phone");
  if (!phone) return;
  const number = await call("GET", phonePath(phone));
  const out = h("div", { id: "number-view" });
  main.append(out);
  const headline = {
    sendable: ["ok", "Sendable: nothing blocks texts to this number."],
    blocked: ["blocked", "Blocked for all messages."],
    partly_blocked: ["partly", "Blocked for some senders or groups (other messages may go)."],
  }[number.status];
  const bounced = number.suppressions.some((s) => s.source === "bounce");
  out.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "number-heading" },
      h("h3", { id: "number-heading" }, number.phone),
      h("p", { class: `verdict ${headline[0]}`, id: "number-status" }, headline[1]),
      bounced ? h("p", { class: "verdict bounce" }, "Bounce: a text to this number could not be delivered (any reply from it lifts this).") : null,
      number.suppressions.length ? await suppressionTable(number, go) : h("p", {}, "No suppression is active."),
    ),
  );
  const list = h("ol", { class: "timeline", id: "activity" });
  const more = h("div");
  out.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "activity-heading" },
      h("h3", { id: "activity-heading" }, "History: texts sent, replies, changes"),
      list,
      more,
    ),
  );
  const load = async (cursor) => {
    const page = await call("GET", phonePath(number.phone, "/activity"), { query: { limit: 50, cursor } });
    for (const entry of page.activity) list.append(await activityItem(entry));
    if (!cursor && !page.activity.length) list.replaceWith(h("p", { id: "activity" }, "Nothing has happened to this number yet."));
    fill(more);
    if (page.next_cursor) {
      const button = h("button", { type: "button", onclick: () => busy(button, more, () => load(page.next_cursor)) }, "Older");
      more.append(button);
    }
  };
  await load(undefined);
}

const SEND_STATUS = { sent: "Text sent", skipped: "Text not sent (skipped)", failed: "Text failed", retrying: "Text being retried" };
const ACTION_TEXT = { opt_out: "Opt out", opt_in: "Opt in", lift: "Lift", reply: "Reply (lifts a bounce)", note: "Note" };

/** One entry of a number's activity (newest first): a text sent to it, a reply from it, or a change. */
async function activityItem(entry) {
  const stamp = h("time", { datetime: entry.at }, when(entry.at));
  if (entry.kind === "sent") {
    const why = await Promise.all((entry.blocked_by || []).map(async (b) => `${await scopeLabel(b.scope)}, by ${(b.source || "").replace("_", " ")}`));
    return h(
      "li",
      { class: `sent ${entry.status}`, "data-kind": "sent" },
      stamp,
      " ",
      h("strong", {}, SEND_STATUS[entry.status] || entry.status),
      ` · from ${entry.sender}`,
      entry.campaign_id ? [" · campaign ", h("a", { href: `#/campaigns?campaign=${encodeURIComponent(entry.campaign_id)}` }, entry.campaign_id)] : "",
      entry.reason ? ` · ${entry.reason.replaceAll("_", " ")}` : "",
      why.length ? ` · blocked: ${why.join("; ")}` : "",
      h("blockquote", { class: "sms-body outbound" }, entry.body),
      entry.user_email || entry.detail || entry.error_code
        ? h("div", { class: "who" }, [entry.user_email ? `by ${entry.user_email}` : "", entry.error_code ? `error ${entry.error_code}` : "", entry.detail || ""].filter(Boolean).join(" · "))
        : null,
    );
  }
  if (entry.kind === "reply") {
    return h(
      "li",
      { class: "reply", "data-kind": "reply" },
      stamp,
      " ",
      h("strong", {}, "Reply"),
      ` to ${entry.to_phone} · ${entry.carrier} · read as ${entry.intent.replace("_", " ")}`,
      entry.reason ? ` (${entry.reason})` : "",
      h("blockquote", { class: "sms-body" }, entry.body),
      entry.review
        ? h("div", { class: "who" }, `Reviewed: ${entry.review.resolution} by ${entry.review.actor}${entry.review.notes ? ` (${entry.review.notes})` : ""}`)
        : entry.needs_review
          ? h("div", { class: "who" }, "Awaiting review")
          : null,
    );
  }
  return h(
    "li",
    { class: `event ${entry.action}`, "data-kind": "change" },
    stamp,
    " ",
    h("strong", {}, ACTION_TEXT[entry.action] || entry.action),
    entry.scopes.length ? ` · ${entry.scopes.join(", ")}` : "",
    entry.source ? ` · ${entry.source.replace("_", " ")}` : "",
    entry.outcome && entry.outcome !== "applied" ? ` · ${entry.outcome}` : "",
    h("div", { class: "who" }, `by ${entry.actor}`),
    entry.notes ? h("div", { class: "notes" }, entry.notes) : null,
  );
}

async function suppressionTable(number, go) {
  const rows = [];
  for (const s of number.suppressions) {
    const own = CONTACT_SOURCES.includes(s.source);
    const area = statusArea();
    const notes = h("textarea", { name: "notes", rows: 2, maxlength: 2000 });
    const form = h(
      "form",
      {
        class: "lift",
        hidden: true,
        onsubmit: async (event) => {
          event.preventDefault();
          const button = form.querySelector("button[type=submit]");
          const done = await busy(button, area, () =>
            call("DELETE", accountPath(`/suppressions/${encodeURIComponent(number.phone)}`), { query: { scope: s.scope, notes: notes.value.trim() } }),
          );
          if (done) go("number", { phone: number.phone, lifted: s.scope });
        },
      },
      field("Why (kept in the history)", notes),
      h("button", { type: "submit", class: "danger" }, `Lift ${s.scope}`),
    );
    const opener = h(
      "button",
      {
        type: "button",
        "aria-expanded": "false",
        onclick: () => {
          form.hidden = !form.hidden;
          opener.setAttribute("aria-expanded", String(!form.hidden));
          if (!form.hidden) notes.focus();
        },
      },
      "Lift…",
    );
    rows.push(
      h(
        "tr",
        { "data-scope": s.scope },
        h("td", {}, await scopeLabel(s.scope)),
        h("td", {}, SOURCE_TEXT[s.source] || s.source),
        h("td", {}, when(s.since)),
        h("td", {}, s.actor || ""),
        h("td", { class: "notes" }, s.notes || ""),
        h(
          "td",
          {},
          own ? h("p", { class: "rule" }, "The contact's own opt-out: the rules let only the contact lift it, by texting START.") : null,
          opener,
          form,
          area,
        ),
      ),
    );
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "suppressions-of-number" },
      h("caption", {}, "Active suppressions: who and why"),
      h("thead", {}, h("tr", {}, ["Blocked for", "Source", "Since", "Who", "Why", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows),
    ),
  );
}

// --- SMS received ------------------------------------------------------------------------------------------------------

async function inboundPage(main, params, { go }) {
  const reviewState = params.get("needs_review") === "true" ? "pending" : params.get("review") || "";
  const review = h(
    "select",
    { name: "review" },
    [
      ["", "any"],
      ["pending", "awaiting review"],
      ["resolved", "reviewed"],
    ].map(([value, label]) => h("option", { value, selected: reviewState === value }, label)),
  );
  const intent = h(
    "select",
    { name: "intent" },
    ["", "opt_out", "opt_in", "help", "none"].map((value) => h("option", { value, selected: params.get("intent") === value }, value ? value.replace("_", " ") : "any")),
  );
  const phone = h("input", { type: "tel", name: "phone", value: params.get("phone") || "", autocomplete: "off" });
  const from = h("input", { type: "date", name: "from", value: params.get("from") || "" });
  const to = h("input", { type: "date", name: "to", value: params.get("to") || "" });
  main.append(
    h(
      "form",
      {
        class: "card filters",
        id: "inbound-filters",
        onsubmit: (event) => {
          event.preventDefault();
          // Awaiting review is the review queue (needs_review=true): one index, not a filter over the whole log.
          const query = {
            needs_review: review.value === "pending" ? "true" : "",
            review: review.value === "resolved" ? "resolved" : "",
            intent: intent.value,
            phone: phone.value.trim(),
            from: from.value,
            to: to.value,
          };
          go("inbound", Object.fromEntries(Object.entries(query).filter(([, v]) => v)));
        },
      },
      field("Review", review),
      field("Intent", intent),
      field("Number (any format)", phone),
      field("From (day, UTC)", from),
      field("To (day, UTC, included)", to),
      h("button", { type: "submit" }, "Filter"),
    ),
  );
  const list = h("div", { id: "inbound-list" });
  const more = h("div");
  main.append(list, more);
  const query = { limit: 25 };
  for (const name of ["needs_review", "review", "intent", "phone", "from", "to"]) if (params.get(name)) query[name] = params.get(name);
  let shown = 0;
  let searched = 0;
  const load = async (cursor) => {
    // A narrowed page may hold fewer messages than asked for, even none, and still go on (the service reads at most
    // 1,000 messages a call): read on until a page's worth is shown or the log ends, but at most INBOUND_CALLS calls
    // at a time, then say how far the search got and let the admin go on.
    let page;
    let found = 0;
    let calls = 0;
    let next = cursor;
    do {
      page = await call("GET", accountPath("/inbound"), { query: { ...query, cursor: next } });
      for (const message of page.messages) list.append(inboundCard(message, go));
      found += page.messages.length;
      calls += 1;
      next = page.next_cursor;
    } while (next && found < query.limit && calls < INBOUND_CALLS);
    shown += found;
    searched += calls;
    list.querySelector(":scope > p.none")?.remove();
    fill(more);
    if (!next) {
      if (!shown) list.append(h("p", { class: "none" }, "No message matches."));
      return;
    }
    if (found < query.limit) {
      const button = h("button", { type: "button", onclick: () => busy(button, more, () => load(next)) }, "Continue");
      more.append(
        h("p", { class: "searched", role: "status" }, `Searched up to ${(searched * INBOUND_READ).toLocaleString("en")} messages so far, ${shown} shown; older ones are not searched yet — `, button),
      );
    } else {
      const button = h("button", { type: "button", onclick: () => busy(button, more, () => load(next)) }, "Older messages");
      more.append(button);
    }
  };
  try {
    await load(undefined);
  } catch (error) {
    list.append(notice("error", describe(error, "SMS received")));
  }
}

function inboundCard(m, go) {
  const area = statusArea();
  const note = h("input", { name: "note", maxlength: 2000, autocomplete: "off" });
  const act = (what) => async (event) => {
    const button = event.currentTarget;
    const answer = await busy(button, area, () => call("POST", accountPath(`/inbound/${encodeURIComponent(m.message_id)}/${what}`), { body: { notes: note.value.trim() || null } }));
    if (!answer) return;
    if (what === "unsubscribe") {
      fill(area, notice("ok", `Unsubscribed: ${answer.phone} is ${answer.status === "blocked" ? "blocked for all messages" : "blocked (" + answer.status.replace("_", " ") + ")"}. `, h("a", { href: `#/number?phone=${encodeURIComponent(answer.phone)}` }, "See the number")));
    } else {
      fill(area, notice("ok", "Dismissed: not an opt-out. The note is in the number's history."));
    }
    card.classList.add("resolved");
  };
  const verdict = [
    h("strong", {}, m.intent.replace("_", " ")),
    m.confidence !== null && m.confidence !== undefined ? ` (${Math.round(m.confidence * 100)}% sure)` : "",
    m.reason ? ` — ${m.reason}` : "",
  ];
  const reviewText = m.review
    ? `Reviewed: ${m.review.resolution} by ${m.review.actor}${m.review.notes ? ` (${m.review.notes})` : ""}`
    : m.needs_review
      ? "Awaiting review"
      : null;
  const card = h(
    "article",
    { class: `card sms ${m.needs_review && !m.review ? "review" : ""}`, "data-message-id": m.message_id },
    h(
      "header",
      {},
      h("a", { href: `#/number?phone=${encodeURIComponent(m.from_phone)}`, class: "from" }, m.from_phone),
      ` → ${m.to_phone} · ${m.carrier} · `,
      h("time", { datetime: m.received_at }, when(m.received_at)),
    ),
    h("p", { class: "sms-body" }, m.body),
    h("p", { class: "detector" }, "Detector: ", verdict),
    reviewText ? h("p", { class: "review-state" }, reviewText) : null,
    actions(m, note, act),
    area,
  );
  return card;
}

/** What may still be done with a message: nothing when the number was unsubscribed for it already (the service read
 * it as an opt-out, or an admin unsubscribed it), else Unsubscribe, and Dismiss until it is reviewed. */
function actions(m, note, act) {
  const number = h("a", { href: `#/number?phone=${encodeURIComponent(m.from_phone)}` }, "See the number");
  if (m.intent === "opt_out") {
    return h("p", { class: "acted" }, "Read as an opt-out: the service unsubscribed the number when the message came. ", number);
  }
  if (m.review && m.review.resolution === "unsubscribed") {
    return h("p", { class: "acted" }, "Unsubscribed for this message. ", number);
  }
  return h(
    "div",
    { class: "actions" },
    field("Note", note),
    h("button", { type: "button", class: "danger", onclick: act("unsubscribe") }, "Unsubscribe"),
    m.review ? null : h("button", { type: "button", onclick: act("dismiss") }, "Dismiss"),
  );
}

// --- New unsubscribe -------------------------------------------------------------------------------------------------

async function unsubscribePage(main, params, { go }) {
  const phone = h("input", { type: "tel", name: "phone", required: true, autocomplete: "off", value: params.get("phone") || "" });
  const notes = h("textarea", { name: "notes", rows: 3, maxlength: 2000 });
  const sender = h("input", { type: "tel", name: "sender", list: "sender-numbers", autocomplete: "off" });
  const senders = h("datalist", { id: "sender-numbers" });
  const search = h("input", { type: "search", name: "group-search", autocomplete: "off" });
  const kind = h("select", { name: "group-kind" }, h("option", { value: "" }, "any kind"), KINDS.map((k) => h("option", { value: k }, k)));
  const results = h("fieldset", { class: "choices", id: "group-results" }, h("legend", {}, "Matching groups"));
  const chosen = { scope: "all" };
  const radios = ["all", "sender", "group"].map((value) => h("input", { type: "radio", name: "restriction", value, checked: value === "all", id: uid("r") }));
  const senderBox = h("div", { class: "sub", hidden: true }, field("Sender number of the account", sender, "the number the texts come from, E.164"), senders);
  const groupBox = h(
    "div",
    { class: "sub", hidden: true },
    h("div", { class: "row" }, field("Find by name", search, "the beginnings of words: 'ann gal' finds 'Annual Gala'"), field("Kind", kind)),
    results,
  );
  const pickArea = statusArea();
  for (const radio of radios) {
    radio.addEventListener("change", () => {
      senderBox.hidden = !radios[1].checked;
      groupBox.hidden = !radios[2].checked;
      if (radios[2].checked) search.focus();
    });
  }
  let searchRun = 0;
  const runSearch = async () => {
    const run = ++searchRun;
    const q = search.value.trim();
    fill(results, h("legend", {}, "Matching groups"));
    fill(pickArea);
    if (!q) return;
    const show = async (cursor) => {
      const page = await findGroups({ q, kind: kind.value, limit: 20 }, cursor);
      if (run !== searchRun) return;
      results.querySelector(":scope > .more")?.remove();
      for (const g of page.groups) {
        const id = uid("g");
        const radio = h("input", { type: "radio", name: "group", value: g.id, id, onchange: () => (chosen.group = g) });
        results.append(h("div", { class: "choice" }, radio, h("label", { for: id }, h("strong", {}, g.name), ` · ${g.kind} · ${g.id}`)));
      }
      const found = results.querySelector(".choice");
      if (page.next_cursor) {
        const button = h("button", { type: "button", onclick: () => busy(button, pickArea, () => show(page.next_cursor), "Named groups") }, "More");
        results.append(h("p", { class: "more" }, found ? "" : "No match yet: the search has not reached every group. ", button));
      } else if (!found) {
        results.append(h("p", {}, "No group, event, organisation or employee by that name."));
      }
    };
    try {
      await show(undefined);
    } catch (error) {
      if (run === searchRun) fill(pickArea, notice("error", describe(error, "Named groups")));
    }
  };
  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(runSearch, 200);
  });
  kind.addEventListener("change", runSearch);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      runSearch();
    }
  });
  const result = statusArea();
  result.id = "unsubscribe-result";
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    {
      class: "card",
      id: "unsubscribe-form",
      onsubmit: async (event) => {
        event.preventDefault();
        let scope = "all";
        let label = "all messages";
        if (radios[1].checked) {
          scope = `sender:${sender.value.trim()}`;
          label = `texts from ${sender.value.trim()}`;
        } else if (radios[2].checked) {
          if (!chosen.group || !results.querySelector("input:checked")) {
            fill(result, notice("error", "Choose a group, event, organisation or employee from the search first."));
            return;
          }
          scope = `group:${chosen.group.id}`;
          label = `${chosen.group.kind} ${chosen.group.name}`;
        }
        const answer = await busy(save, result, () =>
          call("POST", accountPath("/suppressions"), { body: { phone: phone.value.trim(), scope, notes: notes.value.trim() || null } }),
        );
        if (!answer) return;
        fill(
          result,
          notice(
            "ok",
            `Saved: ${answer.phone} is blocked for ${label} (scope ${answer.suppression.scope}, source ${answer.suppression.source}). `,
            h("a", { href: `#/number?phone=${encodeURIComponent(answer.phone)}` }, "See the number"),
          ),
        );
      },
    },
    field("Phone number", phone, "any format; national numbers use the account's region"),
    h(
      "fieldset",
      { class: "choices" },
      h("legend", {}, "Restriction"),
      h("div", { class: "choice" }, radios[0], h("label", { for: radios[0].id }, "All for business (every message)")),
      h("div", { class: "choice" }, radios[1], h("label", { for: radios[1].id }, "One sender number of the account")),
      senderBox,
      h("div", { class: "choice" }, radios[2], h("label", { for: radios[2].id }, "A group, event, organisation or employee")),
      groupBox,
      pickArea,
    ),
    field("Notes", notes, "why: kept in the number's history"),
    save,
    result,
  );
  main.append(form);
  // The account's numbers that texts came in on: suggestions for the sender.
  try {
    const page = await call("GET", accountPath("/inbound"), { query: { limit: 100 } });
    for (const to of new Set(page.messages.map((m) => m.to_phone))) senders.append(h("option", { value: to }));
  } catch {
    // Only suggestions: the field takes any number.
  }
}

// --- Suppressions and import -------------------------------------------------------------------------------------------

async function suppressionsPage(main, params, { go }) {
  const source = h("select", { name: "source" }, h("option", { value: "" }, "any source"), Object.keys(SOURCE_TEXT).map((s) => h("option", { value: s }, s.replace("_", " "))));
  const scope = h("select", { name: "scope" }, ["", "all", "sender", "group"].map((s) => h("option", { value: s }, s || "any scope")));
  const phone = h("input", { type: "search", name: "phone", autocomplete: "off" });
  const body = h("tbody");
  const area = statusArea();
  const more = h("div", { id: "suppressions-more" });
  let numbers = [];
  let nextCursor = null;
  // A whole number typed in the search is asked of the service (the number's own view, any format): the answer
  // covers every suppression of the account, not only the pages loaded. A part of a number filters the loaded pages.
  let lookup = null;
  const pageSize = Math.min(1000, Math.max(1, Math.trunc(Number(params.get("page_size"))) || SUPPRESSIONS_PAGE));
  const row = (n, s) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/number?phone=${encodeURIComponent(n.phone)}` }, n.phone)),
      h("td", {}, s.scope),
      h("td", {}, s.source.replace("_", " ")),
      h("td", {}, when(s.since)),
      h("td", {}, s.actor || ""),
      h("td", { class: "notes" }, s.notes || ""),
    );
  const kept = (s) => (!source.value || s.source === source.value) && (!scope.value || s.scope === scope.value || s.scope.startsWith(`${scope.value}:`));
  const draw = () => {
    fill(body);
    fill(more);
    if (lookup) {
      for (const s of lookup.suppressions) if (kept(s)) body.append(row(lookup, s));
      if (!body.children.length) {
        const what = lookup.suppressions.length ? "No suppression of this number matches the filters." : "This number is not suppressed.";
        body.append(h("tr", { class: "none" }, h("td", { colspan: 6 }, `${lookup.phone}: ${what} (asked of the service: every suppression of the account.)`)));
      }
      return;
    }
    const digits = phone.value.replace(/[^0-9+]/g, "");
    for (const n of numbers) {
      if (digits && !n.phone.includes(digits)) continue;
      for (const s of n.suppressions) if (kept(s)) body.append(row(n, s));
    }
    const filtered = Boolean(digits || source.value || scope.value);
    const counted = `${numbers.length} number${numbers.length === 1 ? "" : "s"}`;
    if (!body.children.length) {
      const none = nextCursor
        ? `No match among the ${counted} loaded so far: more numbers are not loaded yet.`
        : "No suppression matches.";
      body.append(h("tr", { class: "none" }, h("td", { colspan: 6 }, none)));
    }
    if (nextCursor) {
      const button = h("button", { type: "button", onclick: () => busy(button, area, () => load(nextCursor)) }, "More");
      more.append(filtered ? h("p", { class: "partial", role: "status" }, `The filters cover only the ${counted} loaded so far. `, button) : button);
    }
  };
  for (const control of [source, scope]) control.addEventListener("change", draw);
  let lookupRun = 0;
  const ask = async () => {
    const run = ++lookupRun;
    const typed = phone.value.trim();
    lookup = null;
    fill(area);
    // Too short for a phone number: only a filter over the loaded pages.
    if (typed.replace(/[^0-9]/g, "").length < 7) return draw();
    try {
      const answer = await call("GET", phonePath(typed));
      if (run === lookupRun) lookup = answer;
    } catch (error) {
      if (run !== lookupRun) return;
      if (error.code !== "invalid_phone") fill(area, notice("error", describe(error)));
    }
    if (run === lookupRun) draw();
  };
  let timer;
  phone.addEventListener("input", () => {
    lookupRun += 1;
    lookup = null;
    draw();
    clearTimeout(timer);
    timer = setTimeout(ask, 300);
  });
  phone.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      ask();
    }
  });
  const load = async (cursor) => {
    const page = await call("GET", accountPath("/suppressions"), { query: { limit: pageSize, cursor } });
    numbers = numbers.concat(page.numbers);
    nextCursor = page.next_cursor;
    draw();
  };
  const exportButton = h(
    "button",
    {
      type: "button",
      onclick: () =>
        busy(exportButton, area, async () => {
          saveFile("suppressions.csv", await csvPages(accountPath("/suppressions"), { limit: 1000 }));
          fill(area, notice("ok", "Exported: suppressions.csv"));
        }),
    },
    "Export CSV",
  );
  main.append(
    h("div", { class: "card filters" }, field("Source", source), field("Scope", scope), field("Number", phone, "a whole number (any format) is looked up; a part filters the loaded numbers"), exportButton, h("a", { href: "#/import", class: "button" }, "Import…")),
    area,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "suppressions" },
        h("caption", {}, "Suppressed numbers"),
        h("thead", {}, h("tr", {}, ["Number", "Scope", "Source", "Since", "Who", "Why"].map((t) => h("th", { scope: "col" }, t)))),
        body,
      ),
    ),
    more,
  );
  await load(undefined);
}

async function importPage(main) {
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
  const mode = h("select", { name: "mode" }, h("option", { value: "opt_out" }, "opt out every number"), h("option", { value: "reset" }, "reset: lift import, manual and bounce suppressions"));
  const dry = h("input", { type: "checkbox", name: "dry_run", checked: true, id: uid() });
  const importId = h("input", { name: "import_id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", value: `console-${new Date().toISOString().replace(/[^0-9]/g, "").slice(0, 14)}` });
  const area = statusArea();
  const progress = h("div", { id: "import-progress" });
  const start = h("button", { type: "submit", class: "primary" }, "Import");
  main.append(
    h(
      "form",
      {
        class: "card",
        onsubmit: async (event) => {
          event.preventDefault();
          if (!file.files.length) return;
          const text = await file.files[0].text();
          const job = await busy(start, area, () =>
            call("POST", accountPath("/suppressions/import"), { query: { import_id: importId.value.trim(), mode: mode.value, dry_run: dry.checked ? "true" : "false" }, text, contentType: "text/csv" }),
          );
          if (job) follow(job.import_id, progress, area);
        },
      },
      h("p", {}, "A CSV with a header line naming ", h("code", {}, "phone"), " (and optionally ", h("code", {}, "scope"), " and ", h("code", {}, "notes"), "); up to 100,000 rows."),
      field("File", file),
      field("Mode", mode),
      h("div", { class: "field check" }, dry, h("label", { for: dry.id }, "Dry run: show what it would do, change nothing")),
      field("Import id", importId, "the same id again shows that import and changes nothing"),
      start,
    ),
    area,
    progress,
  );
}

async function follow(importId, out, area) {
  for (;;) {
    let job;
    try {
      job = await call("GET", accountPath(`/suppressions/import/${encodeURIComponent(importId)}`), { query: { limit: 100 } });
    } catch (error) {
      fill(area, notice("error", describe(error)));
      return;
    }
    const counts = Object.entries(job.counts).map(([k, v]) => h("li", {}, `${k.replace("_", " ")}: ${v}`));
    fill(
      out,
      h(
        "section",
        { class: "card" },
        h("h3", {}, `Import ${job.import_id}${job.dry_run ? " (dry run: nothing changed)" : ""}`),
        h("p", {}, `Status: ${job.status}. ${job.processed} of ${job.rows ?? "?"} rows.`),
        h("progress", { max: job.rows || 1, value: job.processed, "aria-label": "rows processed" }),
        h("ul", { class: "counts" }, counts),
        job.error ? notice("error", job.error) : null,
        job.rejected && job.rejected.length
          ? h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                {},
                h("caption", {}, "Rejected rows"),
                h("thead", {}, h("tr", {}, ["Line", "Kind", "Reason", "Input"].map((t) => h("th", { scope: "col" }, t)))),
                h("tbody", {}, job.rejected.map((r) => h("tr", {}, h("td", {}, String(r.line)), h("td", {}, r.kind), h("td", {}, r.reason), h("td", { class: "notes" }, r.input || "")))),
              ),
            )
          : null,
      ),
    );
    if (job.status === "done" || job.status === "failed") return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// --- Reports and campaigns ---------------------------------------------------------------------------------------------

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

const REPORT_TABLES = [
  ["source", "By source", "Source"],
  ["keyword", "By keyword (what the contact texted, or the detector's reading of their words)", "Keyword"],
  ["sender", "By sender number (the number the contact texted)", "Sender"],
];

/** A small table: a caption, the column headings, and rows of cells (strings or elements). */
function table(attrs, caption, headings, rows, empty) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))) : h("tr", {}, h("td", { colspan: headings.length }, empty))),
    ),
  );
}

async function reportsPage(main, params, { go }) {
  const today = new Date();
  const from = h("input", { type: "date", name: "from", value: params.get("from") || isoDay(new Date(today.getTime() - 29 * 86400000)) });
  const to = h("input", { type: "date", name: "to", value: params.get("to") || isoDay(today) });
  const per = h("select", { name: "by" }, ["day", "week"].map((value) => h("option", { value, selected: params.get("by") === value }, value === "day" ? "day" : "ISO week")));
  main.append(
    h(
      "form",
      {
        class: "card filters",
        onsubmit: (event) => {
          event.preventDefault();
          go("reports", { from: from.value, to: to.value, by: per.value });
        },
      },
      field("From", from),
      field("To", to),
      field("Per", per),
      h("button", { type: "submit" }, "Show"),
    ),
  );
  const out = h("section", { class: "card", id: "report" });
  main.append(out);
  const range = { from: from.value, to: to.value };
  const by = per.value;
  let report;
  let tables;
  try {
    [report, ...tables] = await Promise.all([
      call("GET", accountPath("/reports/opt-outs"), { query: { ...range, by } }),
      ...[...REPORT_TABLES.map(([key]) => key), "campaign"].map((key) => call("GET", accountPath("/reports/opt-outs"), { query: { ...range, by: key } })),
    ]);
  } catch (error) {
    out.append(notice("error", describe(error, "Reports")));
    return;
  }
  const unit = by === "week" ? "week" : "day";
  const active = report.rows.filter((row) => row.opt_outs || row.opt_ins);
  const area = statusArea();
  const csvBy = h("select", { name: "csv-by" }, [by, ...REPORT_TABLES.map(([key]) => key), "campaign"].map((value) => h("option", { value }, `per ${value}`)));
  const download = h(
    "button",
    {
      type: "button",
      onclick: () =>
        busy(download, area, async () => {
          const name = `opt-outs-${report.from}-${report.to}-by-${csvBy.value}.csv`;
          saveFile(name, await csvPages(accountPath("/reports/opt-outs"), { ...range, by: csvBy.value }));
          fill(area, notice("ok", `Downloaded: ${name}`));
        }),
    },
    "Download CSV",
  );
  const campaignRows = tables[3].rows.map((row) => [
    h("a", { href: `#/campaigns?campaign=${encodeURIComponent(row.key)}` }, row.key),
    String(row.sent),
    String(row.opt_outs),
    row.opt_out_rate === null ? "" : `${(row.opt_out_rate * 100).toFixed(2).replace(/\.?0+$/, "")}%`,
  ]);
  out.append(
    h("h3", {}, `Opt-outs per ${unit} by source, ${report.from} to ${report.to}`),
    h("p", { id: "report-totals" }, `${plural(report.totals.opt_outs, "opt-out")}, ${plural(report.totals.opt_ins, "opt-in")}.`),
    optOutChart(report.rows, `Opt-outs per ${unit} by source from ${report.from} to ${report.to}`),
    legend(),
    h("div", { class: "row" }, field("CSV of the rows", csvBy), download),
    area,
  );
  main.append(
    h(
      "section",
      { class: "card", id: "report-tables" },
      h("div", { class: "grid" }, REPORT_TABLES.map(([key, caption, heading], index) =>
        table({ id: `by-${key}` }, caption, [heading, "Opt-outs", "Opt-ins"], tables[index].rows.map((row) => [row.key === null ? "(none)" : key === "source" ? row.key.replace("_", " ") : row.key, String(row.opt_outs), String(row.opt_ins)]), "Nothing in this range."),
      )),
      table({ id: "by-campaign" }, "By campaign (a contact's own opt-out within 7 days after a text of it)", ["Campaign", "Texts sent", "Opt-outs", "Opt-out rate"], campaignRows, "No opt-out followed a campaign in this range."),
      table(
        { id: `by-${unit}` },
        `The ${unit}s with opt-outs or opt-ins`,
        [unit === "day" ? "Day" : "Week", "Opt-outs", "Opt-ins", "Opt-outs by source"],
        active.map((row) => [row.period, String(row.opt_outs), String(row.opt_ins), Object.entries(row.by_source).map(([k, v]) => `${k.replace("_", " ")} ${v}`).join(", ")]),
        "None in this range.",
      ),
    ),
  );
}

const REASONS = {
  suppressed: "the number is blocked",
  carrier_opted_out: "the carrier says the contact opted out",
};

async function campaignsPage(main, params, { go }) {
  const campaign = h("input", { name: "campaign", required: true, value: params.get("campaign") || "", pattern: "[A-Za-z0-9][A-Za-z0-9._:@\\/+=\\-]{0,127}" });
  main.append(
    h(
      "form",
      {
        class: "card row",
        onsubmit: (event) => {
          event.preventDefault();
          go("campaigns", { campaign: campaign.value.trim() });
        },
      },
      field("Campaign id", campaign),
      h("button", { type: "submit", class: "primary" }, "Show"),
    ),
  );
  const id = params.get("campaign");
  if (!id) {
    const recent = await call("GET", accountPath("/reports/opt-outs"), { query: { by: "campaign" } });
    main.append(
      h(
        "section",
        { class: "card", id: "recent-campaigns" },
        h("h3", {}, "Campaigns with opt-outs in the last 30 days"),
        recent.rows.length
          ? h("ul", {}, recent.rows.map((row) => h("li", {}, h("a", { href: `#/campaigns?campaign=${encodeURIComponent(row.key)}` }, row.key), ` · ${row.sent} sent, ${plural(row.opt_outs, "opt-out")}`)))
          : h("p", {}, "None: give a campaign id above."),
      ),
    );
    return;
  }
  const counts = await call("GET", accountPath("/sends"), { query: { campaign: id } });
  const reasons = (map) => {
    const items = Object.entries(map).map(([k, v]) => h("li", {}, `${k.replaceAll("_", " ")}: ${v}`));
    return items.length ? items : [h("li", {}, "none")];
  };
  const area = statusArea();
  const download = h(
    "button",
    {
      type: "button",
      onclick: () =>
        busy(download, area, async () => {
          const name = `sends-${id}.csv`;
          saveFile(name, await csvPages(accountPath("/sends"), { campaign: id, outcome: "any", limit: 1000 }));
          fill(area, notice("ok", `Downloaded: ${name}`));
        }),
    },
    "Download CSV of every text",
  );
  main.append(
    h(
      "section",
      { class: "card", id: "campaign-counts" },
      h("h3", {}, `Campaign ${counts.campaign_id}`),
      h("p", {}, `${plural(counts.total, "text")}: ${counts.sent} sent.`),
      h("div", { class: "row" }, h("div", {}, h("h4", {}, "Skipped"), h("ul", {}, reasons(counts.skipped))), h("div", {}, h("h4", {}, "Failed"), h("ul", {}, reasons(counts.failed)))),
      h("div", { class: "row" }, download),
      area,
    ),
  );
  const skipped = h("section", { class: "card", id: "skipped" }, h("h3", {}, "Skipped numbers, and why"));
  main.append(skipped);
  const body = h("tbody");
  const more = h("div");
  const load = async (cursor) => {
    const page = await call("GET", accountPath("/sends"), { query: { campaign: id, outcome: "skipped", limit: 100, cursor } });
    for (const s of page.sends) {
      const why = s.blocked_by.length
        ? await Promise.all(s.blocked_by.map(async (b) => `${await scopeLabel(b.scope)}, by ${SOURCE_TEXT[b.source] || b.source}`))
        : [];
      body.append(
        h(
          "tr",
          { "data-phone": s.to },
          h("td", { class: "phone" }, h("a", { href: `#/number?phone=${encodeURIComponent(s.to)}` }, s.to)),
          h("td", {}, h("strong", {}, REASONS[s.reason] || (s.reason || "").replaceAll("_", " ")), why.length ? h("ul", { class: "why" }, why.map((w) => h("li", {}, w))) : null, s.detail ? h("div", { class: "notes" }, s.detail) : null),
          h("td", {}, h("code", {}, s.request_id)),
          h("td", {}, when(s.updated_at)),
        ),
      );
    }
    if (!cursor && !page.sends.length) body.append(h("tr", {}, h("td", { colspan: 4 }, "No number was skipped.")));
    fill(more);
    if (page.next_cursor) {
      const button = h("button", { type: "button", onclick: () => busy(button, more, () => load(page.next_cursor)) }, "More");
      more.append(button);
    }
  };
  skipped.append(
    h(
      "div",
      { class: "table-wrap" },
      h("table", {}, h("thead", {}, h("tr", {}, ["Number", "Why", "Request", "When"].map((t) => h("th", { scope: "col" }, t)))), body),
    ),
    more,
  );
  try {
    await load(undefined);
  } catch (error) {
    skipped.append(notice("error", describe(error, "The list of skipped numbers")));
  }
}

// --- Named groups ------------------------------------------------------------------------------------------------------

async function groupsPage(main) {
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k)));
  const id = h("input", { name: "id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.:@\\/\\-]{0,127}", autocomplete: "off" });
  const name = h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" });
  const area = statusArea();
  const list = h("tbody");
  const q = h("input", { type: "search", name: "q" });
  const more = h("div", { id: "groups-more" });
  let drawRun = 0;
  const draw = async (cursor) => {
    const run = cursor ? drawRun : ++drawRun;
    const page = await findGroups({ q: q.value.trim(), limit: 200 }, cursor);
    if (run !== drawRun) return;
    if (!cursor) fill(list);
    list.querySelector("tr.none")?.remove();
    for (const g of page.groups) {
      const remove = h(
        "button",
        {
          type: "button",
          class: "danger",
          "aria-label": `Remove ${g.name}`,
          onclick: async () => {
            if (await busy(remove, area, () => call("DELETE", accountPath(`/groups/${encodeURIComponent(g.id)}`)))) draw();
          },
        },
        "Remove",
      );
      list.append(h("tr", {}, h("td", {}, g.name), h("td", {}, g.kind), h("td", {}, h("code", {}, g.id)), h("td", {}, remove)));
    }
    fill(more);
    if (page.next_cursor) {
      const button = h("button", { type: "button", onclick: () => busy(button, area, () => draw(page.next_cursor)) }, "More");
      more.append(list.children.length ? "" : "No match yet: the search has not reached every group. ", button);
    } else if (!list.children.length) {
      list.append(h("tr", { class: "none" }, h("td", { colspan: 4 }, "None.")));
    }
  };
  const add = h("button", { type: "submit", class: "primary" }, "Add");
  main.append(
    h(
      "form",
      {
        class: "card row",
        onsubmit: async (event) => {
          event.preventDefault();
          const made = await busy(add, area, () => call("POST", accountPath("/groups"), { body: { kind: kind.value, id: id.value.trim(), name: name.value.trim() } }));
          if (made) {
            fill(area, notice("ok", `Added ${made.kind} ${made.name} (${made.id}).`));
            id.value = "";
            name.value = "";
            draw();
          }
        },
      },
      field("Kind", kind),
      field("Id (what suppressions name)", id),
      field("Name", name),
      add,
    ),
    area,
    h("div", { class: "card row" }, field("Find by name", q)),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", {}, "The account's named groups"), h("thead", {}, h("tr", {}, ["Name", "Kind", "Id", ""].map((t) => h("th", { scope: "col" }, t)))), list)),
    more,
  );
  let timer;
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => draw().catch((error) => fill(area, notice("error", describe(error)))), 200);
  });
  await draw();
}

// --- Settings ----------------------------------------------------------------------------------------------------------

async function settingsPage(main) {
  const { account } = await call("GET", accountPath(""));
  const area = statusArea();
  const replyFields = {};
  const replyKinds = ["opt_out", "opt_in", "opt_in_blocked", "help"];
  const languages = ["en", ...Object.keys(account.replies.languages || {})];
  const replySections = languages.map((lang) => {
    const texts = lang === "en" ? account.replies : account.replies.languages[lang] || {};
    return h(
      "fieldset",
      {},
      h("legend", {}, lang === "en" ? "Replies in English" : `Replies in ${lang}`),
      replyKinds.map((kind) => {
        const input = h("textarea", { name: `${lang}-${kind}`, rows: 2, maxlength: 1600, value: texts[kind] || "" });
        replyFields[`${lang}:${kind}`] = input;
        return field(kind.replaceAll("_", " "), input);
      }),
    );
  });
  const keywordFields = {};
  const keywordInputs = ["opt_out", "opt_in", "help"].map((intent) => {
    const input = h("input", { name: `keywords-${intent}`, value: (account.keywords[intent] || []).join(", ") });
    keywordFields[intent] = input;
    return field(`${intent.replace("_", " ")} keywords (comma-separated)`, input);
  });
  const optOut = h("input", { type: "number", name: "opt_out_threshold", min: 0.5, max: 1, step: 0.01, value: account.detector.opt_out_threshold });
  const review = h("input", { type: "number", name: "review_threshold", min: 0.5, max: 1, step: 0.01, value: account.detector.review_threshold });
  const templateFields = {};
  const templates = Object.keys(account.email_templates).map((kind) => {
    const subject = h("input", { name: `${kind}-subject`, value: account.email_templates[kind].subject || "" });
    const text = h("textarea", { name: `${kind}-text`, rows: 3, value: account.email_templates[kind].text || "" });
    templateFields[kind] = { subject, text };
    return h("fieldset", {}, h("legend", {}, `Email: ${kind.replaceAll("_", " ")}`), field("Subject (empty: the default)", subject), field("Text (empty: the default)", text));
  });
  const save = h("button", { type: "submit", class: "primary" }, "Save settings");
  main.append(
    h(
      "form",
      {
        class: "card",
        id: "settings-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const replies = { languages: {} };
          for (const [key, input] of Object.entries(replyFields)) {
            const [lang, kind] = key.split(":");
            const value = input.value.trim() || null;
            if (lang === "en") {
              if (value) replies[kind] = value;
            } else {
              replies.languages[lang] = { ...(replies.languages[lang] || {}), [kind]: value };
            }
          }
          const split = (input) => input.value.split(",").map((w) => w.trim()).filter(Boolean);
          const body = {
            replies,
            keywords: { opt_out: split(keywordFields.opt_out), opt_in: split(keywordFields.opt_in), help: split(keywordFields.help) },
            detector: { opt_out_threshold: Number(optOut.value), review_threshold: Number(review.value) },
            email_templates: Object.fromEntries(Object.entries(templateFields).map(([kind, f]) => [kind, { subject: f.subject.value.trim() || null, text: f.text.value.trim() || null }])),
          };
          if (await busy(save, area, () => call("PUT", accountPath(""), { body }))) fill(area, notice("ok", "Saved."));
        },
      },
      h("h3", {}, account.name),
      replySections,
      h("fieldset", {}, h("legend", {}, "Keywords (besides the built-in ones)"), keywordInputs),
      h("fieldset", {}, h("legend", {}, "Opt-out detector"), field("Opt out at or above (confidence)", optOut), field("Review from (confidence)", review)),
      templates,
      save,
      area,
    ),
  );
  await endpointsSection(main);
}

async function endpointsSection(main) {
  const area = statusArea();
  const list = h("ul", { class: "endpoints" });
  const url = h("input", { type: "url", name: "url", required: true, placeholder: "https://crm.example.com/hooks" });
  const description = h("input", { name: "description", maxlength: 200 });
  const draw = async () => {
    const answer = await call("GET", accountPath("/event-endpoints"));
    fill(list);
    for (const e of answer.endpoints) {
      const remove = h(
        "button",
        { type: "button", class: "danger", onclick: async () => (await busy(remove, area, () => call("DELETE", accountPath(`/event-endpoints/${e.endpoint_id}`)))) && draw() },
        "Delete",
      );
      list.append(h("li", {}, h("code", {}, e.url), e.description ? ` · ${e.description}` : "", e.active ? " · active" : ` · disabled (${e.disabled_reason || ""})`, " ", remove));
    }
    if (!answer.endpoints.length) list.append(h("li", {}, "None."));
  };
  const add = h("button", { type: "submit" }, "Add endpoint");
  main.append(
    h(
      "section",
      { class: "card" },
      h("h3", {}, "Webhook endpoints (change events)"),
      list,
      h(
        "form",
        {
          class: "row",
          onsubmit: async (event) => {
            event.preventDefault();
            const made = await busy(add, area, () => call("POST", accountPath("/event-endpoints"), { body: { url: url.value.trim(), description: description.value.trim() || null } }));
            if (made) {
              fill(area, notice("ok", "Added. Its signing secret, shown this once: ", h("code", {}, made.secret)));
              draw();
            }
          },
        },
        field("URL", url),
        field("Description", description),
        add,
      ),
      area,
    ),
  );
  try {
    await draw();
  } catch (error) {
    fill(area, notice("error", describe(error, "Webhook endpoints")));
  }
}

export const PAGES = {
  inbound: { title: "SMS received", render: inboundPage },
  number: { title: "Number", render: numberPage },
  unsubscribe: { title: "New unsubscribe", render: unsubscribePage },
  suppressions: { title: "Suppressions", render: suppressionsPage },
  import: { title: "Import", render: importPage },
  reports: { title: "Reports", render: reportsPage },
  campaigns: { title: "Campaigns", render: campaignsPage },
  groups: { title: "Groups", render: groupsPage },
  settings: { title: "Settings", render: settingsPage },
};
