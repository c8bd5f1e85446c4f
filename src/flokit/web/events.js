// Data → Events: GET /v1/events with filters from the form and the address, "Load more",
// follow mode (new events put on top as they arrive), an event's JSON on click.
"use strict";
(() => {
  const { $ } = FK;
  const FILTERS = ["event", "user_id", "anonymous_id", "since", "until"];
  const PAGE = 100;
  const FOLLOW_EVERY_MS = 1500;
  const FOLLOW_MAX_PAGES = 10; // past this many new pages at once, start the list over
  let applied = FK.queryValues(FILTERS);
  const panel = FK.eventPanel();

  const pager = new FK.Pager({
    body: $("events"),
    more: $("load-more"),
    empty: $("events-empty"),
    row: (event) => FK.eventRow(event, panel),
    fetchPage: async (cursor) => {
      const page = await FK.api("/v1/events", { ...applied, limit: PAGE, cursor });
      return { items: page.events, next_cursor: page.next_cursor };
    },
  });

  function fillForm() {
    for (const name of FILTERS) $("f-" + name).value = applied[name];
  }

  function load() {
    FK.clearMessage();
    panel.close();
    return pager.reset();
  }

  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    applied = {};
    for (const name of FILTERS) applied[name] = $("f-" + name).value.trim();
    FK.setQuery(applied);
    load();
  });
  $("clear").addEventListener("click", () => {
    for (const name of FILTERS) $("f-" + name).value = "";
    $("filters").requestSubmit();
  });
  window.addEventListener("popstate", () => {
    applied = FK.queryValues(FILTERS);
    fillForm();
    load();
  });

  // Follow mode. /v1/events lists newest received first, so the events above the newest one
  // shown are the new ones: read from the top until an event already shown (and, on that
  // page, fill in any event that became visible later than newer ones).
  let sessions = 0;
  let following = 0; // the current follow session; 0 when off
  let timer = null;

  function startFollowing() {
    stopFollowing();
    const session = ++sessions;
    following = session;
    $("follow-state").textContent = "Following\u2026";
    const tick = async () => {
      if (session !== following) return;
      try {
        await poll(session);
      } catch (err) {
        if (session === following) FK.showError(err);
      }
      if (session === following) timer = setTimeout(tick, FOLLOW_EVERY_MS);
    };
    timer = setTimeout(tick, FOLLOW_EVERY_MS);
  }

  function stopFollowing() {
    following = 0; // an answer still on its way belongs to no session now: it is dropped
    clearTimeout(timer);
    timer = null;
    $("follow-state").textContent = "";
  }

  async function poll(session) {
    if (pager.loading) return; // the list is being (re)loaded: it will hold the newest
    const generation = pager.generation;
    if (pager.ids.size === 0) {
      await pager.reset();
      note(session, "");
      return;
    }
    const fresh = [];
    let cursor = null;
    for (let pages = 0; pages < FOLLOW_MAX_PAGES; pages += 1) {
      const page = await FK.api("/v1/events", { ...applied, limit: PAGE, cursor });
      if (session !== following || generation !== pager.generation) return;
      const known = page.events.findIndex((event) => pager.ids.has(event.event_id));
      fresh.push(...(known < 0 ? page.events : page.events.slice(0, known)));
      if (known >= 0 || !page.next_cursor) {
        const late = known >= 0 ? pager.fillIn(page.events.slice(known)) : 0;
        if (fresh.length) pager.prepend(fresh);
        FK.clearMessage();
        note(session, fresh.length + late ? fresh.length + late + " new" : "");
        return;
      }
      cursor = page.next_cursor;
    }
    await pager.reset(); // more new events than we care to page through: start over
    note(session, "list reloaded");
  }

  function note(session, what) {
    if (session !== following) return;
    const at = new Date().toISOString().slice(11, 19);
    $("follow-state").textContent = "Following \u2014 checked " + at + " UTC" + (what ? ", " + what : "");
  }

  $("follow").addEventListener("change", () => {
    if ($("follow").checked) startFollowing();
    else stopFollowing();
  });

  fillForm();
  FK.start(() => {
    load();
    if ($("follow").checked) startFollowing();
  });
})();
