// Lyrebird's pages work without this script; it adds copy buttons, editable rows, confirmation
// before destructive forms, and the "try a request" panel. State-changing requests carry the
// session's CSRF token in an x-csrf-token header.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Copy buttons: data-copy holds the text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    // Without clipboard access (plain http on another host), select the text instead.
    const code = button.parentElement.querySelector("code");
    if (code) window.getSelection().selectAllChildren(code);
    button.textContent = "Press Ctrl+C";
  }
  button.classList.add("copied");
  setTimeout(() => { button.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
});

// Forms with data-confirm ask first.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// A menu that decides which parts of its form apply shows only those: `visible(value, part)`
// tells, for each element `selector` finds.
function showOnly(select, selector, visible) {
  if (!select) return;
  const update = () => {
    for (const part of document.querySelectorAll(selector)) part.hidden = !visible(select.value, part);
  };
  select.addEventListener("change", update);
  update();
}
// The example editor: the fields of the answer chosen (a response, a sequence, a collection).
showOnly(document.getElementById("f-answer-kind"), ".answer-response, .answer-sequence, .answer-resource",
  (value, part) => part.classList.contains(`answer-${value}`));
// The import form: a Postman environment only for a Postman collection.
showOnly(document.getElementById("f-kind"), ".postman-only", (value) => value === "postman");

// Filter boxes: each hides the items of its `data-filter` selector whose text lacks what is typed.
for (const box of document.querySelectorAll("input[data-filter]")) {
  box.addEventListener("input", () => {
    const wanted = box.value.trim().toLowerCase();
    for (const item of document.querySelectorAll(box.dataset.filter)) {
      item.hidden = wanted !== "" && !item.textContent.toLowerCase().includes(wanted);
    }
  });
}

// Times marked `data-ago` say how long ago they were, after the time itself, and keep saying
// it as the page stays open.
function ago(date) {
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function showAge(time) {
  const date = new Date(time.dateTime);
  if (Number.isNaN(date.getTime())) return;
  let label = time.nextElementSibling;
  if (!label || !label.classList.contains("ago")) {
    label = el("span", { class: "ago muted" });
    time.after(label);
  }
  label.textContent = ` · ${ago(date)}`;
}

for (const time of document.querySelectorAll("time[data-ago]")) showAge(time);
setInterval(() => { for (const time of document.querySelectorAll("time[data-ago]")) showAge(time); }, 10_000);

// On a phone, the call log's filters start folded away behind their summary (unless in use).
if (window.matchMedia("(max-width: 560px)").matches) {
  for (const fold of document.querySelectorAll("details[data-fold-narrow]")) fold.open = false;
}

// Sign-up's password: its hint counts what the rule still needs as it is typed (the server
// checks it again).
const newPassword = document.getElementById("signup-password");
const passwordHint = document.getElementById("h-signup-password");
if (newPassword && passwordHint) {
  const least = Number(newPassword.getAttribute("minlength")) || 0;
  const rule = passwordHint.textContent;
  newPassword.addEventListener("input", () => {
    const missing = least - [...newPassword.value].length;
    passwordHint.textContent = missing > 0 && newPassword.value !== ""
      ? `${rule} ${missing} more to go.` : rule;
  });
}

// Small DOM helper: an element with text (never HTML) and children.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// JSON fields are checked as they are typed, with the line and column of the first problem, and
// can be formatted; the server's check, on saving, still decides. The response body is JSON when
// the editor says so and it is not a template.
// Where JSON text stops being JSON: the offset of the first character that cannot be there.
// (The browser's own message does not always say.)
function jsonErrorAt(text) {
  let i = 0;
  const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  const fail = () => { throw i; };
  const space = () => { while (i < text.length && " \t\n\r".includes(text[i])) i += 1; };
  const string = () => {
    i += 1;
    while (i < text.length && text[i] !== '"') {
      if (text[i] < " ") fail();
      i += text[i] === "\\" ? 2 : 1;
    }
    if (i >= text.length) fail();
    i += 1;
  };
  const items = (close, item) => {
    i += 1;
    space();
    if (text[i] === close) { i += 1; return; }
    for (;;) {
      item();
      space();
      if (text[i] === ",") { i += 1; continue; }
      if (text[i] === close) { i += 1; return; }
      fail();
    }
  };
  const value = () => {
    space();
    if (text[i] === "{") {
      return items("}", () => {
        space();
        if (text[i] !== '"') fail();
        string();
        space();
        if (text[i] !== ":") fail();
        i += 1;
        value();
      });
    }
    if (text[i] === "[") return items("]", value);
    if (text[i] === '"') return string();
    literal.lastIndex = i;
    if (!literal.exec(text)) fail();
    i = literal.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) fail();
    return null;
  } catch (at) {
    if (typeof at !== "number") throw at;
    return at;
  }
}

function jsonProblem(text) {
  if (text.trim() === "") return null;
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    const at = jsonErrorAt(text) ?? text.length;
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    const column = before.length - before.lastIndexOf("\n");
    const found = at < text.length ? `unexpected ${JSON.stringify(text[at])}` : "it ends too early";
    return `line ${line}, column ${column}: ${found}`;
  }
}

