/* CityBrain supervisor's desk (/oversight): signs in against the API and drives the gated
   supervision, report desk, security and dispute routes. The bearer token lives in this tab's
   sessionStorage only. No inline code, no innerHTML: every message comes from the page's
   data-config (the locale catalogues), every value the API returns is inserted as text.

   This file is the page's core - context, labels, session, tabs - and
   shares them as window.CityBrainOversight with the parts loaded after it (deferred, in
   document order): oversight_lists.js (paged lists and downloads), oversight_findings.js, oversight_reports.js, oversight_security.js,
   oversight_disputes.js and oversight_orgreport.js. The shared helpers (el, msg, the API
   client, the problem boxes) come from cockpit_ui.js, loaded first. */
(() => {
  "use strict";

  const UI = window.CityBrainUI;
  const root = document.getElementById("oversight");
  if (!root || !UI) {
    return;
  }
  const config = JSON.parse(root.getAttribute("data-config") || "{}");
  const zh = config.locale === "zh-CN";
  const TOKEN_KEY = "citybrain.oversight.token";
  const SUPERVISOR = "supervisor";

  const byId = (id) => document.getElementById(id);
  const byTestId = (testid) => root.querySelector(`[data-testid="${testid}"]`);
  const ui = {
    notice: byTestId("notice"),
    signinPanel: byId("signin-panel"),
    signinForm: byId("signin-form"),
    signinError: byTestId("signin-error"),
    sessionPanel: byId("session-panel"),
    sessionUser: byTestId("session-user"),
    sessionOrg: byTestId("session-org"),
    sessionRoles: byTestId("session-roles"),
    roleNotice: byId("role-notice"),
    workspace: byId("workspace"),
    orgList: byId("or-orgs"),
  };

  const state = {
    me: null,
    orgNames: new Map(), // organisation code -> name in the page's language
    generation: 0, // bumps at sign-in and sign-out: late answers of an old session are dropped
    tab: (config.tabs || [])[0],
  };
  const panels = []; // registered by the parts: {load(), reset()}

  /* ---------- helpers (cockpit_ui.js) and labels ---------- */

  const { el, clear, show } = UI;
  const msg = UI.messages(config.messages);
  const notice = UI.notifier(ui.notice);
  const NONE = () => msg("common.none");
  const when = (iso) => UI.when(iso, NONE());
  const problems = UI.problems(msg, { prefix: "sh" });
  const clearProblem = problems.clear;
  const showProblem = problems.show;

  /* The label of a vocabulary value ("finding_status", "open" -> 待处理); the value itself when
     the catalogue has none (a value newer than the page). */
  function label(family, value) {
    const key = `${family}.${value}`;
    return msg.has(key) ? msg(key) : String(value);
  }

  function pick(zhText, enText) {
    return zh ? zhText || enText || "" : enText || zhText || "";
  }

  function orgName(code) {
    if (!code) {
      return NONE();
    }
    return state.orgNames.get(code) || code;
  }

  const TONES = {
    low: "idle",
    medium: "warn",
    high: "bad",
    critical: "bad",
    open: "bad",
    acknowledged: "warn",
    resolved: "ok",
    dismissed: "idle",
    received: "warn",
    triaged: "warn",
    investigating: "warn",
    contained: "warn",
    closed: "ok",
    filed: "warn",
    refused: "idle",
    under_review: "warn",
    decided: "ok",
    appealed: "warn",
  };

  function badge(family, value, testid) {
    return UI.badge("sh", label(family, value), TONES[value] || "idle", testid);
  }

  /* A definition list of [label, value (text or node), testid] rows. */
  function facts(rows) {
    const list = el("dl", { class: "sh-facts" });
    for (const [term, value, testid] of rows) {
      const dd = el("dd", { testid });
      dd.append(value instanceof Node ? value : String(value === null || value === undefined || value === "" ? NONE() : value));
      list.append(el("dt", { text: term }), dd);
    }
    return list;
  }

  /* A button that opens something (a row's "open" cell). */
  function opener(text, testid, onClick) {
    const button = el("button", { type: "button", class: "sh-button ov-open", text, testid });
    button.addEventListener("click", onClick);
    return button;
  }

  /* Show a detail section and move the focus to it (keyboard and screen reader users land on
     what they opened). */
  function reveal(section) {
    show(section, true);
    section.focus();
  }

  /* ---------- the API ---------- */

  const http = UI.client({ tokenKey: TOKEN_KEY, locale: config.locale, msg, onExpired: () => auth.expire() });
  const api = http.api;
  /* Signing in, out, and a session that expired (cockpit_ui.js). */
  const auth = UI.session({ http, ui, problems, notice, signedOutView, start, texts: {
    expired: msg("signin.expired"),
    mustChange: msg("signin.must_change"),
    signedOut: msg("signin.signed_out"),
  } });

  /* ---------- tabs (WAI-ARIA tabs, automatic activation) ---------- */

  const tabs = Array.from(root.querySelectorAll('[role="tab"]'));

  function selectTab(name, focus) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      show(byId(tab.getAttribute("aria-controls")), on);
      if (on && focus) {
        tab.focus();
      }
    }
    state.tab = name;
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab.dataset.tab, false));
    tab.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(tab);
      const to = {
        ArrowRight: (at + 1) % tabs.length,
        ArrowLeft: (at - 1 + tabs.length) % tabs.length,
        Home: 0,
        End: tabs.length - 1,
      }[event.key];
      if (to !== undefined) {
        event.preventDefault();
        selectTab(tabs[to].dataset.tab, true);
      }
    });
  }

  /* ---------- session ---------- */

  function signedOutView() {
    state.generation += 1;
    state.me = null;
    state.orgNames.clear();
    clear(ui.orgList);
    show(ui.sessionPanel, false);
    show(ui.workspace, false);
    show(ui.roleNotice, false);
    show(ui.signinPanel, true);
    for (const panel of panels) {
      panel.reset(); // nothing one user saw is left for the next
    }
  }

  /* Names of the organisations, for the tables and the report form's suggestions: the
     security officer directory lists every organisation to the bureau's staff (and a clerk's
     own and those below it) - those with an officer and those still missing one. The
     organisation directory itself (/orgs) is the operators' and auditors', not a
     supervisor's. Codes stand in when the directory is refused. */
  async function loadOrganisations() {
    const found = [];
    try {
      const out = await api("GET", "/security/officers");
      for (const o of out.officers || []) {
        found.push([o.organisation, o.organisation_name]);
      }
      for (const o of out.missing || []) {
        found.push([o.code, o.name]);
      }
    } catch (err) {
      /* codes stand in for names */
    }
    clear(ui.orgList);
    for (const [code, name] of found.sort((a, b) => a[0].localeCompare(b[0]))) {
      state.orgNames.set(code, name);
      ui.orgList.append(el("option", { value: code, label: name }));
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
    await loadOrganisations();
    if (generation !== state.generation) {
      return;
    }
    ui.sessionUser.textContent = me.display_name ? `${me.display_name} (${me.name})` : me.name;
    ui.sessionOrg.textContent = orgName(me.organisation_code);
    const roles = me.roles || [];
    ui.sessionRoles.textContent = msg("signin.roles", { roles: roles.length ? roles.join(", ") : NONE() });
    show(ui.roleNotice, !roles.includes(SUPERVISOR));
    show(ui.signinPanel, false);
    show(ui.sessionPanel, true);
    show(ui.workspace, true);
    selectTab(state.tab, false);
    await refreshAll();
  }

  async function refreshAll() {
    await Promise.allSettled(panels.map((panel) => panel.load()));
  }

  /* ---------- shared with the parts, wiring, start ---------- */

  const S = {
    config,
    zh,
    byId,
    byTestId,
    ui,
    state,
    el,
    clear,
    show,
    msg,
    notice,
    NONE,
    when,
    label,
    pick,
    orgName,
    badge,
    facts,
    opener,
    reveal,
    problems,
    clearProblem,
    showProblem,
    api,
    http,
    /* added by oversight_lists.js: query, failed, pager, download */
    /* a part registers its panel: {load(), reset()} */
    register(panel) {
      panels.push(panel);
    },
  };
  window.CityBrainOversight = S;

  ui.signinForm.addEventListener("submit", auth.signIn);
  byId("signout").addEventListener("click", auth.signOut);
  byId("refresh").addEventListener("click", () => {
    notice("");
    refreshAll();
  });

  /* Deferred scripts run in document order before DOMContentLoaded: by then every part has
     registered, and the page starts. */
  document.addEventListener("DOMContentLoaded", () => {
    if (http.restore()) {
      start().then(() => {
        if (!state.me) {
          show(ui.signinPanel, true);
        }
      });
    } else {
      show(ui.signinPanel, true);
    }
  });
})();
