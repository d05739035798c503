// The call log's live tail: listens to the API's stream of the mock's calls (Server-Sent
// Events, authenticated by the session cookie) and puts each new call at the top of the list,
// from the page's own row template. The page works without it; a reload shows the same calls.
"use strict";

(() => {
  const body = document.querySelector("tbody[data-live-tail]");
  const template = document.getElementById("call-row");
  const status = document.querySelector("[data-live-status]");
  if (!body || !template || !window.EventSource) return;
  const mock = body.dataset.mock;

  const say = (text) => { if (status) status.textContent = text; };

  // `2026-11-21 12:49:03.123 UTC`, as the server writes the log's times.
  const time = (iso) => new Date(iso).toISOString().replace("T", " ").replace(/Z$/, " UTC");

  const latency = (us) => {
    const ms = us / 1000;
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${ms.toFixed(0)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  };

  const answer = (call) => {
    if (call.example_name) {
      return call.outcome === "proxied" ? `${call.example_name}: passed to the upstream` : call.example_name;
    }
    switch (call.outcome) {
      case "proxied": return "No matching example: passed to the upstream";
      case "fallback": return "No matching example (fallback response)";
      case "refused": return call.status === 401 ? "Refused: no valid key" : "Refused";
      case "over_quota": return "Refused: monthly quota used up";
      case "preflight": return "CORS preflight, answered by Lyrebird";
      default: return "No matching example";
    }
  };

  const row = (call) => {
    const tr = template.content.firstElementChild.cloneNode(true);
    const slot = (name) => tr.querySelector(`[data-slot="${name}"]`);
    slot("at").textContent = time(call.at);
    slot("at").dateTime = call.at;
    showAge(slot("at"));
    const method = slot("method");
    method.textContent = call.method;
    method.classList.add(`method-${call.method.toLowerCase()}`);
    const target = slot("target");
    target.textContent = call.query ? `${call.path}?${call.query}` : call.path;
    target.href = `/mocks/${mock}/calls/${call.id}`;
    const code = slot("status");
    code.textContent = String(call.status);
    code.classList.add(`status-${Math.floor(call.status / 100)}xx`);
    const cell = slot("answer");
    if (call.example_id) {
      const link = document.createElement("a");
      link.href = `/mocks/${mock}/examples/${call.example_id}`;
      link.textContent = answer(call);
      cell.append(link);
    } else {
      const span = document.createElement("span");
      span.className = "miss";
      span.textContent = answer(call);
      cell.append(span);
    }
    slot("latency").textContent = latency(call.latency_us);
    const choose = slot("choose");
    choose.value = call.id;
    choose.setAttribute("aria-label", `Choose the call ${call.method} ${target.textContent}`);
    return tr;
  };

  const source = new EventSource(body.dataset.liveTail);
  source.addEventListener("open", () => say("Live: new calls appear here as they arrive."));
  source.addEventListener("error", () => say("The live tail lost its connection; retrying…"));
  source.addEventListener("call", (event) => {
    const call = JSON.parse(event.data);
    body.prepend(row(call));
    for (const shown of document.querySelectorAll("[data-calls]")) shown.removeAttribute("hidden");
    document.querySelector("[data-calls-empty]")?.remove();
  });
})();
