// Native <dialog> modals: focus is trapped and Escape closes them, by the browser itself.

import { el, fill } from "./dom.js";
import { showError } from "./errors.js";

/**
 * A modal form. `body` is its fields; `onSubmit(form)` runs on submit and may throw: the
 * error is shown in the dialog in words and the dialog stays open. Resolves nothing; the
 * caller closes it with `close()` from onSubmit when it is done.
 */
export function modal({ title, body, submitLabel, onSubmit, danger = false }) {
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const error = el("div", { class: "error", role: "alert" });
  const submit = el("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
  const cancel = el("button", { type: "button", onclick: () => close() }, "Cancel");
  const form = el("form", { method: "dialog" }, body, error, el("div", { class: "actions" }, cancel, submit));
  const dialog = el("dialog", { "aria-labelledby": titleId }, el("h2", { id: titleId }, title), form);
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fill(error);
    submit.disabled = true;
    try {
      await onSubmit(form, close);
    } catch (problem) {
      showError(error, problem);
    } finally {
      submit.disabled = false;
    }
  });
  // An answer about what was typed before goes once the admin types again.
  form.addEventListener("input", () => fill(error));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close, error };
}

/** An error the page itself raises (a confirmation that does not match): shown like the API's. */
export class Refusal extends Error {
  constructor(message) {
    super(message);
    this.name = "Refusal";
  }
}
