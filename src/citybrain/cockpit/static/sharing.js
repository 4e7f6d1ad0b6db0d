/* CityBrain data sharing (/sharing): signs in against the API and drives /sharing/...
   The bearer token lives in this tab's sessionStorage only. No inline code, no innerHTML:
   every message comes from the page's data-config (the locale catalogues), every value the
   API returns is inserted as text.

   This file is the page's core - context, labels, session, lists - and shares them as
   window.CityBrainSharing with the parts loaded after it (deferred, in document order):
   sharing_request.js (the request form), sharing_decide.js (decisions on incoming requests)
   and sharing_grants.js (grants, revocation, preview). The shared helpers (el, msg, the API
   client, the problem boxes) come from cockpit_ui.js, loaded first. */
(() => {
  "use strict";

  const UI = window.CityBrainUI;
  const root = document.getElementById("sharing");
  if (!root || !UI) {
    return;
  }
  const config = JSON.parse(root.getAttribute("data-config") || "{}");
  const zh = config.locale === "zh-CN";
  const TOKEN_KEY = "citybrain.sharing.token";
  const PAGE_LIMIT = 200;
  const MAX_PAGES = 10;

  const byId = (id) => document.getElementById(id);
  const ui = {
    notice: root.querySelector('[data-testid="notice"]'),
    signinPanel: byId("signin-panel"),
    signinForm: byId("signin-form"),
    signinError: root.querySelector('[data-testid="signin-error"]'),
    sessionPanel: byId("session-panel"),
    sessionUser: root.querySelector('[data-testid="session-user"]'),
    sessionOrg: root.querySelector('[data-testid="session-org"]'),
    sessionRoles: root.querySelector('[data-testid="session-roles"]'),
    workspace: byId("workspace"),
    requestForm: byId("request-form"),
    reqDataset: byId("req-dataset"),
    reqDatasetInfo: byId("req-dataset-info"),
    reqFieldList: byId("req-field-list"),
    reqPurpose: byId("req-purpose"),
    reqLegalRequired: byId("req-legal-required"),
    reqLegalHint: byId("req-legal-hint"),
    reqLegalBasis: byId("req-legal-basis"),
    requestError: root.querySelector('[data-testid="request-error"]'),
    requestResult: root.querySelector('[data-testid="request-result"]'),
    incomingList: byId("incoming-list"),
    incomingNone: byId("incoming-none"),
    outgoingBody: byId("outgoing-body"),
    outgoingNone: byId("outgoing-none"),
    previewPanel: byId("preview-panel"),
    previewTitle: byId("preview-title"),
    previewNote: byId("preview-note"),
    previewError: root.querySelector('[data-testid="preview-error"]'),
    previewHead: byId("preview-head"),
    previewBody: byId("preview-body"),
    previewNone: byId("preview-none"),
  };

  const state = {
    me: null,
    datasets: new Map(), // id -> catalogue hit (title, provider, sharing, schema, pii fields)
    purposes: new Map(), // code -> {zh, en}
    orgNames: new Map(), // organisation code -> name
    generation: 0, // bumps at sign-in and sign-out: late answers of an old session are dropped
  };

  /* ---------- helpers (cockpit_ui.js) and labels ---------- */

  const { el, clear, show } = UI;
  const msg = UI.messages(config.messages);
  const notice = UI.notifier(ui.notice);
  const NONE = () => msg("common.none");
  const when = (iso) => UI.when(iso, NONE());
  const problems = UI.problems(msg, { prefix: "sh" });
  const clearProblem = problems.clear;
  const showProblem = problems.show;

  function pick(pair) {
    if (!pair) {
      return "";
    }
    return zh ? pair.zh || pair.en || "" : pair.en || pair.zh || "";
  }

  function datasetTitle(id) {
    const ds = state.datasets.get(id);
    return ds ? pick(ds.title) : id;
  }

  function orgName(code) {
    const name = state.orgNames.get(code) || code;
    return state.me && code === state.me.organisation_code ? msg("common.own_org", { name }) : name;
  }

  function purposeLabel(code) {
    const p = state.purposes.get(code);
    return p ? pick(p) : code;
  }

  function maskKind(spec) {
    if (spec && typeof spec === "object") {
      return spec.kind || "";
    }
    return spec || "NONE";
  }

  function maskLabel(spec) {
    const kind = String(maskKind(spec)).toUpperCase();
    const label = msg.has(`mask.${kind}`) ? msg(`mask.${kind}`) : kind;
    if (spec && typeof spec === "object" && spec.width) {
      return `${label} ${spec.width}`;
    }
    return label;
  }

  function badge(text, tone, testid) {
    return UI.badge("sh", text, tone, testid);
  }

  /* A badge for a field holding (sensitive) personal information, else none. */
  function piiBadges(ds, name) {
    const out = [];
    if (ds && (ds.sensitive_pii_fields || []).includes(name)) {
      out.push(badge(msg("request.sensitive_pii"), "bad", `pii-${name}`));
    } else if (ds && (ds.pii_fields || []).includes(name)) {
      out.push(badge(msg("request.pii"), "warn", `pii-${name}`));
    }
    return out;
  }

  /* ---------- the API ---------- */

  /* The API with this tab's bearer token; a 401 while signed in ends the session here. */
  const http = UI.client({ tokenKey: TOKEN_KEY, locale: config.locale, msg, onExpired: () => auth.expire() });
  const api = http.api;
  /* Signing in, out, and a session that expired (cockpit_ui.js). */
  const auth = UI.session({ http, ui, problems, notice, signedOutView, start, texts: {
    expired: msg("signin.expired"),
    mustChange: msg("signin.must_change"),
    signedOut: msg("signin.signed_out"),
  } });

  /* Every item of a paged list (Page: items, next_cursor), up to MAX_PAGES pages. */
  async function all(path) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const sep = path.includes("?") ? "&" : "?";
      const more = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const out = await api("GET", `${path}${sep}limit=${PAGE_LIMIT}${more}`);
      items.push(...(out.items || []));
      cursor = out.next_cursor;
      if (!cursor) {
        break;
      }
    }
    return items;
  }

  /* ---------- session ---------- */

  function signedOutView() {
    state.generation += 1;
    state.me = null;
    state.datasets.clear();
    state.purposes.clear();
    state.orgNames.clear();
    show(ui.sessionPanel, false);
    show(ui.workspace, false);
    show(ui.signinPanel, true);
    for (const node of [ui.incomingList, ui.outgoingBody]) {
      clear(node);
    }
    S.resetRequest(); // nothing typed by one user is left for the next
    S.closePreview();
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
    let orgLabel = me.organisation_code;
    try {
      const org = await api("GET", `/orgs/${encodeURIComponent(me.organisation_code)}`);
      orgLabel = zh ? org.name : org.name_en || org.name;
      state.orgNames.set(org.code, orgLabel);
    } catch (err) {
      /* the code stands in for the name */
    }
    ui.sessionUser.textContent = me.display_name ? `${me.display_name} (${me.name})` : me.name;
    ui.sessionOrg.textContent = orgLabel;
    ui.sessionRoles.textContent = msg("signin.roles", { roles: (me.roles || []).join(", ") });
    show(ui.signinPanel, false);
    show(ui.sessionPanel, true);
    show(ui.workspace, true);
    try {
      await Promise.all([S.loadPurposes(), S.loadDatasets()]);
    } catch (err) {
      showProblem(ui.requestError, err, ui.requestForm);
    }
    if (generation === state.generation) {
      await refreshLists();
    }
  }

  /* ---------- lists ---------- */

  async function refreshLists() {
    const generation = state.generation;
    const results = await Promise.allSettled([
      all("/sharing/requests?side=incoming&status=pending"),
      all("/sharing/requests?side=outgoing"),
      all("/sharing/grants?side=all"),
    ]);
    if (generation !== state.generation) {
      return;
    }
    const [incoming, outgoing, grants] = results;
    if (incoming.status === "fulfilled") {
      await S.renderIncoming(incoming.value);
    }
    if (outgoing.status === "fulfilled") {
      renderOutgoing(outgoing.value);
    }
    if (grants.status === "fulfilled") {
      S.renderGrants(grants.value);
    }
    const failed = results.find((r) => r.status === "rejected");
    if (failed && http.token) {
      notice(`${msg("error.title")}: ${failed.reason.message}`);
    }
  }

  function statusBadge(status) {
    const tone = { pending: "idle", approved: "ok", rejected: "bad", lapsed: "warn" }[status] || "idle";
    return badge(msg(`status.${status}`), tone, "status");
  }

  function renderOutgoing(requests) {
    clear(ui.outgoingBody);
    const rows = [...requests].reverse(); // newest first
    for (const req of rows) {
      ui.outgoingBody.append(
        el(
          "tr",
          { testid: `outgoing-${req.id}`, "data-status": req.status },
          el("td", { text: `#${req.id}` }),
          el("td", { text: datasetTitle(req.dataset) }),
          el("td", { text: orgName(req.provider) }),
          el("td", { text: req.fields.join(", ") }),
          el("td", { text: purposeLabel(req.purpose) }),
          el("td", { text: String(req.term_days) }),
          el("td", { text: msg(`mode.${req.mode}`) }),
          el("td", {}, statusBadge(req.status)),
          el("td", { text: req.reason || NONE(), testid: "reason" }),
          el("td", { text: when(req.sla_due_at) }),
          el("td", { text: when(req.decided_at) }),
        ),
      );
    }
    show(ui.outgoingNone, requests.length === 0);
  }

  /* ---------- shared with the parts, wiring, start ---------- */

  const S = {
    config,
    zh,
    byId,
    ui,
    state,
    el,
    clear,
    show,
    msg,
    notice,
    NONE,
    when,
    pick,
    datasetTitle,
    orgName,
    purposeLabel,
    maskKind,
    maskLabel,
    badge,
    piiBadges,
    problems,
    clearProblem,
    showProblem,
    api,
    all,
    refreshLists,
    /* registered by the parts: loadPurposes, loadDatasets, resetRequest (sharing_request.js),
       renderIncoming (sharing_decide.js), renderGrants, closePreview (sharing_grants.js) */
  };
  window.CityBrainSharing = S;

  ui.signinForm.addEventListener("submit", auth.signIn);
  byId("signout").addEventListener("click", auth.signOut);
  byId("refresh").addEventListener("click", () => {
    notice("");
    refreshLists();
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
