// FloKit data pages: what every page shares. The key box, calls to the public /v1 API with the
// key saved in this browser, error messages, time and number formatting, safe DOM building
// (values always go in as text, never as HTML), and a "Load more" list.
"use strict";

const FK = (() => {
  const STORAGE = "flokit_key";
  const $ = (id) => document.getElementById(id);
  const NO_KEY =
    "No key saved. Paste an API key of this workspace in the box above and press " +
    "\u201cSave in this browser\u201d (a read-only key is enough to look at data).";

  function key() {
    try { return localStorage.getItem(STORAGE) || ""; } catch (err) { return ""; }
  }

  /** An answer of the API that is not a success, or no answer at all (status 0). */
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || (status ? "HTTP " + status : "No answer"));
      this.status = status;
      this.error = (body && body.error) || "";
      this.field = (body && body.field) || null;
    }
  }

  /** GET a /v1 path with the saved key; the parsed JSON, or an ApiError. Empty params are left out. */
  async function api(path, params) {
    const secret = key();
    if (!secret) throw new ApiError(0, { error: "no_key", message: NO_KEY });
    const url = new URL(path, location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
    }
    let response;
    try {
      response = await fetch(url, { headers: { Authorization: "Bearer " + secret, Accept: "application/json" } });
    } catch (err) {
      throw new ApiError(0, { error: "unreachable", message: "The server could not be reached." });
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body || { message: response.statusText });
    return body;
  }

  /** The sentence a person should read for an error. */
  function explain(err) {
    if (!(err instanceof ApiError)) return "Something went wrong in this page: " + String(err);
    if (err.error === "no_key" || err.error === "unreachable") return err.message;
    if (err.status === 401) {
      return "The saved key was refused (" + err.message + "). Paste a valid key of this workspace above.";
    }
    return err.message + " (HTTP " + err.status + ")";
  }

  function showMessage(textValue, kind) {
    const box = $("message");
    box.textContent = textValue;
    box.dataset.kind = kind || "error";
    box.hidden = false;
  }

  function showError(err) {
    showMessage(explain(err), "error");
    $("message").dataset.status = err instanceof ApiError ? String(err.status) : "";
  }

  function clearMessage() {
    const box = $("message");
    box.hidden = true;
    box.textContent = "";
    delete box.dataset.status;
  }

  /** Text of any value: null and undefined are empty. */
  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  /** HTML-escaped text, for the rare place a string of markup is built (none here uses one). */
  function escapeHtml(value) {
    return text(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  /** An element: attributes set as attributes, children added as nodes or as plain text. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** 2024-03-15T14:20:00.000000Z shown as 2024-03-15 14:20:00 UTC (full value in datetime/title). */
  function formatTime(iso) {
    if (!iso) return "\u2014";
    const found = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(iso);
    return found ? found[1] + " " + found[2] + " UTC" : String(iso);
  }

  function time(iso) {
    if (!iso) return el("span", { class: "muted" }, "\u2014");
    return el("time", { datetime: iso, title: iso }, formatTime(iso));
  }

  /** A share 0–1 as "93.0 %"; null as a dash. */
  function percent(share) {
    return share === null || share === undefined ? "\u2014" : (share * 100).toFixed(1) + " %";
  }

  function amount(value) {
    return Number(value).toFixed(2);
  }

  function userHref(id) {
    return "/app/users/" + encodeURIComponent(id);
  }

  function eventsHref(filters) {
    return "/app/events?" + new URLSearchParams(filters).toString();
  }

  function userLink(id) {
    return id === null || id === undefined ? "" : el("a", { href: userHref(id) }, id);
  }

  function anonymousLink(id) {
    return id === null || id === undefined ? "" : el("a", { href: eventsHref({ anonymous_id: id }) }, id);
  }

  /** "projection at log position N" under the page, when the API said so. */
  function asOf(position) {
    const line = $("as-of");
    if (position === undefined || position === null) return;
    line.textContent = "Data as of projection at log position " + position + ".";
    line.dataset.asOf = String(position);
    line.hidden = false;
  }

  /** A row per conflict: the anonymous id, the user it belongs to, the user who also claimed it. */
  function conflictRow(conflict) {
    return el("tr", { "data-anonymous-id": conflict.anonymous_id },
      el("td", {}, anonymousLink(conflict.anonymous_id)),
      el("td", {}, userLink(conflict.linked_user_id)),
      el("td", {}, userLink(conflict.other_user_id)),
      el("td", { class: "mono" }, text(conflict.event_id)),
      el("td", {}, time(conflict.timestamp)));
  }

  /** A clickable event row; a click (or Enter) shows the event's JSON in `panel`. */
  function eventRow(event, panel) {
    const row = el("tr", { tabindex: "0", "data-event-id": event.event_id, class: "clickable" },
      el("td", {}, time(event.timestamp)),
      el("td", { class: "event-name" }, text(event.event)),
      el("td", {}, userLink(event.user_id)),
      el("td", {}, anonymousLink(event.anonymous_id)),
      el("td", {}, time(event.received_at)));
    const open = (e) => {
      if (e.target.closest("a")) return; // a link in the row goes where it says
      for (const other of row.parentNode.querySelectorAll("tr.selected")) other.classList.remove("selected");
      row.classList.add("selected");
      panel.show(event);
    };
    row.addEventListener("click", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(e); });
    return row;
  }

  /** The side panel with one event's JSON, pretty-printed. */
  function eventPanel() {
    const box = $("event-panel");
    const close = () => { box.hidden = true; };
    $("close-panel").addEventListener("click", close);
    return {
      show(event) {
        $("event-panel-id").textContent = text(event.event_id);
        $("event-json").textContent = JSON.stringify(event, null, 2);
        box.hidden = false;
      },
      close,
    };
  }

  /**
   * A list with "Load more". `fetchPage(cursor)` answers {items, next_cursor, as_of?};
   * `row(item)` makes its <tr>. Answers to an older reset are dropped.
   */
  class Pager {
    constructor({ body, more, empty, fetchPage, row }) {
      Object.assign(this, { body, more, empty, fetchPage, row });
      this.generation = 0;
      this.cursor = null;
      this.ids = new Set();
      this.rowsById = new Map();
      this.loading = false;
      more.addEventListener("click", () => this.load());
    }

    reset() {
      this.generation += 1;
      this.cursor = null;
      this.ids = new Set();
      this.rowsById = new Map();
      this.body.replaceChildren();
      this.more.hidden = true;
      if (this.empty) this.empty.hidden = true;
      return this.load();
    }

    async load() {
      const generation = this.generation;
      this.loading = true;
      this.more.disabled = true;
      try {
        const page = await this.fetchPage(this.cursor);
        if (generation !== this.generation) return;
        for (const item of page.items) this.body.append(this.remember(item));
        this.cursor = page.next_cursor || null;
        this.more.hidden = !this.cursor;
        if (this.empty) this.empty.hidden = this.body.rows.length > 0;
        asOf(page.as_of);
      } catch (err) {
        if (generation === this.generation) showError(err);
      } finally {
        if (generation === this.generation) {
          this.loading = false;
          this.more.disabled = false;
        }
      }
    }

    /** Put items (newest first) above what is shown. */
    prepend(items) {
      const rows = items.map((item) => this.remember(item));
      for (const row of rows) row.classList.add("fresh");
      this.body.prepend(...rows);
      if (this.empty) this.empty.hidden = this.body.rows.length > 0;
    }

    /**
     * `items` is a run of the list as the API orders it, starting with an item shown: put
     * each item not shown yet right after the one before it (an event that became visible
     * after newer ones, as a PostgreSQL transaction that commits late). How many were new.
     */
    fillIn(items) {
      let previous = null;
      let added = 0;
      for (const item of items) {
        let row = this.rowsById.get(item.event_id);
        if (!row && previous) {
          row = this.remember(item);
          row.classList.add("fresh");
          previous.after(row);
          added += 1;
        }
        if (row) previous = row;
      }
      return added;
    }

    remember(item) {
      const row = this.row(item);
      if (item.event_id) {
        this.ids.add(item.event_id);
        this.rowsById.set(item.event_id, row);
      }
      return row;
    }
  }

  /** Values of the page's address query, for the names given. */
  function queryValues(names) {
    const params = new URLSearchParams(location.search);
    const out = {};
    for (const name of names) out[name] = params.get(name) || "";
    return out;
  }

  /** Put the non-empty values in the address (so the view is a link), without reloading. */
  function setQuery(values) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) if (value) params.set(name, value);
    const search = params.toString();
    const target = location.pathname + (search ? "?" + search : "");
    if (target !== location.pathname + location.search) history.pushState(null, "", target);
  }

  const loaders = [];

  /** Run `load` now and whenever the key changes. */
  function start(load) {
    loaders.push(load);
    load();
  }

  function showKeyState() {
    $("key-state").textContent = key() ? "Key saved in this browser." : "No key saved.";
  }

  function keyChanged() {
    showKeyState();
    clearMessage();
    for (const load of loaders) load();
  }

  function setUp() {
    $("key").value = key();
    showKeyState();
    $("key-box").addEventListener("submit", (e) => {
      e.preventDefault();
      localStorage.setItem(STORAGE, $("key").value.trim());
      keyChanged();
    });
    $("forget-key").addEventListener("click", () => {
      localStorage.removeItem(STORAGE);
      $("key").value = "";
      keyChanged();
    });
    const page = document.body.dataset.page;
    for (const link of document.querySelectorAll("nav a[data-nav]")) {
      if (link.dataset.nav.split(" ").includes(page)) link.setAttribute("aria-current", "page");
    }
  }

  setUp();

  return {
    $, key, api, ApiError, explain, showError, showMessage, clearMessage, text, escapeHtml, el,
    formatTime, time, percent, amount, userHref, eventsHref, userLink, anonymousLink, asOf,
    conflictRow, eventRow, eventPanel, Pager, queryValues, setQuery, start, showKeyState,
  };
})();
