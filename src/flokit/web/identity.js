// Data → Identity: GET /v1/identity (counts, install join rate, unattributed revenue,
// conflicts) and the unlinked anonymous ids (GET /v1/users?kind=anonymous).
"use strict";
(() => {
  const { $, el, text } = FK;
  const HEALTHY_ABOVE = 0.9; // FloKit's rule: a 7-day install join rate above 90 % is healthy
  const PAGE = 50;

  function number(id, value) {
    $(id).textContent = value === null || value === undefined ? "\u2014" : String(value);
    $(id).dataset.value = text(value);
  }

  function share(id, value) {
    $(id).textContent = FK.percent(value);
    $(id).dataset.value = text(value);
  }

  function showJoinRate(rate) {
    share("join-rate", rate);
    const health = $("join-health");
    const meter = $("join-meter");
    if (rate === null || rate === undefined) {
      meter.value = 0;
      health.textContent = "no installs in the last 7 days";
      health.className = "muted";
      return;
    }
    meter.value = rate;
    const healthy = rate > HEALTHY_ABOVE;
    health.textContent = healthy ? "healthy" : "unhealthy";
    health.className = healthy ? "healthy" : "unhealthy";
  }

  function showIdentity(identity) {
    number("users-count", identity.users);
    number("linked-count", identity.anonymous_ids_linked);
    number("unlinked-count", identity.anonymous_ids_unlinked);
    showJoinRate(identity.install_join_rate_7d);
    share("unattributed-share", identity.unattributed_revenue_share);
    const conflicts = identity.conflicts || { count: 0, newest: [] };
    number("conflicts-count", conflicts.count);
    $("conflicts").replaceChildren(...conflicts.newest.map(FK.conflictRow));
    $("conflicts-none").hidden = conflicts.newest.length > 0;
    $("conflicts-shown").textContent = conflicts.count > conflicts.newest.length
      ? "Showing the newest " + conflicts.newest.length + " of " + conflicts.count + "." : "";
    FK.asOf(identity.as_of);
  }

  const unlinked = new FK.Pager({
    body: $("unlinked"),
    more: $("unlinked-more"),
    empty: $("unlinked-empty"),
    row: (person) => el("tr", { "data-id": person.id },
      el("td", {}, FK.anonymousLink(person.id)),
      el("td", { class: "num" }, text(person.event_count)),
      el("td", {}, FK.time(person.first_seen)),
      el("td", {}, FK.time(person.last_seen))),
    fetchPage: async (cursor) => {
      const page = await FK.api("/v1/users", { kind: "anonymous", limit: PAGE, cursor });
      return { items: page.users, next_cursor: page.next_cursor };
    },
  });

  async function load() {
    FK.clearMessage();
    try {
      showIdentity(await FK.api("/v1/identity"));
    } catch (err) {
      FK.showError(err);
      return;
    }
    await unlinked.reset();
  }

  FK.start(load);
})();
