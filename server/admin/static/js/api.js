// The page's only way to the server: GraphQL over HTTP, subscriptions over one websocket
// (graphql-transport-ws, the token in connection_init), and the backup download. Whatever
// says the token no longer works (HTTP 401, socket closed with 4401/4403) calls onSignedOut
// with the reason, once.

import { ApiError, SignedOut } from "./errors.js";

const EXPIRED = /error="invalid_token".*expired/;

export class Api {
  constructor(token, onSignedOut) {
    this.token = token;
    this.onSignedOut = onSignedOut;
    this.socket = null;
    this.acked = false;
    this.operations = new Map(); // id -> {payload, sink}
    this.nextId = 1;
    this.closed = false;
    this.retry = null;
  }

  signOut(reason) {
    if (this.closed) return;
    this.close();
    this.onSignedOut(reason);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    if (this.socket) this.socket.close(1000, "Signed out");
    this.operations.clear();
  }

  authorization() {
    return `Bearer ${this.token}`;
  }

  /** Why an HTTP 401/403 signed the page out, in words. */
  refused(response) {
    if (response.status === 403) {
      return "This token does not carry the admin role. Paste an admin's token.";
    }
    const challenge = response.headers.get("WWW-Authenticate") || "";
    return EXPIRED.test(challenge)
      ? "Your token has expired. Paste a new one to go on."
      : "Your token was refused (revoked, or not valid here). Paste another one.";
  }

  /** Run a query or mutation; its data, or an ApiError with the server's code and words. */
  async query(text, variables = {}) {
    if (this.closed) throw new SignedOut("signed out");
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: this.authorization() },
      body: JSON.stringify({ query: text, variables }),
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      const reason = this.refused(response);
      this.signOut(reason);
      throw new SignedOut(reason);
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError("INTERNAL", `The server answered HTTP ${response.status}.`);
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new ApiError(first.extensions && first.extensions.code, first.message);
    }
    return body.data;
  }

  /**
   * Have the browser save a backup's file: a form, posted with the token into a hidden frame,
   * so the browser streams the file to disk as it comes (a fetch would hold all of it in
   * memory). A download never loads the frame; a refusal does, as JSON, in the API's words.
   * Resolves once the browser has had a few seconds to take the file without a refusal;
   * rejects with a refusal that comes before; `lateRefusal(error)` hears one that comes after
   * (a server slow to answer). The frame stays until then: removing it would cancel a
   * response still on its way.
   */
  download(backup, lateRefusal) {
    if (this.closed) return Promise.reject(new SignedOut("signed out"));
    const name = `download-${backup.id}-${Date.now()}`;
    const frame = document.createElement("iframe");
    frame.name = name;
    frame.hidden = true;
    frame.title = `Download of ${backup.filename}`;
    document.body.append(frame);
    const form = document.createElement("form");
    form.method = "POST";
    form.action = `/backups/${backup.id}/file`;
    form.target = name;
    form.hidden = true;
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = "token";
    field.value = this.token;
    form.append(field);
    document.body.append(form);
    let settled = false;
    const cleanup = setTimeout(() => frame.remove(), 600_000);
    return new Promise((resolve, reject) => {
      const loaded = () => {
        // Some browsers load the empty frame itself first: that is not the answer.
        if (frame.contentWindow && frame.contentWindow.location.href === "about:blank") return;
        frame.removeEventListener("load", loaded);
        clearTimeout(cleanup);
        const error = this.refusal(frame.contentDocument ? frame.contentDocument.body.textContent : "");
        frame.remove();
        if (settled) lateRefusal(error);
        else reject(error);
        settled = true;
      };
      frame.addEventListener("load", loaded);
      form.submit();
      form.remove();
      setTimeout(() => {
        if (!settled) resolve(true);
        settled = true;
      }, 3000);
    });
  }

  /** The error a refused download's JSON body says (signing the page out for a bad token). */
  refusal(text) {
    let first = {};
    try {
      first = (JSON.parse(text).errors || [])[0] || {};
    } catch {
      first = { message: "The server did not hand over the file." };
    }
    const code = first.extensions && first.extensions.code;
    if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") {
      const reason = code === "FORBIDDEN"
        ? "This token does not carry the admin role. Paste an admin's token."
        : "Your token was refused (expired, revoked, or not valid here). Paste another one.";
      this.signOut(reason);
      return new SignedOut(reason);
    }
    return new ApiError(code, first.message || "");
  }

  /**
   * Subscribe; sink = {next(data), error(ApiError), complete()}. Returns a function that ends
   * the subscription. A lost socket is reopened and its subscriptions sent again.
   */
  subscribe(text, variables, sink) {
    const id = String(this.nextId++);
    const payload = { query: text, variables };
    this.operations.set(id, { payload, sink });
    if (this.acked) this.send({ id, type: "subscribe", payload });
    else this.connect();
    return () => {
      if (this.operations.delete(id) && this.acked) this.send({ id, type: "complete" });
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  connect() {
    if (this.socket || this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(
        JSON.stringify({ type: "connection_init", payload: { Authorization: this.authorization() } }),
      );
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => this.lost(socket, event));
  }

  receive(message) {
    if (message.type === "connection_ack") {
      this.acked = true;
      for (const [id, { payload }] of this.operations) this.send({ id, type: "subscribe", payload });
      return;
    }
    if (message.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    const operation = this.operations.get(message.id);
    if (!operation) return;
    if (message.type === "next") {
      const errors = message.payload.errors;
      if (errors && errors.length) {
        const first = errors[0];
        operation.sink.error(new ApiError(first.extensions && first.extensions.code, first.message));
      } else {
        operation.sink.next(message.payload.data);
      }
    } else if (message.type === "error") {
      this.operations.delete(message.id);
      const first = message.payload[0] || {};
      operation.sink.error(new ApiError(first.extensions && first.extensions.code, first.message));
    } else if (message.type === "complete") {
      this.operations.delete(message.id);
      if (operation.sink.complete) operation.sink.complete();
    }
  }

  lost(socket, event) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.acked = false;
    if (this.closed) return;
    if (event.code === 4401) {
      const reason = /expired/i.test(event.reason)
        ? "Your token has expired. Paste a new one to go on."
        : "Your token was refused (revoked, or not valid here). Paste another one.";
      this.signOut(reason);
      return;
    }
    if (event.code === 4403) {
      this.signOut("This token does not carry the admin role. Paste an admin's token.");
      return;
    }
    // The server restarted, or the network blinked: reconnect while anything is followed.
    if (this.operations.size) this.retry = setTimeout(() => this.connect(), 2000);
  }
}
