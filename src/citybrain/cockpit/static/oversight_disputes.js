/* CityBrain supervisor's desk (/oversight), disputes (数据争议): every case with its next
   deadline (overdue cases stand out), one case with all its deadlines, claims, evidence,
   decisions and timeline. Read-only: deciding stays with the dispute routes. A part of
   oversight.js (window.CityBrainOversight), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, byId, byTestId, state, el, clear, show, msg, when, label, orgName } = S;
  const { badge, facts, opener, reveal, clearProblem, showProblem, api, query, NONE } = S;
  const vocab = config.dispute;

  const ui = {
    filter: byId("disputes-filter"),
    detail: byId("dispute-detail"),
    title: byId("dispute-title"),
    body: byId("dispute-body"),
    error: byTestId("dispute-error"),
  };

  function path() {
    const form = ui.filter.elements;
    return `/disputes${query({ status: form.status.value, overdue: form.overdue.checked ? "true" : "" })}`;
  }

  function overdueBadge(testid) {
    return el("span", { class: "sh-badge sh-badge--bad", text: msg("dispute.overdue"), testid });
  }

  function nextDeadline(c) {
    if (!c.next_deadline) {
      return el("span", { class: "muted", text: NONE() });
    }
    const due = c.deadlines ? c.deadlines[c.next_deadline] : null;
    return el(
      "span",
      {},
      `${label("deadline", c.next_deadline)} · ${when(due)}`,
      c.overdue ? " " : null,
      c.overdue ? overdueBadge(`dispute-${c.id}-overdue`) : null,
    );
  }

  function row(c) {
    return el(
      "tr",
      { testid: `dispute-${c.id}`, class: c.overdue ? "ov-overdue" : null, "data-overdue": c.overdue ? "true" : "false" },
      el("td", { text: `#${c.id}` }),
      el("td", { text: c.title }),
      el("td", { text: orgName(c.claimant) }),
      el("td", { text: orgName(c.respondent) }),
      el("td", { text: label("subject", c.subject_type) }),
      el("td", {}, badge("dispute_status", c.status, "status")),
      el("td", {}, nextDeadline(c)),
      el("td", {}, opener(msg("detail.open"), `open-dispute-${c.id}`, () => open(c.id))),
    );
  }

  const list = S.pager("disputes", path, row);

  function deadlines(c) {
    const body = el("tbody");
    for (const name of vocab.deadlines) {
      const due = c.deadlines ? c.deadlines[name] : null;
      const pending = c.next_deadline === name;
      const late = pending && c.overdue;
      body.append(
        el(
          "tr",
          { testid: `deadline-${name}`, class: late ? "ov-overdue" : pending ? "ov-pending" : null },
          el("th", { scope: "row", text: label("deadline", name) }),
          el("td", { text: when(due) }),
          el("td", {}, late ? overdueBadge("deadline-overdue") : pending ? msg("dispute.pending") : ""),
        ),
      );
    }
    return el(
      "table",
      { class: "sh-table sh-table--compact", testid: "dispute-deadlines" },
      el("caption", { class: "visually-hidden", text: msg("dispute.deadlines") }),
      el(
        "thead",
        {},
        el("tr", {}, ...[msg("dispute.deadline"), msg("dispute.due"), msg("col.status")].map((t) => el("th", { scope: "col", text: t }))),
      ),
      body,
    );
  }

  function items(rows, testid) {
    if (!rows.length) {
      return el("p", { class: "muted", testid, text: NONE() });
    }
    return el("ul", { class: "ov-list", testid }, ...rows.map((text) => el("li", { text })));
  }

  function decision(d) {
    if (!d || !d.outcome) {
      return "";
    }
    return `${label("outcome", d.outcome)} · ${d.decided_by || ""} · ${when(d.decided_at)} · ${d.text}`;
  }

  function timeline(steps) {
    const ol = el("ol", { class: "ov-timeline", testid: "dispute-timeline" });
    for (const step of steps) {
      ol.append(
        el(
          "li",
          { testid: "dispute-step" },
          el("span", { class: "ov-timeline__when", text: `${when(step.at)} · ${step.actor} · ${orgName(step.organisation)}` }),
          el("span", { class: "ov-timeline__what", text: label("dispute_step", step.kind) }),
          step.detail ? el("span", { class: "ov-timeline__text", text: step.detail }) : null,
          step.ledger_seq !== null && step.ledger_seq !== undefined
            ? el("span", { class: "ov-timeline__text muted", text: msg("dispute.ledger_seq", { seq: step.ledger_seq }) })
            : null,
        ),
      );
    }
    return ol;
  }

  function render(c) {
    ui.title.textContent = msg("dispute.title", { id: c.id, title: c.title });
    clear(ui.body);
    const appeal = c.appeal && c.appeal.appealed_at ? `${c.appeal.appealed_by} · ${when(c.appeal.appealed_at)} · ${c.appeal.reason}` : "";
    ui.body.append(
      c.overdue ? el("p", { class: "ov-denied", role: "note", testid: "dispute-overdue", text: msg("dispute.overdue_note") }) : "",
      facts([
        [msg("col.claimant"), orgName(c.claimant)],
        [msg("col.respondent"), orgName(c.respondent)],
        [msg("col.subject"), label("subject", c.subject_type)],
        [msg("dispute.dataset"), c.dataset],
        [msg("col.status"), badge("dispute_status", c.status), "dispute-status"],
        [msg("dispute.filed"), `${c.filed_by} · ${when(c.filed_at)}`],
        [msg("dispute.handled_by"), c.handled_by],
        [msg("dispute.refusal"), c.refusal_reason],
        [msg("dispute.decision"), decision(c.decision)],
        [msg("dispute.appeal"), appeal],
        [msg("dispute.appeal_decision"), decision(c.appeal)],
      ]),
      el("h4", { text: msg("dispute.deadlines") }),
      el("div", { class: "sh-scroll" }, deadlines(c)),
      el("h4", { text: msg("dispute.claims") }),
      items(
        (c.claims || []).map((x) => `${when(x.at)} · ${orgName(x.organisation)} (${label("side", x.side)}) · ${x.text}`),
        "dispute-claims",
      ),
      el("h4", { text: msg("dispute.evidence") }),
      items(
        (c.evidence || []).map((x) => `${label("evidence_kind", x.kind)} ${x.ref} · sha256 ${String(x.sha256).slice(0, 12)}… · ${label("side", x.side)} · ${x.note}`),
        "dispute-evidence",
      ),
      el("h4", { text: msg("dispute.timeline") }),
      timeline(c.timeline || []),
    );
  }

  async function open(id) {
    const generation = state.generation;
    clearProblem(ui.error);
    try {
      const c = await api("GET", `/disputes/${id}`);
      if (generation === state.generation) {
        render(c);
        reveal(ui.detail);
      }
    } catch (err) {
      showProblem(ui.error, err);
      reveal(ui.detail);
    }
  }

  function close() {
    show(ui.detail, false);
    clear(ui.body);
  }

  ui.filter.addEventListener("submit", (event) => {
    event.preventDefault();
    close();
    list.load();
  });
  byId("dispute-close").addEventListener("click", close);

  S.register({
    load: () => list.load(),
    reset() {
      list.reset();
      close();
      ui.filter.reset();
    },
  });
})();
