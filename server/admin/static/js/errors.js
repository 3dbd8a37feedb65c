// An error as a person reads it: a headline per code, then the server's own message (which
// already says what to do next, and for CONFLICT names the job that is running).

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code || "INTERNAL";
  }
}

/** The token no longer works: the page goes back to sign-in, saying why. */
export class SignedOut extends Error {}

const HEADLINES = {
  CONFLICT: "Another job is running.",
  CHECKSUM_MISMATCH: "The backup file is damaged: its bytes do not match its checksum.",
  INSUFFICIENT_STORAGE: "There is not enough free disk space.",
  BACKEND_UNAVAILABLE: "A backend is down.",
  BAD_USER_INPUT: "The request was refused.",
  NOT_FOUND: "It no longer exists.",
  FORBIDDEN: "Your token is not an admin's.",
  UNAUTHENTICATED: "You are signed out.",
  INTERNAL: "Something went wrong on the server.",
};

/** [headline, details] for an error thrown by api.js (or anything else). */
export function describe(error) {
  if (error instanceof ApiError) {
    return [HEADLINES[error.code] || HEADLINES.INTERNAL, error.message];
  }
  if (error && error.name === "Refusal") {
    return ["Not done.", error.message];
  }
  if (error instanceof TypeError) {
    return ["The server cannot be reached.", "Check that Lumbung is running, then try again."];
  }
  return [HEADLINES.INTERNAL, String(error && error.message ? error.message : error)];
}

/** What /readyz says is down, in words ("Down: redis (...)"), or null when it says nothing. */
export async function whatIsDown() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    const body = await response.json();
    const down = Object.entries(body.checks || {}).filter(
      ([, state]) => state !== "ok" && state !== "not configured",
    );
    if (down.length === 0) return null;
    return `Down: ${down.map(([name, state]) => `${name} (${state})`).join("; ")}`;
  } catch {
    return null;
  }
}

/** Put an error in `node` in words; for BACKEND_UNAVAILABLE, add what /readyz says is down. */
export function showError(node, error) {
  const [headline, details] = describe(error);
  node.replaceChildren();
  const strong = document.createElement("strong");
  strong.textContent = headline;
  node.append(strong, ` ${details}`);
  if (error instanceof ApiError && error.code === "BACKEND_UNAVAILABLE") {
    whatIsDown().then((down) => {
      if (down) node.append(` ${down}.`);
    });
  }
}
