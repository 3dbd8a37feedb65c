// The Backup History: newest first, paged, filtered by status, type and last drill; per
// backup: restore, verify, download, test restore, delete.

import { el, field, fill, select, when } from "./dom.js";
import { showError } from "./errors.js";
import { openDelete, openRestore } from "./restore.js";

const BACKUPS = `query ($page: Int!, $limit: Int!, $status: JobStatus, $type: BackupType, $drill: LastDrill,
                  $by: Int, $from: DateTime, $until: DateTime, $min: BigInt, $max: BigInt) {
  backups(page: $page, limit: $limit, status: $status, backupType: $type, lastDrill: $drill,
          createdBy: $by, createdFrom: $from, createdUntil: $until, minSize: $min, maxSize: $max) {
    total page pageCount
    items {
      id filename backupType status fileSize fileSizeHuman createdAt createdBy origin
      description errorMessage tables encrypted pinned durationSeconds verifiedAt verifyStatus
      creator { name email }
      lastDrill { status restoresIn }
    }
  }
}`;
const VERIFY = `mutation ($id: Int!) { verifyBackup(id: $id) { status problems sectionsChecked } }`;
const DRILL = `mutation ($id: Int!) { testRestore(backupId: $id) { message drill { id } } }`;

function nextDay(value) {
  const day = new Date(`${value}T00:00`);
  day.setDate(day.getDate() + 1);
  return day;
}

function megabytes(value) {
  return value === "" ? null : Math.round(Number(value) * 1024 * 1024);
}

const ORIGIN = { MANUAL: "", SAFETY: " (safety)", SCHEDULED: " (scheduled)" };

