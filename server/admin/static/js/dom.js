// Building the page without ever parsing HTML: every text goes in as textContent, so nothing
// that comes from the server or a user (a description, a table name) can become markup.

/** el("button", {class: "x", type: "button", onclick: f}, "Label", child) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

let ids = 0;
/** A fresh id for label/for pairs. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled control: <div class="field"><label for>..</label>control</div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  return el(
    "div",
    { class: "field" },
    el("label", { for: control.id }, label),
    control,
    hint ? el("small", { class: "hint" }, hint) : null,
  );
}

export function checkbox(label, attributes = {}) {
  const input = el("input", { type: "checkbox", id: uid("c"), ...attributes });
  return { input, node: el("label", { class: "check", for: input.id }, input, " ", label) };
}

export function select(options, attributes = {}) {
  return el(
    "select",
    attributes,
    options.map(([value, text]) => el("option", { value }, text)),
  );
}

const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB"];
export function bytes(value) {
  if (value === null || value === undefined) return "–";
  let size = Number(value);
  let unit = 0;
  while (size >= 1024 && unit < BYTE_UNITS.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? size : size.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`);
  return date.toLocaleString();
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (Number(value) < 1) return "under 1 s";
  const total = Math.round(Number(value));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${total % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
