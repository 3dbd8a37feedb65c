// System Information, live: the `systemInfo` subscription pushes it every few seconds.

import { bytes, el, fill, when } from "./dom.js";
import { showError } from "./errors.js";

const INFO = `subscription ($interval: Int!) {
  systemInfo(intervalSeconds: $interval) {
    application { name version environment }
    database { version engine totalUsers totalMessages totalBackups lastBackup { filename createdAt } }
    system {
      uptime processUptime totalCacheLogs
      storage { used available total backupsBytes }
      memory { processRssBytes systemPercent }
      cpu { count percent loadAverage }
    }
    redis { connected version usedMemoryBytes error }
  }
}`;
export const INTERVAL_SECONDS = 2;

export class SystemInfo {
  constructor(api) {
    this.api = api;
    this.list = el("dl", { class: "facts" });
    this.updated = el("p", { class: "muted", role: "status" }, "Waiting for the first figures…");
    this.error = el("div", { class: "error", role: "alert" });
    this.node = el(
      "section",
      { class: "card", id: "system", "aria-labelledby": "system-title" },
      el("h2", { id: "system-title" }, "System Information"),
      this.error,
      this.list,
      this.updated,
    );
    this.stop = () => {};
  }

  start() {
    this.stop = this.api.subscribe(INFO, { interval: INTERVAL_SECONDS }, {
      next: (data) => this.show(data.systemInfo),
      error: (error) => showError(this.error, error),
      complete: () => {},
    });
  }

  show(info) {
    fill(this.error);
    const { application, database, system, redis } = info;
    const rows = [
      ["Application", `${application.name} ${application.version} (${application.environment})`],
      ["Database", database.version],
      ["Users", database.totalUsers ?? "–"],
      ["Messages", database.totalMessages ?? "–"],
      ["Backups", database.totalBackups],
      ["Last backup", database.lastBackup ? `${database.lastBackup.filename}, ${when(database.lastBackup.createdAt)}` : "none yet"],
      ["Machine uptime", system.uptime],
      ["Server uptime", system.processUptime],
      ["Cache clearings", system.totalCacheLogs],
      ["Backup storage", `${system.storage.used} used of ${system.storage.total} (${system.storage.available} free; backups take ${bytes(system.storage.backupsBytes)})`],
      ["Memory", `${system.memory.systemPercent.toFixed(0)}% of the machine in use; this server ${bytes(system.memory.processRssBytes)}`],
      ["CPU", `${system.cpu.count} cores, ${system.cpu.percent.toFixed(0)}% busy, load ${system.cpu.loadAverage.map((x) => x.toFixed(2)).join(" ")}`],
      ["Redis", redis ? (redis.connected ? `connected, ${redis.version}, ${bytes(redis.usedMemoryBytes)}` : `down: ${redis.error}`) : "not configured"],
    ];
    fill(this.list, rows.map(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));
    fill(this.updated, `Updated ${new Date().toLocaleTimeString()}`);
  }
}
