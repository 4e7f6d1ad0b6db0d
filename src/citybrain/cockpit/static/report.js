/* CityBrain report page (/report): files a report at POST /reports and follows one by its
   receipt code at POST /reports/receipt. It never sends a sign-in token (it keeps none), so a
   report from here names nobody unless the reporter fills in who they are. No inline code, no
   innerHTML: every message comes from the page's data-config (the locale catalogues), every
   value the API returns is inserted as text. Shared helpers come from cockpit_ui.js. */
(() => {
  "use strict";

  const UI = window.CityBrainUI;
  const root = document.getElementById("report");
  if (!root || !UI) {
    return;
  }
  const config = JSON.parse(root.getAttribute("data-config") || "{}");
  const byId = (id) => document.getElementById(id);
  const ui = {
    reportForm: byId("report-form"),
    reportError: root.querySelector('[data-testid="report-error"]'),
    counter: byId("rp-counter"),
    receipt: byId("receipt"),
    receiptNumber: root.querySelector('[data-testid="receipt-number"]'),
    receiptCode: root.querySelector('[data-testid="receipt-code"]'),
    receiptStatus: root.querySelector('[data-testid="receipt-status"]'),
    receiptFollow: byId("receipt-follow"),
    receiptAnother: byId("receipt-another"),
    followForm: byId("follow-form"),
    followError: root.querySelector('[data-testid="follow-error"]'),
    followResult: byId("follow-result"),
    followNumber: root.querySelector('[data-testid="follow-number"]'),
    followCategory: root.querySelector('[data-testid="follow-category"]'),
    followStatus: root.querySelector('[data-testid="follow-status"]'),
    followOutcome: root.querySelector('[data-testid="follow-outcome"]'),
    followTimeline: byId("follow-timeline"),
  };

  const { el, clear, show, parseTime } = UI;
  const msg = UI.messages(config.messages);
  const problems = UI.problems(msg, { prefix: "rp", focus: true });

  /* The API without any token: the tab's sign-in (if any) is never sent from this page. */
  const http = UI.client({ tokenKey: "citybrain.report.none", locale: config.locale, msg, onExpired: () => {} });

  const TIME_FORMAT = new Intl.DateTimeFormat(config.locale || "zh-CN", {
    dateStyle: "medium",
    timeStyle: "short",
  });
  const TONES = { received: "info", triaged: "info", investigating: "warn", resolved: "ok", dismissed: "idle" };

  /* A <time> in the reader's local format, with the exact UTC time as its datetime. */
  function timeNode(iso) {
    const d = parseTime(iso);
    if (!d) {
      return document.createTextNode(iso ? String(iso) : "");
    }
    const exact = d.toISOString();
    return el("time", { datetime: exact, title: exact, text: TIME_FORMAT.format(d) });
  }

  function statusBadge(status, testid) {
    const badge = UI.badge("rp", msg(`status.${status}`), TONES[status] || "info", testid);
    badge.setAttribute("data-status", status);
    return badge;
  }

  /* An API problem, in the page's words where it has them; nested fields as the form names
     them (reporter.phone -> reporter_phone). */
  function localised(err) {
    const body = { ...(err.body || {}) };
    if (body.field) {
      body.field = String(body.field).replace(/^reporter\./, "reporter_");
    }
    if (err.status === 429) {
      body.detail = msg("error.too_many", { seconds: body.retry_after || "…" });
    } else if (err.status === 404 && body.field === "code") {
      body.detail = msg("error.not_found");
    }
    return new UI.Problem(err.status, body);
  }

  /* ---------- filing ---------- */

  function updateCounter() {
    const count = ui.reportForm.elements.description.value.length;
    ui.counter.textContent = msg("form.counter", { count, max: config.max_text });
  }

  /* The body the form stands for; reporter only when something about them is given. */
  function reportBody(form) {
    const value = (name) => form.elements[name].value.trim();
    const body = {
      category: form.elements.category.value,
      description: value("description"),
      contact_consent: form.elements.contact_consent.checked,
    };
    for (const name of ["organisation", "dataset", "occurred_on"]) {
      if (value(name)) {
        body[name] = name === "organisation" ? value(name).toUpperCase() : value(name);
      }
    }
    const reporter = {};
    for (const name of ["name", "phone", "email", "id_number"]) {
      if (value(name)) {
        reporter[name] = name === "id_number" ? value(name).replace(/\s+/g, "").toUpperCase() : value(name);
      }
    }
    if (Object.keys(reporter).length) {
      body.reporter = reporter;
    }
    return body;
  }

  async function fileReport(event) {
    event.preventDefault();
    const form = ui.reportForm;
    problems.clear(ui.reportError, form);
    const body = reportBody(form);
    if (!body.category) {
      problems.show(ui.reportError, problems.local("category", msg("local.category")), form);
      return;
    }
    if (body.description.length < config.min_text) {
      problems.show(ui.reportError, problems.local("description", msg("local.description")), form);
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const out = await http.api("POST", "/reports", body);
      form.reset();
      updateCounter();
      ui.receiptNumber.textContent = out.number;
      ui.receiptCode.textContent = out.receipt_code;
      clear(ui.receiptStatus);
      ui.receiptStatus.append(statusBadge(out.status, "receipt-status-badge"));
      show(form, false);
      show(ui.receipt, true);
      ui.receipt.focus();
    } catch (err) {
      problems.show(ui.reportError, localised(err), form);
    } finally {
      button.disabled = false;
    }
  }

  function anotherReport() {
    ui.receiptCode.textContent = ""; // shown once: gone from the page once the reporter moves on
    ui.receiptNumber.textContent = "";
    show(ui.receipt, false);
    show(ui.reportForm, true);
    ui.reportForm.elements.category.focus();
  }

  function followThisReport() {
    ui.followForm.elements.code.value = ui.receiptCode.textContent;
    ui.followForm.requestSubmit();
  }

  /* ---------- following ---------- */

  function showCase(out) {
    ui.followNumber.textContent = out.number;
    ui.followCategory.textContent = msg(`category.${out.category}`);
    clear(ui.followStatus);
    ui.followStatus.append(statusBadge(out.status, "follow-status-badge"));
    ui.followStatus.setAttribute("data-status", out.status);
    ui.followOutcome.textContent = out.outcome || "";
    for (const node of root.querySelectorAll(".rp-outcome")) {
      show(node, Boolean(out.outcome));
    }
    clear(ui.followTimeline);
    for (const step of out.timeline || []) {
      ui.followTimeline.append(
        el(
          "li",
          { class: "rp-step", testid: "follow-step", "data-status": step.status },
          el("span", { class: "rp-step__when" }, timeNode(step.at)),
          el("strong", { class: "rp-step__what", text: msg(`step.${step.status}`) }),
          step.text ? el("span", { class: "rp-step__text", text: step.text }) : null,
        ),
      );
    }
    show(ui.followResult, true);
  }

  async function followReport(event) {
    event.preventDefault();
    const form = ui.followForm;
    problems.clear(ui.followError, form);
    show(ui.followResult, false);
    const code = form.elements.code.value.trim();
    if (!code) {
      problems.show(ui.followError, problems.local("code", msg("local.code")), form);
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      showCase(await http.api("POST", "/reports/receipt", { code }));
    } catch (err) {
      problems.show(ui.followError, localised(err), form);
    } finally {
      button.disabled = false;
    }
  }

  ui.reportForm.addEventListener("submit", fileReport);
  ui.reportForm.elements.description.addEventListener("input", updateCounter);
  ui.receiptAnother.addEventListener("click", anotherReport);
  ui.receiptFollow.addEventListener("click", followThisReport);
  ui.followForm.addEventListener("submit", followReport);
  updateCounter();
})();
