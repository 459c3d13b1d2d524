// Building the page: elements from createElement and text from textContent only. Nothing here parses HTML, so a
// value from an SMS (written by a stranger) is always shown as text.

let ids = 0;

/** A unique id for a label's `for`. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/**
 * h("button", {type: "button", onclick: fn, class: "primary"}, "Save"): an element with attributes, event handlers
 * (`on...` functions) and children (strings become text nodes; null and false are skipped; arrays are flattened).
 */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "rect", "g", "text", "line", "title", "path"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" && !svg) {
      el.value = value;
    } else if (name === "checked" || name === "disabled" || name === "selected") {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled control: the label, then the control (its id set for the label). */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid();
  const hintEl = hint ? h("span", { class: "hint", id: uid("hint") }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, labelText), control, hintEl);
}

/** A date and time for people, in the browser's time zone. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** A status line for one area: `role=status` (polite) or `role=alert` for errors. */
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/** Hand `text` to the browser as a file to save, named `name`. */
export function saveFile(name, text, type = "text/csv") {
  const href = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