export class History {
  constructor(api, progress, notice) {
    this.api = api;
    this.progress = progress;
    this.notice = notice;
    this.page = 1;
    // backup id -> what its row says (an action's outcome); kept here so that it survives the
    // history being drawn again (a job ending elsewhere redraws it at any moment).
    this.notes = new Map();
    this.status = select([["", "Any status"], ["IN_PROGRESS", "In progress"], ["COMPLETED", "Completed"], ["FAILED", "Failed"]]);
    this.type = select([["", "Any type"], ["FULL", "Full"], ["PARTIAL", "Partial"], ["SELECTIVE", "Selective"]]);
    this.drill = select([["", "Any drill"], ["PASSED", "Drill passed"], ["FAILED", "Drill failed"], ["NEVER", "Never drilled"]]);
    this.limit = select([["10", "10"], ["25", "25"], ["50", "50"]]);
    this.creator = el("input", { type: "number", min: "0", inputmode: "numeric" });
    this.from = el("input", { type: "date" });
    this.until = el("input", { type: "date" });
    this.minSize = el("input", { type: "number", min: "0", step: "any" });
    this.maxSize = el("input", { type: "number", min: "0", step: "any" });
    const controls = [this.status, this.type, this.drill, this.limit, this.creator, this.from, this.until, this.minSize, this.maxSize];
    for (const control of controls) {
      control.addEventListener("change", () => {
        this.page = 1;
        this.load();
      });
    }
    this.rows = el("tbody");
    this.pager = el("span", { class: "pager-text" });
    this.previous = el("button", { type: "button", onclick: () => this.go(-1) }, "Previous page");
    this.next = el("button", { type: "button", onclick: () => this.go(1) }, "Next page");
    this.error = el("div", { class: "error", role: "alert" });
    this.node = el(
      "section",
      { class: "panel", "aria-labelledby": "history-title" },
      el("h3", { id: "history-title" }, "Backup History"),
      el(
        "div",
        { class: "filters" },
        field("Status", this.status),
        field("Type", this.type),
        field("Last drill", this.drill),
        field("Created by (user id)", this.creator),
        field("From date", this.from),
        field("To date", this.until),
        field("Min size (MB)", this.minSize),
        field("Max size (MB)", this.maxSize),
        field("Per page", this.limit),
      ),
      this.error,
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          { class: "history" },
          el("thead", {}, el("tr", {}, ["File", "Type", "Status", "Size", "Created by", "Date", "Verified", "Drilled", "Actions"].map((name) => el("th", { scope: "col" }, name)))),
          this.rows,
        ),
      ),
      el("div", { class: "pager" }, this.previous, this.pager, this.next),
    );
  }

  go(step) {
    this.page += step;
    this.load();
  }

  async load() {
    // Answers can come back out of order (a filter changed while a redraw was on its way):
    // only the newest request's answer is drawn.
    this.loads = (this.loads || 0) + 1;
    const ticket = this.loads;
    let data;
    try {
      data = await this.api.query(BACKUPS, {
        page: this.page,
        limit: Number(this.limit.value),
        status: this.status.value || null,
        type: this.type.value || null,
        drill: this.drill.value || null,
        by: this.creator.value === "" ? null : Number(this.creator.value),
        // Days in the browser's time zone: from its first moment to the next day's first.
        from: this.from.value ? new Date(`${this.from.value}T00:00`).toISOString() : null,
        until: this.until.value ? nextDay(this.until.value).toISOString() : null,
        min: megabytes(this.minSize.value),
        max: megabytes(this.maxSize.value),
      });
    } catch (error) {
      if (ticket === this.loads) showError(this.error, error);
      return;
    }
    if (ticket !== this.loads) return;
    fill(this.error);
    const { items, total, page, pageCount } = data.backups;
    fill(this.rows, items.length ? items.map((backup) => this.row(backup)) : el("tr", {}, el("td", { colspan: "9" }, "No backup matches.")));
    fill(this.pager, `Page ${page} of ${Math.max(pageCount, 1)} · ${total} backup${total === 1 ? "" : "s"}`);
    this.previous.disabled = page <= 1;
    this.next.disabled = page >= pageCount;
  }

  row(backup) {
    const message = el("div", { class: "row-message", role: "status", dataset: { note: String(backup.id) } });
    const note = this.notes.get(backup.id);
    if (note) note(message);
    const creator = backup.creator ? backup.creator.name || backup.creator.email || `#${backup.createdBy}` : `#${backup.createdBy}`;
    const drill = backup.lastDrill ? `${backup.lastDrill.status}${backup.lastDrill.restoresIn ? ` (${backup.lastDrill.restoresIn})` : ""}` : "never";
    const completed = backup.status === "COMPLETED";
    // What the last check found, kept by the server: the same for every admin, after a reload.
    const verified = backup.verifyStatus
      ? el("span", {}, backup.verifyStatus === "OK" ? "OK" : backup.verifyStatus.toLowerCase(), el("small", { class: "muted" }, when(backup.verifiedAt)))
      : "–";
    const action = (label, handler, enabled = completed) =>
      el("button", { type: "button", class: "small", disabled: !enabled, "aria-label": `${label} ${backup.filename}`, onclick: handler }, label);
    return el(
      "tr",
      { dataset: { backup: String(backup.id) } },
      el("td", { class: "file" }, el("span", { class: "filename" }, backup.filename), backup.description ? el("small", { class: "muted" }, backup.description) : null, message),
      el("td", {}, `${backup.backupType.toLowerCase()}${ORIGIN[backup.origin] || ""}`),
      el("td", { class: `status ${backup.status.toLowerCase()}`, title: backup.errorMessage || "" }, backup.status.replace("_", " ").toLowerCase()),
      el("td", {}, completed ? backup.fileSizeHuman : "–"),
      el("td", {}, creator),
      el("td", {}, when(backup.createdAt)),
      el("td", {}, verified),
      el("td", {}, drill),
      el(
        "td",
        { class: "actions" },
        action("Restore", () => openRestore(this.api, backup, (log, words) => {
          this.progress.follow("restore", log.id, backup.filename);
          this.notice(words);
        })),
        action("Verify", () => this.verify(backup)),
        action("Download", () => this.download(backup)),
        action("Test restore", () => this.testRestore(backup)),
        action("Delete", () => openDelete(this.api, backup, (words) => {
          this.notice(words);
          this.load();
        }), backup.status !== "IN_PROGRESS"),
      ),
    );
  }

  /** Say `words` (or the error) in the backup's row, now and whenever it is drawn again. */
  note(backup, words, error = null) {
    const show = (node) => (error ? showError(node, error) : fill(node, words));
    this.notes.set(backup.id, show);
    const node = this.rows.querySelector(`[data-note="${backup.id}"]`);
    if (node) show(node);
  }

  async verify(backup) {
    this.note(backup, "Verifying…");
    try {
      const { verifyBackup } = await this.api.query(VERIFY, { id: backup.id });
      const ok = verifyBackup.status === "OK";
      this.note(
        backup,
        ok
          ? `Verified: OK (${verifyBackup.sectionsChecked} sections checked)`
          : `The file is damaged or gone: ${verifyBackup.status}: ${verifyBackup.problems.join("; ")}`,
      );
      this.load();
    } catch (error) {
      this.note(backup, "", error);
    }
  }

  async download(backup) {
    this.note(backup, "Asking for the file…");
    try {
      await this.api.download(backup, (error) => this.note(backup, "", error));
      this.note(backup, "Your browser is saving the file (its downloads show the progress).");
    } catch (error) {
      this.note(backup, "", error);
    }
  }

  async testRestore(backup) {
    try {
      const { testRestore } = await this.api.query(DRILL, { id: backup.id });
      this.progress.follow("drill", testRestore.drill.id, backup.filename);
      this.note(backup, testRestore.message);
    } catch (error) {
      this.note(backup, "", error);
    }
  }
}
