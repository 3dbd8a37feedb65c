// Cache Management: "Clear System Cache" with the Cache Options modal (type, clear all,
// specific keys read exactly or as globs, dry run), the answer item by item, and the Cache
// History.

import { checkbox, el, field, fill, select, seconds, when } from "./dom.js";
import { modal, Refusal } from "./dialog.js";
import { showError } from "./errors.js";

const CLEAR = `mutation ($input: ClearCacheInput!) {
  clearCache(input: $input) {
    message totalCleared dryRun
    items { cacheType name status count detail errorCode }
  }
}`;
const LOGS = `query ($page: Int!) {
  cacheLogs(page: $page, limit: 10) {
    total page pageCount
    items { id cacheType clearedItems totalCleared failedItems dryRun description createdAt durationSeconds clearedBy clearer { name } }
  }
}`;
const TYPES = [["ALL", "All caches"], ["DATABASE", "Database"], ["SESSION", "Sessions"], ["FILE", "Files"], ["MEMORY", "Memory"], ["REDIS", "Redis"]];
const STATUS_WORDS = { CLEARED: "cleared", WOULD_CLEAR: "would be cleared", SKIPPED: "skipped", FAILED: "failed" };

export class Caches {
  constructor(api) {
    this.api = api;
    this.page = 1;
    this.result = el("div", { class: "cache-result", "aria-live": "polite" });
    this.rows = el("tbody");
    this.pager = el("span", { class: "pager-text" });
    this.previous = el("button", { type: "button", onclick: () => this.go(-1) }, "Previous page");
    this.next = el("button", { type: "button", onclick: () => this.go(1) }, "Next page");
    this.error = el("div", { class: "error", role: "alert" });
    this.node = el(
      "section",
      { class: "card", id: "caches", "aria-labelledby": "caches-title" },
      el("h2", { id: "caches-title" }, "Cache Management"),
      el("button", { type: "button", class: "primary", onclick: () => this.open() }, "Clear System Cache"),
      this.result,
      el(
        "section",
        { class: "panel", "aria-labelledby": "cache-history-title" },
        el("h3", { id: "cache-history-title" }, "Cache History"),
        this.error,
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Type", "Cleared", "Count", "Dry run", "By", "When", "Took", "Failed"].map((name) => el("th", { scope: "col" }, name)))), this.rows)),
        el("div", { class: "pager" }, this.previous, this.pager, this.next),
      ),
    );
  }

  go(step) {
    this.page += step;
    this.load();
  }

  async load() {
    this.loads = (this.loads || 0) + 1;
    const ticket = this.loads; // only the newest answer is drawn (see history.js)
    try {
      const { cacheLogs } = await this.api.query(LOGS, { page: this.page });
      if (ticket !== this.loads) return;
      fill(this.error);
      fill(
        this.rows,
        cacheLogs.items.length
          ? cacheLogs.items.map((log) =>
              el(
                "tr",
                {},
                el("td", {}, log.cacheType.toLowerCase()),
                el("td", {}, log.clearedItems.join(", ") || "–", log.description ? el("small", { class: "muted" }, log.description) : null),
                el("td", {}, String(log.totalCleared)),
                el("td", {}, log.dryRun ? "yes" : "no"),
                el("td", {}, log.clearer && log.clearer.name ? log.clearer.name : `#${log.clearedBy}`),
                el("td", {}, when(log.createdAt)),
                el("td", {}, seconds(log.durationSeconds)),
                el("td", {}, log.failedItems.join("; ") || "–"),
              ),
            )
          : el("tr", {}, el("td", { colspan: "8" }, "No cache has been cleared yet.")),
      );
      fill(this.pager, `Page ${cacheLogs.page} of ${Math.max(cacheLogs.pageCount, 1)}`);
      this.previous.disabled = cacheLogs.page <= 1;
      this.next.disabled = cacheLogs.page >= cacheLogs.pageCount;
    } catch (error) {
      showError(this.error, error);
    }
  }

  open() {
    const type = select(TYPES, { name: "cacheType" });
    const all = checkbox("Clear all caches", { name: "clearAll" });
    const keys = el("textarea", { name: "keys", rows: "3", spellcheck: "false" });
    const exact = el("input", { type: "radio", name: "keyMatch", value: "EXACT", checked: true, id: "match-exact" });
    const glob = el("input", { type: "radio", name: "keyMatch", value: "GLOB", id: "match-glob" });
    const dryRun = checkbox("Dry run: only report what would be cleared", { name: "dryRun", checked: true });
    const description = el("input", { type: "text", name: "description", maxlength: "191" });
    all.input.addEventListener("change", () => {
      type.disabled = all.input.checked;
    });
    modal({
      title: "Cache options",
      submitLabel: "Clear",
      body: [
        field("Cache type", type),
        all.node,
        field("Specific keys", keys, "One a line, without the prefix; empty: everything."),
        el(
          "fieldset",
          {},
          el("legend", {}, "Keys are"),
          el("label", { class: "check", for: "match-exact" }, exact, " exact keys"),
          el("label", { class: "check", for: "match-glob" }, glob, " glob patterns (user:*)"),
        ),
        dryRun.node,
        field("Description", description, "Optional."),
      ],
      onSubmit: async (_form, close) => {
        const specific = keys.value.split("\n").map((key) => key.trim()).filter(Boolean);
        if (specific.length > 1000) throw new Refusal("At most 1000 keys at once.");
        const input = {
          clearAll: all.input.checked,
          cacheType: all.input.checked ? null : type.value,
          specificKeys: specific.length ? specific : null,
          keyMatch: glob.checked ? "GLOB" : "EXACT",
          dryRun: dryRun.input.checked,
          description: description.value.trim() || null,
        };
        const { clearCache } = await this.api.query(CLEAR, { input });
        close();
        this.show(clearCache);
        this.page = 1;
        this.load();
      },
    });
  }

  show(answer) {
    fill(
      this.result,
      el("p", { class: answer.dryRun ? "notice" : "success", role: "status" }, answer.message),
      el(
        "ul",
        { class: "cache-items" },
        answer.items.map((item) =>
          el(
            "li",
            { class: item.status.toLowerCase() },
            el("strong", {}, item.name),
            ` — ${STATUS_WORDS[item.status] || item.status}`,
            item.count !== null ? ` (${item.count})` : "",
            item.detail ? ` · ${item.detail}` : "",
            item.errorCode ? ` · ${item.errorCode}` : "",
          ),
        ),
      ),
    );
  }
}
