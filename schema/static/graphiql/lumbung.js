// Lumbung's GraphiQL page: Strawberry's, with the token in mind.
//
// Every request needs `Authorization: Bearer <token>`, which the user pastes into the Headers
// tab. GraphiQL fetches the schema once, when the page opens, before any token is there: that
// fetch is refused (401, and its message says what to send). GraphiQL fetches the schema again
// whenever its fetcher changes, so the page makes a new fetcher each time the Authorization
// header changes: the schema loads as soon as the token is pasted, with no hidden re-fetch
// button to find. Subscriptions get the same header in their connection_init payload
// (GraphiQL's websocket fetcher passes the editor's headers as connection params).
//
// The headers are not kept in the browser's storage: an admin token stays in the page only.
(function () {
  "use strict";

  const DEFAULT_QUERY = `# Lumbung's API needs an admin token on every request.
#
# 1. Put it in the Headers tab below:
#      {"Authorization": "Bearer <token>"}
#    (\`lumbung serve\` prints one in development;
#    \`lumbung token --sub 1 --role admin\` issues one.)
#    The docs, the explorer and completion load then.
# 2. Run this query: Ctrl-Enter, or the play button.
{
  systemInfo {
    application { name version environment }
    database { version totalBackups }
  }
  backups(limit: 5) {
    total
    items { id filename status createdAt }
  }
}
`;

  const fetchURL = window.location.href.split(/[?#]/)[0];
  const subscriptionUrl = (function () {
    const url = new URL(fetchURL);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  })();

  // The Authorization header in the editor's text; undefined while the text is not JSON yet
  // (the user is still typing), so that a half-typed header changes nothing.
  function authorizationIn(text) {
    let headers;
    try {
      headers = JSON.parse(text || "{}");
    } catch (error) {
      return undefined;
    }
    if (headers === null || typeof headers !== "object") return undefined;
    for (const name of Object.keys(headers)) {
      if (name.toLowerCase() === "authorization") return String(headers[name]);
    }
    return "";
  }

  function LumbungGraphiQL() {
    const [authorization, setAuthorization] = React.useState("");
    const fetcher = React.useMemo(
      () => GraphiQL.createFetcher({ url: fetchURL, subscriptionUrl: subscriptionUrl }),
      // A new fetcher for each new token: GraphiQL then fetches the schema with it.
      [authorization],
    );
    const explorer = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);

    function onEditHeaders(text) {
      const value = authorizationIn(text);
      if (value !== undefined) setAuthorization(value);
    }

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: DEFAULT_QUERY,
      onEditHeaders: onEditHeaders,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
    });
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(LumbungGraphiQL));
})();
