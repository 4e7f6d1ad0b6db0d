/* CityBrain supervisor's desk (/oversight), report desk triage (举报受理): the cases the
   public filed at /report; one case with its whole timeline; triage (severity and the
   supervisor in charge), moves along the lifecycle with the text the reporter is told; the
   reporter's sealed identity only behind an explicit "reveal" (each reading is ledgered). A
   part of oversight.js (window.CityBrainOversight), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, byId, byTestId, state, el, clear, show, msg, notice, when, label, orgName } = S;
  const { badge, facts, opener, reveal, clearProblem, showProblem, api, query, failed, NONE } = S;
  const vocab = config.report;

  const ui = {
    filter: byId("reports-filter"),
    detail: byId("report-detail"),
    title: byId("report-title"),
    body: byId("report-body"),
    error: byTestId("report-error"),
    triage: byId("report-triage"),
    triageSeverity: byId("triage-severity"),
    triageAssignee: byId("triage-assignee"),
    triageError: byTestId("triage-error"),
    status: byId("report-status"),
    statusTo: byId("rs-status"),
    outcome: byId("rs-outcome"),
    note: byId("rs-note"),
    statusError: byTestId("rs-error"),
    revealButton: byId("reveal-button"),
    revealError: byTestId("reveal-error"),
    revealResult: byId("reveal-result"),
  };
  let current = null; // the case shown in the detail

  for (const severity of vocab.severities) {
    ui.triageSeverity.append(el("option", { value: severity, text: label("severity", severity) }));
  }

  function path() {
    return `/reports${query({ status: ui.filter.elements.status.value })}`;
  }

  function reporterText(c) {
    return c.anonymous ? msg("report.anonymous") : msg("report.named");
  }

  function row(c) {
    return el(
      "tr",
      { testid: `report-${c.id}`, "data-status": c.status },
      el("td", {}, el("code", { text: c.number })),
      el("td", { text: label("category", c.category) }),
      el("td", { text: orgName(c.organisation) }),
      el("td", {}, badge("report_status", c.status, "status")),
      el("td", {}, c.severity ? badge("severity", c.severity) : NONE()),
      el("td", { text: c.assignee || NONE() }),
      el("td", { text: reporterText(c) }),
      el("td", { text: when(c.created_at) }),
      el("td", {}, opener(msg("detail.open"), `open-report-${c.id}`, () => open(c.id))),
    );
  }

  const list = S.pager("reports", path, row);

  function timeline(steps) {
    const ol = el("ol", { class: "ov-timeline", testid: "report-timeline" });
    for (const step of steps) {
      const parts = [label("step", step.kind), label("report_status", step.status)];
      if (step.severity) {
        parts.push(label("severity", step.severity));
      }
      if (step.assignee) {
        parts.push(msg("report.assigned_to", { name: step.assignee }));
      }
      ol.append(
        el(
          "li",
          { testid: "report-step", "data-kind": step.kind },
          el("span", { class: "ov-timeline__when", text: `${when(step.at)} · ${step.actor}` }),
          el("span", { class: "ov-timeline__what", text: parts.join(" · ") }),
          step.public_text ? el("span", { class: "ov-timeline__text", text: msg("report.public_text", { text: step.public_text }) }) : null,
          step.note ? el("span", { class: "ov-timeline__text muted", text: msg("report.staff_note", { text: step.note }) }) : null,
        ),
      );
    }
    return ol;
  }

  function render(c) {
    current = c;
    ui.title.textContent = msg("report.title", { number: c.number });
    clear(ui.body);
    ui.body.append(
      facts([
        [msg("col.category"), label("category", c.category)],
        [msg("col.organisation"), orgName(c.organisation)],
        [msg("report.dataset"), c.dataset],
        [msg("report.occurred_on"), c.occurred_on],
        [msg("col.status"), badge("report_status", c.status), "report-status-value"],
        [msg("col.severity"), c.severity ? badge("severity", c.severity) : NONE(), "report-severity"],
        [msg("col.assignee"), c.assignee, "report-assignee"],
        [msg("col.reporter"), reporterText(c)],
        [msg("report.contact_consent"), c.contact_consent ? msg("common.yes") : msg("common.no")],
        [msg("col.created_at"), when(c.created_at)],
        [msg("report.outcome_label"), c.outcome, "report-outcome"],
      ]),
      el("h4", { text: msg("report.description") }),
      el("p", { class: "ov-text", testid: "report-description", text: c.description }),
      el("h4", { text: msg("report.timeline") }),
      timeline(c.timeline || []),
    );
    const closed = vocab.closed.includes(c.status);
    show(ui.triage, !closed);
    ui.triageSeverity.value = c.severity || vocab.severities[vocab.severities.length - 1];
    ui.triageAssignee.value = c.assignee || (state.me ? state.me.name : "");
    clear(ui.statusTo);
    const next = (vocab.next[c.status] || []).filter((s) => vocab.settable.includes(s));
    for (const to of next) {
      ui.statusTo.append(el("option", { value: to, text: label("report_status", to) }));
    }
    show(ui.status, next.length > 0);
    ui.outcome.value = "";
    ui.note.value = "";
    for (const [box, form] of [
      [ui.triageError, ui.triage],
      [ui.statusError, ui.status],
    ]) {
      clearProblem(box, form);
    }
  }

  function resetReveal() {
    clear(ui.revealResult);
    show(ui.revealResult, false);
    clearProblem(ui.revealError);
  }

  async function open(id) {
    const generation = state.generation;
    clearProblem(ui.error);
    try {
      const c = await api("GET", `/reports/${id}`);
      if (generation === state.generation) {
        if (!current || current.id !== c.id) {
          resetReveal();
        }
        render(c);
        reveal(ui.detail);
      }
    } catch (err) {
      if (err.status === 403) {
        failed("reports", err);
      } else {
        showProblem(ui.error, err);
        reveal(ui.detail);
      }
    }
  }

  /* Send one of the case's forms; on success say so, read the case and the list again. */
  async function submit(form, box, path, body, done) {
    clearProblem(box, form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await api("POST", path, body);
      notice(done);
      await open(current.id);
      await list.load();
    } catch (err) {
      showProblem(box, err, form);
    } finally {
      button.disabled = false;
    }
  }

  function triage(event) {
    event.preventDefault();
    if (!current) {
      return;
    }
    const body = { severity: ui.triageSeverity.value, assignee: ui.triageAssignee.value.trim() };
    const done = msg("report.triaged", { number: current.number, name: body.assignee });
    submit(ui.triage, ui.triageError, `/reports/${current.id}/triage`, body, done);
  }

  function move(event) {
    event.preventDefault();
    if (!current) {
      return;
    }
    const status = ui.statusTo.value;
    const outcome = ui.outcome.value.trim();
    if (vocab.closed.includes(status) && !outcome) {
      clearProblem(ui.statusError, ui.status);
      showProblem(ui.statusError, S.problems.local("outcome", msg("report.outcome_needed")), ui.status);
      ui.outcome.focus();
      return;
    }
    const body = { status, outcome, note: ui.note.value.trim() };
    const done = msg("report.moved", { number: current.number, status: label("report_status", status) });
    submit(ui.status, ui.statusError, `/reports/${current.id}/status`, body, done);
  }

  async function revealIdentity() {
    if (!current) {
      return;
    }
    resetReveal();
    ui.revealButton.disabled = true;
    try {
      const who = await api("GET", `/reports/${current.id}/reporter`);
      const content = who.anonymous
        ? el("p", { class: "muted", testid: "reveal-anonymous", text: msg("reveal.anonymous") })
        : facts([
            [msg("reveal.name"), who.name, "reveal-name"],
            [msg("reveal.phone"), who.phone, "reveal-phone"],
            [msg("reveal.email"), who.email, "reveal-email"],
            [msg("reveal.id_number"), who.id_number, "reveal-id-number"],
            [msg("report.contact_consent"), who.contact_consent ? msg("common.yes") : msg("common.no")],
          ]);
      ui.revealResult.append(content, el("p", { class: "ov-warning", text: msg("reveal.ledgered") }));
      show(ui.revealResult, true);
      notice(msg("reveal.ledgered"));
    } catch (err) {
      showProblem(ui.revealError, err);
    } finally {
      ui.revealButton.disabled = false;
    }
  }

  function close() {
    current = null;
    show(ui.detail, false);
    clear(ui.body);
    resetReveal();
  }

  ui.filter.addEventListener("submit", (event) => {
    event.preventDefault();
    close();
    list.load();
  });
  ui.triage.addEventListener("submit", triage);
  ui.status.addEventListener("submit", move);
  ui.revealButton.addEventListener("click", revealIdentity);
  byId("report-close").addEventListener("click", close);

  S.register({
    load: () => list.load(),
    reset() {
      list.reset();
      close();
      ui.filter.reset();
    },
  });
})();
