// Restore, with the confirmation admins know: the backup's file name typed again. A subset of
// its tables may be picked; the safety backup (what is about to be overwritten) is on unless
// unticked.

import { checkbox, el, field } from "./dom.js";
import { modal, Refusal } from "./dialog.js";

const RESTORE = `mutation ($id: Int!, $confirm: String!, $tables: [String!], $safety: Boolean, $description: String) {
  restoreBackup(id: $id, confirm: $confirm, tables: $tables, safetyBackup: $safety, description: $description) {
    message restoreLog { id status }
  }
}`;

export function openRestore(api, backup, onStarted) {
  const confirm = el("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false" });
  const tables = backup.tables.map((name) => checkbox(name, { value: name, checked: true, name: "tables" }));
  const safety = checkbox("Back up the current data first (safety backup)", { checked: true, name: "safety" });
  const description = el("input", { type: "text", name: "description", maxlength: "191" });
  modal({
    title: `Restore ${backup.filename}`,
    submitLabel: "Restore",
    danger: true,
    body: [
      el(
        "p",
        { class: "warning" },
        "This overwrites the live tables with the backup's. Type the file name to confirm: ",
        el("code", {}, backup.filename),
      ),
      field("File name", confirm),
      el("fieldset", { class: "tables" }, el("legend", {}, "Tables to restore"), tables.map((check) => check.node)),
      safety.node,
      field("Description", description, "Optional."),
    ],
    onSubmit: async (_form, close) => {
      if (confirm.value.trim() !== backup.filename) {
        throw new Refusal(`The name typed is not ${backup.filename}: nothing was restored.`);
      }
      const picked = tables.filter((check) => check.input.checked).map((check) => check.input.value);
      if (picked.length === 0) throw new Refusal("Pick at least one table to restore.");
      const result = await api.query(RESTORE, {
        id: backup.id,
        confirm: confirm.value.trim(),
        tables: picked.length === backup.tables.length ? null : picked,
        safety: safety.input.checked,
        description: description.value.trim() || null,
      });
      close();
      onStarted(result.restoreBackup.restoreLog, result.restoreBackup.message);
    },
  });
  confirm.focus();
}

const DELETE = `mutation ($id: Int!, $confirm: String!) {
  deleteBackup(id: $id, confirm: $confirm) { message }
}`;

export function openDelete(api, backup, onDeleted) {
  const confirm = el("input", { type: "text", name: "confirm", autocomplete: "off", spellcheck: "false" });
  modal({
    title: `Delete ${backup.filename}`,
    submitLabel: "Delete",
    danger: true,
    body: [
      el("p", { class: "warning" }, "The file, its manifest and its offsite copies go. Type the file name to confirm: ",
        el("code", {}, backup.filename)),
      field("File name", confirm),
    ],
    onSubmit: async (_form, close) => {
      if (confirm.value.trim() !== backup.filename) {
        throw new Refusal(`The name typed is not ${backup.filename}: nothing was deleted.`);
      }
      const result = await api.query(DELETE, { id: backup.id, confirm: backup.filename });
      close();
      onDeleted(result.deleteBackup.message);
    },
  });
  confirm.focus();
}
