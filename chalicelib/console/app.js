// The console's shell: sign-in, the navigation, and the router (#/page?query) that hands each page its <main>.

import { call, accountPath, describe, session, signIn, signOut } from "./api.js";
import { field, fill, h, notice } from "./dom.js";
import { PAGES } from "./pages.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

function route() {
  const [path, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  return { name: path || "inbound", params: new URLSearchParams(query || "") };
}

/** Go to a page: `go("number", {phone})`. */
export function go(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  const target = `#/${name}${query ? `?${query}` : ""}`;
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

function renderSignIn(problem) {
  fill(nav);
  fill(who);
  const account = h("input", { name: "account", autocomplete: "username", required: true, spellcheck: "false" });
  const token = h("input", { name: "token", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { class: "status-area" }, problem ? notice("error", problem) : null);
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (event) => {
        event.preventDefault();
        signIn(account.value.trim(), token.value.trim());
        try {
          await call("GET", accountPath(""));
          render();
        } catch (error) {
          signOut();
          fill(status, notice("error", describe(error)));
        }
      },
    },
    h("h2", {}, "Sign in"),
    h("p", {}, "With the account's admin token. It stays in this tab only and is forgotten when the tab closes."),
    field("Account id", account),
    field("Admin token", token),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    status,
  );
  fill(main, form);
  account.focus();
}

function renderNav(current) {
  fill(
    nav,
    h(
      "ul",
      {},
      Object.entries(PAGES).map(([name, page]) =>
        h("li", {}, h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : null }, page.title)),
      ),
    ),
  );
  const saved = session();
  fill(
    who,
    h("span", {}, "Account "),
    h("strong", { id: "account-id" }, saved.account),
    " ",
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          signOut();
          render();
        },
      },
      "Sign out",
    ),
  );
}

async function render() {
  if (!session()) {
    renderSignIn();
    return;
  }
  const { name, params } = route();
  const page = PAGES[name] || PAGES.inbound;
  renderNav(name in PAGES ? name : "inbound");
  document.title = `${page.title} · Opt-out desk`;
  fill(main, h("h2", { id: "page-title" }, page.title));
  try {
    await page.render(main, params, { go });
  } catch (error) {
    if (error && error.code === "unauthenticated") {
      signOut();
      renderSignIn(describe(error));
      return;
    }
    main.appendChild(notice("error", describe(error)));
  }
}

window.addEventListener("hashchange", () => {
  render();
  main.focus();
});
render();
