/* CityBrain supervisor's desk (/oversight), security (安全事件/风险通报): every organisation's
   security incidents, one with its actions and timeline, a follow-up (a status step, an
   action taken, a note: the gate decides who may add one); the risk bulletins with their
   acknowledgement progress, one with who acknowledged, who is outstanding and who is overdue.
   A part of oversight.js (window.CityBrainOversight), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, byId, byTestId, state, el, clear, show, msg, notice, when, label, orgName, pick } = S;
  const { badge, facts, opener, reveal, clearProblem, showProblem, api, NONE } = S;
  const vocab = config.incident;

  const ui = {
    incident: byId("incident-detail"),
    incidentTitle: byId("incident-title"),
    incidentBody: byId("incident-body"),
    incidentError: byTestId("incident-error"),
    update: byId("incident-update"),
    updateStatus: byId("iu-status"),
    updateAction: byId("iu-action"),
    updateNote: byId("iu-note"),
    updateError: byTestId("iu-error"),
    bulletin: byId("bulletin-detail"),
    bulletinTitle: byId("bulletin-title"),
    bulletinBody: byId("bulletin-body"),
    bulletinError: byTestId("bulletin-error"),
  };
  let current = null; // the incident shown

  /* ---------- incidents ---------- */

  function incidentRow(i) {
    return el(
      "tr",
      { testid: `incident-${i.id}`, "data-status": i.status },
      el("td", { text: `#${i.id}` }),
      el("td", { text: orgName(i.organisation) }),
      el("td", {}, badge("severity", i.severity)),
      el("td", { text: i.title }),
      el("td", {}, badge("incident_status", i.status, "status")),
      el("td", { text: when(i.occurred_at) }),
      el("td", { text: when(i.updated_at) }),
      el("td", {}, opener(msg("detail.open"), `open-incident-${i.id}`, () => openIncident(i.id))),
    );
  }

  const incidents = S.pager("incidents", () => "/security/incidents", incidentRow);

  function actionList(actions, testid) {
    if (!actions.length) {
      return el("p", { class: "muted", text: NONE() });
    }
    const list = el("ul", { class: "ov-list", testid });
    for (const a of actions) {
      list.append(el("li", { text: `${when(a.at)} · ${a.text}` }));
    }
    return list;
  }

  function incidentTimeline(entries) {
    const ol = el("ol", { class: "ov-timeline", testid: "incident-timeline" });
    for (const u of entries) {
      const what = [];
      if (u.status_to) {
        what.push(
          u.status_from
            ? msg("incident.moved", { from: label("incident_status", u.status_from), to: label("incident_status", u.status_to) })
            : label("incident_status", u.status_to),
        );
      }
      for (const a of u.actions || []) {
        what.push(msg("incident.action_taken", { text: a.text }));
      }
      ol.append(
        el(
          "li",
          { testid: "incident-step" },
          el("span", { class: "ov-timeline__when", text: `${when(u.at)} · ${u.actor}` }),
          what.length ? el("span", { class: "ov-timeline__what", text: what.join(" · ") }) : null,
          u.note ? el("span", { class: "ov-timeline__text", text: u.note }) : null,
        ),
      );
    }
    return ol;
  }

  function renderIncident(i) {
    current = i;
    ui.incidentTitle.textContent = msg("incident.title", { id: i.id, title: i.title });
    clear(ui.incidentBody);
    ui.incidentBody.append(
      facts([
        [msg("col.organisation"), orgName(i.organisation)],
        [msg("col.severity"), badge("severity", i.severity)],
        [msg("col.status"), badge("incident_status", i.status), "incident-status"],
        [msg("col.occurred_at"), when(i.occurred_at)],
        [msg("incident.datasets"), (i.datasets || []).join(", ")],
        [msg("incident.reported"), `${i.reported_by} · ${when(i.reported_at)}`],
      ]),
      el("h4", { text: msg("incident.description") }),
      el("p", { class: "ov-text", text: i.description || NONE() }),
      el("h4", { text: msg("incident.actions") }),
      actionList(i.actions || [], "incident-actions"),
      el("h4", { text: msg("incident.timeline") }),
      incidentTimeline(i.timeline || []),
    );
    clear(ui.updateStatus);
    ui.updateStatus.append(el("option", { value: "", text: msg("incident.no_change") }));
    const next = vocab.next[i.status];
    if (next) {
      ui.updateStatus.append(el("option", { value: next, text: label("incident_status", next) }));
    }
    show(ui.update, i.status !== "closed");
    ui.updateAction.value = "";
    ui.updateNote.value = "";
    clearProblem(ui.updateError, ui.update);
  }

  async function openIncident(id) {
    const generation = state.generation;
    clearProblem(ui.incidentError);
    try {
      const i = await api("GET", `/security/incidents/${id}`);
      if (generation === state.generation) {
        renderIncident(i);
        reveal(ui.incident);
      }
    } catch (err) {
      showProblem(ui.incidentError, err);
      reveal(ui.incident);
    }
  }

  async function update(event) {
    event.preventDefault();
    if (!current) {
      return;
    }
    clearProblem(ui.updateError, ui.update);
    const body = { note: ui.updateNote.value.trim(), actions: [] };
    if (ui.updateStatus.value) {
      body.status = ui.updateStatus.value;
    }
    const action = ui.updateAction.value.trim();
    if (action) {
      body.actions.push({ text: action });
    }
    const button = ui.update.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await api("POST", `/security/incidents/${current.id}/updates`, body);
      notice(msg("incident.updated", { id: current.id }));
      await openIncident(current.id);
      await incidents.load();
    } catch (err) {
      if (err.status === 403) {
        err.body = { ...err.body, detail: `${msg("incident.update_forbidden")} ${err.body.detail || ""}`.trim() };
      }
      showProblem(ui.updateError, err, ui.update);
    } finally {
      button.disabled = false;
    }
  }

  /* ---------- bulletins ---------- */

  function progress(b) {
    const counts = b.counts;
    if (!counts) {
      return el("span", { class: "muted", text: NONE() });
    }
    const share = counts.addressed ? Math.round((100 * counts.acknowledged) / counts.addressed) : 0;
    return el(
      "span",
      { class: "ov-progress", testid: `bulletin-${b.id}-progress` },
      el("meter", { min: "0", max: String(counts.addressed || 1), value: String(counts.acknowledged), "aria-hidden": "true" }),
      ` ${msg("bulletin.progress", { acknowledged: counts.acknowledged, addressed: counts.addressed, share })}`,
      counts.overdue ? " " : null,
      counts.overdue ? plainBadge(msg("bulletin.overdue_count", { n: counts.overdue }), "bad") : null,
    );
  }

  function plainBadge(text, tone) {
    return el("span", { class: `sh-badge sh-badge--${tone}`, text });
  }

  function bulletinRow(b) {
    return el(
      "tr",
      { testid: `bulletin-${b.id}` },
      el("td", { text: `#${b.id}` }),
      el("td", { text: pick(b.title_zh, b.title_en) }),
      el("td", {}, badge("severity", b.severity)),
      el("td", { text: when(b.ack_deadline) }),
      el("td", {}, progress(b)),
      el("td", {}, opener(msg("detail.open"), `open-bulletin-${b.id}`, () => openBulletin(b.id))),
    );
  }

  const bulletins = S.pager("bulletins", () => "/security/bulletins", bulletinRow);

  function orgs(codes, testid) {
    if (!codes || !codes.length) {
      return el("p", { class: "muted", testid, text: NONE() });
    }
    return el("ul", { class: "ov-list", testid }, ...codes.map((code) => el("li", { text: orgName(code) })));
  }

  function renderBulletin(b) {
    ui.bulletinTitle.textContent = msg("bulletin.title", { id: b.id, title: pick(b.title_zh, b.title_en) });
    clear(ui.bulletinBody);
    const acknowledged = (b.acknowledged || []).map((a) =>
      el(
        "li",
        {},
        `${orgName(a.organisation)} · ${a.acknowledged_by} · ${when(a.acknowledged_at)}`,
        a.late ? " " : null,
        a.late ? plainBadge(msg("bulletin.late"), "warn") : null,
      ),
    );
    ui.bulletinBody.append(
      facts([
        [msg("col.severity"), badge("severity", b.severity)],
        [msg("bulletin.audience"), label("audience", b.audience)],
        [msg("col.deadline"), when(b.ack_deadline)],
        [msg("bulletin.issued"), `${b.issued_by} · ${when(b.issued_at)}`],
        [msg("col.progress"), progress(b)],
      ]),
      el("p", { class: "ov-text", text: pick(b.body_zh, b.body_en) }),
      el("h4", { text: msg("bulletin.acknowledged") }),
      acknowledged.length
        ? el("ul", { class: "ov-list", testid: "bulletin-acknowledged" }, ...acknowledged)
        : el("p", { class: "muted", testid: "bulletin-acknowledged", text: NONE() }),
      el("h4", { text: msg("bulletin.outstanding") }),
      orgs(b.outstanding, "bulletin-outstanding"),
      el("h4", { class: "ov-bad", text: msg("bulletin.overdue") }),
      orgs(b.overdue, "bulletin-overdue"),
    );
  }

  async function openBulletin(id) {
    const generation = state.generation;
    clearProblem(ui.bulletinError);
    try {
      const b = await api("GET", `/security/bulletins/${id}`);
      if (generation === state.generation) {
        renderBulletin(b);
        reveal(ui.bulletin);
      }
    } catch (err) {
      showProblem(ui.bulletinError, err);
      reveal(ui.bulletin);
    }
  }

  function closeIncident() {
    current = null;
    show(ui.incident, false);
    clear(ui.incidentBody);
  }

  function closeBulletin() {
    show(ui.bulletin, false);
    clear(ui.bulletinBody);
  }

  ui.update.addEventListener("submit", update);
  byId("incident-close").addEventListener("click", closeIncident);
  byId("bulletin-close").addEventListener("click", closeBulletin);

  S.register({
    load: () => Promise.allSettled([incidents.load(), bulletins.load()]),
    reset() {
      incidents.reset();
      bulletins.reset();
      closeIncident();
      closeBulletin();
    },
  });
})();
