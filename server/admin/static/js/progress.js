// Live progress: one card per running job, followed by its subscription. The bar never goes
// back (overallPercent already promises that; the card keeps the highest value it has shown,
// so a late event from another worker cannot pull it back either). Jobs started elsewhere (the
// CLI, a schedule, another browser) are found by asking for what is IN_PROGRESS every few
// seconds, and followed from then on.

import { el, fill, seconds } from "./dom.js";
import { describe } from "./errors.js";

const FIELDS = "jobId status phase overallPercent etaSeconds elapsedSeconds currentTable tablesDone tablesTotal message";
const SUBSCRIPTIONS = {
  backup: `subscription ($id: Int!) { backupProgress(id: $id) { ${FIELDS} } }`,
  restore: `subscription ($id: Int!) { restoreProgress(id: $id) { ${FIELDS} } }`,
  drill: `subscription ($id: Int!) { drillProgress(id: $id) { ${FIELDS} } }`,
};
const RUNNING = `{
  backups(status: IN_PROGRESS, limit: 20) { items { id filename } }
  restoreLogs(limit: 5) { items { id status backup { filename } } }
  restoreDrills(limit: 5) { items { id status backupId } }
}`;
const NAMES = { backup: "Backup", restore: "Restore", drill: "Restore drill" };
const DISCOVERY_MS = 3000;

export class Progress {
  constructor(api, onChange) {
    this.api = api;
    this.onChange = onChange; // a job appeared or ended: the history has changed

    this.cards = new Map(); // "backup:3" -> card
    this.list = el("ul", { class: "jobs", "aria-live": "polite" });
    this.empty = el("p", { class: "muted" }, "No job is running.");
    this.node = el(
      "section",
      { class: "panel", "aria-labelledby": "progress-title" },
      el("h3", { id: "progress-title" }, "Running jobs"),
      this.empty,
      this.list,
    );
    this.timer = null;
  }

  start() {
    this.discover();
    this.timer = setInterval(() => this.discover(), DISCOVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    for (const card of this.cards.values()) card.unsubscribe();
  }

  async discover() {
    let data;
    try {
      data = await this.api.query(RUNNING);
    } catch {
      return; // a passing error; the next round tries again (sign-out is handled by api.js)
    }
    for (const backup of data.backups.items) this.follow("backup", backup.id, backup.filename);
    for (const log of data.restoreLogs.items) {
      if (log.status === "IN_PROGRESS") this.follow("restore", log.id, log.backup.filename);
    }
    for (const drill of data.restoreDrills.items) {
      if (drill.status === "IN_PROGRESS") this.follow("drill", drill.id, `of backup #${drill.backupId}`);
    }
  }

  /** Follow a job (once, however often it is asked for). */
  follow(kind, id, label) {
    const key = `${kind}:${id}`;
    if (this.cards.has(key)) return;
    const card = new JobCard(kind, id, label, () => {
      this.cards.delete(key);
      card.node.remove();
      this.empty.hidden = this.cards.size > 0;
    });
    this.cards.set(key, card);
    this.list.prepend(card.node);
    this.empty.hidden = true;
    this.onChange();
    card.unsubscribe = this.api.subscribe(SUBSCRIPTIONS[kind], { id }, {
      next: (data) => {
        const event = Object.values(data)[0];
        card.show(event);
        if (event.status !== "IN_PROGRESS") this.onChange();
      },
      error: (error) => card.fail(error),
      complete: () => {},
    });
  }
}

class JobCard {
  constructor(kind, id, label, dismiss) {
    this.percent = 0;
    this.unsubscribe = () => {};
    this.title = `${NAMES[kind]} #${id}`;
    this.bar = el("progress", { max: "100", value: "0", "aria-label": `Progress of ${this.title}` });
    this.figure = el("span", { class: "percent" }, "0%");
    this.phase = el("span", { class: "phase" }, "starting");
    this.eta = el("span", { class: "eta" });
    this.status = el("p", { class: "job-status", role: "status" }, "Running");
    this.close = el("button", { type: "button", class: "small", hidden: true, onclick: dismiss }, "Dismiss");
    this.node = el(
      "li",
      { class: "job", dataset: { job: `${kind}:${id}` } },
      el("div", { class: "job-head" }, el("strong", {}, this.title), " ", el("span", { class: "muted" }, label)),
      el("div", { class: "bar" }, this.bar, this.figure),
      el("div", { class: "job-facts" }, this.phase, this.eta),
      this.status,
      this.close,
    );
  }

  show(event) {
    const done = event.status === "COMPLETED";
    // Never backwards; a completed job is at 100% whatever its last estimate said.
    this.percent = done ? 100 : Math.max(this.percent, Math.min(99.9, event.overallPercent));
    this.bar.value = this.percent;
    fill(this.figure, `${Math.floor(this.percent)}%`);
    const table = event.currentTable ? ` · ${event.currentTable}` : "";
    const tables = event.tablesTotal ? ` · tables ${event.tablesDone}/${event.tablesTotal}` : "";
    fill(this.phase, `Phase: ${event.phase}${table}${tables}`);
    fill(
      this.eta,
      event.status === "IN_PROGRESS" && event.etaSeconds !== null ? ` · about ${seconds(event.etaSeconds)} left` : "",
    );
    if (event.status === "IN_PROGRESS") {
      fill(this.status, event.message ? `Running: ${event.message}` : "Running");
      return;
    }
    this.node.classList.add(done ? "done" : "failed");
    fill(this.status, `${done ? "Completed" : "Failed"}${event.message ? `: ${event.message}` : ""}`);
    this.close.hidden = false;
  }

  fail(error) {
    const [headline, details] = describe(error);
    this.node.classList.add("failed");
    fill(this.status, `${headline} ${details}`);
    this.close.hidden = false;
  }
}
