// Data → Users → one user: GET /v1/users/{id} (profile, attribution, subscription, revenue,
// conflicts) and the merged timeline GET /v1/users/{id}/events.
"use strict";
(() => {
  const { $, el, text } = FK;
  const PREFIX = "/app/users/";
  const PAGE = 100;
  const userId = readId();
  const base = "/v1/users/" + encodeURIComponent(userId);
  const panel = FK.eventPanel();

  /** The id from the address, which holds it percent-encoded. */
  function readId() {
    const raw = location.pathname.slice(PREFIX.length);
    try { return decodeURIComponent(raw); } catch (err) { return raw; }
  }

  function put(id, value) {
    const cell = $(id);
    if (value instanceof Node) cell.replaceChildren(value);
    else cell.textContent = value === null || value === undefined || value === "" ? "\u2014" : String(value);
  }

  function showProfile(user) {
    put("profile-user-id", user.user_id);
    $("profile-anonymous-ids").replaceChildren(
      ...(user.anonymous_ids.length
        ? user.anonymous_ids.flatMap((id, i) => [i ? ", " : "", FK.anonymousLink(id)])
        : [el("span", { class: "muted" }, "none")]));
    put("profile-first-seen", FK.time(user.first_seen));
    put("profile-last-seen", FK.time(user.last_seen));
    put("profile-event-count", user.event_count);
    showAttribution(user.attribution);
    showSubscription(user.subscription);
    showRevenue(user.revenue || {});
    const conflicts = user.conflicts || [];
    $("conflicts").replaceChildren(...conflicts.map(FK.conflictRow));
    $("conflicts-none").hidden = conflicts.length > 0;
  }

  function showAttribution(attribution) {
    $("attribution-none").hidden = Boolean(attribution);
    $("attribution").hidden = !attribution;
    if (!attribution) return;
    put("attribution-channel", attribution.channel);
    put("attribution-campaign", attribution.campaign_id);
    put("attribution-ad-set", attribution.ad_set_id);
    put("attribution-creative", attribution.creative_id);
    put("attribution-country", attribution.country);
    put("attribution-at", FK.time(attribution.attributed_at));
  }

  function showSubscription(sub) {
    sub = sub || { status: "none" };
    put("subscription-status", sub.status);
    $("subscription-status").className = "status-" + text(sub.status);
    put("subscription-plan", sub.plan_id);
    put("subscription-trial-started", FK.time(sub.trial_started_at));
    put("subscription-started", FK.time(sub.started_at));
    put("subscription-trial-converted", sub.trial_converted === undefined ? null : sub.trial_converted ? "yes" : "no");
    put("subscription-cancelled", FK.time(sub.cancelled_at));
    put("subscription-renewals", sub.renewals);
  }

  function showRevenue(revenue) {
    const currencies = Object.keys(revenue).sort();
    $("revenue").replaceChildren(...currencies.map((currency) => {
      const sums = revenue[currency];
      const cell = (name) => el("td", { class: "num " + name, "data-value": text(sums[name]) }, FK.amount(sums[name]));
      return el("tr", { "data-currency": currency },
        el("th", { class: "currency" }, currency), cell("gross"), cell("refunded"), cell("net"));
    }));
    $("revenue-none").hidden = currencies.length > 0;
  }

  const timeline = new FK.Pager({
    body: $("timeline"),
    more: $("timeline-more"),
    empty: $("timeline-empty"),
    row: (event) => FK.eventRow(event, panel),
    fetchPage: async (cursor) => {
      const page = await FK.api(base + "/events", { order: $("order").value, limit: PAGE, cursor });
      return { items: page.events, next_cursor: page.next_cursor, as_of: page.as_of };
    },
  });

  async function load() {
    FK.clearMessage();
    $("user-view").hidden = true;
    put("profile-title", userId);
    if (!userId) {
      FK.showMessage("No user id in the address. Pick someone on the Users page.");
      return;
    }
    let user;
    try {
      user = await FK.api(base);
    } catch (err) {
      if (err.status === 404) {
        FK.showMessage("No user " + userId + " in this workspace.", "not-found");
        $("message").dataset.status = "404";
      } else {
        FK.showError(err);
      }
      return;
    }
    showProfile(user);
    FK.asOf(user.as_of);
    $("user-view").hidden = false;
    panel.close();
    await timeline.reset();
  }

  const order = new URLSearchParams(location.search).get("order");
  if (order === "asc" || order === "desc") $("order").value = order;
  $("order").addEventListener("change", () => {
    FK.setQuery({ order: $("order").value === "desc" ? "" : $("order").value });
    panel.close();
    timeline.reset();
  });

  document.title = "FloKit \u00b7 User " + userId;
  FK.start(load);
})();
