/* CityBrain supervisor's desk (/oversight), organisation report (监督报告): one
   organisation's record over a period - its ledger entries by category and action, grants,
   findings by article, incidents, report cases, disputes, bulletins and data quality - read
   from /supervision/org-reports/{org} and shown as tables; the same report as a PDF, saved as
   a file. A part of oversight.js (window.CityBrainOversight), loaded after it. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, zh, byId, byTestId, state, el, clear, show, msg, notice, when, label, orgName } = S;
  const { badge, facts, clearProblem, showProblem, failed, query, NONE } = S;
  const vocab = config.orgreport;

  const ui = {
    form: byId("orgreport-form"),
    org: byId("or-org"),
    since: byId("or-since"),
    until: byId("or-until"),
    pdf: byId("or-pdf"),
    error: byTestId("orgreport-error"),
    denied: byTestId("orgreport-denied"),
    result: byId("orgreport-result"),
  };

  const pad = (n) => String(n).padStart(2, "0");
  const isoDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

  /* This month so far, in the browser's calendar. */
  function defaultPeriod() {
    const today = new Date();
    ui.since.value = isoDay(new Date(today.getFullYear(), today.getMonth(), 1));
    ui.until.value = isoDay(today);
  }

  /* The form's values, or a Problem naming the field that is missing or wrong. */
  function values() {
    const org = ui.org.value.trim();
    const since = ui.since.value;
    const until = ui.until.value;
    if (!org) {
      throw S.problems.local("org", msg("orgreport.org_needed"));
    }
    if (!since) {
      throw S.problems.local("since", msg("orgreport.date_needed"));
    }
    if (!until) {
      throw S.problems.local("until", msg("orgreport.date_needed"));
    }
    if (since > until) {
      throw S.problems.local("until", msg("orgreport.order"));
    }
    return { org, since, until };
  }

  const num = (n) => (n === null || n === undefined ? NONE() : Number(n).toLocaleString(config.locale));

  /* A table: caption, column headers, rows of cells (text or nodes); a line saying "none"
     when there are no rows. */
  function table(caption, headers, rows, testid) {
    if (!rows.length) {
      return el("p", { class: "muted", testid, text: msg("orgreport.empty", { caption }) });
    }
    const body = el("tbody");
    for (const cells of rows) {
      body.append(el("tr", {}, ...cells.map((c, i) => (i === 0 ? el("th", { scope: "row" }, c) : el("td", { class: "ov-num" }, c)))));
    }
    return el(
      "div",
      { class: "sh-scroll" },
      el(
        "table",
        { class: "sh-table sh-table--compact", testid },
        el("caption", { class: "ov-caption", text: caption }),
        el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", text: h })))),
        body,
      ),
    );
  }

  /* {key: count} as a row-per-key table, keys labelled from a family. */
  function counts(caption, family, object, testid) {
    const rows = Object.entries(object || {}).map(([key, n]) => [label(family, key), num(n)]);
    return table(caption, [msg("orgreport.kind"), msg("orgreport.count")], rows, testid);
  }

  function section(title, testid, ...children) {
    return el("section", { class: "ov-report__section", testid }, el("h3", { text: title }), ...children);
  }

  function datasetTitle(title) {
    if (title && typeof title === "object") {
      return S.pick(title.zh, title.en);
    }
    return title || "";
  }

  function render(r) {
    clear(ui.result);
    const org = r.organisation || {};
    const ledger = r.ledger || {};
    const checkpoint = ledger.checkpoint;
    const grants = r.grants || {};
    const findings = r.findings || {};
    const incidents = r.incidents || {};
    const quality = r.quality || {};
    const bulletins = r.bulletins || {};
    const orgLabel = zh ? org.name : org.name_en || org.name;
    ui.result.append(
      el("h3", { class: "ov-report__title", testid: "or-title", text: msg("orgreport.heading", { name: orgLabel || org.code, code: org.code }) }),
      facts([
        [msg("orgreport.period"), msg("orgreport.period_value", { since: r.since, until: r.until, timezone: r.timezone }), "or-period"],
        [msg("orgreport.generated_at"), when(r.generated_at)],
        [msg("orgreport.ledger_entries"), num(ledger.entries), "or-ledger-entries"],
        [msg("orgreport.ledger_seqs"), ledger.first_seq === null || ledger.first_seq === undefined ? NONE() : `#${ledger.first_seq} – #${ledger.last_seq}`],
        [msg("orgreport.checkpoint"), checkpoint ? msg("orgreport.checkpoint_value", { size: checkpoint.size, root: checkpoint.root }) : NONE()],
      ]),
      section(
        msg("orgreport.actions"),
        "or-actions",
        table(
          msg("orgreport.actions"),
          [msg("orgreport.category"), msg("orgreport.allow"), msg("orgreport.deny")],
          vocab.categories.map((cat) => {
            const found = (r.actions || []).find((a) => a.category === cat) || { allow: 0, deny: 0 };
            return [label("ledger_category", cat), num(found.allow), num(found.deny)];
          }),
          "or-actions-table",
        ),
        table(
          msg("orgreport.top_actions"),
          [msg("orgreport.action"), msg("orgreport.allow"), msg("orgreport.deny")],
          (r.top_actions || []).map((a) => [el("code", { text: a.action }), num(a.allow), num(a.deny)]),
          "or-top-actions",
        ),
      ),
      section(
        msg("orgreport.grants"),
        "or-grants",
        table(
          msg("orgreport.grants"),
          [msg("orgreport.side"), ...vocab.grant_states.map((s) => label("grant_state", s))],
          ["as_provider", "as_grantee"].map((side) => [label("grant_side", side), ...vocab.grant_states.map((s) => num((grants[side] || {})[s]))]),
          "or-grants-table",
        ),
      ),
      section(
        msg("orgreport.findings", { total: num(findings.total) }),
        "or-findings",
        table(
          msg("orgreport.by_article"),
          [msg("col.article"), msg("orgreport.total"), ...config.finding.statuses.map((s) => label("finding_status", s))],
          (findings.by_article || []).map((a) => [msg("article", { article: a.article }), num(a.total), ...config.finding.statuses.map((s) => num(a[s]))]),
          "or-findings-table",
        ),
        counts(msg("orgreport.by_severity"), "severity", findings.by_severity, "or-findings-severity"),
      ),
      section(
        msg("orgreport.incidents", { total: num(incidents.total), open: num(incidents.open) }),
        "or-incidents",
        counts(msg("orgreport.by_severity"), "severity", incidents.by_severity, "or-incidents-severity"),
        table(
          msg("orgreport.incident_items"),
          [msg("col.title"), msg("col.severity"), msg("col.status"), msg("col.occurred_at")],
          (incidents.items || []).map((i) => [`#${i.id} ${i.title}`, badge("severity", i.severity), badge("incident_status", i.status), when(i.occurred_at)]),
          "or-incident-items",
        ),
      ),
      section(
        msg("orgreport.cases"),
        "or-cases",
        counts(msg("orgreport.report_cases", { total: num((r.report_cases || {}).total) }), "report_status", (r.report_cases || {}).by_status, "or-report-cases"),
        counts(msg("orgreport.disputes", { total: num((r.disputes || {}).total) }), "dispute_status", (r.disputes || {}).by_status, "or-disputes"),
        el("p", { testid: "or-bulletins", text: msg("orgreport.bulletins", { received: num(bulletins.received), acknowledged: num(bulletins.acknowledged), overdue: num(bulletins.overdue) }) }),
      ),
      section(
        msg("orgreport.quality", { mean: quality.mean === null || quality.mean === undefined ? NONE() : Number(quality.mean).toFixed(1) }),
        "or-quality",
        table(
          msg("orgreport.quality_datasets"),
          [msg("orgreport.dataset"), msg("orgreport.score"), ...vocab.dimensions.map((d) => label("dimension", d)), msg("orgreport.computed_at")],
          (quality.datasets || []).map((d) => [
            `${datasetTitle(d.title)} (${d.dataset})`,
            num(d.score),
            ...vocab.dimensions.map((dim) => num((d.dimensions || {})[dim])),
            when(d.computed_at),
          ]),
          "or-quality-table",
        ),
      ),
    );
    show(ui.result, true);
  }

  function path(v, suffix, extra) {
    return `/supervision/org-reports/${encodeURIComponent(v.org)}${suffix}${query({ since: v.since, until: v.until, ...extra })}`;
  }

  /* Check the form; on a problem show it next to the field and return null. */
  function checked() {
    clearProblem(ui.error, ui.form);
    show(ui.denied, false);
    try {
      return values();
    } catch (err) {
      showProblem(ui.error, err, ui.form);
      return null;
    }
  }

  async function generate(event) {
    event.preventDefault();
    const v = checked();
    if (!v) {
      return;
    }
    const generation = state.generation;
    const button = ui.form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const report = await S.api("GET", path(v, ""));
      if (generation === state.generation) {
        render(report);
        notice(msg("orgreport.ready", { org: orgName(v.org) }));
      }
    } catch (err) {
      show(ui.result, false);
      failed("orgreport", err);
    } finally {
      button.disabled = false;
    }
  }

  async function pdf() {
    const v = checked();
    if (!v) {
      return;
    }
    ui.pdf.disabled = true;
    try {
      const fallback = `org-report-${v.org}-${v.since}-${v.until}.pdf`;
      const name = await S.download(path(v, "/pdf", { lang: config.locale }), "application/pdf", fallback);
      notice(msg("orgreport.downloaded", { name }));
    } catch (err) {
      failed("orgreport", err);
    } finally {
      ui.pdf.disabled = false;
    }
  }

  ui.form.addEventListener("submit", generate);
  ui.pdf.addEventListener("click", pdf);

  S.register({
    load() {
      if (!ui.org.value && state.me) {
        ui.org.value = state.me.organisation_code;
      }
      if (!ui.since.value || !ui.until.value) {
        defaultPeriod();
      }
      return Promise.resolve();
    },
    reset() {
      clear(ui.result);
      show(ui.result, false);
      show(ui.denied, false);
      clearProblem(ui.error, ui.form);
      ui.form.reset();
    },
  });
})();
