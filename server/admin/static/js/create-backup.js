// "Create Backup Now" and its Backup Options modal: the type, the tables (from `tables`, for
// SELECTIVE), schema and data, a description.

import { checkbox, el, field, fill, select } from "./dom.js";
import { modal, Refusal } from "./dialog.js";

const TABLES = "{ tables { name kind isCore estimatedRows } }";
const CREATE = `mutation ($input: CreateBackupInput!) {
  createBackup(input: $input) { message backup { id filename status } }
}`;

export async function openCreateBackup(api, onStarted) {
  const type = select(
    [
      ["FULL", "Full: the whole database"],
      ["PARTIAL", "Partial: the core tables"],
      ["SELECTIVE", "Selective: the tables I pick"],
    ],
    { name: "backupType" },
  );
  const tablesBox = el("fieldset", { class: "tables", hidden: true }, el("legend", {}, "Tables"));
  const tableChecks = [];
  const schema = checkbox("Include schema (table definitions)", { checked: true, name: "includeSchema" });
  const data = checkbox("Include data (table rows)", { checked: true, name: "includeData" });
  const description = el("input", { type: "text", name: "description", maxlength: "191" });
  type.addEventListener("change", () => {
    tablesBox.hidden = type.value !== "SELECTIVE";
  });

  modal({
    title: "Backup options",
    submitLabel: "Start backup",
    body: [
      field("Backup type", type),
      tablesBox,
      el("fieldset", {}, el("legend", {}, "Contents"), schema.node, data.node),
      field("Description", description, "Optional, at most 191 characters."),
    ],
    onSubmit: async (_form, close) => {
      const input = {
        backupType: type.value,
        includeSchema: schema.input.checked,
        includeData: data.input.checked,
        description: description.value.trim() || null,
      };
      if (type.value === "SELECTIVE") {
        input.tables = tableChecks.filter((check) => check.checked).map((check) => check.value);
        if (input.tables.length === 0) throw new Refusal("Pick at least one table for a selective backup.");
      }
      if (!input.includeSchema && !input.includeData) {
        throw new Refusal("Include the schema, the data, or both.");
      }
      const result = await api.query(CREATE, { input });
      close();
      onStarted(result.createBackup.backup, result.createBackup.message);
    },
  });

  const loading = el("p", { class: "muted" }, "Loading tables…");
  tablesBox.append(loading);
  try {
    const { tables } = await api.query(TABLES);
    loading.remove();
    for (const table of tables) {
      const check = checkbox(table.kind === "VIEW" ? `${table.name} (view)` : table.name, {
        value: table.name,
        name: "tables",
      });
      tableChecks.push(check.input);
      tablesBox.append(check.node);
    }
  } catch (error) {
    fill(loading, `The tables could not be listed: ${error.message}`);
  }
}
