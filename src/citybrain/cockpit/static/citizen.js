/* CityBrain citizen page (/citizen): registers and signs in against the API and reads
   /citizen/me/... The bearer token lives in this tab's sessionStorage only. No inline code, no
   innerHTML: every message comes from the page's data-config (the locale catalogues), every
   value the API returns is inserted as text. The shared helpers (el, msg, the API client, the
   problem boxes) come from cockpit_ui.js, loaded before this script. */
(() => {
  "use strict";

  const UI = window.CityBrainUI;
  const root = document.getElementById("citizen");
  if (!root || !UI) {
    return;
  }
  const config = JSON.parse(root.getAttribute("data-config") || "{}");
  const TOKEN_KEY = "citybrain.citizen.token";

  const byId = (id) => document.getElementById(id);
  const ui = {
    notice: root.querySelector('[data-testid="notice"]'),
    auth: byId("auth"),
    signinForm: byId("signin-form"),
    signinError: root.querySelector('[data-testid="signin-error"]'),
    registerForm: byId("register-form"),
    registerError: root.querySelector('[data-testid="register-error"]'),
    sessionPanel: byId("session-panel"),
    sessionUser: root.querySelector('[data-testid="session-user"]'),
    workspace: byId("workspace"),
    exportButton: byId("export"),
    usesError: root.querySelector('[data-testid="uses-error"]'),
    usesBody: byId("uses-body"),
    usesNone: byId("uses-none"),
    objectionsBody: byId("objections-body"),
    objectionsNone: byId("objections-none"),
  };

  const state = {
    me: null,
    uses: new Map(), // use id -> use
    generation: 0, // bumps at sign-in and sign-out: late answers of an old session are dropped
  };

  /* ---------- helpers (cockpit_ui.js) ---------- */

  const { el, clear, show, Problem, parseTime } = UI;
  const msg = UI.messages(config.messages);
  const has = msg.has;
  const notice = UI.notifier(ui.notice);
  const NONE = () => msg("common.none");
  const badge = (text, tone, testid) => UI.badge("ct", text, tone, testid);

  /* Problem boxes: the invalid field takes the focus; a hint follows where the catalogue has one. */
  const problems = UI.problems(msg, {
    prefix: "ct",
    focus: true,
    hint: (base) => (has(`hint.${base}`) ? msg(`hint.${base}`) : null),
  });
  const clearProblem = problems.clear;
  const showProblem = problems.show;
  const localProblem = problems.local;

  /* The API with this tab's bearer token; a 401 while signed in ends the session here. */
  const http = UI.client({ tokenKey: TOKEN_KEY, locale: config.locale, msg, onExpired: () => auth.expire() });
  const { api, send } = http;
  /* Signing out and a session that expired (cockpit_ui.js); signing in is this page's own
     (registration signs the new account in too). */
  const auth = UI.session({ http, ui, problems, notice, signedOutView, start, texts: {
    expired: msg("signin.expired"),
    mustChange: msg("signin.must_change"),
    signedOut: msg("signin.signed_out"),
  } });

  /* ---------- times ---------- */

  const TIME_FORMAT = new Intl.DateTimeFormat(config.locale || "zh-CN", {
    dateStyle: "medium",
    timeStyle: "medium",
  });

  /* A <time> in the reader's local format, with the exact UTC time as its datetime. */
  function timeCell(iso, testid) {
    const d = parseTime(iso);
    if (!d) {
      return el("td", { text: iso ? String(iso) : NONE(), testid });
    }
    const exact = d.toISOString();
    return el("td", { testid }, el("time", { datetime: exact, title: exact, text: TIME_FORMAT.format(d) }));
  }

  /* "#12" for a number, the dash for none. */
  function numbered(value) {
    return value === null || value === undefined ? NONE() : `#${value}`;
  }

  /* ---------- session ---------- */

  function signedOutView() {
    state.generation += 1;
    state.me = null;
    state.uses.clear();
    show(ui.sessionPanel, false);
    show(ui.workspace, false);
    show(ui.auth, true);
    clear(ui.usesBody);
    clear(ui.objectionsBody);
    clearProblem(ui.usesError);
    ui.sessionUser.textContent = "";
    ui.registerForm.reset(); // nothing typed by one person is left for the next
    ui.signinForm.reset();
    clearProblem(ui.signinError, ui.signinForm);
    clearProblem(ui.registerError, ui.registerForm);
  }

  /* Sign in with a name and password; true when the workspace is shown. */
  async function login(name, password, box, form) {
    const out = await api("POST", "/auth/login", { name, password });
    if (out.must_change_password) {
      showProblem(box, new Problem(403, { detail: msg("signin.must_change") }), form);
      return false;
    }
    http.save(out.access_token);
    await start();
    return Boolean(state.me);
  }

  async function signIn(event) {
    event.preventDefault();
    clearProblem(ui.signinError, ui.signinForm);
    notice("");
    const form = ui.signinForm;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      if (await login(form.elements.name.value.trim(), form.elements.password.value, ui.signinError, form)) {
        form.reset();
      }
    } catch (err) {
      showProblem(ui.signinError, err, form);
    } finally {
      button.disabled = false;
    }
  }

  async function register(event) {
    event.preventDefault();
    const form = ui.registerForm;
    clearProblem(ui.registerError, form);
    notice("");
    const values = {
      name: form.elements.name.value.trim(),
      display_name: form.elements.display_name.value.trim(),
      id_number: form.elements.id_number.value.replace(/\s+/g, "").toUpperCase(),
      password: form.elements.password.value,
    };
    if (values.password !== form.elements.password_repeat.value) {
      showProblem(ui.registerError, localProblem("password_repeat", msg("register.mismatch")), form);
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const out = await api("POST", "/citizen/register", values);
      form.reset();
      notice(msg("register.done", { name: out.name }));
      try {
        await login(values.name, values.password, ui.signinError, ui.signinForm);
      } catch (err) {
        ui.signinForm.elements.name.value = values.name;
        showProblem(ui.signinError, err, ui.signinForm);
      }
    } catch (err) {
      showProblem(ui.registerError, err, form);
    } finally {
      button.disabled = false;
    }
  }

  async function start() {
    const generation = ++state.generation;
    let me;
    try {
      me = await api("GET", "/me");
    } catch (err) {
      if (err.status !== 401) {
        showProblem(ui.signinError, err, ui.signinForm);
      }
      return;
    }
    if (generation !== state.generation) {
      return;
    }
    state.me = me;
    ui.sessionUser.textContent = me.display_name ? `${me.display_name} (${me.name})` : me.name;
    show(ui.auth, false);
    show(ui.sessionPanel, true);
    show(ui.workspace, true);
    await refresh();
  }

  /* ---------- uses and objections ---------- */

  async function refresh() {
    const generation = state.generation;
    clearProblem(ui.usesError);
    let uses;
    let objections;
    try {
      [uses, objections] = await Promise.all([
        api("GET", "/citizen/me/uses"),
        api("GET", "/citizen/me/objections"),
      ]);
    } catch (err) {
      if (generation !== state.generation) {
        return;
      }
      if (err.status === 403 || (err.status === 404 && err.body && err.body.field === "user")) {
        showProblem(ui.usesError, new Problem(err.status, { title: err.body.title, detail: msg("error.not_citizen") }));
      } else {
        showProblem(ui.usesError, err);
      }
      return;
    }
    if (generation !== state.generation) {
      return;
    }
    state.uses.clear();
    for (const use of uses) {
      state.uses.set(use.id, use);
    }
    renderUses(uses, objections);
    renderObjections(objections);
  }

  function actionLabel(action) {
    return has(`action.${action}`) ? msg(`action.${action}`) : action;
  }

  function newestFirst(list, key) {
    return [...list].sort((a, b) => {
      const ta = (parseTime(a[key]) || new Date(0)).getTime();
      const tb = (parseTime(b[key]) || new Date(0)).getTime();
      return tb - ta || b.id - a.id;
    });
  }

  function renderUses(uses, objections) {
    clear(ui.usesBody);
    const objected = new Set(objections.map((o) => o.use_id));
    for (const use of newestFirst(uses, "at")) {
      const button = el("button", {
        type: "button",
        class: "ct-button ct-button--small",
        text: msg("uses.object"),
        "aria-expanded": "false",
        testid: `object-${use.id}`,
      });
      const actions = el("div", { class: "ct-actions-cell" }, button);
      if (objected.has(use.id)) {
        actions.append(badge(msg("uses.objected"), "warn", `objected-${use.id}`));
      }
      const cell = el("td", {}, actions);
      const hint = has(`action.${use.action}_hint`) ? msg(`action.${use.action}_hint`) : null;
      const row = el(
        "tr",
        { testid: `use-${use.id}`, "data-use": String(use.id), "data-action": use.action },
        timeCell(use.at, "use-at"),
        el("td", {}, el("code", { text: use.organisation, testid: "use-organisation" })),
        el("td", { text: use.actor, testid: "use-actor" }),
        el(
          "td",
          { testid: "use-action", title: hint },
          badge(actionLabel(use.action), use.action === "delete" ? "idle" : "info", null),
        ),
        el("td", {}, el("code", { text: use.dataset, testid: "use-dataset" })),
        el("td", { text: numbered(use.grant), testid: "use-grant" }),
        el("td", { class: "ct-purpose", text: use.purpose || NONE(), testid: "use-purpose" }),
        el("td", { text: numbered(use.ledger_seq), testid: "use-ledger" }),
        cell,
      );
      button.addEventListener("click", () => toggleObjection(use, row, button));
      ui.usesBody.append(row);
    }
    show(ui.usesNone, uses.length === 0);
    ui.exportButton.disabled = uses.length === 0;
  }

  function toggleObjection(use, row, button) {
    const next = row.nextElementSibling;
    if (next && next.getAttribute("data-form-for") === String(use.id)) {
      next.remove();
      button.setAttribute("aria-expanded", "false");
      button.focus();
      return;
    }
    const textId = `objection-text-${use.id}`;
    const hintId = `objection-hint-${use.id}`;
    const text = el("textarea", {
      id: textId,
      name: "text",
      rows: "3",
      maxlength: String(config.max_text || 4000),
      required: true,
      "aria-describedby": hintId,
      "data-field": "text",
      testid: `objection-text-${use.id}`,
    });
    const problem = el("div", {
      class: "ct-problem",
      role: "alert",
      testid: `objection-error-${use.id}`,
      hidden: true,
    });
    const submit = el("button", {
      type: "submit",
      class: "ct-button ct-button--primary",
      text: msg("object.submit"),
      testid: `objection-submit-${use.id}`,
    });
    const cancel = el("button", { type: "button", class: "ct-button", text: msg("object.cancel") });
    const form = el(
      "form",
      { class: "ct-form ct-form--objection", novalidate: true, testid: `objection-form-${use.id}` },
      el("h3", { class: "ct-form__title", text: msg("object.title", { id: use.id }) }),
      el(
        "div",
        { class: "ct-field" },
        el("label", { for: textId, text: msg("object.text") }),
        text,
        el("p", { class: "ct-hint", id: hintId, text: msg("object.text_hint") }),
      ),
      el("div", { class: "ct-actions" }, submit, cancel),
      problem,
    );
    const formRow = el(
      "tr",
      { class: "ct-form-row", "data-form-for": String(use.id) },
      el("td", { colspan: String(row.children.length) }, form),
    );
    cancel.addEventListener("click", () => toggleObjection(use, row, button));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearProblem(problem, form);
      const reason = text.value.trim();
      if (!reason) {
        showProblem(problem, localProblem("text", msg("object.required")), form);
        return;
      }
      submit.disabled = true;
      try {
        const out = await api("POST", "/citizen/me/objections", { use_id: use.id, text: reason });
        notice(msg("object.done", { id: out.id }));
        await refresh();
      } catch (err) {
        showProblem(problem, err, form);
      } finally {
        submit.disabled = false;
      }
    });
    row.after(formRow);
    button.setAttribute("aria-expanded", "true");
    text.focus();
  }

  function statusBadge(status) {
    const tone = { open: "warn", closed: "ok" }[status] || "idle";
    return badge(has(`status.${status}`) ? msg(`status.${status}`) : status, tone, "objection-status");
  }

  function renderObjections(objections) {
    clear(ui.objectionsBody);
    for (const o of newestFirst(objections, "created_at")) {
      const use = state.uses.get(o.use_id);
      const about = el("td", { testid: "objection-use" }, msg("objections.use", { id: o.use_id }));
      if (use) {
        about.append(
          el("span", { class: "ct-sub", text: `${actionLabel(use.action)} · ${use.organisation} · ${use.dataset}` }),
        );
      }
      ui.objectionsBody.append(
        el(
          "tr",
          { testid: `objection-${o.id}`, "data-status": o.status },
          el("td", { text: `#${o.id}` }),
          timeCell(o.created_at, "objection-created"),
          about,
          el("td", { class: "ct-purpose", text: o.text, testid: "objection-text" }),
          el("td", {}, statusBadge(o.status)),
        ),
      );
    }
    show(ui.objectionsNone, objections.length === 0);
  }

  /* ---------- CSV export: fetched with the token, handed to the browser as a file ---------- */

  function fileName(disposition) {
    const found = /filename="?([^";]+)"?/i.exec(disposition || "");
    return found ? found[1] : config.csv_name || "my-data-uses.csv";
  }

  async function exportCsv() {
    clearProblem(ui.usesError);
    ui.exportButton.disabled = true;
    try {
      const response = await send("GET", "/citizen/me/uses.csv", undefined, "text/csv");
      const blob = await response.blob();
      const name = fileName(response.headers.get("Content-Disposition"));
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      notice(msg("uses.exported", { file: name }));
    } catch (err) {
      showProblem(ui.usesError, err);
    } finally {
      ui.exportButton.disabled = state.uses.size === 0;
    }
  }

  /* ---------- wiring ---------- */

  ui.signinForm.addEventListener("submit", signIn);
  ui.registerForm.addEventListener("submit", register);
  byId("signout").addEventListener("click", auth.signOut);
  byId("refresh").addEventListener("click", () => {
    notice("");
    refresh();
  });
  ui.exportButton.addEventListener("click", exportCsv);

  if (http.restore()) {
    start().then(() => {
      if (!state.me) {
        show(ui.auth, true);
      }
    });
  } else {
    show(ui.auth, true);
  }
})();
