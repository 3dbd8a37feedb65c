// Sign-in: an admin token pasted once, kept in sessionStorage (this tab, until it closes),
// never in localStorage. The token is tried with `me` before the page opens.

import { Api } from "./api.js";
import { el, field, fill } from "./dom.js";
import { describe } from "./errors.js";

const KEY = "lumbung.token";

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

/** Show the sign-in form in `root`; calls onSignedIn(token, me) once a token works. */
export function showSignIn(root, reason, onSignedIn) {
  const input = el("textarea", {
    name: "token",
    rows: "4",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const message = el("p", { class: "error", role: "alert" });
  if (reason) fill(message, reason);
  const submit = el("button", { type: "submit" }, "Sign in");
  const form = el(
    "form",
    { class: "signin panel", "aria-labelledby": "signin-title" },
    el("h2", { id: "signin-title" }, "Sign in"),
    el(
      "p",
      {},
      "Paste an admin token (from ",
      el("code", {}, "lumbung token --sub 1 --role admin"),
      " or your identity provider). It is kept for this browser tab only.",
    ),
    field("Admin token", input),
    message,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim().replace(/^Bearer\s+/i, "");
    if (!token) return;
    submit.disabled = true;
    fill(message, "Checking the token…");
    let refusal = null;
    const api = new Api(token, (why) => {
      refusal = why;
    });
    try {
      const data = await api.query("{ me { subject isAdmin expiresAt user { name } } }");
      sessionStorage.setItem(KEY, token);
      api.close();
      onSignedIn(token, data.me);
    } catch (error) {
      fill(message, refusal || describe(error).join(" "));
      submit.disabled = false;
    }
  });
  fill(root, form);
  input.focus();
}
