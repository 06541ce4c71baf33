// detectkit serve: what every page shares: the API token (kept in this tab's sessionStorage) and API calls.
"use strict";

const TOKEN_KEY = "detectkit-token";

(function takeTokenFromUrl() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
})();

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// a URL the browser fetches by itself (img, EventSource, a link): the token goes in the query
function withToken(path) {
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token());
}

// fetch() with the Bearer header; resolves to the parsed JSON, rejects with the server's message
async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const kind = response.headers.get("content-type") || "";
  const body = kind.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new Error((body && body.detail) || response.statusText);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const link of document.querySelectorAll("a[data-page]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      location.href = withToken(link.getAttribute("href"));
    });
  }
});
