// The System Settings page: sign-in, then Backup Management, Cache Management and System
// Information, all through the public API (docs/admin.md).

import { Api } from "./api.js";
import { Caches } from "./cache.js";
import { openCreateBackup } from "./create-backup.js";
import { el, fill, when } from "./dom.js";
import { describe, SignedOut } from "./errors.js";
import { History } from "./history.js";
import { Progress } from "./progress.js";
import { Schedules } from "./schedules.js";
import { forgetToken, showSignIn, storedToken } from "./signin.js";
import { SystemInfo } from "./system.js";

const root = el("main", { id: "main" });
const header = el("header", { class: "top" });
let session = null;

function signIn(reason) {
  if (session) session.stop();
  session = null;
  forgetToken();
  fill(header, el("h1", {}, "System Settings"));
  showSignIn(root, reason, (token) => open(token));
}

async function open(token) {
  const api = new Api(token, (reason) => signIn(reason));
  let me;
  try {
    ({ me } = await api.query("{ me { subject expiresAt user { name } } }"));
  } catch (error) {
    // A refused token has already sent the page back to sign-in; anything else says why here.
    if (!(error instanceof SignedOut)) signIn(describe(error).join(" "));
    return;
  }
  session = new Session(api, me);
}

class Session {
  constructor(api, me) {
    this.api = api;
    const notice = el("p", { class: "notice", role: "status", "aria-live": "polite" });
    const say = (words) => fill(notice, words);
    this.history = new History(api, null, say);
    // A finished job changes the history (a new backup, a safety backup, a drill's result).
    this.progress = new Progress(api, () => this.history.load());
    this.history.progress = this.progress;
    this.schedules = new Schedules(api, say);
    this.caches = new Caches(api);
    this.system = new SystemInfo(api);
    const create = el(
      "button",
      {
        type: "button",
        class: "primary",
        onclick: () =>
          openCreateBackup(api, (backup, words) => {
            say(words);
            this.progress.follow("backup", backup.id, backup.filename);
            this.history.load();
          }),
      },
      "Create Backup Now",
    );
    const who = me.user && me.user.name ? me.user.name : `subject ${me.subject}`;
    fill(
      header,
      el("h1", {}, "System Settings"),
      el(
        "div",
        { class: "who" },
        el("span", {}, `Signed in as ${who} · token valid until ${when(me.expiresAt)}`),
        el("button", { type: "button", onclick: () => signIn("You signed out.") }, "Sign out"),
      ),
      el("nav", { "aria-label": "Sections" }, el("a", { href: "#backups" }, "Backups"), el("a", { href: "#caches" }, "Caches"), el("a", { href: "#system" }, "System")),
    );
    fill(
      root,
      notice,
      el(
        "section",
        { class: "card", id: "backups", "aria-labelledby": "backups-title" },
        el("h2", { id: "backups-title" }, "Backup Management"),
        this.schedules.node,
        el("div", { class: "create" }, create),
        this.progress.node,
        this.history.node,
      ),
      this.caches.node,
      this.system.node,
    );
    this.schedules.load();
    this.history.load();
    this.caches.load();
    this.progress.start();
    this.system.start();
  }

  stop() {
    this.progress.stop();
    this.system.stop();
    this.api.close();
    for (const dialog of document.querySelectorAll("dialog")) dialog.remove();
  }
}

document.body.append(header, root);
const token = storedToken();
if (token) open(token);
else signIn(null);