for (const area of document.querySelectorAll("textarea[data-json], textarea#f-response_body")) {
  const kind = document.getElementById("f-response-body-kind");
  const template = document.getElementById("f-template");
  const isJson = () => area.hasAttribute("data-json")
    || (area.id === "f-response_body" && kind?.value === "json" && !template?.checked);
  const status = el("p", { class: "hint json-status", "aria-live": "polite" });
  const format = el("button", { type: "button", class: "small", text: "Format JSON" });
  area.after(el("div", { class: "json-tools" }, format, status));
  const check = () => {
    const json = isJson();
    const problem = json ? jsonProblem(area.value) : null;
    status.textContent = problem ? `Not valid JSON: ${problem}` : "";
    status.classList.toggle("error", Boolean(problem));
    format.hidden = !json;
    format.disabled = Boolean(problem) || area.value.trim() === "";
  };
  format.addEventListener("click", () => {
    area.value = JSON.stringify(JSON.parse(area.value), null, 2);
    check();
  });
  for (const control of [area, kind, template]) control?.addEventListener("input", check);
  kind?.addEventListener("change", check);
  check();
}

// "Try a request": POST /api/v1/mocks/{id}/try and show the verdict, the reason and the response;
// on a draft's page, POST .../draft/try answers for the draft and the live mock, shown side by side.
function headerLines(text) {
  const headers = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon < 1) throw new Error(`"${line.trim()}" is not a header: write name: value`);
    headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return headers;
}

function prettyBody(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function renderTry(result, mockId) {
  const box = el("div");
  let verdict;
  if (result.outcome === "matched") {
    verdict = el("p", { class: "verdict ok" }, "Answered by ",
      el("a", { href: `/mocks/${mockId}/examples/${result.example.id}`, text: result.example.name }));
  } else if (result.outcome === "fallback") {
    verdict = el("p", { class: "verdict miss", text: "No example matches: the mock's fallback response answers." });
  } else {
    verdict = el("p", { class: "verdict miss", text: "No example matches: the mock answers 404 with this explanation." });
  }
  box.append(verdict);
  if (result.reason) box.append(el("p", { class: "small reason", text: result.reason }));
  const misses = result.explanation && result.explanation.near_misses;
  if (misses) {
    if (misses.length === 0) box.append(el("p", { class: "small", text: "This mock has no examples." }));
    else {
      box.append(el("p", { class: "small", text: "Closest examples:" }));
      const list = el("ul", { class: "small" });
      for (const miss of misses) {
        list.append(el("li", {}, el("strong", { text: miss.name }), ` — ${miss.message}`));
      }
      box.append(list);
    }
  }
  const response = result.response;
  box.append(el("h3", {}, "Response ", el("span", { class: `badge status status-${Math.floor(response.status / 100)}xx`, text: String(response.status) })));
  if (response.error) box.append(el("p", { class: "error", text: `Render error: ${response.error}` }));
  if (response.delay_ms) box.append(el("p", { class: "hint", text: `A real call would wait ${response.delay_ms} ms first.` }));
  if (response.headers.length) {
    box.append(el("pre", { class: "small", text: response.headers.map((h) => `${h.name}: ${h.value}`).join("\n") }));
  }
  box.append(el("pre", { class: "try-body", text: response.body_base64 ? `(binary, base64) ${response.body}` : prettyBody(response.body) || "(empty body)" }));
  if (result.decided_by || result.explanation) {
    const details = el("details", {}, el("summary", { text: "The engine's explanation as JSON" }),
      el("pre", { class: "small", text: JSON.stringify(result.decided_by || result.explanation, null, 2) }));
    box.append(details);
  }
  return box;
}

for (const panel of document.querySelectorAll(".try-panel")) {
  const form = panel.querySelector(".try-form");
  const out = panel.querySelector(".try-result");
  const mockId = panel.dataset.tryUrl.split("/")[4];
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren(el("p", { class: "hint", text: "Trying…" }));
    let headers;
    try {
      headers = headerLines(form.elements.headers.value);
    } catch (error) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
      return;
    }
    const request = {
      method: form.elements.method.value,
      path: form.elements.path.value || "/",
      headers,
      body: form.elements.body.value,
    };
    try {
      const answer = await fetch(panel.dataset.tryUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
        body: JSON.stringify(request),
        credentials: "same-origin",
      });
      const result = await answer.json();
      if (!answer.ok) {
        const message = result.error ? result.error.message : `HTTP ${answer.status}`;
        out.replaceChildren(el("p", { class: "error", role: "alert", text: `Could not try the request: ${message}` }));
        return;
      }
      if (result.draft && result.live) {
        out.replaceChildren(
          el("p", { class: `verdict ${result.same ? "ok" : "miss"}`, text: result.same ? "The draft answers as the mock does now." : "The draft answers otherwise than the mock does now." }),
          el("div", { class: "try-compare" },
            el("div", { class: "try-side" }, el("h3", { text: "Draft" }), renderTry(result.draft, mockId)),
            el("div", { class: "try-side" }, el("h3", { text: "Live" }), renderTry(result.live, mockId))));
      } else {
        out.replaceChildren(renderTry(result, mockId));
      }
    } catch (error) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: `Could not reach the server: ${error.message}` }));
    }
  });
}

// The workspace switcher acts as soon as another workspace is chosen; its button is for
// browsers without scripts.
for (const form of document.querySelectorAll("form[data-autosubmit]")) {
  const select = form.querySelector("select");
  form.querySelector("button").hidden = true;
  select.addEventListener("change", () => form.requestSubmit());
}
