// Data → Users: GET /v1/users (search by id prefix, kind), most recently active first.
"use strict";
(() => {
  const { $, el, text } = FK;
  const PARAMS = ["q", "kind"];
  const PAGE = 50;
  let applied = FK.queryValues(PARAMS);

  function personRow(person) {
    const identified = person.kind === "user";
    const link = identified
      ? el("a", { href: FK.userHref(person.id) }, person.id)
      : el("a", { href: FK.eventsHref({ anonymous_id: person.id }) }, person.id);
    return el("tr", { "data-kind": person.kind, "data-id": person.id },
      el("td", {}, identified ? "user" : "anonymous"),
      el("td", { class: "person" }, link),
      el("td", { class: "status" }, text(person.status)),
      el("td", { class: "num count" }, text(person.event_count)),
      el("td", {}, FK.time(person.first_seen)),
      el("td", {}, FK.time(person.last_seen)),
      el("td", {}, (person.anonymous_ids || []).flatMap((id, i) => [i ? ", " : "", FK.anonymousLink(id)])));
  }

  const pager = new FK.Pager({
    body: $("users"),
    more: $("load-more"),
    empty: $("users-empty"),
    row: personRow,
    fetchPage: async (cursor) => {
      const page = await FK.api("/v1/users", { ...applied, limit: PAGE, cursor });
      return { items: page.users, next_cursor: page.next_cursor, as_of: page.as_of };
    },
  });

  function fillForm() {
    $("q").value = applied.q;
    $("kind").value = applied.kind;
  }

  function load() {
    FK.clearMessage();
    return pager.reset();
  }

  function apply() {
    applied = { q: $("q").value.trim(), kind: $("kind").value };
    FK.setQuery(applied);
    load();
  }

  let typing = null;
  $("search").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(typing); apply(); });
  $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(apply, 300); });
  $("kind").addEventListener("change", apply);
  window.addEventListener("popstate", () => { applied = FK.queryValues(PARAMS); fillForm(); load(); });

  fillForm();
  FK.start(load);
})();
