/* CityBrain supervisor's desk (/oversight), findings (监督发现): the findings the detector
   raised over the ledger, filtered by status and article; one finding with the facts it
   measured and the ledger entries it rests on; moving it (acknowledge, resolve, dismiss with a
   note, reopen); its evidence bundle saved as a file; "scan now". A part of oversight.js
   (window.CityBrainOversight), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, byId, byTestId, state, el, clear, show, msg, notice, when, label, orgName } = S;
  const { badge, facts, opener, reveal, clearProblem, showProblem, api, query, failed } = S;
  const vocab = config.finding;

  const ui = {
    filter: byId("findings-filter"),
    scan: byId("scan"),
    scanResult: byTestId("scan-result"),
    detail: byId("finding-detail"),
    title: byId("finding-title"),
    body: byId("finding-body"),
    error: byTestId("finding-error"),
    move: byId("finding-move"),
    moveStatus: byId("move-status"),
    moveNote: byId("move-note"),
    moveError: byTestId("move-error"),
    download: byId("evidence-download"),
  };
  let current = null; // the finding shown in the detail

  function path() {
    const form = ui.filter.elements;
    return `/supervision/findings${query({ status: form.status.value, article: form.article.value })}`;
  }

  function row(f) {
    return el(
      "tr",
      { testid: `finding-${f.id}`, "data-status": f.status },
      el("td", { text: `#${f.id}` }),
      el("td", {}, el("code", { text: f.rule })),
      el("td", { text: msg("article", { article: f.article }) }),
      el("td", {}, badge("severity", f.severity)),
      el("td", { text: orgName(f.organisation) }),
      el("td", { text: f.actor }),
      el("td", {}, el("code", { text: f.resource })),
      el("td", { text: when(f.occurred_at) }),
      el("td", {}, badge("finding_status", f.status, "status")),
      el("td", { class: "ov-num", text: String(f.evidence_count) }),
      el("td", {}, opener(msg("detail.open"), `open-finding-${f.id}`, () => open(f.id))),
    );
  }

  const list = S.pager("findings", path, row);

  /* The measured facts of a finding (count, window, baseline, ...) as a list of its keys. */
  function measured(values) {
    const rows = Object.entries(values || {}).map(([key, value]) => [
      key,
      typeof value === "object" && value !== null ? JSON.stringify(value) : String(value),
      `fact-${key}`,
    ]);
    return rows.length ? facts(rows) : el("p", { class: "muted", text: msg("finding.no_facts") });
  }

  function render(f) {
    current = f;
    ui.title.textContent = msg("finding.title", { id: f.id, rule: f.rule });
    clear(ui.body);
    const seqs = f.evidence || [];
    ui.body.append(
      facts([
        [msg("col.rule"), `${f.rule} v${f.rule_version}`],
        [msg("col.article"), msg("article", { article: f.article }), "finding-article"],
        [msg("col.severity"), badge("severity", f.severity)],
        [msg("col.status"), badge("finding_status", f.status), "finding-status"],
        [msg("col.organisation"), orgName(f.organisation)],
        [msg("col.actor"), f.actor, "finding-actor"],
        [msg("col.resource"), f.resource],
        [msg("col.occurred_at"), when(f.occurred_at)],
        [msg("finding.detected_at"), when(f.detected_at)],
        [msg("finding.handled"), f.handled_by ? `${f.handled_by} · ${when(f.handled_at)}` : ""],
        [msg("finding.note"), f.note, "finding-note"],
      ]),
      el("h4", { text: msg("finding.facts") }),
      measured(f.facts),
      el("h4", { text: msg("finding.evidence", { count: f.evidence_count }) }),
      el("p", { class: "ov-seqs", testid: "finding-evidence", text: seqs.map((s) => `#${s}`).join(", ") || S.NONE() }),
    );
    clear(ui.moveStatus);
    const moves = vocab.moves[f.status] || [];
    for (const to of moves) {
      ui.moveStatus.append(el("option", { value: to, text: label("finding_status", to) }));
    }
    show(ui.move, moves.length > 0);
    ui.moveNote.value = "";
    clearProblem(ui.moveError, ui.move);
  }

  async function open(id) {
    const generation = state.generation;
    clearProblem(ui.error);
    try {
      const f = await api("GET", `/supervision/findings/${id}`);
      if (generation === state.generation) {
        render(f);
        reveal(ui.detail);
      }
    } catch (err) {
      if (err.status === 403) {
        failed("findings", err);
      } else {
        showProblem(ui.error, err);
        reveal(ui.detail);
      }
    }
  }

  async function move(event) {
    event.preventDefault();
    clearProblem(ui.moveError, ui.move);
    if (!current) {
      return;
    }
    const status = ui.moveStatus.value;
    const note = ui.moveNote.value.trim();
    if (vocab.note_required.includes(status) && !note) {
      showProblem(ui.moveError, S.problems.local("note", msg("finding.note_needed")), ui.move);
      ui.moveNote.focus();
      return;
    }
    const button = ui.move.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await api("POST", `/supervision/findings/${current.id}/status`, { status, note });
      notice(msg("finding.moved", { id: current.id, status: label("finding_status", status) }));
      await open(current.id);
      await list.load();
    } catch (err) {
      showProblem(ui.moveError, err, ui.move);
    } finally {
      button.disabled = false;
    }
  }

  async function saveEvidence() {
    if (!current) {
      return;
    }
    clearProblem(ui.error);
    const id = current.id;
    ui.download.disabled = true;
    try {
      const name = await S.download(`/supervision/findings/${id}/evidence`, "application/json", `finding-${id}-evidence.json`);
      notice(msg("finding.downloaded", { name }));
    } catch (err) {
      showProblem(ui.error, err);
    } finally {
      ui.download.disabled = false;
    }
  }

  async function scan() {
    clearProblem(byTestId("findings-error"));
    show(ui.scanResult, false);
    ui.scan.disabled = true;
    try {
      const out = await api("POST", "/supervision/scan");
      ui.scanResult.textContent = msg("findings.scanned", { read: out.read, opened: (out.opened || []).length });
      show(ui.scanResult, true);
      await list.load();
    } catch (err) {
      failed("findings", err);
    } finally {
      ui.scan.disabled = false;
    }
  }

  function close() {
    current = null;
    show(ui.detail, false);
    clear(ui.body);
  }

  ui.filter.addEventListener("submit", (event) => {
    event.preventDefault();
    close();
    list.load();
  });
  ui.scan.addEventListener("click", scan);
  ui.move.addEventListener("submit", move);
  ui.download.addEventListener("click", saveEvidence);
  byId("finding-close").addEventListener("click", close);

  S.register({
    load: () => list.load(),
    reset() {
      list.reset();
      close();
      show(ui.scanResult, false);
      ui.filter.reset();
    },
  });
})();
